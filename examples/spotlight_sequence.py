"""A Spotlight sequence script with only its imports changed: synthetic data (the setting of
Spotlight's own sequence tests), a user-based split, windows of 10, an LSTM trained with
adaptive_hinge, and the test MRR.

    python examples/spotlight_sequence.py [seed]
"""
import sys

import numpy as np

from limelight.spotlight.cross_validation import user_based_train_test_split
from limelight.spotlight.datasets.synthetic import generate_sequential
from limelight.spotlight.evaluation import sequence_mrr_score
from limelight.spotlight.sequence.implicit import ImplicitSequenceModel

seed = int(sys.argv[1]) if len(sys.argv) > 1 else 42
random_state = np.random.RandomState(seed)

dataset = generate_sequential(num_users=100, num_items=100, num_interactions=10000,
                              concentration_parameter=1e-3, order=2, random_state=random_state)
train, test = user_based_train_test_split(dataset, random_state=random_state)
train = train.to_sequence(max_sequence_length=10)
test = test.to_sequence(max_sequence_length=10)

model = ImplicitSequenceModel(loss='adaptive_hinge', representation='lstm', batch_size=128, embedding_dim=32,
                              learning_rate=1e-2, l2=1e-7, n_iter=25, random_state=random_state)
model.fit(train, verbose=True)

mrr = sequence_mrr_score(model, test)
print('MRR {:.4f} over {} test sequences'.format(mrr.mean(), len(mrr)))
