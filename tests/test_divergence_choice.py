"""The divergence a regularizer uses when the user leaves it out: read from
the compiled loss (the table is in docs/regularizers.md)."""

import keras
import numpy as np
import pytest
from keras import ops

import keras_adrop
from keras_adrop import divergences
from keras_adrop.regularizers import AdversarialDropout
from keras_adrop.regularizers import FraternalDropout

pytestmark = pytest.mark.backend_neutral


def _regressor(units=8, **kwargs):
    inputs = keras.Input((6, 2))
    h = keras_adrop.layers.LSTM(units, name="lstm")(inputs)
    return keras_adrop.AdversarialDropoutModel(
        inputs, keras.layers.Dense(1)(h), delta=0.25, seed=0, **kwargs)


def _series(n=32):
    rng = np.random.RandomState(0)
    x = rng.randn(n, 6, 2).astype("float32")
    return x, x.sum(axis=(1, 2))[:, None].astype("float32")


@pytest.mark.parametrize("loss", [
    "mse", "mae", keras.losses.Huber(), keras.losses.LogCosh(),
    keras.losses.MeanSquaredError(),
])
def test_a_regression_model_trains_with_squared_error_without_arguments(
        loss):
    model = _regressor()
    model.compile("adam", loss)
    choice = model.adversarial_dropout.resolved_divergence(model)
    assert choice == ("squared_error", None)
    x, y = _series()
    history = model.fit(x, y, batch_size=16, epochs=1, verbose=0).history
    assert history["adversarial_dropout_penalty"][0] > 0


def test_the_penalty_of_a_regression_model_is_the_squared_error():
    model = _regressor()
    model.compile("sgd", "mse")
    regularizer = model.adversarial_dropout
    x, _ = _series(8)
    batch = keras_adrop.training.loss.base_pass(
        model, ops.convert_to_tensor(x),
        keras_adrop.training.gradient_function(model))
    other = ops.convert_to_numpy(batch.outputs) + np.arange(8)[:, None] / 10
    penalty = regularizer.compare(batch, batch.outputs,
                                  ops.convert_to_tensor(other, "float32"))
    expected = np.mean((np.arange(8) / 10) ** 2)  # mean over examples
    np.testing.assert_allclose(float(penalty), expected, rtol=1e-5)


@pytest.mark.parametrize("loss, expected", [
    (keras.losses.SparseCategoricalCrossentropy(from_logits=True),
     ("kl", True)),
    ("sparse_categorical_crossentropy", ("kl", False)),
    (keras.losses.BinaryCrossentropy(from_logits=True), ("binary_kl", True)),
])
def test_a_classifier_reads_kl_and_from_logits_from_its_loss(loss, expected):
    model = _regressor()
    model.compile("adam", loss)
    assert model.adversarial_dropout.resolved_divergence(model) == expected
    assert divergences.divergence_for_loss(loss) == expected


def test_what_the_user_passes_wins_over_the_loss():
    model = _regressor(divergence="reverse_kl", from_logits=True)
    model.compile("adam", "sparse_categorical_crossentropy")
    assert model.adversarial_dropout.resolved_divergence(model) == (
        "reverse_kl", True)
    # Squared logits on a value output compare the values as they are.
    model = _regressor(divergence="squared_logits")
    model.compile("adam", "mse")
    assert model.adversarial_dropout.resolved_divergence(model) == (
        "squared_logits", True)


def test_fraternal_dropout_trains_a_regression_model():
    inputs = keras.Input((6, 2))
    h = keras_adrop.layers.LSTM(8, recurrent_dropout=0.3, seed=0)(inputs)
    model = keras_adrop.RegularizedModel(
        inputs, keras.layers.Dense(1)(h),
        regularizers=[FraternalDropout(seed=0)])
    model.compile("adam", "mse")
    x, y = _series()
    history = model.fit(x, y, batch_size=16, epochs=1, verbose=0).history
    assert history["fraternal_dropout_penalty"][0] > 0


def test_a_probability_divergence_on_values_names_from_logits():
    model = _regressor(divergence="kl")
    model.compile("adam", "mse")
    with pytest.raises(ValueError, match="from_logits=True"):
        model.adversarial_dropout.resolved_divergence(model)


def test_a_loss_that_cannot_be_read_names_the_divergence_argument():
    model = _regressor()
    model.compile("adam", lambda y, p: ops.mean(ops.abs(y - p)))
    with pytest.raises(ValueError, match="Pass `divergence=`"):
        model.adversarial_dropout.resolved_divergence(model)
    x, y = _series(16)
    with pytest.raises(ValueError, match="Pass `divergence=`"):
        model.fit(x, y, batch_size=16, epochs=1, verbose=0)


def test_bad_divergence_names_are_refused_when_built():
    with pytest.raises(ValueError, match="divergence"):
        AdversarialDropout(divergence="l2")
