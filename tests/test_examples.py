"""The examples run end to end (quick smoke mode; the full run is slow)."""

import importlib.util
import json
import pathlib
import subprocess
import sys

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sequential_mnist_quick_writes_results(tmp_path):
    example = _load("sequential_mnist")
    results = example.main(["--quick", "--output-dir", str(tmp_path)])
    assert set(results["methods"]) == {
        "variational", "adversarial_k1", "adversarial_k2"}
    for method, metrics in results["methods"].items():
        assert 0.0 <= metrics["test_error_percent"] <= 100.0, method
        assert metrics["train_seconds_per_epoch"] > 0
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["config"]["quick"] is True
    assert (tmp_path / "learning_curves.png").stat().st_size > 10_000
    adversarial = saved["methods"]["adversarial_k2"]["history"]
    assert min(adversarial["adversarial_dropout_penalty"]) > 0


def test_sequential_mnist_every_method_by_name(tmp_path):
    example = _load("sequential_mnist")
    methods = ["unregularized", "fraternal", "expectation_linearization"]
    results = example.main(["--quick", "--epochs", "1", "--train-size", "64",
                            "--methods", ",".join(methods),
                            "--output-dir", str(tmp_path)])
    assert list(results["methods"]) == methods
    history = results["methods"]["fraternal"]["history"]
    assert history["fraternal_dropout_penalty"][0] > 0
    with pytest.raises(SystemExit):
        example.main(["--quick", "--methods", "dropconnect"])


def test_sequential_mnist_bad_delta_is_a_clear_error(tmp_path):
    example = _load("sequential_mnist")
    with pytest.raises(ValueError, match="delta"):
        example.main(["--quick", "--delta", "0.01", "--output-dir",
                      str(tmp_path)])


@pytest.mark.slow
def test_readme_main_example_runs_in_full(tmp_path):
    """The README's first command, as a user runs it (about 5 minutes)."""
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "sequential_mnist.py"),
         "--output-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    for metrics in results["methods"].values():
        assert metrics["final_train_accuracy"] > 0.95
        assert metrics["test_error_percent"] < 10.0
