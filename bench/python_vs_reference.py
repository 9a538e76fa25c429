#!/usr/bin/env python3
"""One Spotlight script, run by Spotlight and by limelight with only its import lines changed.

SCRIPT below is a Spotlight sequence script: synthetic data from generate_sequential with
RandomState(seed), user_based_train_test_split with the same RandomState, to_sequence(10), an
ImplicitSequenceModel, sequence_mrr_score. It is run as written, with the Spotlight checkout
given by --spotlight on PYTHONPATH and --reference-python (which needs torch, scipy and
scikit-learn), and once more with `from spotlight.` turned into `from limelight.spotlight.` on
its import lines (nothing else differs; the script checks this) with --limelight-python, the
interpreter of a virtual environment where `pip install .` put limelight. Every seed is a fresh
process for each side. Both print a digest of their train and test sequences, and the run stops
if the two sides did not get the same data.

Presets (--preset) name the model settings:
  lstm_adaptive_hinge   the Spotlight-style script of docs/python.md (100 items, concentration
                        1e-3, LSTM, adaptive_hinge, batch 128, lr 1e-2, l2 1e-7, 25 epochs)
  cnn / cnn_bloom_0.2   the synthetic CNN of python/tests (200 items, concentration 0.01, CNNNet
                        kernel 3, adaptive_hinge, the model's defaults otherwise, 6 epochs), plain
                        and with BloomEmbedding(compression_ratio=0.2) (4 hash functions)
  spotlight_bloom_cnn_{1.0,0.5,0.2}  Spotlight's own test_bloom_cnn (100 items, 20000
                        interactions, concentration 1e-3, kernel 3, 2 hash functions, bpr,
                        batch 128, 5 epochs)
  spotlight_cnn         the same without BloomEmbedding

Each process runs with OMP_NUM_THREADS (--threads, default 1) so that the two sides get the
same cores. Wall times: `fit` alone, and the whole process (imports, data, fit, evaluation).

    build-python/venv/bin/python bench/python_vs_reference.py --spotlight /path/to/spotlight \
        --preset lstm_adaptive_hinge --seeds 42,1,2
"""
import argparse
import difflib
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

SCRIPT = '''\
import hashlib
import json
import sys
import time

import numpy as np

from spotlight.cross_validation import user_based_train_test_split
from spotlight.datasets.synthetic import generate_sequential
from spotlight.evaluation import sequence_mrr_score
from spotlight.layers import BloomEmbedding
from spotlight.sequence.implicit import ImplicitSequenceModel
from spotlight.sequence.representations import CNNNet

settings = json.loads(sys.argv[1])
random_state = np.random.RandomState(settings['seed'])

dataset = generate_sequential(num_users=100, num_items=settings['num_items'],
                              num_interactions=settings['num_interactions'],
                              concentration_parameter=settings['concentration'], order=2,
                              random_state=random_state)
train, test = user_based_train_test_split(dataset, random_state=random_state)
train = train.to_sequence(max_sequence_length=10)
test = test.to_sequence(max_sequence_length=10)
digest = hashlib.sha1(train.sequences.astype(np.int64).tobytes() +
                      test.sequences.astype(np.int64).tobytes()).hexdigest()

if settings['representation'] == 'cnn':
    embedding = None
    if settings['bloom'] is not None:
        compression_ratio, num_hash_functions = settings['bloom']
        embedding = BloomEmbedding(train.num_items, 32, compression_ratio=compression_ratio,
                                   num_hash_functions=num_hash_functions)
    representation = CNNNet(train.num_items, embedding_dim=32, kernel_width=settings['kernel_width'],
                            item_embedding_layer=embedding)
else:
    representation = settings['representation']

model = ImplicitSequenceModel(loss=settings['loss'], representation=representation,
                              batch_size=settings['batch_size'], embedding_dim=32,
                              learning_rate=settings['learning_rate'], l2=settings['l2'],
                              n_iter=settings['n_iter'], random_state=random_state)
start = time.perf_counter()
model.fit(train)
fit_seconds = time.perf_counter() - start

mrr = sequence_mrr_score(model, test)
print(json.dumps({'mrr': float(mrr.mean()), 'test_sequences': len(mrr), 'digest': digest,
                  'fit_seconds': fit_seconds}))
'''

_SPOTLIGHT_TESTS = dict(num_items=100, num_interactions=20000, concentration=1e-3, representation='cnn',
                        kernel_width=3, loss='bpr', batch_size=128, learning_rate=1e-2, l2=0.0, n_iter=5)
_PYTHON_TEST = dict(num_items=200, num_interactions=10000, concentration=0.01, representation='cnn',
                    kernel_width=3, loss='adaptive_hinge', batch_size=256, learning_rate=1e-2, l2=0.0, n_iter=6)
PRESETS = {
    'lstm_adaptive_hinge': dict(num_items=100, num_interactions=10000, concentration=1e-3, representation='lstm',
                                kernel_width=None, loss='adaptive_hinge', batch_size=128, learning_rate=1e-2,
                                l2=1e-7, n_iter=25, bloom=None),
    'cnn': dict(_PYTHON_TEST, bloom=None),
    'cnn_bloom_0.2': dict(_PYTHON_TEST, bloom=(0.2, 4)),
    'spotlight_cnn': dict(_SPOTLIGHT_TESTS, bloom=None),
    'spotlight_bloom_cnn_1.0': dict(_SPOTLIGHT_TESTS, bloom=(1.0, 2)),
    'spotlight_bloom_cnn_0.5': dict(_SPOTLIGHT_TESTS, bloom=(0.5, 2)),
    'spotlight_bloom_cnn_0.2': dict(_SPOTLIGHT_TESTS, bloom=(0.2, 2)),
}


