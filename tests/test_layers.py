"""The recurrent layers: equal to Keras' own, and masks as docs/algorithm.md s.1."""

import re

import numpy as np
import pytest
import tensorflow as tf
import keras

from keras_adrop import layers

# (ours, Keras', constructor arguments): every cell variant.
PAIRS = [
    (layers.LSTM, keras.layers.LSTM, {}),
    (layers.GRU, keras.layers.GRU, {}),
    (layers.GRU, keras.layers.GRU, {"reset_after": False}),
    (layers.SimpleRNN, keras.layers.SimpleRNN, {}),
]
PAIR_IDS = ["lstm", "gru", "gru_reset_before", "simple_rnn"]
SEQUENCES = np.random.RandomState(0).randn(3, 6, 4).astype("float32")


def _share_random_weights(ours, theirs):
    """Gives both built layers the same random weights (larger than at
    initialization, so that differences show)."""
    rng = np.random.RandomState(1)
    weights = [0.5 * rng.randn(*w.shape).astype("float32")
               for w in theirs.get_weights()]
    theirs.set_weights(weights)
    ours.set_weights(weights)


def _twins(ours_cls, keras_cls, kwargs, units=5, **call_kwargs):
    """Our layer and Keras' with identical (non-trivial) weights.

    With 5 units the 4 input features are projected inside the loop; with
    3 units the layer hoists the projection out of it.
    """
    theirs_kwargs = dict(kwargs, **call_kwargs)
    if keras_cls is not keras.layers.SimpleRNN:
        theirs_kwargs["use_cudnn"] = False
    theirs = keras_cls(units, **theirs_kwargs)
    ours = ours_cls(units, **kwargs, **call_kwargs)
    theirs(SEQUENCES)
    ours(SEQUENCES)
    _share_random_weights(ours, theirs)
    return ours, theirs


def _outputs_and_gradients(layer, x, mask=None):
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, mask=mask)
        y = y[0] if isinstance(y, (list, tuple)) else y
        loss = tf.reduce_sum(y * y) + tf.reduce_sum(y)
    grads = tape.gradient(loss, [x] + layer.trainable_weights)
    return [y.numpy()] + [g.numpy() for g in grads]


@pytest.mark.parametrize("ours_cls,keras_cls,kwargs", PAIRS, ids=PAIR_IDS)
@pytest.mark.parametrize(
    "options",
    [{}, {"return_sequences": True}, {"go_backwards": True},
     {"return_sequences": True, "return_state": True}],
    ids=["last", "sequences", "backwards", "state"],
)
@pytest.mark.parametrize("units", [5, 3], ids=["per_step", "hoisted"])
def test_equals_keras_layer(ours_cls, keras_cls, kwargs, options, units):
    ours, theirs = _twins(ours_cls, keras_cls, kwargs, units=units,
                          **options)
    assert [w.shape for w in ours.get_weights()] == [
        w.shape for w in theirs.get_weights()
    ]
    for a, b in zip(_outputs_and_gradients(ours, SEQUENCES),
                    _outputs_and_gradients(theirs, SEQUENCES)):
        np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("ours_cls,keras_cls,kwargs", PAIRS, ids=PAIR_IDS)
@pytest.mark.parametrize("units", [5, 3], ids=["per_step", "hoisted"])
def test_equals_keras_layer_on_padded_input(ours_cls, keras_cls, kwargs,
                                            units):
    ours, theirs = _twins(ours_cls, keras_cls, kwargs, units=units,
                          return_sequences=True)
    mask = tf.constant(np.array([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0],
                                 [1, 0, 0, 0, 0, 0]], dtype=bool))
    for a, b in zip(_outputs_and_gradients(ours, SEQUENCES, mask),
                    _outputs_and_gradients(theirs, SEQUENCES, mask)):
        np.testing.assert_allclose(a, b, atol=1e-5)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def test_external_mask_applied_as_rules_1_and_2():
    """One LSTM step by hand: only h_{t-1} is masked, rescaled H / kept."""
    layer = layers.LSTM(4, return_sequences=True)
    x = np.random.RandomState(2).randn(2, 2, 3).astype("float32")
    layer(x)
    kernel, recurrent, bias = [w.astype("float64") for w in layer.get_weights()]
    mask = np.array([[1, 0, 1, 1], [0, 0, 1, 0]], "float32")
    with layers.recurrent_masks({layer: tf.constant(mask)}):
        y = layer(x, training=False).numpy()  # applies in inference too

    h = np.zeros((2, 4))
    c = np.zeros((2, 4))
    scale = 4.0 / mask.sum(axis=1, keepdims=True)  # rule 2: 4/3 and 4/1
    for t in range(2):
        z = x[:, t] @ kernel + (h * mask * scale) @ recurrent + bias
        i, f, g, o = np.split(z, 4, axis=1)
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)  # c is not masked
        h = _sigmoid(o) * np.tanh(c)                    # nor is the output
        np.testing.assert_allclose(y[:, t], h, atol=1e-5)


