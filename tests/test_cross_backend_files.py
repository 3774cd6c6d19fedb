"""A `.keras` file saved on one backend runs on the other as Keras runs a
model compiled there by default, without a warning on every call."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_adrop


def _model():
    inputs = keras.Input((5, 3))
    h = keras_adrop.layers.GRU(4)(inputs)
    base = keras.Model(inputs, keras.layers.Dense(1)(h))
    return keras_adrop.AdversarialDropoutModel(
        base.inputs, base.outputs, delta=0.25, iterations=1, seed=0)


@pytest.mark.backend_neutral
def test_the_saved_compile_config_keeps_auto_jit_compile():
    model = _model()
    model.compile("adam", "mse")
    assert model.get_compile_config()["jit_compile"] == "auto"
    # An explicit choice other than this backend's default is kept.
    default = model.jit_compile  # what "auto" resolved to here
    model = _model()
    model.compile("adam", "mse", jit_compile=not default)
    assert model.jit_compile is (not default)
    assert model.get_compile_config()["jit_compile"] is (not default)
    model = _model()
    model.compile("adam", "mse", run_eagerly=True)
    assert model.get_compile_config()["jit_compile"] is False


SAVE = r"""
import sys
import keras, numpy as np
import keras_adrop
sys.path.insert(0, sys.argv[2])
from test_cross_backend_files import _model
x = np.random.default_rng(0).random((16, 5, 3)).astype("float32")
model = _model()
model.compile("adam", "mse")
model.fit(x, x[:, -1, :1], epochs=1, verbose=0)
model.save(sys.argv[1])
np.save(sys.argv[1] + ".npy", model.predict(x, verbose=0))
"""

LOAD = r"""
import json, sys, warnings
import keras, numpy as np
import keras_adrop
x = np.random.default_rng(0).random((16, 5, 3)).astype("float32")
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    model = keras.saving.load_model(sys.argv[1])
    predicted = model.predict(x, verbose=0)
    model.evaluate(x, x[:, -1, :1], verbose=0)
    model.fit(x, x[:, -1, :1], epochs=1, verbose=0)
print(json.dumps({
    "jit_compile": model.jit_compile,
    "warnings": [str(w.message) for w in caught],
    "error": float(np.max(np.abs(predicted - np.load(sys.argv[1] + ".npy")))),
}))
"""


def _run(script, backend, *args):
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-c", script, *args],
                            capture_output=True, text=True, timeout=300,
                            env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.mark.parametrize("saved_on, loaded_on", [("tensorflow", "jax"),
                                                 ("jax", "tensorflow")])
def test_a_file_from_the_other_backend_runs_as_compiled_there(
        tmp_path, saved_on, loaded_on):
    pytest.importorskip("jax")
    path = str(tmp_path / "model.keras")
    _run(SAVE, saved_on, path, os.path.dirname(__file__))
    report = json.loads(_run(LOAD, loaded_on, path).strip().splitlines()[-1])
    # What `compile(jit_compile="auto")` gives on the loading backend: XLA
    # on JAX; none on a CPU-only TensorFlow.
    if loaded_on == "jax":
        assert report["jit_compile"] is True
    else:
        import tensorflow as tf

        has_gpu = bool(tf.config.list_physical_devices("GPU"))
        assert report["jit_compile"] is has_gpu
    assert not [w for w in report["warnings"] if "structure" in w], report
    assert report["error"] < 1e-5
