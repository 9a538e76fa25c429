#!/usr/bin/env python3
"""The benchmark protocol of docs/benchmarks.md run on a plain PyTorch model.

Spotlight's ImplicitSequenceModel written out in PyTorch (PoolNet, CNNNet,
LSTMNet, MixtureLSTMNet with Spotlight's layer types and forward passes, the
masked losses, Adam, Spotlight's fit loop and predict path), trained and
timed on the same data and settings as limelight-bench, printing the same
table or, with --json, the same JSON keys (tool "pytorch"). Each
configuration runs in a fresh Python process so that its peak memory is its
own (it includes the torch import).

With --steps-items V, it instead times single training steps on random
sequences (uniform item ids in [1, V), uniform negatives in [0, V), batch
--batch-size, length --steps-length), the setting of limelight-scale-bench's
train section, and prints the median step time per representation.

Run by hand; torch and numpy are never build or test dependencies of limelight.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

MAX_LENGTH, MIN_LENGTH, STEP = 200, 20, 200
TEST_HASH_SEED, VALIDATION_HASH_SEED = 42, 43
TEST_FRACTION, VALIDATION_FRACTION = 0.1, 1.0 / 9.0
REPRESENTATIONS = ["pooling", "cnn", "lstm", "mixture"]
LOSSES = ["bpr", "adaptive_hinge", "pointwise", "hinge"]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ---------------------------------------------------------------- data
def murmurhash3_32(key, seed):
    """scikit-learn's murmurhash3_32(int32 key, seed, positive=True)."""
    c1, c2, mask = 0xCC9E2D51, 0x1B873593, 0xFFFFFFFF
    k = (key & mask) * c1 & mask
    k = ((k << 15) | (k >> 17)) & mask
    k = k * c2 & mask
    h = (seed & mask) ^ k
    h = ((h << 13) | (h >> 19)) & mask
    h = (h * 5 + 0xE6546B64) & mask
    h ^= 4
    h ^= h >> 16
    h = h * 0x85EBCA6B & mask
    h ^= h >> 13
    h = h * 0xC2B2AE35 & mask
    h ^= h >> 16
    return h


def load_movielens(path):
    """u.data with dense ids in order of first appearance (users from 0, items from 1), as limelight's loader."""
    if os.path.isdir(path):
        path = os.path.join(path, "u.data")
    users, items, stamps = [], [], []
    user_ids, item_ids = {}, {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) < 4:
                continue
            users.append(user_ids.setdefault(parts[0], len(user_ids)))
            items.append(item_ids.setdefault(parts[1], len(item_ids) + 1))
            stamps.append(int(parts[3]))
    return users, items, stamps, len(item_ids) + 1


def user_split(users, fraction, hash_seed):
    """Indices of (train, test) interactions, order kept; a user is in test when hash % 100 / 100 < fraction."""
    in_test = {u: (murmurhash3_32(u, hash_seed) % 100) / 100.0 < fraction for u in set(users)}
    train = [i for i, u in enumerate(users) if not in_test[u]]
    test = [i for i, u in enumerate(users) if in_test[u]]
    return train, test


def to_sequence(users, items, stamps, indices):
    """Spotlight's to_sequence(MAX_LENGTH, MIN_LENGTH, STEP) over the given interactions."""
    order = sorted(indices, key=lambda i: (users[i], stamps[i]))  # sorted() is stable
    rows = []
    start = 0
    while start < len(order):
        end = start
        while end < len(order) and users[order[end]] == users[order[start]]:
            end += 1
        history = [items[i] for i in order[start:end]]
        for stop in range(len(history), 0, -STEP):
            window = history[max(0, stop - MAX_LENGTH):stop]
            row = [0] * (MAX_LENGTH - len(window)) + window
            if row[MAX_LENGTH - MIN_LENGTH] != 0:
                rows.append(row)
        start = end
    return rows


def read_sequences(path):
    with open(path) as f:
        header = f.readline().split()
        num_items = int(header[header.index("num_items") + 1])
        rows = [[int(x) for x in line.split()] for line in f if line.strip()]
    return rows, num_items


