"""The fused route of LSTM and GRU, on any backend.

Backend-neutral: runs under TensorFlow in the main test run and under JAX in
`KERAS_BACKEND=jax python -m pytest -m backend_neutral`. On a CPU Keras' fused LSTM
has no kernel (TensorFlow and JAX) and neither has TensorFlow's GRU, so the
`fused` fixture stands in for cuDNN with the plain recurrence those kernels
compute; JAX's fused GRU (a `lax.scan`) runs for real.
"""

import inspect

import keras
import numpy as np
import pytest
from keras import ops

from keras_adrop import keras_compat
from keras_adrop import layers

pytestmark = pytest.mark.backend_neutral

X = np.random.RandomState(0).randn(3, 6, 4).astype("float32")
JAX = keras.backend.backend() == "jax"


def _reference_lstm(inputs, h, c, mask, kernel, recurrent_kernel, bias,
                    activation, recurrent_activation, return_sequences=False,
                    go_backwards=False, unroll=False):
    """What a fused LSTM kernel computes (outputs in processing order)."""
    if mask is not None or unroll or bias is None:
        raise NotImplementedError
    outputs = []
    steps = range(inputs.shape[1])
    for t in reversed(steps) if go_backwards else steps:
        z = (ops.matmul(inputs[:, t], kernel)
             + ops.matmul(h, recurrent_kernel) + bias)
        i, f, g, o = ops.split(z, 4, axis=-1)
        c = (recurrent_activation(f) * c
             + recurrent_activation(i) * activation(g))
        h = recurrent_activation(o) * activation(c)
        outputs.append(h)
    sequence = ops.stack(outputs, axis=1) if return_sequences else h[:, None]
    return h, sequence, [h, c]


def _reference_gru(inputs, h, mask, kernel, recurrent_kernel, bias,
                   activation, recurrent_activation, return_sequences=False,
                   go_backwards=False, unroll=False, reset_after=True):
    """What a fused GRU kernel computes (cuDNN's reset-after form)."""
    if mask is not None or unroll or bias is None or not reset_after:
        raise NotImplementedError
    outputs = []
    steps = range(inputs.shape[1])
    for t in reversed(steps) if go_backwards else steps:
        x_z, x_r, x_h = ops.split(ops.matmul(inputs[:, t], kernel) + bias[0],
                                  3, axis=-1)
        h_z, h_r, h_h = ops.split(ops.matmul(h, recurrent_kernel) + bias[1],
                                  3, axis=-1)
        z = recurrent_activation(x_z + h_z)
        r = recurrent_activation(x_r + h_r)
        h = z * h + (1 - z) * activation(x_h + r * h_h)
        outputs.append(h)
    sequence = ops.stack(outputs, axis=1) if return_sequences else h[:, None]
    return h, sequence, [h]


@pytest.fixture
def fused(monkeypatch):
    """Records every call of Keras' fused functions, with its arguments.

    Each call is first checked against the real function's signature; then
    the stand-in above runs, except JAX's GRU, which runs itself.
    """
    calls = []
    for name, reference in (("lstm", _reference_lstm),
                            ("gru", _reference_gru)):
        real = getattr(keras_compat._backend, name)
        target = real if JAX and name == "gru" else reference

        def spy(*args, _real=real, _target=target, _name=name, **kwargs):
            bound = inspect.signature(_real).bind(*args, **kwargs).arguments
            calls.append((_name, bound))
            return _target(*args, **kwargs)

        monkeypatch.setattr(keras_compat._backend, name, spy)
    return calls


def _outputs_and_gradients(layer, x, training=False):
    """The layer's output and the gradients of a loss of it (x, weights)."""
    def loss(y):  # of every output (the states too, with return_state)
        return sum(ops.sum(t * t) + ops.sum(t) for t in keras.tree.flatten(y))

    if JAX:
        import jax

        states = [v.value for v in layer.non_trainable_variables]

        def f(x, weights):
            y, _ = layer.stateless_call(weights, states, x, training=training)
            return loss(y), y

        (_, y), grads = jax.value_and_grad(f, argnums=(0, 1), has_aux=True)(
            x, [v.value for v in layer.trainable_variables])
        return [np.asarray(t) for t in keras.tree.flatten(y)] + [
            np.asarray(grads[0])] + [np.asarray(g) for g in grads[1]]
    import tensorflow as tf

    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=training)
        value = loss(y)
    grads = tape.gradient(value, [x] + layer.trainable_weights)
    return [t.numpy() for t in keras.tree.flatten(y)] + [
        g.numpy() for g in grads]


