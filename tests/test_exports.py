"""A single-input model is one tensor in, on every path: calls, `fit`,
`predict`, `.keras` files and the SavedModel export's `serve`."""

import warnings

import keras
import numpy as np
import pytest

import keras_adrop


def _wrapped_model():
    """`AdversarialDropoutModel(base.inputs, base.outputs)`: `base.inputs`
    is a list of one tensor, as for any Keras model."""
    inputs = keras.Input((5, 3))
    h = keras_adrop.layers.GRU(4)(inputs)
    base = keras.Model(inputs, keras.layers.Dense(2)(h))
    assert isinstance(base.inputs, list) and len(base.inputs) == 1
    model = keras_adrop.AdversarialDropoutModel(
        base.inputs, base.outputs, delta=0.25, iterations=1, seed=0)
    model.compile("adam", "mse")
    return model


def _data(n=16):
    rng = np.random.default_rng(0)
    return (rng.random((n, 5, 3)).astype("float32"),
            rng.random((n, 2)).astype("float32"))


@pytest.mark.backend_neutral
def test_no_input_structure_warning_on_any_call(tmp_path):
    model = _wrapped_model()
    x, y = _data()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x, y, epochs=1, batch_size=8, verbose=0)
        model.predict(x, verbose=0)
        model.evaluate(x, y, verbose=0)
        model(x)
        path = str(tmp_path / "model.keras")
        model.save(path)
        loaded = keras.saving.load_model(path)
        np.testing.assert_allclose(loaded.predict(x, verbose=0),
                                   model.predict(x, verbose=0), atol=1e-6)
        loaded.fit(x, y, epochs=1, batch_size=8, verbose=0)
    messages = [str(w.message) for w in caught]
    assert not [m for m in messages if "structure" in m], messages


def test_the_export_of_a_single_input_model_serves_a_tensor(tmp_path):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("SavedModel export needs TensorFlow")
    import tensorflow as tf

    model = _wrapped_model()
    x, y = _data()
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    model.export(str(tmp_path / "served"), verbose=False)
    served = tf.saved_model.load(str(tmp_path / "served"))
    for n in (3, 7):
        np.testing.assert_allclose(
            served.serve(tf.constant(x[:n])).numpy(),
            model.predict(x[:n], verbose=0), atol=1e-5)
    (spec,) = served.serve.input_signature  # one tensor, not a list
    assert isinstance(spec, tf.TensorSpec) and spec.shape.as_list() == [
        None, 5, 3]
