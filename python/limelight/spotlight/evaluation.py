"""Sequence metrics, as spotlight.evaluation.

For a limelight model the metrics run in the engine (batched scoring, GIL
released); any other object with Spotlight's ``predict(sequence)`` is scored
row by row in numpy with the same definitions.
"""

import numpy as np

from limelight import _limelight

FLOAT_MAX = np.finfo(np.float32).max


def _engine(model):
    net = getattr(model, '_net', None)
    return net if isinstance(net, _limelight.Model) else None


def _test_sequences(test, what):
    sequences = np.asarray(test.sequences)
    if sequences.ndim != 2 or sequences.shape[0] == 0:
        raise ValueError('{}: the test set must be a non-empty (num_sequences, length) array, got shape {}'
                         .format(what, sequences.shape))
    if not np.issubdtype(sequences.dtype, np.integer):
        raise TypeError('{}: item ids must be integers, got dtype {}'.format(what, sequences.dtype))
    return np.ascontiguousarray(sequences, dtype=np.int32)


def _average_ranks(values):
    # scipy.stats.rankdata(method='average'): 1-based ranks, ties share their mean rank.
    order = np.argsort(values, kind='mergesort')
    sorted_values = values[order]
    starts = np.concatenate(([True], sorted_values[1:] != sorted_values[:-1]))
    group = np.cumsum(starts) - 1
    first = np.flatnonzero(starts)
    counts = np.diff(np.append(first, len(values)))
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = first[group] + (counts[group] + 1) / 2.0
    return ranks


def sequence_mrr_score(model, test, exclude_preceding=False):
    """Reciprocal rank of each sequence's last item, scored from the items before it.

    With exclude_preceding, items of the input (0 too when it is padded) are ranked last.
    One value per sequence.
    """
    sequences = _test_sequences(test, 'sequence_mrr_score')
    net = _engine(model)
    if net is not None:
        return _limelight.sequence_mrr_score(net, sequences, bool(exclude_preceding))
    inputs, targets = sequences[:, :-1], sequences[:, -1:]
    mrrs = []
    for i in range(len(inputs)):
        predictions = -np.asarray(model.predict(inputs[i]), dtype=np.float64)
        if exclude_preceding:
            predictions[inputs[i]] = FLOAT_MAX
        mrrs.append((1.0 / _average_ranks(predictions)[targets[i]]).mean())
    return np.array(mrrs)


def sequence_precision_recall_score(model, test, k=10, exclude_preceding=False):
    """Precision and recall at k of the last k items of each sequence, scored from the rest.

    Returns (precision, recall), one value each per sequence.
    """
    sequences = _test_sequences(test, 'sequence_precision_recall_score')
    if not 1 <= int(k) < sequences.shape[1]:
        raise ValueError('sequence_precision_recall_score: k must be in [1, {}) for sequences of length {}, got {}'
                         .format(sequences.shape[1], sequences.shape[1], k))
    net = _engine(model)
    if net is not None:
        return _limelight.sequence_precision_recall_score(net, sequences, int(k), bool(exclude_preceding))
    inputs, targets = sequences[:, :-k], sequences[:, -k:]
    precision, recall = [], []
    for i in range(len(inputs)):
        predictions = -np.asarray(model.predict(inputs[i]))
        if exclude_preceding:
            predictions[inputs[i]] = FLOAT_MAX
        top = predictions.argsort()[:k]
        hits = len(set(top.tolist()) & set(targets[i].tolist()))
        precision.append(hits / float(len(top)))
        recall.append(hits / float(len(targets[i])))
    return np.array(precision), np.array(recall)