def _twins(cls, **kwargs):
    """A layer with the fused route and its step-loop twin, same weights."""
    fused_layer = cls(5, seed=7, **kwargs)
    loop_layer = cls(5, seed=7, use_cudnn=False, **kwargs)
    fused_layer.build(X.shape)
    loop_layer.build(X.shape)
    rng = np.random.RandomState(1)
    weights = [0.5 * rng.randn(*w.shape).astype("float32")
               for w in fused_layer.get_weights()]
    fused_layer.set_weights(weights)
    loop_layer.set_weights(weights)
    return fused_layer, loop_layer


CASES = {
    "inference": ({}, False),
    "sequences_backwards": ({"return_sequences": True,
                             "go_backwards": True}, False),
    "state": ({"return_state": True}, False),
    "inference_with_recurrent_dropout": ({"recurrent_dropout": 0.5}, False),
    "training_no_dropout": ({}, True),
    "training_dropout_dropconnect": ({"dropout": 0.3,
                                      "recurrent_dropconnect": 0.4}, True),
    "training_row_dropconnect": ({"recurrent_dropconnect": 0.4,
                                  "dropconnect_mode": "row",
                                  "return_sequences": True}, True),
}


@pytest.mark.parametrize("cls", [layers.LSTM, layers.GRU], ids=["lstm", "gru"])
@pytest.mark.parametrize("case", list(CASES))
def test_fused_route_equals_the_step_loop(fused, cls, case):
    kwargs, training = CASES[case]
    fused_layer, loop_layer = _twins(cls, **kwargs)
    loop = _outputs_and_gradients(loop_layer, X, training)
    assert fused == []  # use_cudnn=False: the step loop only
    fast = _outputs_and_gradients(fused_layer, X, training)
    expected = "lstm" if cls is layers.LSTM else "gru"
    if JAX and cls is layers.LSTM and kwargs.get("go_backwards"):
        expected = None  # keras_compat keeps JAX's backward sequences off
    assert [name for name, _ in fused] == ([expected] if expected else [])
    for a, b in zip(fast, loop):
        np.testing.assert_allclose(a, b, atol=1e-5)
    if kwargs.get("recurrent_dropconnect"):
        assert np.abs(loop[-2]).sum() > 0  # the kernel's gradient, masked


def _on_a_gpu():
    if JAX:
        import jax

        return jax.devices()[0].platform == "gpu"
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


# Keras' own layer takes these cases' arguments (no DropConnect, no seed).
KERAS_CASES = ("inference", "sequences_backwards", "state",
               "training_no_dropout")


@pytest.mark.skipif(not _on_a_gpu(), reason="needs a GPU's fused kernels")
@pytest.mark.parametrize("cls", [layers.LSTM, layers.GRU], ids=["lstm", "gru"])
@pytest.mark.parametrize("case", list(CASES))
def test_the_real_fused_kernel_equals_the_step_loop_and_keras(
        monkeypatch, cls, case):
    """On a GPU, with no stand-in: cuDNN (or JAX's fused GRU) against our
    step loop and, where it takes the arguments, Keras' own layer."""
    name = "lstm" if cls is layers.LSTM else "gru"
    real, ran = getattr(keras_compat._backend, name), []

    def spy(*args, **kwargs):
        result = real(*args, **kwargs)  # NotImplementedError: no kernel
        ran.append(name)
        return result

    monkeypatch.setattr(keras_compat._backend, name, spy)
    kwargs, training = CASES[case]
    fused_layer, loop_layer = _twins(cls, **kwargs)
    loop = _outputs_and_gradients(loop_layer, X, training)
    fast = _outputs_and_gradients(fused_layer, X, training)
    backwards_lstm = JAX and name == "lstm" and kwargs.get("go_backwards")
    assert ran == ([] if backwards_lstm else [name])
    for a, b in zip(fast, loop):
        np.testing.assert_allclose(a, b, atol=1e-4)
    # (Keras' own JAX LSTM returns a backward sequence in input order.)
    if case in KERAS_CASES and not backwards_lstm:
        theirs = getattr(keras.layers, name.upper())(5, **kwargs)
        theirs.build(X.shape)
        theirs.set_weights(fused_layer.get_weights())
        for a, b in zip(_outputs_and_gradients(theirs, X, training), fast):
            np.testing.assert_allclose(a, b, atol=1e-4)


def test_the_dropconnect_kernel_goes_into_the_fused_call(fused):
    layer = layers.LSTM(8, recurrent_dropconnect=0.5, seed=3)
    layer.build((2, 3, 4))
    kernel = keras.ops.convert_to_numpy(layer.cell.recurrent_kernel)
    layer(X[:2, :3], training=False)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(fused[-1][1]["recurrent_kernel"]), kernel)
    layer(X[:2, :3], training=True)
    passed = keras.ops.convert_to_numpy(fused[-1][1]["recurrent_kernel"])
    kept = passed != 0
    assert 0.3 < kept.mean() < 0.7  # one mask for the batch, rate 0.5
    np.testing.assert_allclose(passed[kept], 2.0 * kernel[kept], rtol=1e-6)


