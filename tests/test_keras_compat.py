"""Keras' private API, used in keras_adrop/keras_compat.py and nowhere else.

Each test fails loudly when a Keras release renames or changes one of the
internals keras_compat.py relies on, and one test checks that no other
module reaches into Keras' private modules or underscored attributes; the
fused-kernel functions are checked in tests/test_fused.py.
"""

import ast
import inspect
import pathlib

import keras
import numpy as np
import pytest
from keras import ops

import keras_adrop
from keras_adrop import keras_compat
from keras_adrop import layers

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
        assert (keras_adrop.RegularizedModel._symbolic_build
                is keras_compat.LabeledSymbolicBuild._symbolic_build)


class _LabeledOnly(keras_compat.LabeledSymbolicBuild, keras.Model):
    """Trains on `{"labeled": (x, y), "unlabeled": x}`; builds on `(x, y)`."""

    seen = []

    def _labeled_batch(self, data):
        self.seen.append(sorted(data) if isinstance(data, dict) else "pair")
        return data["labeled"] if isinstance(data, dict) else data


@pytest.mark.skipif(keras.backend.backend() != "jax",
                    reason="Keras' JAX fit builds symbolically first")
def test_keras_fit_builds_through_the_labeled_batch_hook():
    inputs = keras.Input((3,))
    model = _LabeledOnly(inputs, keras.layers.Dense(1)(inputs))
    model.compile("sgd", "mse")
    x, y = np.ones((4, 3), "float32"), np.ones((4, 1), "float32")
    _LabeledOnly.seen = []
    model.fit(x, y, epochs=1, verbose=0)
    assert _LabeledOnly.seen == ["pair"]  # once, with the first batch
    _LabeledOnly.seen = []
    keras_compat.LabeledSymbolicBuild._symbolic_build(
        model, data_batch={"labeled": (x, y), "unlabeled": x})
    assert _LabeledOnly.seen == [["labeled", "unlabeled"]]


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


def test_keras_rnn_draws_and_clears_the_masks_of_a_dropout_rnn_cell():
    """keras.layers.RNN asks a DropoutRNNCell for its masks before the loop
    and clears them after: what keras_adrop's cells rely on there."""
    drawn = []

    class Spy(layers.SimpleRNNCell):
        def get_recurrent_dropout_mask(self, step_input):
            mask = super().get_recurrent_dropout_mask(step_input)
            drawn.append(mask)
            return mask

    cell = Spy(3, recurrent_dropout=0.5, seed=1)
    assert isinstance(cell, keras_compat.DropoutRNNCell)
    keras.layers.RNN(cell)(np.ones((2, 4, 5), "float32"), training=True)
    assert drawn and drawn[0] is not None and tuple(drawn[0].shape) == (2, 3)
    # Cleared after the call: the next ask draws again (a new tensor).
    assert cell.get_recurrent_dropout_mask(np.ones((2, 3))) is not drawn[0]