def load_dataset(name, args):
    """(train rows, test rows, num_items): exported by limelight-bench, or MovieLens computed here."""
    if args.sequences:
        train, num_items = read_sequences(os.path.join(args.sequences, name + "_train.txt"))
        test, _ = read_sequences(os.path.join(args.sequences, name + "_test.txt"))
        return train, test, num_items
    if name != "movielens":
        raise SystemExit("compare_pytorch.py: the synthetic dataset needs --sequences DIR "
                         "(written by limelight-bench --export-sequences DIR)")
    users, items, stamps, num_items = load_movielens(args.movielens)
    rest, test = user_split(users, TEST_FRACTION, TEST_HASH_SEED)
    rest_users = [users[i] for i in rest]
    train_local, _ = user_split(rest_users, VALIDATION_FRACTION, VALIDATION_HASH_SEED)
    train = [rest[i] for i in train_local]
    return to_sequence(users, items, stamps, train), to_sequence(users, items, stamps, test), num_items


# ---------------------------------------------------------------- model (Spotlight's networks)
def build_net(representation, num_items, dim, num_mixtures=4):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class ScaledEmbedding(nn.Embedding):
        def reset_parameters(self):
            self.weight.data.normal_(0, 1.0 / self.embedding_dim)
            self.weight.data[self.padding_idx].fill_(0)

    class ZeroEmbedding(nn.Embedding):
        def reset_parameters(self):
            self.weight.data.zero_()

    class Base(nn.Module):
        def __init__(self):
            super().__init__()
            self.item_embeddings = ScaledEmbedding(num_items, dim, padding_idx=0)
            self.item_biases = ZeroEmbedding(num_items, 1, padding_idx=0)

        def embed(self, sequences):
            return self.item_embeddings(sequences).permute(0, 2, 1)  # (B, D, L)

        def forward(self, user_representations, targets):
            # rep (B, D, T) or (N, D); targets (B, T) or (N, 1)
            target_embedding = self.item_embeddings(targets)  # (B, T, D)
            target_bias = self.item_biases(targets).squeeze(-1)
            if user_representations.dim() == 2:
                return target_bias.squeeze(-1) + (user_representations * target_embedding.squeeze(1)).sum(1)
            return target_bias + (user_representations * target_embedding.permute(0, 2, 1)).sum(1)

    class PoolNet(Base):
        def user_representation(self, sequences):
            emb = F.pad(self.embed(sequences).unsqueeze(3), (0, 0, 1, 0))  # (B, D, L+1, 1)
            total = torch.cumsum(emb, 2)
            count = torch.cumsum((emb != 0.0).float(), 2)
            states = (total / (count + 1)).squeeze(3)
            return states[:, :, :-1], states[:, :, -1]

    class LSTMNet(Base):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(batch_first=True, input_size=dim, hidden_size=dim)

        def states(self, sequences):
            emb = F.pad(self.embed(sequences), (1, 0))  # (B, D, L+1)
            h, _ = self.lstm(emb.permute(0, 2, 1))
            return h.permute(0, 2, 1)  # (B, D, L+1)

        def user_representation(self, sequences):
            states = self.states(sequences)
            return states[:, :, :-1], states[:, :, -1]

    class CNNNet(Base):
        # The protocol's CNN: 3 layers, kernel 3, dilations 1, 2, 4, relu, residual.
        kernel_width, dilation = (3, 3, 3), (1, 2, 4)

        def __init__(self):
            super().__init__()
            self.cnn_layers = nn.ModuleList(
                nn.Conv2d(dim, dim, (k, 1), dilation=(d, 1)) for k, d in zip(self.kernel_width, self.dilation))

        def user_representation(self, sequences):
            emb = self.embed(sequences).unsqueeze(3)  # (B, D, L, 1)
            k, d = self.kernel_width[0], self.dilation[0]
            x = F.pad(emb, (0, 0, k + (k - 1) * (d - 1), 0))
            x = F.relu(self.cnn_layers[0](x)) + F.pad(emb, (0, 0, 1, 0))
            for layer, k, d in zip(self.cnn_layers[1:], self.kernel_width[1:], self.dilation[1:]):
                residual = x
                x = F.relu(layer(F.pad(x, (0, 0, (k - 1) * d, 0)))) + residual
            states = x.squeeze(3)
            return states[:, :, :-1], states[:, :, -1]

    class MixtureLSTMNet(LSTMNet):
        def __init__(self):
            super().__init__()
            self.projection = nn.Conv1d(dim, dim * num_mixtures * 2, kernel_size=1)

        def user_representation(self, sequences):
            h = self.states(sequences)  # (B, D, L+1)
            b, _, t = h.size()
            states = self.projection(h).view(b, num_mixtures * 2, dim, t)
            return states[:, :, :, :-1], states[:, :, :, -1:]

        def forward(self, user_representations, targets):
            # rep (B, 2M, D, T) with targets (B, T), or (N, 2M, D, 1) with targets (N, 1)
            tastes = user_representations[:, :num_mixtures]
            attention = user_representations[:, num_mixtures:]
            target_embedding = self.item_embeddings(targets).permute(0, 2, 1).unsqueeze(1)  # (B, 1, D, T)
            target_bias = self.item_biases(targets).squeeze(-1)  # (B, T)
            weights = F.softmax((attention * target_embedding).sum(2), 1).unsqueeze(2)  # (B, M, 1, T)
            mixed = (weights * tastes).sum(1)  # (B, D, T)
            return target_bias + (mixed * target_embedding.squeeze(1)).sum(1)

    return {"pooling": PoolNet, "cnn": CNNNet, "lstm": LSTMNet, "mixture": MixtureLSTMNet}[representation]()


