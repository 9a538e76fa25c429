"""Sequence representations, as spotlight.sequence.representations.

Each class takes the reference's constructor arguments and records them; the
network itself runs in limelight's engine when an ImplicitSequenceModel built
with it is fitted. PADDING_IDX is 0, as in the reference.
"""

from limelight.spotlight.layers import BloomEmbedding

PADDING_IDX = 0


def _per_layer(value, num_layers, name):
    values = [int(value)] * num_layers if isinstance(value, int) else [int(v) for v in value]
    if len(values) != num_layers:
        raise ValueError('CNNNet: {} has {} values for {} layers'.format(name, len(values), num_layers))
    return values


class _Representation(object):
    representation = None

    def __init__(self, num_items, embedding_dim, item_embedding_layer, sparse):
        if int(num_items) < 2:
            raise ValueError('{}: num_items must be >= 2 (padding and one item), got {}'
                             .format(type(self).__name__, num_items))
        if item_embedding_layer is not None:
            if not isinstance(item_embedding_layer, BloomEmbedding):
                raise TypeError('{}: item_embedding_layer must be a limelight.spotlight.layers.BloomEmbedding '
                                '(limelight runs its own networks), got {}'
                                .format(type(self).__name__, type(item_embedding_layer).__name__))
            if item_embedding_layer.embedding_dim != int(embedding_dim):
                raise ValueError('{}: item_embedding_layer has embedding_dim {}, the network {}'
                                 .format(type(self).__name__, item_embedding_layer.embedding_dim, embedding_dim))
            if item_embedding_layer.num_embeddings != int(num_items):
                raise ValueError('{}: item_embedding_layer has {} embeddings for {} items'
                                 .format(type(self).__name__, item_embedding_layer.num_embeddings, num_items))
        self.num_items = int(num_items)
        self.embedding_dim = int(embedding_dim)
        self.item_embeddings = item_embedding_layer
        self.sparse = bool(sparse)

    def _configure(self, config):
        config.representation = self.representation
        config.embedding_dim = self.embedding_dim
        config.sparse = self.sparse
        if self.item_embeddings is not None:
            config.bloom.compression_ratio = self.item_embeddings.compression_ratio
            config.bloom.num_hash_functions = self.item_embeddings.num_hash_functions

    def __repr__(self):
        return '<{} ({} items, embedding_dim {})>'.format(type(self).__name__, self.num_items, self.embedding_dim)


class PoolNet(_Representation):
    """Running average of the embeddings of the items seen so far."""
    representation = 'pooling'

    def __init__(self, num_items, embedding_dim=32, item_embedding_layer=None, sparse=False):
        super().__init__(num_items, embedding_dim, item_embedding_layer, sparse)


class LSTMNet(_Representation):
    """One LSTM layer over the item embeddings."""
    representation = 'lstm'

    def __init__(self, num_items, embedding_dim=32, item_embedding_layer=None, sparse=False):
        super().__init__(num_items, embedding_dim, item_embedding_layer, sparse)


class CNNNet(_Representation):
    """Stacked causal convolutions; kernel_width and dilation are one int or one value per layer.

    benchmark (cuDNN autotuning in the reference) has no effect here.
    """
    representation = 'cnn'

    def __init__(self, num_items, embedding_dim=32, kernel_width=3, dilation=1, num_layers=1,
                 nonlinearity='tanh', residual_connections=True, sparse=False, benchmark=True,
                 item_embedding_layer=None):
        super().__init__(num_items, embedding_dim, item_embedding_layer, sparse)
        if int(num_layers) < 1:
            raise ValueError('CNNNet: num_layers must be >= 1, got {}'.format(num_layers))
        if nonlinearity not in ('tanh', 'relu'):
            raise ValueError('Nonlinearity must be one of (tanh, relu)')
        self.num_layers = int(num_layers)
        self.kernel_width = _per_layer(kernel_width, self.num_layers, 'kernel_width')
        self.dilation = _per_layer(dilation, self.num_layers, 'dilation')
        self.nonlinearity = nonlinearity
        self.residual_connections = bool(residual_connections)
        self.benchmark = benchmark

    def _configure(self, config):
        super()._configure(config)
        config.cnn.kernel_width = self.kernel_width
        config.cnn.dilation = self.dilation
        config.cnn.num_layers = self.num_layers
        config.cnn.nonlinearity = self.nonlinearity
        config.cnn.residual = self.residual_connections


class MixtureLSTMNet(_Representation):
    """An LSTM whose states are projected into num_mixtures tastes and attention vectors."""
    representation = 'mixture'

    def __init__(self, num_items, embedding_dim=32, num_mixtures=4, item_embedding_layer=None, sparse=False):
        super().__init__(num_items, embedding_dim, item_embedding_layer, sparse)
        self.num_mixtures = int(num_mixtures)

    def _configure(self, config):
        super()._configure(config)
        config.num_mixtures = self.num_mixtures
