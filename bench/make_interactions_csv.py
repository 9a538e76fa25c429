#!/usr/bin/python3
"""Writes a synthetic interactions CSV for bench/loader_bench.cpp:
userId,movieId,rating,timestamp rows with random ids, half-star ratings and
Unix timestamps (10M rows make about 223 MB). Same seed, same file.

    /usr/bin/python3 bench/make_interactions_csv.py /tmp/limelight-10m.csv --rows 10000000
"""
import argparse

import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("path")
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--items", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    block = 1_000_000
    with open(a.path, "w", newline="\n") as out:
        out.write("userId,movieId,rating,timestamp\n")
        for start in range(0, a.rows, block):
            n = min(block, a.rows - start)
            users = rng.integers(1, a.users + 1, n)
            items = rng.integers(1, a.items + 1, n)
            halves = rng.integers(1, 11, n)  # 0.5 .. 5.0
            stamps = rng.integers(800_000_000, 1_000_000_000, n)
            ratings = np.where(halves % 2 == 0, (halves // 2).astype(str), np.char.add((halves // 2).astype(str), ".5"))
            rows = np.char.add(np.char.add(np.char.add(np.char.add(users.astype(str), ","), items.astype(str)), ","),
                               np.char.add(np.char.add(ratings, ","), stamps.astype(str)))
            out.write("\n".join(rows.tolist()))
            out.write("\n")


if __name__ == "__main__":
    main()
