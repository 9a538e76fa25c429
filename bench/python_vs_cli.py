#!/usr/bin/env python3
"""fit speed from Python against the command line, on MovieLens 100K, per representation.

Both train on every user's windows (to_sequence(10), no split) with the
defaults (embedding 32, batch 256, pointwise, Adam). The command line's time
is the sum of its epoch times; Python's is the wall time of
ImplicitSequenceModel.fit, which also covers copying the sequences in and
building the network. Rounds alternate CLI and Python; the best of each is
reported. Run it inside the venv that has limelight installed:

    build-python/venv/bin/python bench/python_vs_cli.py --cli build/src/cli/limelight \
        --movielens ../shared/data/movielens-100k
"""
import argparse
import json
import subprocess
import time

import numpy as np

from limelight.spotlight.datasets.movielens import get_movielens_dataset
from limelight.spotlight.sequence.implicit import ImplicitSequenceModel


def cli_seconds(cli, folder, representation, n_iter):
    out = subprocess.run([cli, 'fit', '--movielens', folder, '--test-fraction', '0', '--representation',
                          representation, '--n-iter', str(n_iter), '--json'],
                         check=True, capture_output=True, text=True).stdout
    epochs = [json.loads(line) for line in out.splitlines() if line.startswith('{"epoch"')]
    return sum(e['seconds'] for e in epochs)


def python_seconds(sequences, representation, n_iter):
    model = ImplicitSequenceModel(representation=representation, n_iter=n_iter,
                                  random_state=np.random.RandomState(42))
    start = time.perf_counter()
    model.fit(sequences)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--cli', required=True)
    parser.add_argument('--movielens', required=True)
    parser.add_argument('--n-iter', type=int, default=2)
    parser.add_argument('--rounds', type=int, default=2)
    parser.add_argument('--representations', default='pooling,cnn,lstm,mixture')
    args = parser.parse_args()
    sequences = get_movielens_dataset('100K', path=args.movielens).to_sequence(max_sequence_length=10)
    print('{} sequences x {}'.format(*sequences.sequences.shape))
    print('| representation | CLI s | Python s | Python / CLI |')
    print('|---|---:|---:|---:|')
    for representation in args.representations.split(','):
        cli, py = [], []
        for _ in range(args.rounds):
            cli.append(cli_seconds(args.cli, args.movielens, representation, args.n_iter))
            py.append(python_seconds(sequences, representation, args.n_iter))
        print('| {} | {:.2f} | {:.2f} | {:.3f} |'.format(representation, min(cli), min(py), min(py) / min(cli)),
              flush=True)


if __name__ == '__main__':
    main()
