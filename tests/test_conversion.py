"""convert_model: Keras RNN layers become keras_adrop's, same outputs."""

import keras
import numpy as np
import pytest

import keras_adrop
from keras_adrop import conversion

KERAS_RNNS = (keras.layers.LSTM, keras.layers.GRU, keras.layers.SimpleRNN)


def _every_layer(layer):
    """`layer` and everything inside it (nested models and wrappers)."""
    yield layer
    inner = list(getattr(layer, "layers", []))
    for name in ("forward_layer", "backward_layer"):
        if getattr(layer, name, None) is not None:
            inner.append(getattr(layer, name))
    if isinstance(layer, keras.layers.TimeDistributed):
        inner.append(layer.layer)
    for child in inner:
        yield from _every_layer(child)


def _rnn_types(model):
    return sorted(
        f"{type(layer).__module__.split('.')[0]}.{type(layer).__name__}"
        for layer in _every_layer(model)
        if isinstance(layer, KERAS_RNNS + (keras_adrop.layers.VariationalRNN,))
    )


def _nested_model():
    """Nested Sequential, Bidirectional, TimeDistributed, all three RNNs."""
    inner = keras.Sequential([
        keras.Input((6, 4)),
        keras.layers.GRU(5, return_sequences=True, reset_after=False),
    ], name="inner")
    inputs = keras.Input((6, 4))
    h = inner(inputs)
    h = keras.layers.Bidirectional(
        keras.layers.LSTM(3, return_sequences=True, recurrent_dropout=0.2),
        merge_mode="sum")(h)
    h = keras.layers.Reshape((2, 3, 3))(h)
    h = keras.layers.TimeDistributed(keras.layers.GRU(2))(h)
    h = keras.layers.SimpleRNN(4, go_backwards=True)(h)
    return keras.Model(inputs, keras.layers.Dense(1)(h))


def test_nested_models_and_wrappers_give_equal_outputs():
    model = _nested_model()
    x = np.random.RandomState(0).rand(3, 6, 4).astype("float32")
    converted = keras_adrop.convert_model(model)
    assert _rnn_types(converted) == [
        "keras_adrop.GRU", "keras_adrop.GRU", "keras_adrop.LSTM",
        "keras_adrop.LSTM", "keras_adrop.SimpleRNN"]
    np.testing.assert_allclose(converted.predict(x, verbose=0),
                               model.predict(x, verbose=0), atol=1e-5)
    # The original is untouched.
    assert _rnn_types(model) == [
        "keras.GRU", "keras.GRU", "keras.LSTM", "keras.LSTM",
        "keras.SimpleRNN"]


def test_configuration_carries_over():
    model = _nested_model()
    converted = keras_adrop.convert_model(model)
    bidirectional = converted.layers[2]
    forward = bidirectional.forward_layer
    assert isinstance(forward, keras_adrop.layers.LSTM)
    assert forward.recurrent_dropout == 0.2 and forward.return_sequences
    assert bidirectional.backward_layer.go_backwards
    assert bidirectional.merge_mode == "sum"
    assert converted.layers[1].layers[0].cell.reset_after is False
    assert converted.layers[-2].go_backwards


def test_sequential_with_a_padding_mask_and_shared_nothing():
    model = keras.Sequential([
        keras.Input((5,), dtype="int32"),
        keras.layers.Embedding(10, 4, mask_zero=True),
        keras.layers.LSTM(3, return_sequences=True),
        keras.layers.GRU(2),
        keras.layers.Dense(2),
    ])
    x = np.array([[1, 2, 3, 0, 0], [4, 5, 6, 7, 8]], dtype="int32")
    converted = keras_adrop.convert_model(model)
    assert isinstance(converted, keras.Sequential)
    before = model.predict(x, verbose=0)
    np.testing.assert_allclose(converted.predict(x, verbose=0), before,
                               atol=1e-5)
    # Training the copy leaves the original alone.
    converted.compile("sgd", "mse")
    converted.fit(x, np.ones((2, 2)), epochs=1, verbose=0)
    np.testing.assert_array_equal(model.predict(x, verbose=0), before)
    assert not np.allclose(converted.predict(x, verbose=0), before)


def test_converted_model_trains_with_adversarial_dropout():
    inputs = keras.Input((6, 2))
    h = keras.layers.LSTM(8)(inputs)
    base = keras.Model(inputs, keras.layers.Dense(1)(h))
    converted = keras_adrop.convert_model(base)
    model = keras_adrop.AdversarialDropoutModel(
        converted.inputs, converted.outputs, delta=0.25, seed=0,
        divergence="squared_logits", from_logits=True)
    model.compile("adam", "mse")
    x = np.random.RandomState(1).rand(8, 6, 2).astype("float32")
    history = model.fit(x, np.ones((8, 1)), epochs=1, verbose=0)
    assert np.isfinite(history.history["adversarial_dropout_penalty"][0])


def test_use_cudnn_true_is_named_in_the_error():
    model = keras.Sequential([
        keras.Input((4, 2)), keras.layers.LSTM(3, use_cudnn=True)])
    with pytest.raises(ValueError, match="use_cudnn=True"):
        keras_adrop.convert_model(model)


def test_a_subclass_of_a_keras_rnn_is_refused():
    class MyLSTM(keras.layers.LSTM):
        pass

    model = keras.Sequential([keras.Input((4, 2)), MyLSTM(3)])
    with pytest.raises(ValueError, match="MyLSTM.*subclass"):
        keras_adrop.convert_model(model)


def test_an_unbuilt_model_is_refused():
    with pytest.raises(ValueError, match="built functional or Sequential"):
        keras_adrop.convert_model(keras.Sequential([keras.layers.LSTM(3)]))


def test_converted_layer_keeps_name_and_weights_shapes():
    layer = keras.layers.GRU(4, name="encoder")
    layer.build((None, 3, 2))
    new = conversion.converted_layer(layer)
    new.build((None, 3, 2))
    assert new.name == "encoder"
    assert [w.shape for w in new.weights] == [w.shape for w in layer.weights]
