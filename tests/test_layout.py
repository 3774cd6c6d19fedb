"""The package's layers: the library core, and the tasks built on it.

`import keras_adrop` loads the library only (layers, regularizers, models,
training); `keras_adrop.tasks` (the paper's three tasks and its methods by
name) is built on the library, and no module of the library imports it, or
imports `keras_adrop` as a whole from inside the package.
"""

import ast
import pathlib
import subprocess
import sys

import pytest

pytestmark = pytest.mark.backend_neutral

PACKAGE = pathlib.Path(__file__).parents[1] / "keras_adrop"


def _imports(path):
    """The modules `path` imports, as dotted names (`from a import b` gives
    `a.b`, which is the module `b` when it is one)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names += [f"{node.module}.{alias.name}" for alias in node.names]
    return names


def test_no_module_of_the_library_imports_the_tasks_or_the_whole_package():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] == "tasks":
            continue
        for name in _imports(path):
            if name.startswith("keras_adrop.tasks") or name == "keras_adrop":
                upward.append(f"{relative}: {name}")
    assert upward == []


def test_the_tasks_import_neither_examples_nor_tuning():
    for path in sorted((PACKAGE / "tasks").rglob("*.py")):
        for name in _imports(path):
            assert not name.startswith(("examples", "tuning", "benchmarks")), (
                path, name)


def test_import_keras_adrop_loads_the_library_only():
    code = (
        "import sys, keras_adrop\n"
        "print(sorted(m for m in sys.modules if m.startswith("
        "('keras_adrop.tasks', 'keras_adrop.datasets', 'keras_adrop.tuners', "
        "'keras_adrop.analysis', 'keras_adrop.reporting', "
        "'keras_adrop.callbacks', 'keras_tuner'))))\n"
        "import keras_adrop.tasks\n"
        "print(sorted(keras_adrop.tasks.__all__))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True,
                            text=True, check=True)
    loaded, tasks = result.stdout.strip().splitlines()[-2:]
    assert loaded == "[]"
    assert tasks == str(["language_modeling", "methods", "presets",
                         "sequence_classification", "text_classification"])


def test_every_serializable_class_is_registered_by_import_keras_adrop():
    # A `.keras` file of any keras_adrop layer or model loads after
    # `import keras_adrop`: every registered class lives in the library.
    registered = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "register_keras_serializable" in path.read_text():
            registered.append(path.relative_to(PACKAGE).parts[0])
    assert "tasks" not in registered and registered
