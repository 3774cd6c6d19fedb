"""Several replicas train exactly like one device on the same global batch.

The models of tests/workers/distributed_fit.py (an `AdversarialDropoutModel`,
K = 2, and a `RegularizedModel` with `FraternalDropout`) train in fresh
processes on one device, on two replicas of one process
(`MirroredStrategy`) and on two worker processes talking over 127.0.0.1
(`MultiWorkerMirroredStrategy`). Per step, the loss, the supervised loss,
the penalty and the number of flips, and at the end every weight, must
agree with the one-device run to float rounding. That holds only if each
replica scales its penalty by the number of replicas exactly once and every
example gets the same random draws (start flips, variational masks) on any
number of replicas
(`keras_adrop.regularizers.adversarial_search.per_example_uniform`).
"""

import json
import os
import pathlib
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_adrop.regularizers import adversarial_search

WORKER = pathlib.Path(__file__).parent / "workers" / "distributed_fit.py"
KINDS = ("adversarial", "fraternal")


def _env(**extra):
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **extra)


def _run(mode, out, kinds=KINDS, timeout=300):
    result = subprocess.run(
        [sys.executable, str(WORKER), mode, str(out), ",".join(kinds)],
        capture_output=True,
        text=True, env=_env(), timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(out.read_text())


def _assert_same_training(reference, run):
    """Same loss terms at every step and the same final weights."""
    assert run["replicas"] == 2 and reference["replicas"] == 1
    assert run["iterations"] == reference["iterations"] == 8
    assert len(run["steps"]) == len(reference["steps"]) == 8
    for step, (expected, got) in enumerate(zip(reference["steps"],
                                               run["steps"])):
        assert set(got) == set(expected)
        for name in expected:
            np.testing.assert_allclose(
                got[name], expected[name], rtol=1e-4, atol=1e-6,
                err_msg=f"step {step}: {name}")
    for expected, got in zip(reference["weights"], run["weights"]):
        np.testing.assert_allclose(got, expected, atol=1e-5)


def _assert_terms_add_up(run, penalty):
    """loss = supervised + penalty (weight 1) at every step: counted once."""
    for logs in run["steps"]:
        assert logs[penalty] > 0
        assert logs["loss"] == pytest.approx(
            logs["supervised_loss"] + logs[penalty], abs=1e-5)


def test_per_example_uniform_is_one_draw_for_the_whole_global_batch():
    """What replica r keeps is rows r*b..(r+1)*b of the one-device draw."""
    def draw(shape):
        return keras.random.uniform(
            shape, seed=keras.random.SeedGenerator(5)).numpy()

    one_device = draw((8, 3))
    per_replica = draw((2, 4, 3))  # what each of 2 replicas draws
    np.testing.assert_array_equal(per_replica[1], one_device[4:])
    np.testing.assert_array_equal(per_replica[0], one_device[:4])
    # Without a strategy it is keras.random.uniform itself.
    np.testing.assert_array_equal(
        adversarial_search.per_example_uniform(
            (8, 3), keras.random.SeedGenerator(5)),
        one_device)


def test_mirrored_strategy_on_two_devices_matches_one_device(tmp_path):
    """The adversarial model (~10 s of CPU); fraternal dropout is checked
    on two replicas by the multi-worker test."""
    report = _run("mirrored", tmp_path / "mirrored.json", ["adversarial"])
    _assert_same_training(report["one"]["adversarial"],
                          report["mirrored"]["adversarial"])
    _assert_terms_add_up(report["mirrored"]["adversarial"],
                         "adversarial_dropout_penalty")
    # Flips really happened, and differ between steps (the check is not
    # passing on a constant).
    flips = [s["adversarial_dropout_flips_lstm"]
             for s in report["mirrored"]["adversarial"]["steps"]]
    assert all(1.0 <= f <= 3.0 for f in flips) and len(set(flips)) > 1


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@pytest.mark.multiprocess
@pytest.mark.slow
def test_multiworker_strategy_with_two_processes_matches_one_device(tmp_path):
    cluster = {"worker": [f"127.0.0.1:{p}" for p in _free_ports(2)]}
    workers = []
    try:
        for index in range(2):
            config = {"cluster": cluster,
                      "task": {"type": "worker", "index": index}}
            workers.append(subprocess.Popen(
                [sys.executable, str(WORKER), "multiworker",
                 str(tmp_path / f"worker{index}.json")],
                env=_env(TF_CONFIG=json.dumps(config)),
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        reference = _run("one", tmp_path / "one.json")["one"]
        for worker in workers:
            _, err = worker.communicate(timeout=300)
            assert worker.returncode == 0, err[-3000:]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    runs = [json.loads((tmp_path / f"worker{i}.json").read_text())
            ["multiworker"] for i in range(2)]
    for kind in KINDS:
        for run in runs:  # both workers hold the same model
            _assert_same_training(reference[kind], run[kind])
    _assert_terms_add_up(runs[0]["adversarial"],
                         "adversarial_dropout_penalty")
    _assert_terms_add_up(runs[0]["fraternal"], "fraternal_dropout_penalty")


JAX_WORKER = pathlib.Path(__file__).parent / "workers" / "jax_data_parallel.py"


def test_jax_data_parallel_on_two_devices_matches_one_device(tmp_path):
    """`keras.distribution.DataParallel` on two forced host devices: one
    step of AdD K=1 and K=2, fraternal dropout and VAT gives the weights
    and logs of one device, and each example's adversarial mask is the one
    it gets on one device, held by the device that holds the example
    (~30 s: a JAX subprocess)."""
    out = tmp_path / "jax_data_parallel.npz"
    result = subprocess.run(
        [sys.executable, str(JAX_WORKER), str(out)], capture_output=True,
        text=True, timeout=300,
        env=_env(KERAS_BACKEND="jax",
                 XLA_FLAGS="--xla_force_host_platform_device_count=2"))
    assert result.returncode == 0, result.stderr[-3000:]
    run = dict(np.load(out))
    assert int(run["devices"]) == 2
    methods = ("adversarial_k1", "adversarial_k2", "fraternal",
               "virtual_adversarial")
    for method in methods:
        assert int(run[f"one/{method}/weight_devices"]) == 1
        assert int(run[f"two/{method}/weight_devices"]) == 2  # replicated
        keys = sorted(k[len("one/"):] for k in run
                      if k.startswith(f"one/{method}/"))
        assert any(k.endswith("_penalty") for k in keys)
        for key in keys:
            if key.endswith("weight_devices"):
                continue
            np.testing.assert_allclose(run[f"two/{key}"], run[f"one/{key}"],
                                       rtol=1e-5, atol=1e-6, err_msg=key)
        penalty = [k for k in keys if k.endswith("_penalty")][0]
        assert run[f"one/{penalty}"] > 0, penalty
    # The masks: the same per example, and on the device of the example.
    masks = run["two/masks"]
    np.testing.assert_array_equal(masks, run["one/masks"])
    flips = (1 - masks).sum(1)
    assert flips.min() >= 1 and flips.max() <= 4 and len(set(flips)) > 1
    np.testing.assert_array_equal(run["two/input_devices"], [0] * 4 + [1] * 4)
    np.testing.assert_array_equal(run["two/mask_devices"],
                                  run["two/input_devices"])
