"""Divergences (rule 4) and lambda_t (rule 6) against numpy by hand."""

import numpy as np
import pytest

from keras_adrop import divergences

RNG = np.random.RandomState(0)
P_LOGITS = RNG.randn(4, 5)
Q_LOGITS = RNG.randn(4, 5)


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _kl(p, q):
    return (p * (np.log(p) - np.log(q))).sum(-1)


@pytest.mark.parametrize("from_logits", [True, False])
def test_categorical_divergences(from_logits):
    p, q = _softmax(P_LOGITS), _softmax(Q_LOGITS)
    a, b = (P_LOGITS, Q_LOGITS) if from_logits else (p, q)

    def value(name):
        return divergences.divergence(name, a, b, from_logits).numpy()

    np.testing.assert_allclose(value("kl"), _kl(p, q), rtol=1e-5)
    np.testing.assert_allclose(value("reverse_kl"), _kl(q, p), rtol=1e-5)
    np.testing.assert_allclose(value("squared_probs"),
                               ((p - q) ** 2).mean(-1), rtol=1e-5)
    if from_logits:
        expected = ((P_LOGITS - Q_LOGITS) ** 2).mean(-1)
    else:
        expected = ((np.log(p) - np.log(q)) ** 2).mean(-1)
    np.testing.assert_allclose(value("squared_logits"), expected, rtol=1e-4)


@pytest.mark.parametrize("from_logits", [True, False])
def test_bernoulli_kl_for_one_sigmoid_output(from_logits):
    a, b = P_LOGITS[:, :1], Q_LOGITS[:, :1]
    p, q = 1 / (1 + np.exp(-a[:, 0])), 1 / (1 + np.exp(-b[:, 0]))
    expected = p * np.log(p / q) + (1 - p) * np.log((1 - p) / (1 - q))
    if not from_logits:
        a, b = p[:, None], q[:, None]
    got = divergences.divergence("kl", a, b, from_logits).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_sequence_outputs_give_one_value_per_step():
    a, b = RNG.randn(2, 3, 4), RNG.randn(2, 3, 4)
    got = divergences.divergence("kl", a, b, True).numpy()
    assert got.shape == (2, 3)
    np.testing.assert_allclose(got[1, 2], _kl(_softmax(a[1, 2]),
                                              _softmax(b[1, 2])), rtol=1e-5)


def test_unknown_divergence_raises():
    with pytest.raises(ValueError, match="`divergence` must be one of"):
        divergences.divergence("js", P_LOGITS, Q_LOGITS, True)


def test_many_to_one_weights_are_sample_weight_over_batch():
    weights = divergences.step_weights(
        np.zeros((4, 3)), sample_weight=np.array([1.0, 2.0, 0.0, 1.0]))
    np.testing.assert_allclose(weights, [0.25, 0.5, 0.0, 0.25])
