"""keras_adrop.reporting: what the examples' and replicate.py's reports
compute."""

import pytest

from keras_adrop import reporting


def test_paired_comparison_by_seed():
    runs = {
        "variational": {0: {"e": 3.0}, 1: {"e": 2.0}, 2: {"e": 4.0}},
        "adversarial_k1": {0: {"e": 2.5}, 1: {"e": 2.1}, 2: {"e": 3.0}},
    }
    c = reporting.paired_comparison(runs, "e", "adversarial_k1",
                                    "variational")
    np_diffs = [-0.5, 0.1, -1.0]
    assert c["seeds"] == [0, 1, 2]
    assert c["differences"] == pytest.approx(np_diffs)
    assert c["mean"] == pytest.approx(sum(np_diffs) / 3)
    assert c["wins"] == 2
    # t = mean / (std / sqrt(3)) = -1.47 on 2 degrees of freedom. The one
    # positive difference has rank 1 of 3 (W+ = 1); 2 of the 8 sign
    # patterns have W+ <= 1, so the exact two-sided p is 2 x 2/8.
    assert c["t_p"] == pytest.approx(0.2799, abs=1e-4)
    assert c["wilcoxon_p"] == pytest.approx(0.5)
