#!/usr/bin/env python3
"""Test MRR of Spotlight-style scripts through the Python package, for several seeds.

The data and hyper-parameters are those of Spotlight's own sequence tests
(tests/sequence/test_sequence_implicit.py): generate_sequential(num_users=100,
num_items=100, num_interactions=10000, concentration_parameter=1e-3, order=2),
user_based_train_test_split, to_sequence(max_sequence_length=10), batch 128,
embedding 32, one RandomState(seed) threaded through data, split and model.
The reference's tests run seed 42 and assert MRR > 0.18 (pooling), > 0.65
(lstm, cnn with kernel 5); those thresholds are printed beside the figures.

    build-python/venv/bin/python bench/python_quality.py --seeds 42,1,2
"""
import argparse

import numpy as np

from limelight.spotlight.cross_validation import user_based_train_test_split
from limelight.spotlight.datasets.synthetic import generate_sequential
from limelight.spotlight.evaluation import sequence_mrr_score
from limelight.spotlight.layers import BloomEmbedding
from limelight.spotlight.sequence.implicit import ImplicitSequenceModel
from limelight.spotlight.sequence.representations import CNNNet

# name: (representation factory, loss, learning_rate, l2, n_iter, reference threshold)
CONFIGS = {
    'pooling_bpr': (lambda n: 'pooling', 'bpr', 1e-1, 1e-9, 5, 0.18),
    'lstm_bpr': (lambda n: 'lstm', 'bpr', 1e-2, 1e-7, 25, 0.65),
    'cnn_k5_bpr': (lambda n: CNNNet(n, embedding_dim=32, kernel_width=5, num_layers=1), 'bpr', 1e-2, 0.0, 25, 0.65),
    'lstm_adaptive_hinge': (lambda n: 'lstm', 'adaptive_hinge', 1e-2, 1e-7, 25, None),
    'cnn_adaptive_hinge': (lambda n: CNNNet(n, embedding_dim=32), 'adaptive_hinge', 1e-2, 0.0, 25, None),
    'cnn_bloom_0.2_adaptive_hinge': (
        lambda n: CNNNet(n, embedding_dim=32, item_embedding_layer=BloomEmbedding(n, 32, compression_ratio=0.2)),
        'adaptive_hinge', 1e-2, 0.0, 25, None),
}


def mrr(name, seed, num_items):
    make, loss, learning_rate, l2, n_iter, _ = CONFIGS[name]
    random_state = np.random.RandomState(seed)
    data = generate_sequential(num_users=100, num_items=num_items, num_interactions=10000,
                               concentration_parameter=1e-3, order=2, random_state=random_state)
    train, test = user_based_train_test_split(data, random_state=random_state)
    train = train.to_sequence(max_sequence_length=10, step_size=None)
    test = test.to_sequence(max_sequence_length=10, step_size=None)
    model = ImplicitSequenceModel(loss=loss, representation=make(train.num_items), batch_size=128,
                                  embedding_dim=32, learning_rate=learning_rate, l2=l2, n_iter=n_iter,
                                  random_state=random_state)
    model.fit(train)
    return sequence_mrr_score(model, test).mean()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--seeds', default='42,1,2')
    parser.add_argument('--num-items', type=int, default=100)
    parser.add_argument('--models', default=','.join(CONFIGS))
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(',')]
    print('num_items {}'.format(args.num_items))
    print('| model | ' + ' | '.join('seed {}'.format(s) for s in seeds) + ' | mean | reference test asserts |')
    print('|---|' + '---:|' * (len(seeds) + 2))
    for name in args.models.split(','):
        values = [mrr(name, seed, args.num_items) for seed in seeds]
        threshold = CONFIGS[name][5]
        print('| {} | {} | {:.4f} | {} |'.format(name, ' | '.join('{:.4f}'.format(v) for v in values),
                                                 np.mean(values), '> {}'.format(threshold) if threshold else ''),
              flush=True)


if __name__ == '__main__':
    main()