def test_mask_with_a_fixed_scale_is_not_rescaled():
    """A (mask, s) pair multiplies h_{t-1} by mask * s (variational 1/(1-p))."""
    layer = layers.SimpleRNN(3, activation=None, use_bias=False,
                             kernel_initializer="zeros",
                             recurrent_initializer="identity",
                             return_sequences=True)
    x = np.zeros((2, 2, 1), "float32")
    init = tf.ones((2, 3))
    mask = np.array([[1, 0, 1], [0, 0, 1]], "float32")
    with layers.recurrent_masks({layer: (tf.constant(mask), 2.0)}):
        y = layer(x, initial_state=init).numpy()
    np.testing.assert_allclose(y[:, 0], mask * 2.0)
    with layers.recurrent_masks({layer: tf.constant(mask)}):  # units / kept
        y = layer(x, initial_state=init).numpy()
    np.testing.assert_allclose(y[:, 0], mask * [[1.5], [3.0]])


def test_external_mask_on_gru_keeps_unmasked_interpolation():
    layer = layers.GRU(3, return_sequences=True)
    x = np.random.RandomState(3).randn(1, 2, 2).astype("float32")
    layer(x)
    kernel, recurrent, bias = [w.astype("float64") for w in layer.get_weights()]
    mask = np.array([[1, 1, 0]], "float32")
    with layers.recurrent_masks({layer: tf.constant(mask)}):
        y = layer(x).numpy()
    h = np.zeros((1, 3))
    for t in range(2):
        hm = h * mask * 1.5
        xz, xr, xh = np.split(x[:, t] @ kernel + bias[0], 3, axis=1)
        rz, rr, rh = np.split(hm @ recurrent + bias[1], 3, axis=1)
        z, r = _sigmoid(xz + rz), _sigmoid(xr + rr)
        h = z * h + (1 - z) * np.tanh(xh + r * rh)
        np.testing.assert_allclose(y[:, t], h, atol=1e-5)


def test_variational_mask_is_per_example_and_time_invariant():
    """recurrent_dropout: one mask per example for all steps, 1/(1-p)."""
    layer = layers.SimpleRNN(
        6, recurrent_dropout=0.5, activation=None, use_bias=False,
        kernel_initializer="zeros", recurrent_initializer="identity",
        return_sequences=True, seed=3,
    )
    # Zero kernel, identity recurrence: h_t = d(h_{t-1}), so the masks show.
    x = np.zeros((4, 3, 2), "float32")
    init = tf.ones((4, 6))
    y = layer(x, initial_state=init, training=True).numpy()
    first = y[:, 0]
    assert set(np.unique(first)) <= {0.0, 2.0}
    assert len({tuple(row) for row in (first > 0)}) > 1  # differs per example
    np.testing.assert_allclose(y[:, 1], first * (first > 0) * 2.0)
    np.testing.assert_allclose(y[:, 2], y[:, 1] * (first > 0) * 2.0)
    # Off at inference: the full network.
    np.testing.assert_allclose(layer(x, initial_state=init).numpy(), 1.0)


def test_full_network_entry_overrides_recurrent_dropout():
    layer = layers.LSTM(5, recurrent_dropout=0.5, seed=1)
    plain = layer(SEQUENCES).numpy()
    with layers.recurrent_masks({layer: None}):
        np.testing.assert_allclose(layer(SEQUENCES, training=True), plain)
    assert not np.allclose(layer(SEQUENCES, training=True), plain)


def test_gradient_flows_to_external_mask_in_tf_function():
    layer = layers.LSTM(5)
    layer(SEQUENCES)

    @tf.function
    def influence(mask):
        with tf.GradientTape() as tape:
            tape.watch(mask)
            with layers.recurrent_masks({layer: mask}):
                y = layer(SEQUENCES, training=True)
            loss = tf.reduce_sum(y ** 2)
        return tape.gradient(loss, mask)

    grad = influence(tf.ones((3, 5))).numpy()
    assert grad.shape == (3, 5) and np.all(np.isfinite(grad))
    assert np.abs(grad).sum() > 0


