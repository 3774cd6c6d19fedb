"""benchmarks/backends.py, tuner_check.py and gpu_check.sh: what they run
and how they report (no timing)."""

import importlib
import pathlib
import subprocess

import keras
import pytest

# The benchmarks, imported by module name (pytest.ini puts the repository
# root on the path).
backends = importlib.import_module("benchmarks.backends")
tuner_check = importlib.import_module("benchmarks.tuner_check")

# The GPU check (benchmarks/gpu_check.sh) runs these on JAX: the README's
# JAX pass tests them there, and the TensorFlow pass leaves them out.
jax_pass = pytest.mark.skipif(
    keras.backend.backend() != "jax",
    reason="run by the JAX pass (the backend of benchmarks/gpu_check.sh)")

TINY = {"rows": dict(steps=4, features=3, units=34, layers=1, batch=4,
                     classes=3),
        "lm": dict(steps=4, vocab=11, units=34, layers=2, batch=4)}


@pytest.mark.backend_neutral
@jax_pass
def test_every_variant_of_every_config_is_timed():
    ms = backends.measure(TINY, rounds=1)
    assert sorted(ms) == ["lm", "rows"]
    for config in ms.values():
        assert sorted(config) == sorted(backends.VARIANTS)
        assert all(value > 0 for value in config.values())


def test_report_gives_each_backend_and_the_jax_over_tensorflow_ratio():
    ms = {"rows": {"keras": 10.0, "layer": 9.0, "variational": 10.0,
                   "adversarial_k1": 20.0, "adversarial_k2": 30.0}}
    jax_ms = {"rows": {k: 2 * v for k, v in ms["rows"].items()}}
    text = backends.report({"tensorflow": {"device": "CPU", "ms": ms},
                            "jax": {"device": "cpu", "ms": jax_ms}})
    assert "| adversarial_k2 | 30.0 | 60.0 | 2.00 |" in text
    assert "| k1_over_variational | 2.00 | 2.00 |" in text
    assert "| layer_over_keras | 0.90 | 0.90 |" in text


@pytest.mark.backend_neutral
@jax_pass
def test_the_tuner_check_searches_delta_as_flips_and_k(tmp_path,
                                                        monkeypatch):
    monkeypatch.chdir(tmp_path)
    trials = tuner_check.main(["--quick"])
    assert len(trials) == 2
    for trial in trials:
        hp = trial.hyperparameters
        assert 1 <= hp.get("flips") <= 5 and hp.get("iterations") in (1, 2)
        assert 0.0 <= trial.score <= 1.0


@pytest.mark.slow
def test_the_gpu_check_script_runs_on_a_cpu_with_quick_shapes():
    script = pathlib.Path(__file__).parents[1] / "benchmarks" / "gpu_check.sh"
    done = subprocess.run(["bash", str(script), "--quick"],
                          capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| k2_over_variational |" in done.stdout
    assert "KerasTuner random search on digits (jax" in done.stdout