def test_rnn_loop_is_the_loop_of_keras_rnn():
    cell = keras.layers.SimpleRNNCell(3)
    rnn = keras.layers.RNN(cell, return_sequences=True, go_backwards=True)
    x = np.random.RandomState(0).randn(2, 4, 5).astype("float32")
    expected = rnn(x)

    def step(inputs, states):
        output, new_states = cell(inputs, states)
        return output, keras.tree.flatten(new_states)

    _, outputs, _ = keras_compat.rnn_loop(
        step, ops.convert_to_tensor(x), [ops.zeros((2, 3))],
        go_backwards=True, input_length=4, return_all_outputs=True)
    np.testing.assert_allclose(outputs, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("cls", [layers.LSTM, layers.GRU])
def test_bidirectional_fuses_ours_where_no_per_example_mask_is_set(cls):
    """Keras' Bidirectional hands both directions to its fused kernel for
    our LSTM and GRU as for its own, and not while one of them needs its
    step loop (which the fused kernel would skip)."""
    theirs = keras.layers.Bidirectional(getattr(keras.layers, cls.__name__)(4))
    theirs.build((None, 5, 3))
    assert keras_compat.bidirectional_fuses(theirs)
    ours = keras.layers.Bidirectional(cls(4))
    ours.build((None, 5, 3))
    assert keras_compat.bidirectional_fuses(ours)
    assert not keras_compat.bidirectional_fuses(
        ours, mask=np.ones((2, 5), "bool"))
    forward = ours.forward_layer
    with layers.recurrent_masks({forward: np.ones((2, 4), "float32")}):
        assert not keras_compat.bidirectional_fuses(ours)
    with layers.recurrent_masks({forward: None}):  # the full network
        assert keras_compat.bidirectional_fuses(ours)
    with layers.output_masks({ours.backward_layer: np.ones((2, 4))}):
        assert not keras_compat.bidirectional_fuses(ours)
    kernel = np.ones(forward.cell.recurrent_kernel.shape, "float32")
    with layers.recurrent_kernel_masks({forward: kernel}):
        assert not keras_compat.bidirectional_fuses(ours)
    for noisy in (cls(4, zoneout=0.1), cls(4, recurrent_dropconnect=0.1),
                  cls(4, dropout=0.1)):
        bidi = keras.layers.Bidirectional(noisy)
        bidi.build((None, 5, 3))
        assert not keras_compat.bidirectional_fuses(bidi)
        # Bidirectional copied the value set, not the built layer's reading.
        assert bidi.forward_layer.get_config()["use_cudnn"] == "auto"
        assert bidi.backward_layer.cudnn_setting == "auto"


def test_bidirectional_of_ours_equals_bidirectional_of_keras():
    """Whatever route the backend takes (on a CPU: both directions' own)."""
    x = np.random.RandomState(0).randn(3, 6, 4).astype("float32")
    theirs = keras.layers.Bidirectional(
        keras.layers.LSTM(5, return_sequences=True))
    ours = keras.layers.Bidirectional(layers.LSTM(5, return_sequences=True))
    theirs.build(x.shape)
    ours.build(x.shape)
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(ours(x), theirs(x), rtol=1e-5, atol=1e-5)


# What counts as Keras' private API: every underscored (not dunder) name of
# the Keras classes keras_adrop builds on, and of their instances (a
# compiled model has `_loss_tracker`, a variable `_value`, ...).


def _keras_private_names():
    inputs = keras.Input((3, 2))
    rnn = keras.layers.LSTM(2)
    model = keras.Model(inputs, keras.layers.Dense(1)(rnn(inputs)))
    model.compile("adam", "mse", metrics=["mae"])
    objects = [
        keras.Model, keras.layers.Layer, keras.layers.RNN, keras.layers.LSTM,
        keras.layers.GRU, keras.layers.SimpleRNN, keras.layers.LSTMCell,
        keras.layers.GRUCell, keras.layers.SimpleRNNCell,
        keras.layers.Bidirectional, keras.layers.Embedding,
        keras.layers.Dense, keras.metrics.Metric, keras.metrics.Mean,
        keras.optimizers.Optimizer, keras.optimizers.Adam, keras.Variable,
        keras.callbacks.Callback, keras.random.SeedGenerator,
        keras.losses.Loss, model, rnn, rnn.cell, model.optimizer,
        keras.Variable(np.ones(2)), keras.metrics.Mean()]
    return {name for obj in objects for name in dir(obj)
            if name.startswith("_") and not name.startswith("__")}


def private_keras_uses(source, private_names):
    """`(line, what)` of each use of Keras' private API in `source`: the
    text `keras.src`, a method defined with one of `private_names` (an
    override of Keras' private method), an attribute of one of those names
    read or set, and any `super()._name(...)`."""
    found = [(number, "keras.src") for number, line in enumerate(
        source.splitlines(), 1) if "keras.src" in line]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef):
            found += [(item.lineno, f"def {item.name}") for item in node.body
                      if isinstance(item, (ast.FunctionDef,
                                           ast.AsyncFunctionDef))
                      and item.name in private_names]
        elif isinstance(node, ast.Attribute):
            name = node.attr
            called_on_super = (
                isinstance(node.value, ast.Call)
                and isinstance(node.value.func, ast.Name)
                and node.value.func.id == "super")
            private = name.startswith("_") and not name.startswith("__")
            if (called_on_super and private) or name in private_names:
                found.append((node.lineno, f".{name}"))
    return sorted(found)


def test_the_scan_finds_each_kind_of_private_use():
    names = _keras_private_names()
    assert {"_symbolic_build", "_run_through_graph", "_loss_tracker",
            "_resolve_auto_jit_compile", "_compile_loss"} <= names
    source = inspect.getsource(keras_compat)
    assert {what for _, what in private_keras_uses(source, names)} >= {
        "keras.src", "def _symbolic_build", "def _run_through_graph",
        "._run_through_graph", "._symbolic_build", "._loss_tracker",
        "._resolve_auto_jit_compile"}
    own = "class A(B):\n    def _mine(self):\n        return self._mine2\n"
    assert private_keras_uses(own, names) == []
    assert private_keras_uses(
        "class A(B):\n    def f(self):\n        return super()._mine()\n",
        names) == [(3, "._mine")]


def test_only_keras_compat_uses_keras_private_api():
    names = _keras_private_names()
    root = pathlib.Path(keras_compat.__file__).resolve().parent.parent
    offenders = []
    for folder in ("keras_adrop", "tuning", "examples", "benchmarks"):
        for path in sorted((root / folder).rglob("*.py")):
            if path.name == "keras_compat.py":
                continue
            offenders += [f"{path.relative_to(root)}:{line}: {what}"
                          for line, what in private_keras_uses(
                              path.read_text(), names)]
    assert offenders == []