def test_mask_shape_is_checked():
    layer = layers.LSTM(5)
    layer(SEQUENCES)
    with pytest.raises(ValueError, match=r"must have shape \(batch=None, units=5\)"):
        with layers.recurrent_masks({layer: tf.ones((3, 4))}):
            pass
    with pytest.raises(ValueError, match=r"\(batch=3, units=5\).*\(2, 5\)"):
        with layers.recurrent_masks({layer: tf.ones((2, 5))}):
            layer(SEQUENCES)  # 3 sequences, 2 mask rows: no broadcasting
    with pytest.raises(ValueError, match="keras_adrop recurrent layers"):
        with layers.recurrent_masks({keras.layers.Dense(3): tf.ones((3, 4))}):
            pass


@pytest.mark.parametrize("argument", ["recurrent_dropout", "dropout"])
@pytest.mark.parametrize("value", [-0.1, 1.0, 1.5])
def test_dropout_rates_outside_unit_interval_raise(argument, value):
    with pytest.raises(ValueError, match=f"`{argument}` must be in \\[0, 1\\)"):
        layers.LSTM(4, **{argument: value})


def test_use_cudnn_true_raises_on_a_call_that_needs_the_step_loop():
    layer = layers.LSTM(4, use_cudnn=True)  # accepted, as Keras
    with pytest.raises(ValueError, match=(
            r"`use_cudnn` must be one of \('auto', False\) for this call .*"
            r"recurrent mask.*Received: use_cudnn=True \(of type bool\)")):
        with layers.recurrent_masks({layer: tf.ones((3, 4))}):
            layer(SEQUENCES)
    with pytest.raises(ValueError, match="zoneout"):
        layers.GRU(4, use_cudnn=True, zoneout=0.1)


def test_unknown_argument_raises():
    with pytest.raises(TypeError, match="reset_after"):
        layers.LSTM(4, reset_after=True)


# (ours, Keras', cell arguments) where Keras' cell draws what ours draws in a
# plain keras.layers.RNN: one input mask, and (SimpleRNN) one recurrent mask.
# Keras' LSTMCell and GRUCell with recurrent_dropout draw one mask per gate
# instead (implementation 1); ours one for all gates (rule 1), tested below.
CELL_PAIRS = [
    (layers.SimpleRNNCell, keras.layers.SimpleRNNCell,
     {"dropout": 0.3, "recurrent_dropout": 0.4}),
    (layers.LSTMCell, keras.layers.LSTMCell, {"dropout": 0.3}),
    (layers.GRUCell, keras.layers.GRUCell, {"dropout": 0.3}),
    (layers.GRUCell, keras.layers.GRUCell,
     {"dropout": 0.3, "reset_after": False}),
]


@pytest.mark.parametrize("ours_cls,keras_cls,kwargs", CELL_PAIRS,
                         ids=["simple_rnn", "lstm", "gru", "gru_reset_before"])
@pytest.mark.parametrize("stacked", [False, True], ids=["rnn", "stacked"])
def test_cell_in_a_keras_rnn_drops_as_keras_cell(ours_cls, keras_cls, kwargs,
                                                 stacked):
    """Same weights, same seed: same training outputs and gradients as
    Keras' cell in keras.layers.RNN (and StackedRNNCells)."""
    def rnn(cls):
        cells = [cls(4, seed=7, **kwargs), cls(3, seed=8, **kwargs)]
        return keras.layers.RNN(
            keras.layers.StackedRNNCells(cells) if stacked else cells[0],
            return_sequences=True)

    ours, theirs = rnn(ours_cls), rnn(keras_cls)
    ours(SEQUENCES)
    theirs(SEQUENCES)
    _share_random_weights(ours, theirs)
    for training in (True, False):
        results = []
        for layer in (ours, theirs):
            with tf.GradientTape() as tape:
                y = layer(SEQUENCES, training=training)
                loss = tf.reduce_sum(y * y) + tf.reduce_sum(y)
            grads = tape.gradient(loss, layer.trainable_weights)
            results.append([y.numpy()] + [g.numpy() for g in grads])
        for a, b in zip(*results):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    assert not np.allclose(ours(SEQUENCES, training=True), ours(SEQUENCES))


@pytest.mark.parametrize("cell_cls", [layers.LSTMCell, layers.GRUCell],
                         ids=["lstm", "gru"])
