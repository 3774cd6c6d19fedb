"""Zoneout, DropConnect, embedding/locked dropout and AR/TAR: the other
recurrent regularization layers beside adversarial dropout."""

import numpy as np
import pytest
import tensorflow as tf
import keras

from keras_adrop import keras_compat
from keras_adrop import layers

X = np.random.RandomState(0).randn(3, 5, 4).astype("float32")


@pytest.mark.parametrize("cls", [layers.LSTM, layers.GRU, layers.SimpleRNN])
@pytest.mark.parametrize("kwargs", [{"zoneout": 0.0},
                                    {"recurrent_dropconnect": 0.0}])
def test_rate_zero_equals_the_plain_layer(cls, kwargs):
    plain = cls(6, return_sequences=True)
    other = cls(6, return_sequences=True, **kwargs)
    plain(X)
    other(X)
    other.set_weights(plain.get_weights())
    for training in (False, True):
        np.testing.assert_allclose(other(X, training=training),
                                   plain(X, training=training), atol=1e-6)


def _doubling_rnn(**kwargs):
    """h_t = 2 h_{t-1}: zoneout shows as a factor 1 (kept) or 2 (updated)."""
    return layers.SimpleRNN(
        4, activation=None, use_bias=False, kernel_initializer="zeros",
        recurrent_initializer=keras.initializers.Identity(2.0),
        return_sequences=True, **kwargs)


def test_zoneout_keeps_units_per_step_and_uses_the_expectation_at_inference():
    rnn = _doubling_rnn(zoneout=0.3, seed=0)
    x = np.zeros((64, 6, 1), "float32")
    init = tf.ones((64, 4))
    y = rnn(x, initial_state=init, training=True).numpy()
    previous = np.concatenate([np.ones((64, 1, 4)), y[:, :-1]], axis=1)
    ratio = y / previous
    assert set(np.round(np.unique(ratio), 6)) == {1.0, 2.0}
    kept = ratio == 1.0
    assert 0.2 < kept.mean() < 0.4  # about z
    assert kept[:, 0].tolist() != kept[:, 1].tolist()  # fresh every step
    inference = rnn(x, initial_state=init).numpy()
    np.testing.assert_allclose(inference[:, -1], (2 - 0.3) ** 6, rtol=1e-5)


def test_lstm_cell_zoneout_expectation_by_hand():
    rnn = layers.LSTM(3, zoneout=0.2, cell_zoneout=0.6, return_state=True)
    rng = np.random.RandomState(1)
    x = rng.randn(2, 1, 2).astype("float32")
    h0, c0 = rng.randn(2, 3), rng.randn(2, 3)
    _, h, c = rnn(x, initial_state=[tf.constant(h0, "float32"),
                                    tf.constant(c0, "float32")])
    kernel, recurrent, bias = [w.astype("float64") for w in rnn.get_weights()]
    z = x[:, 0] @ kernel + h0 @ recurrent + bias
    i, f, g, o = np.split(z, 4, axis=1)
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    c_new = sig(f) * c0 + sig(i) * np.tanh(g)
    # Inference: the expectation; h is built from the new, unzoned c.
    np.testing.assert_allclose(c, 0.6 * c0 + 0.4 * c_new, atol=1e-5)
    np.testing.assert_allclose(
        h, 0.2 * h0 + 0.8 * sig(o) * np.tanh(c_new), atol=1e-5)


@pytest.mark.parametrize("cls", [layers.LSTM, layers.GRU])
@pytest.mark.parametrize("features", [3, 8], ids=["per_step", "hoisted"])
def test_training_zoneout_keeps_old_units_in_gated_cells(cls, features):
    """With zoneout 0.5 about half the (step, unit) values equal the
    previous step's exactly, also going backwards and with padding."""
    rnn = cls(8, zoneout=0.5, return_sequences=True, go_backwards=True,
              seed=0)
    x = np.random.RandomState(0).randn(16, 6, features).astype("float32")
    mask = np.ones((16, 6), bool)
    mask[:4, 4:] = False
    y = rnn(x, mask=tf.constant(mask), training=True).numpy()
    same = np.isclose(y[:, 1:], y[:, :-1], atol=0, rtol=0)
    valid = mask[:, 2:][..., None].repeat(8, -1)  # steps with a real update
    assert 0.35 < same[:, 1:][valid].mean() < 0.65


