"""Sequence metrics against metrics.safetensors, and the engine's metrics against the numpy ones."""

import numpy as np
import pytest

from limelight.spotlight.evaluation import sequence_mrr_score, sequence_precision_recall_score
from limelight.spotlight.interactions import SequenceInteractions
from limelight.spotlight.sequence.implicit import ImplicitSequenceModel

from conftest import Fixture, fixture_path


class FixedScores(object):
    """A stand-in model whose i-th predict() call returns row i of a score matrix."""

    def __init__(self, scores):
        self.scores = scores
        self.calls = 0

    def predict(self, sequence):
        row = self.scores[self.calls]
        self.calls += 1
        return row.copy()


@pytest.mark.parametrize('ties', ['tied', 'distinct'])
@pytest.mark.parametrize('exclude', [False, True])
def test_mrr_matches_the_reference(ties, exclude):
    f = Fixture(fixture_path('metrics'))
    test = SequenceInteractions(f['sequences'], num_items=12)
    rr = sequence_mrr_score(FixedScores(f['scores_' + ties]), test, exclude_preceding=exclude)
    key = 'mrr.{}.{}.rr'.format(ties, 'exclude' if exclude else 'plain')
    np.testing.assert_allclose(rr, f[key], rtol=1e-6)


@pytest.mark.parametrize('k', [2, 3])
@pytest.mark.parametrize('exclude', [False, True])
def test_precision_recall_matches_the_reference(k, exclude):
    f = Fixture(fixture_path('metrics'))
    test = SequenceInteractions(f['sequences'], num_items=12)
    precision, recall = sequence_precision_recall_score(FixedScores(f['scores_distinct']), test, k=k,
                                                        exclude_preceding=exclude)
    key = 'pr.k{}.{}.'.format(k, 'exclude' if exclude else 'plain')
    np.testing.assert_allclose(precision, f[key + 'precision'])
    np.testing.assert_allclose(recall, f[key + 'recall'])


class Delegate(object):
    """Hides a limelight model behind its predict(), so the numpy path scores it."""

    def __init__(self, model):
        self.model = model

    def predict(self, sequence):
        return self.model.predict(sequence)


@pytest.mark.parametrize('exclude', [False, True])
def test_engine_metrics_equal_the_numpy_ones(small_sequences, exclude):
    train, test = small_sequences
    model = ImplicitSequenceModel(n_iter=2, representation='lstm', embedding_dim=8,
                                  random_state=np.random.RandomState(1))
    model.fit(train)
    native = sequence_mrr_score(model, test, exclude_preceding=exclude)
    reference = sequence_mrr_score(Delegate(model), test, exclude_preceding=exclude)
    assert native.shape == (len(test.sequences),)
    np.testing.assert_allclose(native, reference, rtol=1e-12)
    p, r = sequence_precision_recall_score(model, test, k=3, exclude_preceding=exclude)
    p_ref, r_ref = sequence_precision_recall_score(Delegate(model), test, k=3, exclude_preceding=exclude)
    np.testing.assert_allclose(p, p_ref)
    np.testing.assert_allclose(r, r_ref)


def test_metric_errors_name_the_problem(small_sequences):
    train, test = small_sequences
    model = ImplicitSequenceModel(n_iter=1, embedding_dim=4, random_state=np.random.RandomState(1))
    model.fit(train)
    with pytest.raises(ValueError, match='k must be in'):
        sequence_precision_recall_score(model, test, k=test.sequences.shape[1])
    bad = SequenceInteractions(np.array([[1, 2, 500]]), num_items=501)
    with pytest.raises(ValueError, match='500'):
        sequence_mrr_score(model, bad)
    with pytest.raises(TypeError, match='integers'):
        sequence_mrr_score(model, SequenceInteractions(np.array([[1.5, 2.0]]), num_items=3))
