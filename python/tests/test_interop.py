"""from_spotlight and to_spotlight_state_dict.

Spotlight networks are stood in for by objects shaped like them (a
state_dict of tensors with detach/cpu/numpy, the attributes Spotlight's
classes set), so the reading of settings is tested without torch; the tests
that need torch itself skip when it is absent.
"""

import numpy as np
import pytest

import limelight
from limelight import _limelight


class FakeTensor(object):
    def __init__(self, array):
        self.array = np.asarray(array, dtype=np.float32)
        self.shape = self.array.shape

    def detach(self):
        return self

    def cpu(self):
        return self

    def numpy(self):
        return self.array


class FakeConv(object):
    def __init__(self, kernel, dilation):
        self.kernel_size = (kernel, 1)
        self.dilation = (dilation, 1)


def relu(x):
    return x


class CNNNet(object):
    """Shaped like spotlight.sequence.representations.CNNNet with a BloomEmbedding."""

    def __init__(self, rng):
        D, V = 4, 20
        self.embedding_dim = D
        self.kernel_width = [3, 2]
        self.dilation = [1, 2]
        self.nonlinearity = relu
        self.residual_connections = False
        self.cnn_layers = [FakeConv(3, 1), FakeConv(2, 2)]

        class Bloom(object):
            compression_ratio = 0.5
            num_hash_functions = 3
            num_embeddings = V
            padding_idx = 0
            _masks = [179424941, 179425457, 179425907]
        self.item_embeddings = Bloom()
        self._state = {
            'item_embeddings.embeddings.weight': rng.normal(size=(10, D)),
            'item_biases.weight': rng.normal(size=(V, 1)),
            'cnn_0.weight': rng.normal(size=(D, D, 3, 1)), 'cnn_0.bias': rng.normal(size=D),
            'cnn_1.weight': rng.normal(size=(D, D, 2, 1)), 'cnn_1.bias': rng.normal(size=D),
        }
        self._state['item_embeddings.embeddings.weight'][0] = 0
        self._state['item_biases.weight'][0] = 0

    def state_dict(self):
        return {k: FakeTensor(v) for k, v in self._state.items()}


class MixtureLSTMNet(object):
    def __init__(self, rng, M=2, D=3, V=12):
        self.num_mixtures = M
        self.item_embeddings = object()
        shapes = {'item_embeddings.weight': (V, D), 'item_biases.weight': (V, 1), 'lstm.weight_ih_l0': (4 * D, D),
                  'lstm.weight_hh_l0': (4 * D, D), 'lstm.bias_ih_l0': (4 * D,), 'lstm.bias_hh_l0': (4 * D,),
                  'projection.weight': (2 * M * D, D, 1), 'projection.bias': (2 * M * D,)}
        self._state = {k: rng.normal(size=s) for k, s in shapes.items()}

    def state_dict(self):
        return {k: FakeTensor(v) for k, v in self._state.items()}


def test_from_spotlight_reads_every_setting_from_the_network(tmp_path):
    net = CNNNet(np.random.RandomState(0))
    model = limelight.from_spotlight(net, tmp_path / 'cnn.safetensors')
    c = model._net.config
    assert (c.representation, c.embedding_dim) == ('cnn', 4)
    assert (c.cnn.kernel_width, c.cnn.dilation, c.cnn.num_layers) == ([3, 2], [1, 2], 2)
    assert (c.cnn.nonlinearity, c.cnn.residual) == ('relu', False)
    assert (c.bloom.compression_ratio, c.bloom.num_hash_functions) == (0.5, 3)
    back = limelight.load_model(tmp_path / 'cnn.safetensors')
    for name, value in net._state.items():
        np.testing.assert_array_equal(back._net.get_parameter(name), value.astype(np.float32))


def test_from_spotlight_with_a_model_and_labels(tmp_path):
    class SpotlightModel(object):
        _net = MixtureLSTMNet(np.random.RandomState(1))
        _loss, _n_iter, _batch_size, _l2, _learning_rate = 'bpr', 7, 64, 1e-4, 0.05
        _sparse, _num_negative_samples = False, 3
    model = limelight.from_spotlight(SpotlightModel(), tmp_path / 'mix.safetensors', item_ids=list(range(101, 112)))
    c = model._net.config
    assert (c.representation, c.num_mixtures, c.loss, c.n_iter, c.batch_size) == ('mixture', 2, 'bpr', 7, 64)
    _, labels = _limelight.Model.load(str(tmp_path / 'mix.safetensors'))
    assert labels[:3] == ['', '101', '102']


def test_from_spotlight_refuses_what_it_cannot_read(tmp_path):
    with pytest.raises(TypeError, match='expected a fitted Spotlight'):
        limelight.from_spotlight(42, tmp_path / 'x.safetensors')
    net = MixtureLSTMNet(np.random.RandomState(2))
    net._state['extra.weight'] = np.zeros(3)
    with pytest.raises(ValueError, match="does not know: \\['extra.weight'\\]"):
        limelight.from_spotlight(net, tmp_path / 'x.safetensors')
    net = CNNNet(np.random.RandomState(3))
    net.item_embeddings._masks = [1, 2, 3]
    with pytest.raises(ValueError, match='hash seeds'):
        limelight.from_spotlight(net, tmp_path / 'x.safetensors')


def test_to_spotlight_state_dict_round_trip(tmp_path):
    torch = pytest.importorskip('torch')
    net = CNNNet(np.random.RandomState(4))
    limelight.from_spotlight(net, tmp_path / 'cnn.safetensors')
    state = limelight.to_spotlight_state_dict(tmp_path / 'cnn.safetensors')
    assert list(state) == list(net._state)
    for name, value in state.items():
        assert isinstance(value, torch.Tensor) and value.dtype == torch.float32
        np.testing.assert_array_equal(value.numpy(), net._state[name].astype(np.float32))


def test_to_spotlight_state_dict_loads_into_torch_modules(tmp_path):
    torch = pytest.importorskip('torch')
    model = limelight.from_spotlight(MixtureLSTMNet(np.random.RandomState(5)), tmp_path / 'm.safetensors')
    lstm = torch.nn.LSTM(input_size=3, hidden_size=3, batch_first=True)
    state = limelight.to_spotlight_state_dict(tmp_path / 'm.safetensors')
    lstm.load_state_dict({k[len('lstm.'):]: v for k, v in state.items() if k.startswith('lstm.')})
    np.testing.assert_array_equal(lstm.weight_ih_l0.detach().numpy(), model._net.get_parameter('lstm.weight_ih_l0'))
