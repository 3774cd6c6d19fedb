"""A clean install runs README.md's code, on either backend.

Builds the wheel of this checkout, installs it in fresh venvs as a user
would (`[jax,tuner]` with no TensorFlow under `KERAS_BACKEND=jax`, and
`[tensorflow,tuner]`), and runs every ```python block of README.md, read
from README.md itself, in order, as one script: the README cannot drift
from the code. Marked `install` (deselected by default; it needs the
package index):

    python -m pytest -m install tests/test_install.py
"""

import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

# (extras, KERAS_BACKEND, whether TensorFlow may be installed)
INSTALLS = [
    pytest.param("jax,tuner", "jax", False, id="jax"),
    pytest.param("tensorflow,tuner", "tensorflow", True, id="tensorflow"),
]


def readme_python_blocks(text):
    """The code of every ```python block of a Markdown text, in order."""
    return [m.group(1) for m in
            re.finditer(r"^```python\n(.*?)^```", text, re.M | re.S)]


@pytest.mark.backend_neutral
def test_the_readme_blocks_are_found():
    blocks = readme_python_blocks((ROOT / "README.md").read_text())
    assert len(blocks) >= 3
    assert any("AdversarialDropoutHyperModel" in b for b in blocks)
    assert any("FixedNetworks" in b for b in blocks)


def _run(command, **kwargs):
    result = subprocess.run(command, capture_output=True, text=True,
                            **kwargs)
    assert result.returncode == 0, (
        f"{command} failed:\n{result.stdout[-4000:]}\n{result.stderr[-8000:]}")
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
          "--wheel-dir", str(out), str(ROOT)])
    (path,) = out.glob("keras_adrop-*.whl")
    return path


@pytest.mark.install
@pytest.mark.parametrize("extras, backend, tensorflow_allowed", INSTALLS)
def test_a_fresh_install_runs_the_readme(tmp_path, wheel, extras, backend,
                                         tensorflow_allowed):
    # A user's shell: no PYTHONPATH (a checkout on it would make pip take
    # the package for installed), no Keras settings of ours.
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("PYTHON", "KERAS", "VIRTUAL_ENV"))}
    env.update(KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2",
               KERAS_HOME=str(tmp_path / "keras_home"))
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], env=env)
    python = str(venv / "bin" / "python")
    _run([python, "-m", "pip", "install", "--quiet", f"{wheel}[{extras}]"],
         cwd=tmp_path, env=env)
    script = "\n\n".join(
        readme_python_blocks((ROOT / "README.md").read_text()))
    (tmp_path / "readme.py").write_text(script)
    has_tensorflow = _run(
        [python, "-c", "import importlib.util as u; "
         "print(u.find_spec('tensorflow') is not None)"], env=env)
    assert has_tensorflow.stdout.strip() == str(tensorflow_allowed)
    # Run outside the checkout, so that the installed wheel is imported.
    result = _run([python, "readme.py"], cwd=tmp_path, env=env)
    assert "Number of consecutive failures" not in result.stdout
    # The tuner block prints the best hyperparameters it found.
    assert "'flips'" in result.stdout and "'iterations'" in result.stdout
