"""benchmarks/backends.py: what it times and how it reports (no timing)."""

import importlib.util
import pathlib

import pytest

PATH = pathlib.Path(__file__).parents[1] / "benchmarks" / "backends.py"
spec = importlib.util.spec_from_file_location("backends_benchmark", PATH)
backends = importlib.util.module_from_spec(spec)
spec.loader.exec_module(backends)

TINY = {"rows": dict(steps=4, features=3, units=34, layers=1, batch=4,
                     classes=3),
        "lm": dict(steps=4, vocab=11, units=34, layers=2, batch=4)}


@pytest.mark.backend_neutral
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