def masked_loss(loss, positive, negative, mask):
    import torch
    if loss == "bpr":
        elem = 1.0 - torch.sigmoid(positive - negative)
    elif loss == "pointwise":
        elem = (1.0 - torch.sigmoid(positive)) + torch.sigmoid(negative)
    elif loss == "hinge":
        elem = torch.clamp(negative - positive + 1.0, min=0.0)
    else:  # adaptive_hinge: negative is (n, B, L)
        elem = torch.clamp(torch.max(negative, 0)[0] - positive + 1.0, min=0.0)
    return (elem * mask).sum() / mask.sum()


# ---------------------------------------------------------------- one configuration
def run_configuration(args, dataset, representation, loss):
    import numpy as np
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    start = time.perf_counter()
    train_rows, test_rows, num_items = load_dataset(dataset, args)
    load_s = time.perf_counter() - start
    train = np.array(train_rows, dtype=np.int64)
    test = np.array(test_rows, dtype=np.int64)

    random_state = np.random.RandomState(args.seed)
    torch.manual_seed(args.seed)
    net = build_net(representation, num_items, args.embedding_dim)
    optimizer = torch.optim.Adam(net.parameters(), lr=args.learning_rate, weight_decay=0.0)
    n_neg = 5 if loss == "adaptive_hinge" else 1

    epoch_s, last_loss = [], 0.0
    for _ in range(args.epochs):  # Spotlight's fit: shuffle rows, then per minibatch sample negatives
        t0 = time.perf_counter()
        net.train()
        rows = train[random_state.permutation(len(train))]
        total, batches = 0.0, 0
        for b in range(0, len(rows), args.batch_size):
            sequences = torch.from_numpy(rows[b:b + args.batch_size])
            user_repr, _ = net.user_representation(sequences)
            positive = net(user_repr, sequences)
            mask = (sequences != 0).float()
            if n_neg == 1:
                negatives = torch.from_numpy(random_state.randint(0, num_items, sequences.shape))
                negative = net(user_repr, negatives)
            else:
                negatives = torch.from_numpy(random_state.randint(0, num_items, (n_neg,) + tuple(sequences.shape)))
                negative = torch.stack([net(user_repr, negatives[k]) for k in range(n_neg)])
            value = masked_loss(loss, positive, negative, mask)
            optimizer.zero_grad()
            value.backward()
            optimizer.step()
            total += value.item()
            batches += 1
        epoch_s.append(time.perf_counter() - t0)
        last_loss = total / batches
    median_epoch_s = statistics.median(epoch_s[1:])

    net.eval()
    all_items = torch.arange(num_items, dtype=torch.int64).reshape(-1, 1)

    def predict(sequence):  # Spotlight's predict path, without building a graph
        with torch.no_grad():
            _, final = net.user_representation(torch.from_numpy(sequence.reshape(1, -1)))
            return net(final.expand((num_items,) + final.size()[1:]), all_items).flatten()

    def recommend(sequence, k=10):
        scores = predict(sequence)
        scores[0] = -float("inf")  # padding is never recommended
        return torch.topk(scores, k)

    t0 = time.perf_counter()
    reciprocal_ranks = []
    for row in test:  # Spotlight's sequence_mrr_score: last item from the rest, average-tie ranks
        scores = predict(row[:-1])
        target = scores[row[-1]]
        rank = (scores > target).sum().item() + ((scores == target).sum().item() + 1) / 2.0
        reciprocal_ranks.append(1.0 / rank)
    eval_s = time.perf_counter() - t0

    lengths = (train != 0).sum(1)
    best = int(np.argmax(lengths))
    history = np.ascontiguousarray(train[best, :MAX_LENGTH - 1])

    def time_calls(call):
        for _ in range(50):
            call()
        ms, begin = [], time.perf_counter()
        for i in range(args.repetitions):
            t_a = time.perf_counter()
            call()
            t_b = time.perf_counter()
            ms.append((t_b - t_a) * 1e3)
            if i >= 99 and t_b - begin > args.latency_budget:
                break
        return ms

    predict_ms = time_calls(lambda: predict(history))
    recommend_ms = time_calls(lambda: recommend(history))
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0

    def pct(values, q):
        values = sorted(values)
        rank = int(np.ceil(q * len(values)))
        return values[min(len(values) - 1, max(rank - 1, 0))]

    return {
        "tool": "pytorch", "torch": torch.__version__, "dataset": dataset, "representation": representation,
        "loss": loss, "threads": args.threads, "torch_threads": torch.get_num_threads(),
        "embedding_dim": args.embedding_dim, "batch_size": args.batch_size, "learning_rate": args.learning_rate,
        "epochs": args.epochs, "num_items": num_items, "train_sequences": len(train), "test_sequences": len(test),
        "load_s": load_s, "epoch_s": epoch_s, "median_epoch_s": median_epoch_s,
        "seq_per_s": len(train) / median_epoch_s, "final_loss": last_loss,
        "mrr": float(np.mean(reciprocal_ranks)), "eval_s": eval_s, "history_steps": len(history),
        "history_items": int((history != 0).sum()),
        "predict_calls": len(predict_ms), "predict_ms_median": pct(predict_ms, 0.5),
        "predict_ms_p99": pct(predict_ms, 0.99), "recommend_calls": len(recommend_ms),
        "recommend_ms_median": pct(recommend_ms, 0.5), "recommend_ms_p99": pct(recommend_ms, 0.99),
        "peak_rss_mib": peak_mib,
    }


