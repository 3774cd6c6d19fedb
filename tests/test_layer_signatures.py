"""Keras' signatures, properties and configs on our layers.

A Keras release that adds, moves or changes the default of an argument of
its LSTM, GRU or SimpleRNN (layer or cell) fails
`test_keras_arguments_come_first_in_keras_order`.
"""

import inspect

import keras
import numpy as np
import pytest

from keras_adrop import layers

LAYERS = [(layers.LSTM, keras.layers.LSTM), (layers.GRU, keras.layers.GRU),
          (layers.SimpleRNN, keras.layers.SimpleRNN)]
CELLS = [(layers.LSTMCell, keras.layers.LSTMCell),
         (layers.GRUCell, keras.layers.GRUCell),
         (layers.SimpleRNNCell, keras.layers.SimpleRNNCell)]
OURS = {"zoneout", "cell_zoneout", "recurrent_dropconnect", "dropconnect_mode"}
pytestmark = pytest.mark.backend_neutral

X = np.random.RandomState(0).randn(2, 3, 4).astype("float32")


def _parameters(cls):
    return [p for p in inspect.signature(cls.__init__).parameters.values()
            if p.name != "self"]


@pytest.mark.parametrize("ours,theirs", LAYERS + CELLS,
                         ids=lambda cls: cls.__name__)
def test_keras_arguments_come_first_in_keras_order(ours, theirs):
    keras_params = _parameters(theirs)
    our_params = _parameters(ours)
    assert keras_params[-1].kind is inspect.Parameter.VAR_KEYWORD
    assert our_params[-1].kind is inspect.Parameter.VAR_KEYWORD
    head = our_params[:len(keras_params) - 1]
    assert [(p.name, p.default, p.kind) for p in head] == [
        (p.name, p.default, p.kind) for p in keras_params[:-1]]
    extra = {p.name for p in our_params[len(keras_params) - 1:-1]}
    assert extra <= OURS


def _non_default_arguments(ours, theirs):
    """Keras' arguments with values other than their defaults."""
    kwargs = dict(
        activation="relu", use_bias=False, kernel_initializer="ones",
        recurrent_initializer="zeros", bias_initializer="ones",
        kernel_regularizer="l2", recurrent_regularizer="l1",
        bias_regularizer="l2", kernel_constraint="non_neg",
        recurrent_constraint="unit_norm", bias_constraint="max_norm",
        dropout=0.25, recurrent_dropout=0.125, seed=3)
    names = {p.name for p in _parameters(theirs)}
    for name, value in (("recurrent_activation", "hard_sigmoid"),
                        ("unit_forget_bias", False), ("reset_after", False),
                        ("activity_regularizer", "l1"),
                        ("return_sequences", True), ("go_backwards", True),
                        ("use_cudnn", False)):
        if name in names:
            kwargs[name] = value
    return kwargs


def _same(a, b):
    serialize = keras.saving.serialize_keras_object
    return serialize(a) == serialize(b)


@pytest.mark.parametrize("ours,theirs", LAYERS, ids=lambda c: c.__name__)
def test_layers_expose_keras_properties(ours, theirs):
    kwargs = _non_default_arguments(ours, theirs)
    mine, keras_layer = ours(4, **kwargs), theirs(4, **kwargs)
    names = [n for n in dir(theirs)
             if isinstance(getattr(theirs, n), property)
             and not hasattr(keras.layers.RNN, n)]
    assert len(names) >= 14  # units, activation, ..., recurrent_dropout
    for name in names:
        assert _same(getattr(mine, name), getattr(keras_layer, name)), name
    for name in kwargs:  # every argument is kept, none dropped
        if name == "activity_regularizer":  # Keras 3.15's SimpleRNN drops it
            assert _same(mine.activity_regularizer, keras.regularizers.L1())
            continue
        a, b = ((mine, keras_layer) if hasattr(keras_layer, name)
                else (mine.cell, keras_layer.cell))  # seed
        assert _same(getattr(a, name), getattr(b, name)), name


