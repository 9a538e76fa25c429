"""Shared helpers: the reference fixtures (../shared beside the repository, or $LIMELIGHT_SHARED)."""

import json
import os
import struct

import numpy as np
import pytest

REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.environ.get('LIMELIGHT_SHARED', os.path.join(os.path.dirname(REPOSITORY), 'shared'))
FIXTURES = os.path.join(SHARED, 'fixtures', 'spotlight')

PLAIN_CASES = ['case_pooling', 'case_lstm', 'case_mixture', 'case_cnn_k3_l1_tanh_res',
               'case_cnn_k3x5_d1x2_l2_relu_res', 'case_cnn_k2_d1_l2_tanh_nores']
BLOOM_CASES = ['bloom/case_bloom_pooling', 'bloom/case_bloom_lstm', 'bloom/case_bloom_mixture',
               'bloom/case_bloom_cnn_k3x3_d1x2_l2_relu_res']

_DTYPES = {'F32': np.float32, 'I64': np.int64, 'I32': np.int32}


class Fixture(object):
    """A safetensors file read with numpy: tensors by name, and the metadata."""

    def __init__(self, path):
        self.path = path
        with open(path, 'rb') as f:
            data = f.read()
        (length,) = struct.unpack('<Q', data[:8])
        header = json.loads(data[8:8 + length])
        self.metadata = header.pop('__metadata__', {})
        self._header = header
        self._data = data[8 + length:]

    def __contains__(self, name):
        return name in self._header

    def __getitem__(self, name):
        info = self._header[name]
        begin, end = info['data_offsets']
        return np.frombuffer(self._data[begin:end], dtype=_DTYPES[info['dtype']]).reshape(info['shape'])

    def names(self):
        return list(self._header)


def fixture_path(name):
    path = os.path.join(FIXTURES, name + '.safetensors')
    if not os.path.exists(path):
        pytest.fail('reference fixture {} is missing (set LIMELIGHT_SHARED)'.format(path))
    return path


@pytest.fixture
def synthetic_fixture():
    return Fixture(fixture_path('dataset_synthetic'))


@pytest.fixture(scope='session')
def small_sequences():
    """A small synthetic train/test pair (sequences of 6) for the model tests."""
    from limelight.spotlight.cross_validation import user_based_train_test_split
    from limelight.spotlight.datasets.synthetic import generate_sequential
    data = generate_sequential(num_users=40, num_items=60, num_interactions=2000, concentration_parameter=0.05,
                               order=2, random_state=np.random.RandomState(11))
    train, test = user_based_train_test_split(data, random_state=np.random.RandomState(11))
    return train.to_sequence(max_sequence_length=6), test.to_sequence(max_sequence_length=6)
