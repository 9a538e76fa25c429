"""ImplicitSequenceModel, as spotlight.sequence.implicit, trained by limelight's engine.

Divergences from the reference, all documented in docs/python.md: the
networks' initial weights come from limelight's own generator (seeded from
one random_state draw, as the reference seeds torch), fit shuffles and samples
negatives with that generator rather than with random_state, and sparse=True
trains with a lazy (row-sparse) Adam.
"""

import numpy as np

from limelight import _limelight
from limelight.spotlight.sequence.representations import _Representation

_LOSSES = ('pointwise', 'bpr', 'hinge', 'adaptive_hinge')
_REPRESENTATIONS = ('pooling', 'cnn', 'lstm', 'mixture')


def _id_array(values, what, ndim):
    array = np.asarray(values)
    if array.dtype == object or not (np.issubdtype(array.dtype, np.integer) or array.dtype == bool):
        raise TypeError('{}: item ids must be integers, got dtype {}'.format(what, array.dtype))
    if array.size and (array.min() < 0 or array.max() > np.iinfo(np.int32).max):
        bad = array.min() if array.min() < 0 else array.max()
        raise ValueError('{}: item id {} is outside [0, 2^31)'.format(what, int(bad)))
    array = np.ascontiguousarray(array, dtype=np.int32)  # no copy when already int32 and contiguous
    return array.reshape(-1) if ndim == 1 else array


class ImplicitSequenceModel(object):
    """Sequential recommendations from implicit feedback (Spotlight's ``ImplicitSequenceModel``).

    Parameters are the reference's: loss, representation (a name or a
    representation from limelight.spotlight.sequence.representations),
    embedding_dim, n_iter, batch_size, l2, learning_rate, optimizer_func (only
    None: limelight trains with its own Adam), use_cuda (only False in this
    build), sparse, random_state, num_negative_samples.
    """

    def __init__(self, loss='pointwise', representation='pooling', embedding_dim=32, n_iter=10,
                 batch_size=256, l2=0.0, learning_rate=1e-2, optimizer_func=None, use_cuda=False,
                 sparse=False, random_state=None, num_negative_samples=5):
        if loss not in _LOSSES:
            raise ValueError("ImplicitSequenceModel: unknown loss '{}' (expected pointwise, bpr, hinge or "
                             "adaptive_hinge)".format(loss))
        if isinstance(representation, str):
            if representation not in _REPRESENTATIONS:
                raise ValueError("ImplicitSequenceModel: unknown representation '{}' (expected pooling, cnn, "
                                 "lstm or mixture)".format(representation))
        elif not isinstance(representation, _Representation):
            raise TypeError('ImplicitSequenceModel: representation must be a name or a representation from '
                            'limelight.spotlight.sequence.representations, got {}'
                            .format(type(representation).__name__))
        if optimizer_func is not None:
            raise ValueError('ImplicitSequenceModel: optimizer_func cannot be honoured: limelight trains with its '
                             'own Adam (set learning_rate and l2 instead)')

        self._loss = loss
        self._representation = representation
        self._embedding_dim = embedding_dim
        self._n_iter = n_iter
        self._learning_rate = learning_rate
        self._batch_size = batch_size
        self._l2 = l2
        self._use_cuda = use_cuda
        self._sparse = sparse
        self._optimizer_func = optimizer_func
        self._random_state = random_state or np.random.RandomState()
        self._num_negative_samples = num_negative_samples

        self._num_items = None
        self._net = None

        # The reference seeds torch with this one draw; it seeds limelight's generator.
        seed = self._random_state.randint(-10**8, 10**8)
        self._config = self._make_config(int(seed) + 10**8)
        self._config.validate()

    def _make_config(self, seed):
        config = _limelight.ModelConfig()
        config.loss = self._loss
        config.embedding_dim = int(self._embedding_dim)
        config.n_iter = int(self._n_iter)
        config.batch_size = int(self._batch_size)
        config.l2 = float(self._l2)
        config.learning_rate = float(self._learning_rate)
        config.sparse = bool(self._sparse)
        config.num_negative_samples = int(self._num_negative_samples)
        config.seed = seed
        config.device = 'cuda' if self._use_cuda else 'cpu'
        if isinstance(self._representation, str):
            config.representation = self._representation
        else:
            self._representation._configure(config)
        return config

    def __repr__(self):
        net = self._representation if isinstance(self._representation, str) else repr(self._representation)
        return ('<ImplicitSequenceModel (loss: {}, representation: {}, {})>'
                .format(self._loss, net, 'fitted' if self._initialized else 'not fitted'))

    @property
    def _initialized(self):
        return self._net is not None

    def _initialize(self, interactions):
        num_items = int(interactions.num_items)
        if isinstance(self._representation, _Representation):
            if self._representation.num_items < num_items:
                raise ValueError('ImplicitSequenceModel: the representation has {} items, the data {}'
                                 .format(self._representation.num_items, num_items))
            num_items = self._representation.num_items
        self._net = _limelight.Model(self._config)
        self._net.initialize(num_items)
        self._num_items = num_items

    def _check_input(self, item_ids):
        if item_ids.size and item_ids.max() >= self._num_items:
            raise ValueError('Maximum item id greater than number of items in model.')

    def fit(self, interactions, verbose=False):
        """Fit the model on SequenceInteractions; a second call resumes where the first stopped.

        With verbose, prints 'Epoch {n}: loss {loss}' after each epoch.
        """
        sequences = _id_array(interactions.sequences, 'fit', 2)
        if sequences.ndim != 2 or sequences.shape[0] == 0:
            raise ValueError('fit: sequences must be a non-empty (num_sequences, length) array, got shape {}'
                             .format(sequences.shape))
        if not self._initialized:
            self._initialize(interactions)
        self._check_input(sequences)
        first_epoch = self._net.epochs_trained

        def report(epoch, loss, seconds):
            if verbose:
                print('Epoch {}: loss {}'.format(epoch - first_epoch, loss), flush=True)

        self._net.fit(sequences, self._num_items, report if verbose else None)

    def predict(self, sequences, item_ids=None):
        """Scores of item_ids (default: every item, 0 included) as the next item after one sequence.

        sequences is flattened into one sequence of any length, as in the reference.
        """
        if not self._initialized:
            raise ValueError('predict: the model has not been fitted')
        sequence = _id_array(np.atleast_2d(sequences), 'predict', 1)
        if sequence.size == 0:
            raise ValueError('predict: the sequence is empty')
        self._check_input(sequence)
        if item_ids is None:
            return self._net.predict(sequence)
        items = _id_array(item_ids, 'predict', 1)
        self._check_input(items)
        return self._net.predict(sequence, items)

    def save(self, path):
        """Writes the model file limelight's command line and C++ API read (docs/model-format.md)."""
        if not self._initialized:
            raise ValueError('save: the model has not been fitted')
        self._net.save(str(path))
