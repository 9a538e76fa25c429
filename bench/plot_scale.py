#!/usr/bin/env python3
"""Plots train-step time against catalogue size from limelight-scale-bench.

Reads the text of `limelight-scale-bench --sections train` (its table rows:
model, items, dense ms, sparse ms, sparse/dense), prints the rows it read and,
where matplotlib is importable, writes a log-log chart: one line per model and
update (dense, --sparse), step time in ms against the number of items.
Standard library only apart from the optional plot.
"""

import argparse
import sys


def read_rows(path):
    """(model, items, dense ms or None, sparse ms or None) for each table row."""
    rows = []
    in_train = False
    with open(path) as f:
        for line in f:
            if line.startswith("== "):
                in_train = line.startswith("== train_step")
                continue
            fields = line.split()
            if not in_train or len(fields) != 5 or not fields[1].isdigit():
                continue
            cell = lambda text: None if text == "-" else float(text)
            rows.append((fields[0], int(fields[1]), cell(fields[2]), cell(fields[3])))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scale_output", help="a file holding limelight-scale-bench's train table")
    parser.add_argument("--output", help="PNG to write (needs matplotlib)")
    parser.add_argument("--title", default="Train step time against catalogue size")
    args = parser.parse_args()

    rows = read_rows(args.scale_output)
    if not rows:
        sys.exit(f"{args.scale_output}: no train_step table rows found")
    print(f"{'model':<10} {'items':>10} {'dense ms':>10} {'sparse ms':>10}")
    for model, items, dense, sparse in rows:
        show = lambda v: "-" if v is None else f"{v:.2f}"
        print(f"{model:<10} {items:>10} {show(dense):>10} {show(sparse):>10}")
    if not args.output:
        return
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not importable: no plot written", file=sys.stderr)
        return

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for model in dict.fromkeys(r[0] for r in rows):
        for column, label, style in ((2, "dense", "-o"), (3, "--sparse", "--s")):
            points = [(r[1], r[column]) for r in rows if r[0] == model and r[column] is not None]
            if points:
                ax.plot([p[0] for p in points], [p[1] for p in points], style, label=f"{model}, {label}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("items in the catalogue")
    ax.set_ylabel("train step, ms (B 256, length 50, bpr)")
    ax.set_title(args.title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.output, dpi=110)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
