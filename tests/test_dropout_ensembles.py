"""Fraternal dropout and expectation-linearization (docs/algorithm.md s.5)."""

import numpy as np
import pytest
import tensorflow as tf
import keras

import keras_adrop
from conftest import base_batch
from keras_adrop.training import gradient_function
from keras_adrop.training.loss import regularized_loss
from keras_adrop import layers
from keras_adrop.regularizers import AdversarialDropout
from keras_adrop.regularizers import ExpectationLinearization
from keras_adrop.regularizers import FraternalDropout

STEPS, FEATURES, CLASSES = 6, 2, 3


def _data(n=64, seed=0):
    rng = np.random.RandomState(seed)
    x = rng.randn(n, STEPS, FEATURES).astype("float32")
    y = np.digitize(x[:, :, 0].sum(1), [-1.2, 1.2]).astype("int32")
    return x, y


def _model(regularizers, rate=0.3, units=8, **model_kwargs):
    inputs = keras.Input((STEPS, FEATURES))
    h = layers.LSTM(units, recurrent_dropout=rate, name="lstm")(inputs)
    model = keras_adrop.RegularizedModel(
        inputs, keras.layers.Dense(CLASSES)(h), regularizers=regularizers,
        **model_kwargs)
    model.compile(keras.optimizers.Adam(0.01),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def _batch_with_captured_passes(model, x, y):
    """The TrainingBatch of a base pass, recording every later pass."""
    batch = base_batch(model, tf.constant(x), tf.constant(y))
    passes = []
    run = batch.run

    def recording_run(masks):
        out = run(masks)
        passes.append((masks, out))
        return out

    batch.run = recording_run
    return batch, passes


def _cross_entropy(logits, y):
    z = logits - logits.max(1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(1, keepdims=True))
    return -log_p[np.arange(len(y)), y].mean()


def test_fraternal_penalty_and_supervised_loss_by_hand():
    model = _model([FraternalDropout(seed=1, from_logits=True)])
    x, y = _data(n=16)
    batch, passes = _batch_with_captured_passes(model, x, y)
    penalty, logs, trained_on = model.regularizers[0].penalty(batch)
    (masks, other), = passes
    first, second = batch.outputs.numpy(), other.numpy()
    # Mean over examples of the mean squared logit difference over classes.
    np.testing.assert_allclose(float(penalty),
                               ((first - second) ** 2).mean(), rtol=1e-5)
    assert logs["fraternal_dropout_penalty"] is penalty
    # Two different random masks, each scaled 1/(1-p).
    mask, scale = masks[model.get_layer("lstm")]
    assert scale == pytest.approx(1 / 0.7)
    base_mask, _ = batch.base_masks[model.get_layer("lstm")]
    assert not np.array_equal(mask.numpy(), base_mask.numpy())
    # The second pass is trained on too.
    (trained,) = trained_on
    assert trained is other


def test_fraternal_supervised_loss_is_the_mean_over_both_passes():
    model = _model([FraternalDropout(seed=1, from_logits=True)])
    x, y = _data(n=16)
    regularizer = model.regularizers[0]
    results = []
    penalty = regularizer.penalty
    regularizer.penalty = lambda batch: results.append(penalty(batch)) or (
        results[-1])
    loss, _ = regularized_loss(model, (tf.constant(x), tf.constant(y)),
                               gradient_function(model))
    (second,) = results[0].supervised_passes
    expected = (_cross_entropy(loss.y_pred.numpy(), y)
                + _cross_entropy(second.numpy(), y)) / 2
    np.testing.assert_allclose(float(loss.supervised), expected, rtol=1e-5)
    assert not np.allclose(loss.y_pred.numpy(), second.numpy())


def test_expectation_linearization_penalty_by_hand():
    model = _model([ExpectationLinearization(seed=1, from_logits=True)])
    x, y = _data(n=16)
    batch, passes = _batch_with_captured_passes(model, x, y)
    penalty, _, trained_on = model.regularizers[0].penalty(batch)
    (masks, full), = passes
    assert masks == {model.get_layer("lstm"): None}  # the full network
    np.testing.assert_allclose(full.numpy(), model(x).numpy(), atol=1e-6)
    np.testing.assert_allclose(
        float(penalty), ((full.numpy() - batch.outputs.numpy()) ** 2).mean(),
        rtol=1e-5)
    assert trained_on == ()


def test_penalty_weights_padded_steps_of_sequence_outputs():
    vocab, steps = 9, 5
    inputs = keras.Input((steps,), dtype="int32")
    h = keras.layers.Embedding(vocab, 4, mask_zero=True)(inputs)
    h = layers.GRU(6, recurrent_dropout=0.4, return_sequences=True)(h)
    model = keras_adrop.RegularizedModel(
        inputs, keras.layers.Dense(vocab)(h),
        regularizers=[FraternalDropout(seed=0, from_logits=True)])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(True))
    tokens = np.random.RandomState(0).randint(1, vocab, size=(4, steps))
    tokens[1, 3:] = 0
    tokens[2, 1:] = 0
    batch, passes = _batch_with_captured_passes(model, tokens, tokens)
    penalty = model.regularizers[0].penalty(batch).value
    gap = ((batch.outputs.numpy() - passes[0][1].numpy()) ** 2).mean(-1)
    valid = tokens != 0
    np.testing.assert_allclose(float(penalty), gap[valid].mean(), rtol=1e-5)