def limelight_script():
    """SCRIPT with `from spotlight.` -> `from limelight.spotlight.` on its import lines only."""
    lines = [('from limelight.spotlight.' + line[len('from spotlight.'):]) if line.startswith('from spotlight.')
             else line for line in SCRIPT.splitlines(keepends=True)]
    changed = [line for line in difflib.ndiff(SCRIPT.splitlines(), ''.join(lines).splitlines())
               if line.startswith(('- ', '+ '))]
    assert changed and all(' import ' in line for line in changed), changed
    return ''.join(lines)


def run_side(python, script_path, settings, env):
    start = time.perf_counter()
    out = subprocess.run([python, script_path, json.dumps(settings)], check=True, capture_output=True,
                         text=True, env=env).stdout
    result = json.loads(out.strip().splitlines()[-1])
    result['process_seconds'] = time.perf_counter() - start
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--spotlight', required=True, help='a Spotlight checkout (the folder holding spotlight/)')
    parser.add_argument('--reference-python', default='/usr/bin/python3',
                        help='an interpreter with torch, scipy and scikit-learn')
    parser.add_argument('--limelight-python', default=sys.executable,
                        help='the interpreter of the virtual environment limelight is installed in')
    parser.add_argument('--preset', default='lstm_adaptive_hinge', choices=sorted(PRESETS))
    parser.add_argument('--seeds', default='42,1,2')
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--set', action='append', default=[], metavar='KEY=JSON',
                        help='override one setting of the preset, e.g. --set num_items=1000 --set bloom=[0.2,4]')
    parser.add_argument('--json', help='append one JSON line per seed and side to this file')
    args = parser.parse_args()
    spotlight = os.path.abspath(args.spotlight)
    if not os.path.isfile(os.path.join(spotlight, 'spotlight', 'sequence', 'implicit.py')):
        parser.error('--spotlight: no spotlight/sequence/implicit.py under {}'.format(spotlight))

    seeds = [int(s) for s in args.seeds.split(',')]
    base_env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), OPENBLAS_NUM_THREADS=str(args.threads))
    base_env.pop('PYTHONPATH', None)
    sides = [('spotlight', args.reference_python, SCRIPT, dict(base_env, PYTHONPATH=spotlight)),
             ('limelight', args.limelight_python, limelight_script(), base_env)]
    settings = dict(PRESETS[args.preset])
    for item in args.set:
        key, _, value = item.partition('=')
        if key not in settings:
            parser.error('--set: no setting {!r} (settings: {})'.format(key, ', '.join(settings)))
        settings[key] = json.loads(value)
    print('preset {}: {}'.format(args.preset, json.dumps(settings)))
    print('threads {}, load average {:.2f} {:.2f} {:.2f}'.format(args.threads, *os.getloadavg()))
    print('| seed | Spotlight MRR | limelight MRR | Spotlight fit s | limelight fit s '
          '| Spotlight process s | limelight process s | test sequences |')
    print('|---:|---:|---:|---:|---:|---:|---:|---:|')
    results = {name: [] for name, *_ in sides}
    with tempfile.TemporaryDirectory() as folder:
        paths = {}
        for name, _, text, _ in sides:
            paths[name] = os.path.join(folder, 'spotlight_script_{}.py'.format(name))
            with open(paths[name], 'w') as f:
                f.write(text)
        for seed in seeds:
            row = {}
            # Alternate which side runs first, so that neither always gets the cooler machine.
            for name, python, _, env in (sides if seed % 2 == 0 else sides[::-1]):
                row[name] = run_side(python, paths[name], dict(settings, seed=seed), env)
                results[name].append(row[name])
                if args.json:
                    with open(args.json, 'a') as f:
                        f.write(json.dumps(dict(row[name], side=name, seed=seed, preset=args.preset)) + '\n')
            s, l = row['spotlight'], row['limelight']
            if s['digest'] != l['digest'] or s['test_sequences'] != l['test_sequences']:
                sys.exit('seed {}: the two sides got different data ({} vs {})'.format(seed, s['digest'], l['digest']))
            print('| {} | {:.4f} | {:.4f} | {:.2f} | {:.2f} | {:.2f} | {:.2f} | {} |'.format(
                seed, s['mrr'], l['mrr'], s['fit_seconds'], l['fit_seconds'], s['process_seconds'],
                l['process_seconds'], s['test_sequences']), flush=True)
    s = np.array([r['mrr'] for r in results['spotlight']])
    l = np.array([r['mrr'] for r in results['limelight']])
    def mean(name, key):
        return np.mean([r[key] for r in results[name]])
    print('| mean | {:.4f} | {:.4f} | {:.2f} | {:.2f} | {:.2f} | {:.2f} | |'.format(
        s.mean(), l.mean(), mean('spotlight', 'fit_seconds'), mean('limelight', 'fit_seconds'),
        mean('spotlight', 'process_seconds'), mean('limelight', 'process_seconds')))
    print('MRR mean (sample std over seeds): Spotlight {:.4f} ({:.4f}), limelight {:.4f} ({:.4f}); '
          'difference of the means {:+.4f}'.format(s.mean(), s.std(ddof=1) if len(s) > 1 else 0.0, l.mean(),
                                                   l.std(ddof=1) if len(l) > 1 else 0.0, l.mean() - s.mean()))


if __name__ == '__main__':
    main()