def _full_network(layer):
    return layers.recurrent_masks({layer: None})


def _a_recurrent_mask(layer):
    return layers.recurrent_masks({layer: ops.ones((3, 5))})


def _an_output_mask(layer):
    return layers.output_masks({layer: ops.ones((3, 5))})


PADDED = np.array([[1] * 6, [1] * 4 + [0] * 2, [1] * 2 + [0] * 4], bool)

# (layer arguments, call arguments, context, whether the fused call is tried)
ROUTES = {
    "recurrent_mask": ({}, {"training": True}, _a_recurrent_mask, False),
    "recurrent_mask_at_inference": ({}, {}, _a_recurrent_mask, False),
    "full_network_entry": ({"recurrent_dropout": 0.5}, {"training": True},
                           _full_network, True),
    "recurrent_dropout_in_training": ({"recurrent_dropout": 0.5},
                                      {"training": True}, None, False),
    "zoneout_in_training": ({"zoneout": 0.2}, {"training": True}, None,
                            False),
    "zoneout_at_inference": ({"zoneout": 0.2}, {}, None, False),
    "output_mask": ({}, {"training": True}, _an_output_mask, False),
    "padded_sequences": ({"return_sequences": True}, {"mask": PADDED}, None,
                         False),
    "padded_sequences_zero_output": (
        {"return_sequences": True, "zero_output_for_mask": True},
        {"mask": PADDED}, None, True),
    "padded_last_output": ({}, {"mask": PADDED}, None, True),
}


@pytest.mark.parametrize("cls", [layers.LSTM, layers.GRU], ids=["lstm", "gru"])
@pytest.mark.parametrize("route", list(ROUTES))
def test_fused_only_without_per_example_masks(fused, cls, route):
    layer_kwargs, call_kwargs, context, tried = ROUTES[route]
    layer = cls(5, seed=1, **layer_kwargs)
    if context is None:
        layer(X, **call_kwargs)
    else:
        with context(layer):
            layer(X, **call_kwargs)
    assert len(fused) == int(tried)
    if tried and "mask" in call_kwargs:
        assert fused[0][1]["mask"] is not None


def test_use_cudnn_true_refuses_where_no_fused_kernel_runs(monkeypatch):
    def no_kernel(*args, **kwargs):
        raise NotImplementedError

    monkeypatch.setattr(keras_compat._backend, "lstm", no_kernel)
    layer = layers.LSTM(5, use_cudnn=True)
    with pytest.raises(ValueError, match=r"`use_cudnn`.*no fused kernel.*"
                                         r"Received: use_cudnn=True"):
        layer(X)
    assert layers.LSTM(5)(X).shape == (3, 5)  # "auto" falls back


@pytest.mark.parametrize("cls", [layers.LSTM, layers.GRU], ids=["lstm", "gru"])
def test_the_fused_route_trains_and_serves_in_a_model(fused, cls, tmp_path):
    inputs = keras.Input((6, 4))
    h = cls(5, recurrent_dropconnect=0.2, dropout=0.1, seed=0)(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2)(h))
    model.compile("adam", "mse")
    model.fit(X, np.zeros((3, 2), "float32"), epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(loaded.predict(X, verbose=0),
                               model.predict(X, verbose=0), atol=1e-6)
    assert fused  # fit, predict: every call fused


# Keras' private functions behind keras_compat: a Keras release that moves,
# renames or stops calling them must fail here.


@pytest.mark.parametrize("name,keras_cls", [("lstm", keras.layers.LSTM),
                                            ("gru", keras.layers.GRU)])
def test_keras_own_layer_calls_the_function_keras_compat_calls(
        monkeypatch, name, keras_cls):
    calls = []
    real = getattr(keras_compat._backend, name)

    def spy(*args, **kwargs):
        inspect.signature(real).bind(*args, **kwargs)
        calls.append(name)
        raise NotImplementedError

    monkeypatch.setattr(keras_compat._backend, name, spy)
    keras_cls(5)(X)
    assert calls == [name]  # Keras' own layer
    (layers.LSTM if name == "lstm" else layers.GRU)(5)(X)
    assert calls == [name, name]  # ours, with arguments the real one takes


@pytest.mark.parametrize("ours,theirs", [(layers.LSTM, keras.layers.LSTM),
                                         (layers.GRU, keras.layers.GRU)])
@pytest.mark.parametrize("kwargs", [{}, {"use_cudnn": False},
                                    {"activation": "relu"}])
def test_xla_support_agrees_with_keras_own_layer(ours, theirs, kwargs):
    assert ours(4, **kwargs).supports_jit == theirs(4, **kwargs).supports_jit
    assert isinstance(keras_compat.tensorflow_cudnn_ok(
        keras.activations.tanh, keras.activations.sigmoid, False, True), bool)
