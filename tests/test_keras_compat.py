"""The Keras internals the training step reads (keras_adrop/keras_compat.py).

Each test fails loudly when a Keras release renames or changes one of them;
the fused-kernel functions are checked in tests/test_fused.py.
"""

import inspect

import keras
import numpy as np

import keras_adrop
import pytest
from keras_adrop import keras_compat

pytestmark = pytest.mark.backend_neutral


def _compiled():
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(
        2, kernel_regularizer="l2")(inputs))
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(True))
    return model


def test_compiled_loss_is_the_compiled_loss_without_model_losses():
    model = _compiled()
    x, y = np.ones((4, 3), "float32"), np.array([0, 1, 0, 1])
    y_pred = model(x)
    expected = keras.losses.SparseCategoricalCrossentropy(True)(y, y_pred)
    got = keras_compat.compiled_loss(model, y, y_pred)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(got),
                               keras.ops.convert_to_numpy(expected), rtol=1e-6)
    assert model.losses  # the weight penalty exists and is left out


def test_loss_tracker_is_the_metric_behind_the_loss_log():
    model = _compiled()
    tracker = keras_compat.loss_tracker(model)
    assert isinstance(tracker, keras.metrics.Mean)
    assert tracker.name == "loss"
    assert any(m is tracker for m in model.metrics)


def test_keras_mask_reads_the_padding_mask_of_an_output():
    layer = keras.layers.Embedding(5, 2, mask_zero=True)
    vectors = layer(np.array([[1, 2, 0]]))
    mask = keras_compat.keras_mask(vectors)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(mask),
                                  [[True, True, False]])
    assert keras_compat.keras_mask(np.ones(3)) is None


def test_set_keras_mask_attaches_a_padding_mask_that_keras_reads():
    vectors = keras.ops.ones((1, 3, 2))
    keras_compat.set_keras_mask(vectors, keras.ops.convert_to_tensor(
        [[True, False, True]]))
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(keras_compat.keras_mask(vectors)),
        [[True, False, True]])


def test_symbolic_build_of_fit_has_the_signature_keras_adrop_overrides():
    build = keras.Model._symbolic_build
    assert list(inspect.signature(build).parameters) == [
        "self", "iterator", "data_batch"]
    if keras.backend.backend() == "jax":
        from keras_adrop.training.jax_trainer import JAXTrainer

        assert "_symbolic_build" in vars(JAXTrainer)
    assert keras_adrop.RegularizedModel._symbolic_build is not None


def test_keras_names_each_carried_state_rnn_state_and_leaves_it_untracked():
    inputs = keras.Input((3, 4), batch_size=2)
    layer = keras.layers.LSTM(5, stateful=True, name="lstm")
    keras.Model(inputs, layer(inputs))
    assert [s.name for s in layer.states] == ["rnn_state", "rnn_state"]
    assert not {id(s) for s in layer.states} & {id(v) for v in
                                                 layer.variables}
    keras_compat.name_states_apart(layer)
    assert [s.path for s in layer.states] == ["lstm/rnn_state_0",
                                              "lstm/rnn_state_1"]
    assert len(layer.weights) == 3  # kernels and bias: still not weights