@pytest.mark.parametrize("cls", [FraternalDropout, ExpectationLinearization])
def test_penalty_is_zero_without_dropout(cls):
    with pytest.warns(UserWarning, match="its penalty will be 0"):
        model = _model([cls(seed=0, from_logits=True)], rate=0.0)
    x, y = _data()
    history = model.fit(x, y, epochs=1, batch_size=32, verbose=0).history
    assert history[f"{model.regularizers[0].name}_penalty"] == [0.0]


@pytest.mark.parametrize("cls", [FraternalDropout, ExpectationLinearization])
def test_fit_trains_and_round_trips(cls, tmp_path):
    model = _model([cls(penalty_weight=0.5, seed=3, from_logits=True)])
    x, y = _data()
    history = model.fit(x, y, epochs=4, batch_size=16, verbose=0).history
    name = model.regularizers[0].name
    assert history["supervised_loss"][-1] < history["supervised_loss"][0]
    assert min(history[f"{name}_penalty"]) > 0
    np.testing.assert_allclose(
        history["loss"],
        np.add(history["supervised_loss"],
               0.5 * np.array(history[f"{name}_penalty"])), rtol=1e-5)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert type(loaded.regularizers[0]) is cls
    assert loaded.regularizers[0].get_config() == \
        model.regularizers[0].get_config()
    assert loaded.regularizers[0].penalty_weight == 0.5
    np.testing.assert_allclose(loaded.predict(x, verbose=0),
                               model.predict(x, verbose=0), atol=1e-6)


def test_combination_on_two_layers_sums_the_weighted_penalties():
    inputs = keras.Input((STEPS, FEATURES))
    h = layers.LSTM(10, return_sequences=True, name="adversarial")(inputs)
    h = layers.LSTM(8, recurrent_dropout=0.3, name="fraternal")(h)
    model = keras_adrop.RegularizedModel(
        inputs, keras.layers.Dense(CLASSES)(h), regularizers=[
            AdversarialDropout(delta=0.3, layers=["adversarial"], seed=0),
            FraternalDropout(penalty_weight=0.2, layers=["fraternal"], seed=0),
        ])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(True))
    x, y = _data()
    history = model.fit(x, y, epochs=2, batch_size=32, verbose=0).history
    assert min(history["adversarial_dropout_penalty"]) > 0
    assert min(history["fraternal_dropout_penalty"]) > 0
    np.testing.assert_allclose(
        history["loss"],
        np.array(history["supervised_loss"])
        + np.array(history["adversarial_dropout_penalty"])
        + 0.2 * np.array(history["fraternal_dropout_penalty"]), rtol=1e-5)


def test_two_regularizers_wanting_different_base_masks_conflict():
    with pytest.raises(ValueError, match="base mask of layer 'lstm'"):
        _model([AdversarialDropout(delta=0.3, base_mask="random"),
                FraternalDropout()])
    # Two that both run the layer in full may share it.
    _model([AdversarialDropout(delta=0.3, name="a"),
            AdversarialDropout(delta=0.3, name="b")], rate=0.0)


@pytest.mark.parametrize("cls", [FraternalDropout, ExpectationLinearization])
def test_rule_9_passes_share_embedding_and_locked_dropout_noise(cls):
    """Only the recurrent masks may differ between the passes of a step:
    with no recurrent dropout, heavy embedding and locked dropout give a
    penalty of exactly 0."""
    inputs = keras.Input((STEPS,), dtype="int32")
    h = layers.Embedding(12, 4, embedding_dropout=0.5, seed=1)(inputs)
    h = keras.layers.SpatialDropout1D(0.5, seed=2)(h)
    h = layers.LSTM(6, dropout=0.3, recurrent_dropout=0.0, seed=3)(h)
    h = keras.layers.Dropout(0.5, seed=4)(h)
    with pytest.warns(UserWarning, match="its penalty will be 0"):
        model = keras_adrop.RegularizedModel(
            inputs, keras.layers.Dense(CLASSES)(h),
            regularizers=[cls(seed=0, from_logits=True)])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(True))
    tokens = np.random.RandomState(0).randint(0, 12, size=(32, STEPS))
    history = model.fit(tokens, tokens[:, 0] % 3, epochs=1, verbose=0).history
    assert history[f"{model.regularizers[0].name}_penalty"] == [0.0]