@pytest.mark.parametrize("mode", ["element", "row"])
def test_dropconnect_is_one_mask_on_the_kernel_per_batch(mode):
    """With h_0 = identity rows, step 1 is the dropped kernel itself and step
    2 its square: one mask shared by all examples and both steps."""
    units, rate = 6, 0.5
    rnn = layers.SimpleRNN(
        units, activation=None, use_bias=False, kernel_initializer="zeros",
        recurrent_initializer="ones", recurrent_dropconnect=rate,
        dropconnect_mode=mode, return_sequences=True, seed=2)
    x = np.zeros((units, 2, 1), "float32")
    y = rnn(x, initial_state=tf.eye(units), training=True).numpy()
    dropped = y[:, 0]
    assert set(np.unique(dropped)) == {0.0, 2.0}  # 1/(1-p) scaling
    if mode == "row":  # AWD's rows of weight_hh: columns of Keras' kernel
        assert all(len(set(column)) == 1 for column in dropped.T)
    np.testing.assert_allclose(y[:, 1], dropped @ dropped, rtol=1e-6)
    np.testing.assert_allclose(rnn(x, initial_state=tf.eye(units))[:, 0], 1.0)


def test_bad_rates_and_modes_raise():
    with pytest.raises(ValueError, match="`zoneout`"):
        layers.GRU(3, zoneout=1.0)
    with pytest.raises(ValueError, match="`cell_zoneout`"):
        layers.LSTM(3, cell_zoneout=-0.1)
    with pytest.raises(ValueError, match="`dropconnect_mode`"):
        layers.LSTM(3, dropconnect_mode="column")
    with pytest.raises(ValueError, match="`embedding_dropout`"):
        layers.Embedding(5, 2, embedding_dropout=1.0)


def test_embedding_dropout_drops_whole_words():
    embedding = layers.Embedding(50, 3, embedding_dropout=0.5, seed=0,
                                 embeddings_initializer="ones")
    tokens = np.random.RandomState(0).randint(0, 50, size=(8, 10))
    vectors = embedding(tokens, training=True).numpy()
    scale = vectors[..., 0]
    assert set(np.unique(scale)) == {0.0, 2.0}
    for word in np.unique(tokens):  # every occurrence alike
        assert len(set(scale[tokens == word])) == 1
    np.testing.assert_allclose(embedding(tokens), 1.0)


@pytest.mark.parametrize("training", [False, True])
def test_embedding_passes_its_padding_mask_on(training):
    # Keras' ReversibleEmbedding attaches the mask in its call; the dropped
    # and perturbed vectors must carry it too, or the LSTM reads padding.
    embedding = layers.Embedding(9, 3, mask_zero=True, embedding_dropout=0.5,
                                 seed=0)
    tokens = np.array([[3, 5, 0, 0], [1, 2, 4, 0]])
    expected = tokens != 0
    vectors = embedding(tokens, training=training)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(keras_compat.keras_mask(vectors)),
        expected)
    seen = {}

    def perturb(vectors, mask):
        seen["mask"] = keras.ops.convert_to_numpy(mask)
        return vectors + 1.0

    with layers.embedding_perturbations({embedding: perturb}):
        vectors = embedding(tokens, training=training)
    np.testing.assert_array_equal(seen["mask"], expected)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(keras_compat.keras_mask(vectors)),
        expected)
    # An LSTM after it returns the state of each sequence's last real step.
    lstm = layers.LSTM(2, seed=0)
    np.testing.assert_allclose(lstm(vectors)[:1], lstm(vectors[:1, :2]),
                               atol=1e-6)


