"""The sequence model's serving export runs without keras_adrop.

`examples/sequential_mnist.py` builds an LSTM classifier on float sequences
of shape (batch, 64, 1). Trained as an `AdversarialDropoutModel` or as a
`RegularizedModel` with `FraternalDropout` (whose LSTM has a recurrent
dropout rate), `model.export(path)` must give a SavedModel holding the
inference network only: loaded with `tf.saved_model.load` in a process that
cannot import keras_adrop, it returns `model.predict`'s logits at any batch
size, and nothing random is left in it.
"""

import importlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import keras_adrop
from keras_adrop.tasks import sequence_classification
from keras_adrop.datasets import digits

METHODS = {"adversarial_k1": keras_adrop.AdversarialDropoutModel,
           "fraternal": keras_adrop.RegularizedModel}
BATCH_SIZES = (3, 7)

# Runs in a fresh interpreter: keras_adrop is made unimportable before
# anything else, then the SavedModel is served with TensorFlow alone.
SERVE = r"""
import json, sys
sys.modules["keras_adrop"] = None  # `import keras_adrop` now raises
try:
    import keras_adrop  # noqa: F401
    importable = True
except ImportError:
    importable = False
import numpy as np
import tensorflow as tf

report = {"keras_adrop_importable": importable}
for path in sys.argv[2:]:
    served = tf.saved_model.load(path)  # kept in a variable while used
    signature = served.signatures["serving_default"]
    (name,) = signature.structured_input_signature[1]
    outputs = {}
    for n in json.loads(sys.argv[1]):
        x = tf.constant(np.load(f"{path}.x{n}.npy"))
        (first,) = signature(**{name: x}).values()
        (second,) = signature(**{name: x}).values()
        outputs[n] = {"signature": first.numpy().tolist(),
                      "again": second.numpy().tolist(),
                      "serve": served.serve(x).numpy().tolist()}
    report[path] = outputs
report["keras_adrop_modules"] = sorted(
    m for m in sys.modules if m.startswith("keras_adrop.")
    or (m == "keras_adrop" and sys.modules[m] is not None))
print(json.dumps(report))
"""


def _example():
    """`examples/sequential_mnist.py`, imported by module name (pytest.ini
    puts the repository root on the path)."""
    return importlib.import_module("examples.sequential_mnist")


def _graph_ops(served):
    graph = served.signatures["serving_default"].graph.as_graph_def()
    ops = {node.op for node in graph.node}
    for function in graph.library.function:
        ops |= {node.op for node in function.node_def}
    return ops


def test_exported_sequence_models_serve_predict_without_keras_adrop(tmp_path):
    rng = np.random.RandomState(0)
    x_train = rng.rand(64, 64, 1).astype("float32")
    y_train = rng.randint(0, 10, 64).astype("int32")
    paths, expected = [], {}
    for method, model_class in METHODS.items():
        # The quick settings of examples/sequential_mnist.py, 8 units.
        model = sequence_classification.lstm_classifier(
            method, (64, 1), units=8, delta=0.2, decay_steps=14)
        assert type(model) is model_class
        history = model.fit(x_train, y_train, batch_size=32, epochs=1,
                            shuffle=False, verbose=0).history  # 2 steps
        penalty = next(k for k in history if k.endswith("_penalty"))
        assert history[penalty][0] > 0  # it trained with its penalty
        path = str(tmp_path / method)
        model.export(path, verbose=False)
        paths.append(path)
        for n in BATCH_SIZES:
            x = rng.rand(n, 64, 1).astype("float32")
            np.save(f"{path}.x{n}.npy", x)
            expected[(path, n)] = model.predict(x, verbose=0)
    # The fraternal model's LSTM has a dropout rate the export must not use.
    assert model.get_layer("lstm").recurrent_dropout == pytest.approx(0.1)

    result = subprocess.run(
        [sys.executable, "-c", SERVE, json.dumps(BATCH_SIZES), *paths],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["keras_adrop_importable"] is False
    assert report["keras_adrop_modules"] == []
    for path in paths:
        for n in BATCH_SIZES:
            served = report[path][str(n)]
            logits = np.array(served["signature"])
            assert logits.shape == (n, 10)
            np.testing.assert_allclose(logits, expected[(path, n)],
                                       atol=1e-5, err_msg=path)
            np.testing.assert_allclose(served["serve"], logits, atol=1e-6)
            # No dropout left: the same input, the same output, bit for bit.
            np.testing.assert_array_equal(served["again"], logits)

    # Nothing random, no gradient and no mask search in the serving graph.
    for path in paths:
        ops = _graph_ops(tf.saved_model.load(path))
        assert "MatMul" in ops
        assert not [op for op in ops
                    if "Random" in op or "Grad" in op or op == "TopKV2"], path


def test_example_export_option_writes_the_served_models(tmp_path):
    """`--export DIR`: the example's own run, served at its test error."""
    example = _example()
    export = tmp_path / "export"
    results = example.main([
        "--quick", "--units", "8", "--epochs", "1", "--train-size", "64",
        "--methods", "adversarial_k1", "--output-dir", str(tmp_path),
        "--export", str(export)])
    served = tf.saved_model.load(str(export / "adversarial_k1"))
    # The example's test digits: the rest of the 1,797 after its training
    # and validation images.
    _, (x_test, y_test) = digits.load(
        64 + results["config"]["validation_examples"], seed=0)
    for start in (0, 5):  # two batch sizes
        logits = served.serve(tf.constant(x_test[start:])).numpy()
        assert logits.shape == (len(x_test) - start, 10)
    error = 100.0 * np.mean(
        np.argmax(served.serve(tf.constant(x_test)).numpy(), -1) != y_test)
    assert error == pytest.approx(
        results["methods"]["adversarial_k1"]["test_error_percent"], abs=1e-6)
