#!/usr/bin/env python3
"""Combines limelight-bench and compare_pytorch.py results (their --json output).

Prints one table with both tools side by side and their ratios, and, where
matplotlib is importable, writes a bar chart of training sequences/s per
representation (one panel per dataset, limelight beside PyTorch). Ratios are
"x faster" for limelight: limelight / PyTorch for throughput, PyTorch /
limelight for latency. Standard library only apart from the optional plot.
"""

import argparse
import json
import math
import sys


def read_lines(path):
    rows = []
    if not path:
        return rows
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line.startswith("{"):
                    rows.append(json.loads(line))
    except FileNotFoundError:
        pass
    return rows


def key(r):
    return (r["dataset"], r["representation"], r["loss"])


def ratio(a, b):
    if a is None or b is None or not b or (isinstance(a, float) and math.isnan(a)):
        return float("nan")
    return a / b


def get(r, field):
    return None if r is None else r.get(field)


def fmt(v, spec):
    return ("%" + spec) % v if v is not None else "-".rjust(int(spec.split(".")[0]))


def print_table(limelight, pytorch, out=sys.stdout):
    ll = {key(r): r for r in limelight}
    pt = {key(r): r for r in pytorch}
    keys = list(ll) + [k for k in pt if k not in ll]
    out.write("%-9s %-8s %-14s | %9s %9s %6s | %7s %7s | %8s %8s %6s | %8s %8s %6s | %7s %7s\n" % (
        "dataset", "model", "loss", "ll seq/s", "pt seq/s", "x", "ll MRR", "pt MRR", "ll pred", "pt pred", "x",
        "ll rec", "pt rec", "x", "ll MiB", "pt MiB"))
    out.write("%-9s %-8s %-14s | %9s %9s %6s | %7s %7s | %8s %8s %6s | %8s %8s %6s | %7s %7s\n" % (
        "", "", "", "", "", "", "", "", "ms med", "ms med", "", "ms med", "ms med", "", "peak", "peak"))
    for k in keys:
        a, b = ll.get(k), pt.get(k)
        out.write("%-9s %-8s %-14s | %9s %9s %6s | %7s %7s | %8s %8s %6s | %8s %8s %6s | %7s %7s\n" % (
            k[0], k[1], k[2],
            fmt(get(a, "seq_per_s"), "9.1f"), fmt(get(b, "seq_per_s"), "9.1f"),
            "%6.2f" % ratio(get(a, "seq_per_s"), get(b, "seq_per_s")),
            fmt(get(a, "mrr"), "7.4f"), fmt(get(b, "mrr"), "7.4f"),
            fmt(get(a, "predict_ms_median"), "8.3f"), fmt(get(b, "predict_ms_median"), "8.3f"),
            "%6.2f" % ratio(get(b, "predict_ms_median"), get(a, "predict_ms_median")),
            fmt(get(a, "recommend_ms_median"), "8.3f"), fmt(get(b, "recommend_ms_median"), "8.3f"),
            "%6.2f" % ratio(get(b, "recommend_ms_median"), get(a, "recommend_ms_median")),
            fmt(get(a, "peak_rss_mib"), "7.1f"), fmt(get(b, "peak_rss_mib"), "7.1f")))


def plot(limelight, pytorch, output, title):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("plot_benchmarks.py: matplotlib is not importable; no plot written", file=sys.stderr)
        return False
    datasets = sorted({r["dataset"] for r in limelight + pytorch})
    fig, axes = plt.subplots(1, len(datasets), figsize=(5.5 * len(datasets), 4.2), squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        ll = {(r["representation"], r["loss"]): r["seq_per_s"] for r in limelight if r["dataset"] == dataset}
        pt = {(r["representation"], r["loss"]): r["seq_per_s"] for r in pytorch if r["dataset"] == dataset}
        groups = list(ll) + [g for g in pt if g not in ll]
        labels = [rep if loss == "bpr" else "%s\n%s" % (rep, loss) for rep, loss in groups]
        xs = range(len(groups))
        width = 0.38
        bars = [ax.bar([x - width / 2 for x in xs], [ll.get(g, 0) for g in groups], width, label="limelight"),
                ax.bar([x + width / 2 for x in xs], [pt.get(g, 0) for g in groups], width, label="PyTorch")]
        for series in bars:
            for rect in series:
                if rect.get_height() > 0:
                    ax.annotate("%.0f" % rect.get_height(), (rect.get_x() + rect.get_width() / 2, rect.get_height()),
                                ha="center", va="bottom", fontsize=7)
        ax.set_yscale("log")
        ax.set_xticks(list(xs))
        ax.set_xticklabels(labels)
        ax.set_ylabel("training sequences/s (median epoch, log scale)")
        ax.set_title(dataset)
        ax.legend()
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(output, dpi=110)
    print("plot_benchmarks.py: wrote %s" % output, file=sys.stderr)
    return True


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--limelight", required=True, help="limelight-bench --json output")
    p.add_argument("--pytorch", default=None, help="compare_pytorch.py --json output (optional)")
    p.add_argument("--output", default=None, help="PNG to write (none: table only)")
    p.add_argument("--title", default="Training throughput, CPU")
    args = p.parse_args(argv)
    limelight, pytorch = read_lines(args.limelight), read_lines(args.pytorch)
    if not limelight and not pytorch:
        print("plot_benchmarks.py: no results in %s or %s" % (args.limelight, args.pytorch), file=sys.stderr)
        return 1
    print_table(limelight, pytorch)
    if args.output:
        plot(limelight, pytorch, args.output, args.title)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