def test_cell_in_a_keras_rnn_masks_h_once_for_all_gates(cell_cls):
    """In keras.layers.RNN, recurrent_dropout draws one (batch, units) mask
    per call, as keras.layers.RNN has DropoutRNNCell draw it, and applies it
    as the keras_adrop layer applies a mask set from outside (rule 1)."""
    rate = 0.4
    cell = cell_cls(5, recurrent_dropout=rate, seed=3)
    rnn = keras.layers.RNN(cell)
    layer = getattr(layers, cell_cls.__name__[:-4])(5)
    layer(SEQUENCES)
    rnn.build(SEQUENCES.shape)  # a call would draw (even in inference)
    layer.set_weights(rnn.get_weights())
    # What keras.layers.RNN has the cell draw: input mask (none: dropout 0),
    # then one recurrent mask shaped like h, from the cell's seed.
    seed = keras.random.SeedGenerator(3)
    mask = keras.random.dropout(np.ones((3, 5), "float32"), rate, seed=seed)
    with layers.recurrent_masks({layer: (mask, 1.0)}):
        expected = layer(SEQUENCES, training=True)
    np.testing.assert_allclose(rnn(SEQUENCES, training=True), expected,
                               rtol=1e-5, atol=1e-6)
    assert not np.allclose(expected, rnn(SEQUENCES))  # the mask did act


@pytest.mark.parametrize("kwargs", [{"zoneout": 0.2},
                                    {"recurrent_dropconnect": 0.2}])
def test_cell_noise_that_needs_its_layer_raises_in_a_keras_rnn(kwargs):
    rnn = keras.layers.RNN(layers.LSTMCell(4, **kwargs))
    assert rnn(SEQUENCES).shape == (3, 4)  # inference: fine
    with pytest.raises(ValueError, match="keras_adrop.layers.LSTM"):
        rnn(SEQUENCES, training=True)


def test_the_layer_draws_its_cells_masks_itself():
    """keras.layers.RNN.call asks the cell for DropoutRNNCell masks; the
    cell of a keras_adrop layer leaves them to the layer (no extra draw)."""
    layer = layers.LSTM(4, dropout=0.5, recurrent_dropout=0.5, seed=1)
    layer(SEQUENCES, training=True)
    assert layer.cell.get_dropout_mask(SEQUENCES[:, 0]) is None
    assert layer.cell.get_recurrent_dropout_mask(SEQUENCES[:, 0]) is None


@pytest.mark.parametrize("cls", [layers.LSTM, layers.GRU, layers.SimpleRNN])
def test_config_round_trip(cls):
    layer = cls(7, recurrent_dropout=0.25, dropout=0.1, seed=5,
                return_sequences=True, go_backwards=True, name="rnn")
    config = layer.get_config()
    clone = cls.from_config(config)
    assert clone.get_config() == config
    assert clone.recurrent_dropout == 0.25 and clone.units == 7


@pytest.mark.parametrize("ours, theirs", [
    (layers.LSTM, keras.layers.LSTM), (layers.GRU, keras.layers.GRU)],
    ids=["LSTM", "GRU"])
def test_none_of_keras_own_layer_code_runs_in_ours(ours, theirs):
    # Ours subclass Keras' LSTM and GRU so that Keras' checks (Bidirectional's
    # fused path) recognise them; every method and property of Keras' class
    # must be overridden, so that what runs is ours alone.
    own = set()
    for cls in ours.__mro__:
        if cls is theirs:
            break
        own |= set(vars(cls))
    inherited = {name for name in vars(theirs)
                 if name not in own and not name.startswith("__")}
    assert issubclass(ours, theirs)
    assert inherited <= {"_api_export_path", "_api_export_symbol_id"}


@pytest.mark.parametrize("context, argument, wrong_key, readers", [
    (layers.recurrent_masks, "masks", keras.layers.LSTM(4),
     "keras_adrop recurrent layers (LSTM, GRU, SimpleRNN)"),
    (layers.recurrent_kernel_masks, "masks", layers.Embedding(5, 4),
     "keras_adrop recurrent layers (LSTM, GRU, SimpleRNN)"),
    (layers.output_masks, "masks", keras.layers.Dense(4),
     "keras_adrop recurrent layers (LSTM, GRU, SimpleRNN)"),
    (layers.embedding_perturbations, "perturbations", layers.LSTM(4),
     "keras_adrop.layers.Embedding layers"),
])
def test_an_override_of_a_layer_that_does_not_read_it_names_the_argument(
        context, argument, wrong_key, readers):
    with pytest.raises(ValueError, match=re.escape(
            f"`{argument}` keys must be {readers}. Received a key of type "
            f"{type(wrong_key).__name__}.")):
        with context({wrong_key: None}):
            pass
    with pytest.raises(ValueError, match=re.escape(
            f"`{argument}` must be a dict mapping {readers} to ")):
        with context([wrong_key]):
            pass
