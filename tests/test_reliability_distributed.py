"""A non-finite share on one replica of `MirroredStrategy`, or an update
that overflows: every replica skips the step (docs/reliability.md)."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

WORKER = pathlib.Path(__file__).parent / "workers" / "nonfinite_mirrored.py"


# Not "xla": jit-compiled MirroredStrategy over two logical CPU devices
# fails on its first step already ("Trying to access resource ... located
# in device CPU:1 from device CPU:0", TensorFlow's XLA known issue), with
# or without keras_adrop's skip.
@pytest.mark.parametrize("mode", ["graph"])
def test_one_replica_non_finite_skips_the_step_on_both(mode):
    result = subprocess.run(
        [sys.executable, str(WORKER), mode], capture_output=True, text=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"), timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["steps"] == 2 and report["same"], report
    assert report["iterations"] == 1 and report["finite"]
    assert report["skipped"] == [1.0]
    assert len(report["stopped"]) == 1
    assert "supervised_loss = nan" in report["stopped"][0]


def test_an_overflowing_update_is_skipped_on_both_replicas():
    """penalty_weight=3e38 overflows Adam's second moment at step 1: the
    update is taken back on both replicas and training stops, truthfully."""
    result = subprocess.run(
        [sys.executable, str(WORKER), "graph", "overflow"],
        capture_output=True, text=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"), timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["steps"] == 1 and report["initial"], report
    assert report["iterations"] == 0 and report["finite"]
    assert report["skipped"] == [1.0]
    assert len(report["stopped"]) == 1
    assert "non-finite: the update" in report["stopped"][0]