# ---------------------------------------------------------------- random-sequence steps
def run_steps(args, representation, loss):
    """Median train-step time on random (B, L) sequences over V items: limelight-scale-bench's train section."""
    import numpy as np
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    V, B, L = args.steps_items, args.batch_size, args.steps_length
    random_state = np.random.RandomState(args.seed)
    torch.manual_seed(args.seed)
    net = build_net(representation, V, args.embedding_dim)
    optimizer = torch.optim.Adam(net.parameters(), lr=args.learning_rate, weight_decay=0.0)
    net.train()
    times = []
    for s in range(args.steps + 2):  # the first two untimed, as limelight-scale-bench
        sequences = torch.from_numpy(random_state.randint(1, V, (B, L)))
        negatives = torch.from_numpy(random_state.randint(0, V, (B, L)))
        t0 = time.perf_counter()
        user_repr, _ = net.user_representation(sequences)
        positive = net(user_repr, sequences)
        negative = net(user_repr, negatives)
        value = masked_loss(loss, positive, negative, (sequences != 0).float())
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
        value.item()
        if s >= 2:
            times.append(time.perf_counter() - t0)
    return {"tool": "pytorch", "torch": torch.__version__, "mode": "steps", "representation": representation,
            "loss": loss, "threads": args.threads, "torch_threads": torch.get_num_threads(), "num_items": V,
            "batch_size": B, "length": L, "steps": args.steps, "step_ms": [t * 1e3 for t in times],
            "step_ms_median": statistics.median(times) * 1e3}


# ---------------------------------------------------------------- driver
HEADER = ("%-9s %-8s %-14s %6s %9s %8s %7s %9s %9s %9s %9s %8s\n" % (
    "dataset", "model", "loss", "train", "seq/s", "epoch_s", "MRR", "pred_med", "pred_p99", "rec_med", "rec_p99",
    "peak_MiB") + "%-9s %-8s %-14s %6s %9s %8s %7s %9s %9s %9s %9s %8s" % (
    "", "", "", "seqs", "(median)", "(median)", "(test)", "ms", "ms", "ms", "ms", ""))