@pytest.mark.parametrize("ours,theirs", CELLS, ids=lambda c: c.__name__)
def test_cells_keep_every_keras_argument(ours, theirs):
    kwargs = _non_default_arguments(ours, theirs)
    mine, keras_cell = ours(4, **kwargs), theirs(4, **kwargs)
    for name in kwargs:
        assert _same(getattr(mine, name), getattr(keras_cell, name)), name


@pytest.mark.parametrize("ours,theirs", LAYERS, ids=lambda c: c.__name__)
def test_a_keras_layer_config_builds_our_layer(ours, theirs):
    """Keras' config loads into ours, and ours has every key of Keras'."""
    kwargs = _non_default_arguments(ours, theirs)
    keras_layer = theirs(4, **kwargs)
    keras_layer(X)
    mine = ours.from_config(keras_layer.get_config())
    mine(X)
    mine.set_weights(keras_layer.get_weights())
    assert set(keras_layer.get_config()) <= set(mine.get_config())
    for key, value in keras_layer.get_config().items():
        if key != "name":
            assert mine.get_config()[key] == value, key
    np.testing.assert_allclose(mine(X), keras_layer(X), atol=1e-5)
    clone = ours.from_config(mine.get_config())
    assert clone.get_config() == mine.get_config()


@pytest.mark.parametrize("cls", [layers.LSTM, layers.GRU, layers.SimpleRNN,
                                 layers.LSTMCell])
def test_numpy_integer_units_are_accepted(cls):
    layer = cls(np.int64(8))
    assert layer.units == 8 and type(layer.units) is int
    assert type(layer.get_config()["units"]) is int


@pytest.mark.parametrize("units", [0, -2, 2.5, "8", True])
def test_bad_units_name_the_value_and_type(units):
    with pytest.raises(ValueError, match=r"`units` must be a positive integer"
                                         r".*\(of type \w+\)"):
        layers.GRU(units)


@pytest.mark.parametrize("cls", [layers.LSTM, layers.GRU, layers.LSTMCell,
                                 layers.GRUCell])
def test_implementation_is_accepted_as_keras_does(cls):
    """Keras' 0 (legacy configs), 1 and 2 compute the same function."""
    outputs = []
    for implementation in (0, 1, 2):
        layer = cls(4, implementation=implementation, seed=1)
        if not isinstance(layer, keras.layers.RNN):
            layer = keras.layers.RNN(layer)
        layer(X)
        if outputs:
            layer.set_weights(first.get_weights())
        else:
            first = layer
        outputs.append(np.asarray(layer(X)))
    np.testing.assert_allclose(outputs[0], outputs[1], rtol=1e-6)
    np.testing.assert_allclose(outputs[0], outputs[2], rtol=1e-6)
    with pytest.raises(ValueError, match=r"`implementation` must be one of "
                                         r"\(0, 1, 2\).*Received: "
                                         r"implementation=3 \(of type int\)"):
        cls(4, implementation=3)


def test_use_cudnn_values_are_checked():
    for value in ("auto", True, False):
        assert layers.GRU(4, use_cudnn=value).use_cudnn is value
    with pytest.raises(ValueError, match=r"`use_cudnn` must be one of "
                                         r"\('auto', True, False\).*"
                                         r"use_cudnn='yes' \(of type str\)"):
        layers.LSTM(4, use_cudnn="yes")
    with pytest.raises(TypeError, match="use_cudnn"):  # as Keras' SimpleRNN
        layers.SimpleRNN(4, use_cudnn=False)
    assert not hasattr(layers.SimpleRNN(4), "use_cudnn")
    assert not hasattr(keras.layers.SimpleRNN(4), "use_cudnn")


def test_activity_regularizer_round_trips():
    layer = layers.LSTM(3, activity_regularizer="l2")
    clone = layers.LSTM.from_config(layer.get_config())
    assert _same(clone.activity_regularizer, layer.activity_regularizer)
    clone(X)
    assert len(clone.losses) == 1
