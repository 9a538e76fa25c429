#!/usr/bin/env python3
"""Data-parallel training on one machine, ratios in one run.

For each representation, `limelight fit` on MovieLens 100K as one process with
--threads T*N against `mpirun -np N limelight fit` with --threads T (the same
cores), the runs interleaved so that the machine's noise falls on both alike.
Prints per representation: training sequences per second of each (the median
over repeats of the epochs after the first), their ratio, and the largest
relative difference of the per-epoch losses and the MRR difference between the
two (the one-process run is the reference; they differ by float32 summation
order only). Then one JSON line per representation.

    python3 bench/distributed_bench.py [--build build] [--ranks 2] [--threads 1]
        [--repeats 3] [--n-iter 3] [--representations pooling,cnn,lstm,mixture]
        [-- extra fit options]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def fit(command, env):
    out = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    epochs = [line for line in lines if "epoch" in line]
    return epochs, lines[-1]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default=os.path.join(ROOT, "build"))
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="threads per rank")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n-iter", type=int, default=3)
    parser.add_argument("--representations", default="pooling,cnn,lstm,mixture")
    parser.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "movielens-100k"))
    parser.add_argument("extra", nargs="*", help="more fit options (after --)")
    args = parser.parse_args()

    cli = os.path.join(args.build, "src", "cli", "limelight")
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    common = ["fit", "--movielens", args.data, "--n-iter", str(args.n_iter), "--json"] + args.extra
    one = [cli] + common + ["--threads", str(args.threads * args.ranks)]
    many = ["mpirun", "--oversubscribe", "--bind-to", "none", "-np", str(args.ranks), cli] + common + [
        "--threads", str(args.threads)]

    print(f"MovieLens 100K, {args.n_iter} epochs, {args.repeats} repeats interleaved; "
          f"1 process x {args.threads * args.ranks} threads against {args.ranks} ranks x {args.threads} threads")
    print(f"{'representation':<15}{'1 process seq/s':>17}{'ranks seq/s':>14}{'ratio':>8}{'max loss rel':>14}"
          f"{'MRR diff':>11}")
    results = []
    for rep in args.representations.split(","):
        rates = {"one": [], "many": []}
        worst_loss, mrr_diff = 0.0, 0.0
        for _ in range(args.repeats):
            runs = {}
            for name, command in (("one", one), ("many", many)):
                epochs, summary = fit(command + ["--representation", rep], env)
                later = epochs[1:] or epochs
                rates[name].append(summary["train_sequences"] * len(later) / sum(e["seconds"] for e in later))
                runs[name] = (epochs, summary)
            (e1, s1), (e2, s2) = runs["one"], runs["many"]
            assert s2["world_size"] == args.ranks, s2
            worst_loss = max(worst_loss, max(abs(a["loss"] - b["loss"]) / abs(a["loss"]) for a, b in zip(e1, e2)))
            if "mrr" in s1:
                mrr_diff = max(mrr_diff, abs(s1["mrr"] - s2["mrr"]))
        one_rate, many_rate = statistics.median(rates["one"]), statistics.median(rates["many"])
        row = {"representation": rep, "one_process_seq_per_s": one_rate, "ranks_seq_per_s": many_rate,
               "ratio": many_rate / one_rate, "ranks": args.ranks, "threads_per_rank": args.threads,
               "max_epoch_loss_relative_difference": worst_loss, "mrr_difference": mrr_diff}
        results.append(row)
        print(f"{rep:<15}{one_rate:>17.0f}{many_rate:>14.0f}{row['ratio']:>8.2f}{worst_loss:>14.2e}"
              f"{mrr_diff:>11.2e}", flush=True)
    for row in results:
        print(json.dumps(row))


if __name__ == "__main__":
    sys.exit(main())