def format_row(r):
    return "%-9s %-8s %-14s %6d %9.1f %8.3f %7.4f %9.3f %9.3f %9.3f %9.3f %8.1f" % (
        r["dataset"], r["representation"], r["loss"], r["train_sequences"], r["seq_per_s"], r["median_epoch_s"],
        r["mrr"], r["predict_ms_median"], r["predict_ms_p99"], r["recommend_ms_median"], r["recommend_ms_p99"],
        r["peak_rss_mib"])


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--representations", default=",".join(REPRESENTATIONS))
    p.add_argument("--losses", default="bpr")
    p.add_argument("--dataset", choices=["movielens", "synthetic", "both"], default="movielens")
    p.add_argument("--movielens", default=None,
                   help="MovieLens 100K folder or u.data (default $LIMELIGHT_SHARED/data/movielens-100k, "
                        "else ../shared/data/movielens-100k beside the project root)")
    p.add_argument("--sequences", default=None, help="read DATASET_{train,test}.txt written by "
                   "limelight-bench --export-sequences (needed for synthetic)")
    p.add_argument("--epochs", type=int, default=5, help="training epochs, the first untimed (default 5)")
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (default: torch's default)")
    p.add_argument("--repetitions", type=int, default=2000)
    p.add_argument("--latency-budget", type=float, default=5.0)
    p.add_argument("--learning-rate", type=float, default=1e-2)
    p.add_argument("--embedding-dim", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--steps-items", type=int, default=0,
                   help="time train steps on random sequences over this many items instead of the protocol")
    p.add_argument("--steps-length", type=int, default=50, help="sequence length of --steps-items (default 50)")
    p.add_argument("--steps", type=int, default=8, help="timed steps of --steps-items, after 2 untimed (default 8)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.epochs < 2:
        p.error("--epochs must be >= 2 (the first is a warm-up)")
    for r in args.representations.split(","):
        if r not in REPRESENTATIONS:
            p.error("unknown representation %r" % r)
    for l in args.losses.split(","):
        if l not in LOSSES:
            p.error("unknown loss %r" % l)
    if args.movielens is None:
        shared = os.environ.get("LIMELIGHT_SHARED")
        args.movielens = (os.path.join(shared, "data", "movielens-100k") if shared
                          else os.path.join(ROOT, "..", "shared", "data", "movielens-100k"))
    return args


def main(argv):
    args = parse_args(argv)
    if args.child:
        dataset, representation, loss = args.child.split(":")
        if args.steps_items:
            print(json.dumps(run_steps(args, representation, loss)))
        else:
            print(json.dumps(run_configuration(args, dataset, representation, loss)))
        return 0
    if args.steps_items:
        if args.steps_items < 2 or args.steps_length < 1 or args.steps < 1:
            raise SystemExit("compare_pytorch.py: --steps-items must be >= 2, --steps-length and --steps >= 1")
        failures = 0
        for loss in args.losses.split(","):
            for representation in args.representations.split(","):
                child = subprocess.run([sys.executable, os.path.abspath(__file__)] + argv +
                                       ["--child", "steps:%s:%s" % (representation, loss)],
                                       stdout=subprocess.PIPE, text=True)
                if child.returncode != 0 or not child.stdout.strip():
                    failures += 1
                    print("compare_pytorch.py: steps %s/%s failed" % (representation, loss), file=sys.stderr)
                    continue
                r = json.loads(child.stdout.strip().splitlines()[-1])
                print(json.dumps(r) if args.json else "%-8s %-14s items %d B %d L %d: median step %.2f ms" % (
                    representation, loss, r["num_items"], r["batch_size"], r["length"], r["step_ms_median"]),
                    flush=True)
        return 1 if failures else 0
    datasets = ["movielens", "synthetic"] if args.dataset == "both" else [args.dataset]
    if not args.json:
        print("compare_pytorch.py: epochs %d (first untimed), embedding %d, batch %d, lr %g, threads %s, "
              "windows %d/%d/%d" % (args.epochs, args.embedding_dim, args.batch_size, args.learning_rate,
                                    args.threads or "default", MAX_LENGTH, MIN_LENGTH, STEP))
        print(HEADER, flush=True)
    failures = 0
    for dataset in datasets:
        for loss in args.losses.split(","):
            for representation in args.representations.split(","):
                child = subprocess.run([sys.executable, os.path.abspath(__file__)] + argv +
                                       ["--child", "%s:%s:%s" % (dataset, representation, loss)],
                                       stdout=subprocess.PIPE, text=True)
                if child.returncode != 0 or not child.stdout.strip():
                    failures += 1
                    print("compare_pytorch.py: configuration %s/%s/%s failed" % (dataset, representation, loss),
                          file=sys.stderr)
                    continue
                line = child.stdout.strip().splitlines()[-1]
                print(line if args.json else format_row(json.loads(line)), flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
