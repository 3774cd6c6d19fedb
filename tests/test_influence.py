"""Influence maps (rule 12) against central finite differences, in float64."""

import numpy as np
import pytest
import tensorflow as tf
import keras

from keras_adrop import divergences
from keras_adrop import layers
from keras_adrop.training import gradient_function


@pytest.mark.parametrize("cls", [layers.LSTM, layers.GRU, layers.SimpleRNN])
@pytest.mark.parametrize("divergence", ["kl", "squared_logits"])
def test_influence_map_equals_finite_differences(cls, divergence):
    units = 4
    inputs = keras.Input((5, 3), dtype="float64")
    rnn = cls(units, dtype="float64")
    outputs = keras.layers.Dense(3, dtype="float64")(rnn(inputs))
    model = keras.Model(inputs, outputs)
    x = tf.constant(np.random.RandomState(0).randn(2, 5, 3))
    target = model(x)  # eps0 = full network
    weights = divergences.step_weights(target)

    def objective(masks):
        with layers.recurrent_masks(masks):
            out = model(x, training=True)
        return divergences.weighted_divergence(
            divergence, target, out, True, weights)

    mask = np.ones((2, units))
    mask[0, 1] = 0.0  # a start mask: one unit flipped per example
    mask[1, 3] = 0.0
    influence = gradient_function(model)(
        objective, {rnn: tf.constant(mask)})[rnn]
    influence = influence.numpy()

    # Rule 2 holds the rescaling units/kept constant in the gradient, so the
    # map is the derivative at a fixed scale. Moving one element with the
    # scale free adds -(1/S) sum_j mask_j IM_j per example (S = kept units).
    kept = mask.sum(axis=1, keepdims=True)
    expected = influence - (mask * influence).sum(axis=1, keepdims=True) / kept
    step = 1e-6
    finite = np.zeros_like(mask)
    for b in range(2):
        for i in range(units):
            plus, minus = mask.copy(), mask.copy()
            plus[b, i] += step
            minus[b, i] -= step
            finite[b, i] = (
                objective({rnn: tf.constant(plus)})
                - objective({rnn: tf.constant(minus)})
            ).numpy() / (2 * step)
    np.testing.assert_allclose(finite, expected, rtol=1e-5, atol=1e-9)
    assert np.abs(influence).max() > 1e-6  # not a vacuous comparison


def test_influence_map_at_fixed_scale_equals_finite_differences():
    """Directly: with the scale pinned, the map is the plain derivative."""
    units = 3
    rnn = layers.SimpleRNN(units, dtype="float64")
    x = tf.constant(np.random.RandomState(1).randn(2, 4, 2))
    rnn(x)
    mask = tf.constant(np.ones((2, units)))

    def objective(masks):
        # Perturbations along (1, -1, 0) keep every example's kept count.
        with layers.recurrent_masks(masks):
            return tf.reduce_sum(tf.sin(rnn(x, training=True)))

    influence = gradient_function(rnn)(objective, {rnn: mask})[rnn].numpy()
    direction = np.array([[1.0, -1.0, 0.0], [0.0, 1.0, -1.0]])
    step = 1e-6
    finite = (
        objective({rnn: mask + step * direction})
        - objective({rnn: mask - step * direction})
    ).numpy() / (2 * step)
    np.testing.assert_allclose(finite, (influence * direction).sum(),
                               rtol=1e-6)
