"""The package's metadata: one version, extras that hold what they promise.

The install itself (fresh venvs, README.md's code) is tests/test_install.py.
"""

import pathlib
import re
import tomllib

import pytest

import keras_adrop

ROOT = pathlib.Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.backend_neutral


def _project():
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)


def _names(requirements):
    """`{name: requirement}` with names normalized (PEP 503)."""
    return {re.split(r"[\[<>=!~; ]", r, maxsplit=1)[0].lower()
            .replace("_", "-"): r for r in requirements}


def test_the_version_has_one_source():
    project = _project()
    assert "version" in project["project"]["dynamic"]
    assert "version" not in project["project"]
    assert (project["tool"]["setuptools"]["dynamic"]["version"]
            == {"attr": "keras_adrop.__version__"})
    assert re.fullmatch(r"\d+\.\d+\.\d+", keras_adrop.__version__)
    assert not (ROOT / "setup.py").exists()


def test_the_changelog_has_an_unreleased_section():
    text = (ROOT / "CHANGELOG.md").read_text()
    assert "## [Unreleased]" in text


def test_the_tuner_extra_works_on_either_backend():
    tuner = _names(_project()["project"]["optional-dependencies"]["tuner"])
    # KerasTuner 1.4 imports six (undeclared; JAX venvs lack it) and, under
    # TensorFlow, tensorboard (TensorFlow 2.21 no longer brings it).
    assert {"keras-tuner", "six", "tensorboard"} <= set(tuner)
    assert "tensorflow" not in tuner and "jax" not in tuner
    assert "[bayesian]" in tuner["keras-tuner"]


def test_larger_extras_hold_the_smaller_ones():
    extras = _project()["project"]["optional-dependencies"]
    assert set(extras) == {"tensorflow", "jax", "tuner", "plots",
                           "examples", "tests"}
    examples = _names(extras["examples"])
    tests = _names(extras["tests"])
    for name in ("tensorflow", "tuner", "plots"):
        for dependency, requirement in _names(extras[name]).items():
            assert examples.get(dependency) == requirement, (name, dependency)
    for dependency, requirement in examples.items():
        assert tests.get(dependency) == requirement, dependency
    for dependency, requirement in _names(extras["jax"]).items():
        assert tests.get(dependency) == requirement, dependency
    assert {"pytest", "pytest-xdist", "hypothesis"} <= set(tests)
