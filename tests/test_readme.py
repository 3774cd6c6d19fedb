"""README.md's API tables say what is current and what is deprecated."""

import pathlib
import re

import pytest

pytestmark = pytest.mark.backend_neutral

README = (pathlib.Path(__file__).resolve().parents[1] / "README.md").read_text()


def _table_after(heading):
    """First column of the Markdown table that follows `heading`."""
    start = README.index(heading)
    rows = []
    for line in README[start:].splitlines()[1:]:
        if line.startswith("|"):
            rows.append(re.split(r"(?<!\\)\|", line)[1].strip())
        elif rows:
            break
    return rows[2:]  # the header and the |---| line


def test_the_public_api_table_lists_the_current_api():
    public = " ".join(_table_after("## Public API"))
    for name in ("keras_adrop.convert_model", "divergence_for_loss",
                 "keras_adrop.callbacks.AdversarialMaskTensorBoard",
                 "keras_adrop.datasets", "keras_adrop.analysis",
                 "FixedNetworks", "interval_coverage",
                 "keras_adrop.tasks.methods.get_method",
                 "keras_adrop.tuners.AdversarialDropoutHyperModel",
                 "keras_adrop.regularizers.adversarial_search",
                 "keras_adrop.reporting",
                 "keras_adrop.layers.TextTokenizer"):
        assert name in public, name


def test_the_readme_says_how_to_load_and_serve():
    assert re.search(r"import keras_adrop +# before loading", README)
    assert "served.serve(tf.constant(" in README
    assert "### Choosing lambda, delta and K" in README
