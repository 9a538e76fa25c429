"""Moving models between Spotlight (PyTorch) and limelight.

Parameter names are the same on both sides (the reference's state_dict
names), so a model file's tensors load into a Spotlight network with
load_state_dict, and a Spotlight network's state_dict fills a limelight model.
Every setting is read from the network object itself, never typed in. torch
is imported only by to_spotlight_state_dict.
"""

import numpy as np

from limelight import _limelight

_REPRESENTATIONS = {'PoolNet': 'pooling', 'LSTMNet': 'lstm', 'CNNNet': 'cnn', 'MixtureLSTMNet': 'mixture'}


def _numpy(tensor):
    return np.ascontiguousarray(tensor.detach().cpu().numpy(), dtype=np.float32)


def _activation_name(net):
    function = getattr(net, 'nonlinearity', None)
    if isinstance(function, str):
        return function
    name = getattr(function, '__name__', '')
    if name in ('tanh', 'relu'):
        return name
    raise ValueError('from_spotlight: CNNNet nonlinearity {!r} is neither tanh nor relu'.format(function))


def _network_config(net, config):
    """Fills config from a Spotlight network (PoolNet, LSTMNet, CNNNet, MixtureLSTMNet); returns num_items."""
    kind = type(net).__name__
    if kind not in _REPRESENTATIONS:
        raise TypeError('from_spotlight: expected a Spotlight ImplicitSequenceModel or one of PoolNet, LSTMNet, '
                        'CNNNet, MixtureLSTMNet, got {}'.format(kind))
    state = net.state_dict()
    config.representation = _REPRESENTATIONS[kind]
    num_items, _ = state['item_biases.weight'].shape
    embeddings = net.item_embeddings
    if 'item_embeddings.embeddings.weight' in state:  # BloomEmbedding
        seeds = list(getattr(embeddings, '_masks', []))
        from limelight.spotlight.layers import SEEDS
        if seeds and seeds != SEEDS[:len(seeds)]:
            raise ValueError('from_spotlight: the BloomEmbedding uses hash seeds {} where Spotlight\'s are {}'
                             .format(seeds, SEEDS[:len(seeds)]))
        if getattr(embeddings, 'padding_idx', 0) != 0:
            raise ValueError('from_spotlight: BloomEmbedding padding_idx must be 0')
        if getattr(embeddings, 'num_embeddings', num_items) != num_items:
            raise ValueError('from_spotlight: BloomEmbedding hashes {} ids for {} items'
                             .format(embeddings.num_embeddings, num_items))
        config.bloom.compression_ratio = float(embeddings.compression_ratio)
        config.bloom.num_hash_functions = int(embeddings.num_hash_functions)
        dim = state['item_embeddings.embeddings.weight'].shape[1]
    else:
        dim = state['item_embeddings.weight'].shape[1]
    config.embedding_dim = int(dim)
    if kind == 'CNNNet':
        layers = list(net.cnn_layers)
        # The convolutions' own kernel sizes and dilations along time (dimension 0 of the 2-d kernel).
        config.cnn.num_layers = len(layers)
        config.cnn.kernel_width = [int(layer.kernel_size[0]) for layer in layers]
        config.cnn.dilation = [int(layer.dilation[0]) for layer in layers]
        config.cnn.nonlinearity = _activation_name(net)
        config.cnn.residual = bool(getattr(net, 'residual_connections', False))
    if kind == 'MixtureLSTMNet':
        projected = state['projection.weight'].shape[0]
        mixtures = getattr(net, 'num_mixtures', projected // (2 * dim))
        if 2 * mixtures * dim != projected:
            raise ValueError('from_spotlight: projection of {} channels does not fit {} mixtures of width {}'
                             .format(projected, mixtures, dim))
        config.num_mixtures = int(mixtures)
    return int(num_items), state


def from_spotlight(model_or_net, path, item_ids=None):
    """Writes a limelight model file from a Spotlight ImplicitSequenceModel or network.

    Every setting comes from the objects themselves: the representation and
    its kernel widths, dilations, layers, nonlinearity, residual connections,
    mixtures and BloomEmbedding settings from the network, and (for a model)
    loss, n_iter, batch_size, l2, learning_rate, sparse and
    num_negative_samples. item_ids: the data's own id of each item 1..num_items-1
    (optional, written as the file's labels). Returns the limelight
    ImplicitSequenceModel that serves the same scores.
    """
    config = _limelight.ModelConfig()
    net = getattr(model_or_net, '_net', None)
    if net is not None:  # an ImplicitSequenceModel
        model = model_or_net
        for attribute, field in (('_loss', 'loss'), ('_n_iter', 'n_iter'), ('_batch_size', 'batch_size'),
                                 ('_l2', 'l2'), ('_learning_rate', 'learning_rate'), ('_sparse', 'sparse'),
                                 ('_num_negative_samples', 'num_negative_samples')):
            if hasattr(model, attribute):
                setattr(config, field, type(getattr(config, field))(getattr(model, attribute)))
    elif hasattr(model_or_net, 'state_dict'):
        net = model_or_net
    else:
        raise TypeError('from_spotlight: expected a fitted Spotlight ImplicitSequenceModel or a Spotlight network, '
                        'got {}'.format(type(model_or_net).__name__))
    num_items, state = _network_config(net, config)
    config.validate()
    engine = _limelight.Model(config)
    engine.initialize(num_items)
    expected = set(engine.parameter_names())
    unexpected = sorted(set(state) - expected)
    if unexpected:
        raise ValueError('from_spotlight: the network has parameters limelight does not know: {}'.format(unexpected))
    for name in engine.parameter_names():
        if name not in state:
            raise ValueError("from_spotlight: the network has no parameter '{}'".format(name))
        engine.set_parameter(name, _numpy(state[name]))
    labels = []
    if item_ids is not None:
        if len(item_ids) != num_items - 1:
            raise ValueError('from_spotlight: {} item ids for {} items (ids 1..{})'
                             .format(len(item_ids), num_items - 1, num_items - 1))
        labels = [''] + [str(i) for i in item_ids]
    engine.save(str(path), labels)
    return _wrap(engine)


def _wrap(engine):
    from limelight.spotlight.sequence.implicit import ImplicitSequenceModel
    c = engine.config
    model = ImplicitSequenceModel.__new__(ImplicitSequenceModel)
    model._loss, model._representation, model._embedding_dim = c.loss, c.representation, c.embedding_dim
    model._n_iter, model._learning_rate, model._batch_size, model._l2 = c.n_iter, c.learning_rate, c.batch_size, c.l2
    model._use_cuda, model._sparse, model._optimizer_func = False, c.sparse, None
    model._random_state = np.random.RandomState()
    model._num_negative_samples = c.num_negative_samples
    model._config = c
    model._net = engine
    model._num_items = engine.num_items
    return model


def load_model(path):
    """A limelight ImplicitSequenceModel (Spotlight's API) from a model file; fit resumes training."""
    engine, _ = _limelight.Model.load(str(path))
    return _wrap(engine)


def to_spotlight_state_dict(path):
    """The model file's parameters as an OrderedDict of torch tensors, for a Spotlight network's load_state_dict.

    Build the matching network first (the file's settings: `limelight info FILE`).
    """
    import collections

    import torch

    engine, _ = _limelight.Model.load(str(path))
    return collections.OrderedDict(
        (name, torch.from_numpy(np.array(engine.get_parameter(name), dtype=np.float32)))
        for name in engine.parameter_names())
