"""Train/test splits, as spotlight.cross_validation: the same splits for the same RandomState."""

import numpy as np

from limelight import _limelight
from limelight.spotlight.interactions import Interactions


def _take(values, index):
    return None if values is None else values[index]


def _subset(interactions, index):
    return Interactions(interactions.user_ids[index], interactions.item_ids[index],
                        ratings=_take(interactions.ratings, index),
                        timestamps=_take(interactions.timestamps, index),
                        weights=_take(interactions.weights, index),
                        num_users=interactions.num_users, num_items=interactions.num_items)


def _check_fraction(test_percentage):
    if not 0.0 <= float(test_percentage) <= 1.0:
        raise ValueError("test_percentage must be in [0, 1], got {}".format(test_percentage))


def shuffle_interactions(interactions, random_state=None):
    """A copy of the interactions in the order of one random_state.shuffle of their indices."""
    if random_state is None:
        random_state = np.random.RandomState()
    indices = np.arange(len(interactions.user_ids))
    random_state.shuffle(indices)
    return _subset(interactions, indices)


def random_train_test_split(interactions, test_percentage=0.2, random_state=None):
    """Shuffle, then put the last test_percentage of the interactions in test."""
    _check_fraction(test_percentage)
    interactions = shuffle_interactions(interactions, random_state=random_state)
    cutoff = int((1.0 - test_percentage) * len(interactions))
    return _subset(interactions, slice(None, cutoff)), _subset(interactions, slice(cutoff, None))


def user_based_train_test_split(interactions, test_percentage=0.2, random_state=None):
    """Each user's whole history in train or in test.

    One seed is drawn, random_state.randint(0, 2**32 - 1); a user is in test
    when (murmurhash3_32(user, seed, positive=True) % 100) / 100 < test_percentage.
    """
    _check_fraction(test_percentage)
    if random_state is None:
        random_state = np.random.RandomState()
    seed = random_state.randint(np.iinfo(np.uint32).min, np.iinfo(np.uint32).max)
    users = np.ascontiguousarray(interactions.user_ids, dtype=np.int32)
    hashes = _limelight.murmurhash3_32(users, int(seed))
    in_test = (hashes % 100 / 100.0) < test_percentage
    return _subset(interactions, np.logical_not(in_test)), _subset(interactions, in_test)
