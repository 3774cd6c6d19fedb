"""Keras' own unit tests of its recurrent layers, run on keras_adrop's layers.

The test classes come from the installed Keras wheel (`keras/src/layers/
rnn/*_test.py`, `keras/src/layers/core/masking_test.py`), read at run time,
never copied here. Each Keras test module refers to the layers as
`layers.LSTM`, `layers.GRUCell`, ...; a fixture replaces that `layers` name,
for the duration of each test, with a namespace whose recurrent layers and
cells are keras_adrop's and whose other names are Keras' (`Bidirectional`,
`RNN`, `StackedRNNCells`, `Masking`, ...). Every test that passes on Keras'
layers must pass on ours; the few that cannot apply are listed in
`NOT_APPLICABLE` with the reason, and fail if they start passing (the list
must not go stale).

Backend-neutral: also run under JAX with
`KERAS_BACKEND=jax python -m pytest tests/test_keras_layer_tests.py -m backend_neutral`.
"""

import importlib
import types

import keras
import pytest

from keras_adrop import layers as adrop_layers

pytestmark = pytest.mark.backend_neutral

# The names a Keras test module's `layers` resolves to keras_adrop's.
OURS = ("LSTM", "GRU", "SimpleRNN", "LSTMCell", "GRUCell", "SimpleRNNCell")

# Keras test modules (under keras.src) and their test classes.
MODULES = {
    "LSTMTest": "keras.src.layers.rnn.lstm_test",
    "GRUTest": "keras.src.layers.rnn.gru_test",
    "SimpleRNNTest": "keras.src.layers.rnn.simple_rnn_test",
    "StackedRNNTest": "keras.src.layers.rnn.stacked_rnn_cells_test",
    "MaskingTest": "keras.src.layers.core.masking_test",
}
# bidirectional_test.py names its class SimpleRNNTest too.
BIDIRECTIONAL = ("keras.src.layers.rnn.bidirectional_test", "SimpleRNNTest")

# (class, test) -> why the Keras test cannot pass on keras_adrop's layers.
# Each listed test must fail on ours (a strict expected failure).
NOT_APPLICABLE = {}


class _LayersWithOurs(types.ModuleType):
    """Keras' `layers` namespace with keras_adrop's recurrent layers."""

    def __init__(self, keras_layers):
        super().__init__("layers_with_keras_adrop")
        self._keras_layers = keras_layers
        for name in OURS:
            setattr(self, name, getattr(adrop_layers, name))

    def __getattr__(self, name):
        return getattr(self._keras_layers, name)


def _keras_test_class(module_name, class_name):
    module = importlib.import_module(module_name)
    return module, getattr(module, class_name)


def _ours_instead(module_name, class_name, alias):
    """A subclass of a Keras test class that runs on keras_adrop's layers."""
    module, base = _keras_test_class(module_name, class_name)
    namespace = {"__module__": __name__, "keras_test_module": module}
    for name in dir(base):
        reason = NOT_APPLICABLE.get((alias, name))
        if name.startswith("test") and reason is not None:
            namespace[name] = pytest.mark.xfail(
                reason=reason, strict=True)(getattr(base, name))
    return type(alias, (base,), namespace)


@pytest.fixture(autouse=True)
def _keras_adrop_layers(request, monkeypatch):
    module = getattr(request.cls, "keras_test_module", None)
    if module is not None:
        monkeypatch.setattr(module, "layers", _LayersWithOurs(module.layers))
    yield


TestLSTM = _ours_instead(MODULES["LSTMTest"], "LSTMTest", "TestLSTM")
TestGRU = _ours_instead(MODULES["GRUTest"], "GRUTest", "TestGRU")
TestSimpleRNN = _ours_instead(
    MODULES["SimpleRNNTest"], "SimpleRNNTest", "TestSimpleRNN")
TestStackedRNNCells = _ours_instead(
    MODULES["StackedRNNTest"], "StackedRNNTest", "TestStackedRNNCells")
TestMasking = _ours_instead(MODULES["MaskingTest"], "MaskingTest",
                            "TestMasking")
TestBidirectional = _ours_instead(*BIDIRECTIONAL, "TestBidirectional")


def test_the_keras_tests_exist_and_use_the_patched_names():
    """A Keras release that renames its test modules or stops going through
    `layers.<Name>` would silently test Keras' layers: fail instead."""
    for module_name in [*MODULES.values(), BIDIRECTIONAL[0]]:
        module = importlib.import_module(module_name)
        assert module.layers is keras.src.layers, module_name
    stale = [key for key in NOT_APPLICABLE
             if not hasattr(globals()[key[0]], key[1])]
    assert not stale, (
        f"NOT_APPLICABLE names tests Keras no longer has: {stale}")
