"""The data pipeline against the reference's own outputs (dataset_synthetic.safetensors)."""

import numpy as np
import pytest

from limelight.spotlight.cross_validation import random_train_test_split, user_based_train_test_split
from limelight.spotlight.datasets.movielens import get_movielens_dataset
from limelight.spotlight.datasets.synthetic import generate_sequential
from limelight.spotlight.interactions import Interactions, SequenceInteractions

from conftest import SHARED


def reference_dataset():
    return generate_sequential(num_users=10, num_items=30, num_interactions=300, concentration_parameter=0.01,
                               order=2, random_state=np.random.RandomState(7))


def test_generate_sequential_gives_the_reference_data(synthetic_fixture):
    data = reference_dataset()
    assert np.array_equal(data.user_ids, synthetic_fixture['interactions.user_ids'])
    assert np.array_equal(data.item_ids, synthetic_fixture['interactions.item_ids'])
    assert np.array_equal(data.timestamps, synthetic_fixture['interactions.timestamps'])
    assert np.array_equal(data.ratings, synthetic_fixture['interactions.ratings'])
    assert data.user_ids.dtype == np.int32 and data.item_ids.dtype == np.int32
    assert (data.num_users, data.num_items) == (10, 30)


@pytest.mark.parametrize('key, kwargs', [
    ('seq_len5_stepNone', dict(max_sequence_length=5)),
    ('seq_len5_min3_step2', dict(max_sequence_length=5, min_sequence_length=3, step_size=2)),
    ('seq_len5_step1', dict(max_sequence_length=5, step_size=1)),
])
def test_to_sequence_windows_match_the_reference(synthetic_fixture, key, kwargs):
    sequences = reference_dataset().to_sequence(**kwargs)
    assert isinstance(sequences, SequenceInteractions)
    assert np.array_equal(sequences.sequences, synthetic_fixture[key + '.sequences'])
    assert np.array_equal(sequences.user_ids, synthetic_fixture[key + '.user_ids'])
    assert sequences.sequences.dtype == np.int32
    assert sequences.num_items == 30 and sequences.max_sequence_length == 5


def test_to_sequence_sorts_by_user_then_timestamp_stably():
    data = Interactions(np.array([1, 0, 1, 0, 1], dtype=np.int32), np.array([5, 6, 7, 8, 9], dtype=np.int32),
                        timestamps=np.array([2, 1, 1, 1, 2]))
    rows = data.to_sequence(max_sequence_length=3).sequences
    # user 0: items 6, 8 (tied timestamps keep file order); user 1: 7, then 5 and 9 tied at 2
    assert rows.tolist() == [[0, 6, 8], [7, 5, 9]]
    assert data.to_sequence(max_sequence_length=2, step_size=1).sequences.tolist() == [
        [6, 8], [0, 6], [5, 9], [7, 5], [0, 7]]


def test_to_sequence_refuses_padding_ids_and_missing_timestamps():
    with pytest.raises(ValueError, match='timestamps not available'):
        Interactions(np.array([0, 1]), np.array([1, 2])).to_sequence()
    with pytest.raises(ValueError, match='0 is used as an item id'):
        Interactions(np.array([0, 1]), np.array([0, 2]), timestamps=np.array([0, 1])).to_sequence()


def test_user_based_split_matches_the_reference(synthetic_fixture):
    train, test = user_based_train_test_split(reference_dataset(), test_percentage=0.2,
                                              random_state=np.random.RandomState(7))
    for part, prefix in ((train, 'split.train.'), (test, 'split.test.')):
        assert np.array_equal(part.user_ids, synthetic_fixture[prefix + 'user_ids'])
        assert np.array_equal(part.item_ids, synthetic_fixture[prefix + 'item_ids'])
        assert np.array_equal(part.timestamps, synthetic_fixture[prefix + 'timestamps'])
        assert (part.num_users, part.num_items) == (10, 30)
    seed = np.random.RandomState(7).randint(0, 2**32 - 1)
    assert seed == int(synthetic_fixture.metadata['split_hash_seed'])


def test_random_split_is_one_shuffle_then_a_cut():
    data = reference_dataset()
    train, test = random_train_test_split(data, test_percentage=0.25, random_state=np.random.RandomState(3))
    order = np.arange(len(data))
    np.random.RandomState(3).shuffle(order)
    cut = int(0.75 * len(data))
    assert np.array_equal(train.item_ids, data.item_ids[order[:cut]])
    assert np.array_equal(test.user_ids, data.user_ids[order[cut:]])
    assert np.array_equal(test.timestamps, data.timestamps[order[cut:]])
    # the input is left as it was
    assert np.array_equal(data.timestamps, np.arange(300))


def test_interactions_checks_like_the_reference():
    with pytest.raises(ValueError, match='Maximum item id greater than declared number of items'):
        Interactions(np.array([0, 1]), np.array([1, 5]), num_items=5)
    with pytest.raises(ValueError, match='Invalid ratings dimensions'):
        Interactions(np.array([0, 1]), np.array([1, 2]), ratings=np.ones(3))
    with pytest.raises(TypeError, match='must hold integers'):
        Interactions(np.array([0.5, 1.0]), np.array([1, 2]))
    data = Interactions(np.array([0, 3]), np.array([1, 2]))
    assert (data.num_users, data.num_items, len(data)) == (4, 3, 2)
    assert repr(data) == '<Interactions dataset (4 users x 3 items x 2 interactions)>'


def test_split_fraction_is_checked():
    with pytest.raises(ValueError, match='test_percentage must be in'):
        user_based_train_test_split(reference_dataset(), test_percentage=1.5)


def test_movielens_reads_the_local_copy():
    import os
    folder = os.path.join(SHARED, 'data', 'movielens-100k')
    if not os.path.exists(os.path.join(folder, 'u.data')):
        pytest.skip('no MovieLens 100K copy at ' + folder)
    data = get_movielens_dataset('100K', path=folder)
    assert len(data) == 100000
    assert (data.num_users, data.num_items) == (944, 1683)
    assert data.ratings.dtype == np.float32 and data.timestamps.dtype == np.int32
    with pytest.raises(ValueError, match='Variant must be one of'):
        get_movielens_dataset('5K')
    with pytest.raises(ValueError, match='does not exist'):
        get_movielens_dataset('1M', path=folder)