def test_reverse_call_of_a_masked_embedding_keeps_the_padding_mask():
    # Tied logits of a padded batch: the loss must skip the padded steps,
    # as after a Dense decoder (Keras' ReversibleEmbedding <= 3.13 gave
    # the logits a (batch, time, dim) mask, and fit failed).
    embedding = layers.Embedding(6, 3, mask_zero=True)
    lstm = layers.LSTM(3, return_sequences=True, seed=0)
    tokens = np.array([[1, 2, 0, 0], [3, 4, 5, 0]])
    logits = embedding(lstm(embedding(tokens)), reverse=True)
    assert logits.shape == (2, 4, 6)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(keras_compat.keras_mask(logits)),
        tokens != 0)
    inputs = keras.Input((4,), dtype="int32")
    model = keras.Model(inputs, embedding(lstm(embedding(inputs)),
                                          reverse=True))
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(
        from_logits=True, reduction="sum"))
    padded_loss = model.evaluate(tokens, tokens, verbose=0)
    per_token = keras.losses.SparseCategoricalCrossentropy(
        from_logits=True, reduction=None)(tokens, model(tokens))
    np.testing.assert_allclose(
        padded_loss,
        keras.ops.convert_to_numpy(per_token)[tokens != 0].sum(), rtol=1e-5)
    assert np.isfinite(model.fit(tokens, tokens, verbose=0).history["loss"])


def test_locked_dropout_shares_the_mask_over_time():
    # AWD's locked dropout
    dropout = keras.layers.SpatialDropout1D(0.5, seed=0)
    y = dropout(np.ones((4, 6, 8), "float32"), training=True).numpy()
    assert set(np.unique(y)) == {0.0, 2.0}
    np.testing.assert_array_equal(y, np.repeat(y[:, :1], 6, axis=1))
    np.testing.assert_allclose(dropout(np.ones((4, 6, 8))), 1.0)


def test_activation_regularization_formulas_with_padding():
    h = np.random.RandomState(3).randn(2, 4, 3).astype("float32")
    mask = np.array([[1, 1, 1, 1], [1, 1, 0, 0]], bool)
    layer = layers.RecurrentActivityRegularization(alpha=2.0, beta=3.0)
    out = layer(h, training=True, mask=tf.constant(mask))
    np.testing.assert_array_equal(out, h)  # identity
    ar, tar = [float(v) for v in layer.losses]
    np.testing.assert_allclose(ar, 2.0 * (h[mask] ** 2).mean(), rtol=1e-5)
    pairs = mask[:, 1:] & mask[:, :-1]
    diffs = (h[:, 1:] - h[:, :-1])[pairs]
    np.testing.assert_allclose(tar, 3.0 * (diffs ** 2).mean(), rtol=1e-5)
    layer(h)  # inference: no penalty
    assert layer.losses == []


def test_every_layer_round_trips_in_a_model(tmp_path):
    inputs = keras.Input((5,), dtype="int32")
    h = layers.Embedding(20, 4, mask_zero=True, embedding_dropout=0.1,
                         seed=1)(inputs)
    h = keras.layers.SpatialDropout1D(0.2, seed=2)(h)
    h = layers.LSTM(6, zoneout=0.1, cell_zoneout=0.3,
                    recurrent_dropconnect=0.2, dropconnect_mode="row",
                    return_sequences=True, seed=3)(h)
    h = layers.RecurrentActivityRegularization(alpha=1.0, beta=0.5)(h)
    h = layers.GRU(5, zoneout=0.2, recurrent_dropconnect=0.1)(h)
    model = keras.Model(inputs, keras.layers.Dense(2)(h))
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(True))
    tokens = np.random.RandomState(0).randint(0, 20, size=(16, 5))
    labels = tokens[:, 0] % 2
    history = model.fit(tokens, labels, epochs=2, verbose=0).history
    assert np.isfinite(history["loss"]).all()
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    for original, restored in zip(model.layers, loaded.layers):
        assert type(restored) is type(original)
        assert restored.get_config() == original.get_config()
    np.testing.assert_allclose(loaded.predict(tokens, verbose=0),
                               model.predict(tokens, verbose=0), atol=1e-6)
