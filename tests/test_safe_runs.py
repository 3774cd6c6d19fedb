"""Long runs: a killed run resumes from its backup; a NaN loss stops training.

- `keras.callbacks.BackupAndRestore` saves and restores an
  `AdversarialDropoutModel` (weights, optimizer state and step count). A run
  killed with SIGKILL in the middle of an epoch and started again resumes
  from its last backup and finishes, and every finished epoch is in its CSV
  log exactly once. Keras 3 restarts the interrupted epoch from its first
  batch, with the weights of the mid-epoch backup.
- `RegularizedModel.train_step` checks that every loss term and gradient
  is finite before it applies the update: a NaN or inf step is skipped,
  `fit` stops with a `RuntimeWarning` naming the terms, and the model keeps
  the weights of the last finite step (every path: tests/test_reliability.py).
"""

import csv
import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

import keras_adrop
from keras_adrop.training import nonfinite
from keras_adrop.regularizers import AdversarialDropout
from keras_adrop.regularizers import ModelRegularizer

WORKER = pathlib.Path(__file__).parent / "workers" / "resumable_fit.py"
STEPS, FEATURES, CLASSES = 6, 2, 3


def _data(n=64, seed=0):
    rng = np.random.RandomState(seed)
    x = rng.randn(n, STEPS, FEATURES).astype("float32")
    y = np.digitize(x[:, :, 0].sum(1), [-1.0, 1.0]).astype("int32")
    return x, y


def _model(regularizers=None, seed=0, run_eagerly=False):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((STEPS, FEATURES))
    hidden = keras_adrop.layers.LSTM(8, name="lstm")(inputs)
    outputs = keras.layers.Dense(CLASSES)(hidden)
    if regularizers is None:
        model = keras_adrop.AdversarialDropoutModel(
            inputs, outputs, delta=0.25, seed=1)
    else:
        model = keras_adrop.RegularizedModel(inputs, outputs,
                                             regularizers=regularizers)
    model.compile(keras.optimizers.Adam(0.01),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  run_eagerly=run_eagerly)
    return model


class _WeightsAfterEachStep(keras.callbacks.Callback):
    """Keeps the weights and the optimizer's state after every step."""

    def __init__(self):
        super().__init__()
        self.weights = []
        self.optimizer = []

    def on_train_batch_end(self, batch, logs=None):
        self.weights.append(self.model.get_weights())
        self.optimizer.append(
            [v.numpy() for v in self.model.optimizer.variables])


def _assert_same_weights(actual, expected):
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        np.testing.assert_array_equal(a, e)


# Non-finite losses.

@pytest.mark.parametrize("run_eagerly", [False, True])
def test_nan_inputs_stop_training_before_the_nan_update(run_eagerly):
    x, y = _data(48)
    x[40] = np.nan  # the third batch of 16
    model = _model(run_eagerly=run_eagerly)
    steps = _WeightsAfterEachStep()
    with pytest.warns(RuntimeWarning, match="Non-finite training step") as w:
        history = model.fit(x, y, batch_size=16, epochs=2, shuffle=False,
                            verbose=0, callbacks=[steps]).history
    message = str(w[0].message)
    assert message == model.nonfinite_stop
    assert re.search(r"optimizer step 2\b", message), message
    # Both terms are named with their values: here both are NaN.
    assert re.search(r"supervised_loss = nan", message), message
    assert re.search(r"adversarial_dropout_penalty = nan", message)
    # Skipped: two steps done, the weights and optimizer of step 2 kept.
    assert int(model.optimizer.iterations.numpy()) == 2
    assert len(steps.weights) == 3  # the skipped step's callback ran
    _assert_same_weights(model.get_weights(), steps.weights[1])
    _assert_same_weights(steps.optimizer[2], steps.optimizer[1])
    assert all(np.isfinite(w).all() for w in model.get_weights())
    assert history["skipped_steps"] == [1.0]
    assert np.isfinite(history["loss"]).all()


class _Exploding(ModelRegularizer):
    """A penalty that overflows to inf (a test double for a diverging term)."""

    def penalty(self, batch):
        value = ops.exp(1000.0 + 0.0 * ops.sum(batch.outputs))
        return value, {f"{self.name}_penalty": value}


def test_a_non_finite_penalty_is_named_and_nothing_is_applied():
    model = _model(regularizers=[
        AdversarialDropout(delta=0.25, seed=1, from_logits=True),
        _Exploding(name="exploding")])
    before = model.get_weights()
    x, y = _data(16)
    with pytest.warns(RuntimeWarning, match="Non-finite") as w:
        model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    message = str(w[0].message)
    assert re.search(r"non-finite: exploding_penalty, gradients", message)
    assert re.search(r"exploding_penalty = inf", message), message
    # The other terms are finite, and shown as numbers.
    assert re.search(r"supervised_loss = \d", message), message
    assert re.search(r"adversarial_dropout_penalty = \d", message)
    assert int(model.optimizer.iterations.numpy()) == 0
    _assert_same_weights(model.get_weights(), before)


def test_the_check_changes_nothing_in_a_finite_run(monkeypatch):
    """Same losses and weights with the check and with it removed."""
    x, y = _data(32)
    runs = []
    for check in (True, False):
        if not check:
            monkeypatch.setattr(nonfinite, "finite_checks",
                                lambda *args: (ops.convert_to_tensor(True),
                                               ops.convert_to_tensor(True)))
        model = _model()
        history = model.fit(x, y, batch_size=16, epochs=2, shuffle=False,
                            verbose=0).history
        runs.append((history, model.get_weights()))
    (checked, checked_weights), (unchecked, unchecked_weights) = runs
    assert checked == unchecked
    _assert_same_weights(checked_weights, unchecked_weights)
    assert np.all(np.isfinite(checked["loss"]))


# Backup and restore.

def test_backup_restores_weights_optimizer_and_step_into_a_new_model(
        tmp_path):
    """A run interrupted by an error, resumed by a model built afresh."""
    x, y = _data(64)  # 4 steps of 16 per epoch

    class Interrupt(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if int(self.model.optimizer.iterations.numpy()) == 7:
                raise RuntimeError("interrupted")

    backup = str(tmp_path / "backup")
    first = _model(seed=0)
    steps = _WeightsAfterEachStep()
    with pytest.raises(RuntimeError, match="interrupted"):
        first.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0,
                  callbacks=[keras.callbacks.BackupAndRestore(
                      backup, save_freq=3), steps, Interrupt()])
    metadata = json.loads((tmp_path / "backup" /
                           "training_metadata.json").read_text())
    assert metadata == {"epoch": 1, "batch": 1}  # the backup of step 6

    second = _model(seed=5)  # other initial weights
    restored = {}

    class Record(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            restored["iterations"] = int(
                self.model.optimizer.iterations.numpy())
            restored["weights"] = self.model.get_weights()
            restored["adam"] = [v.numpy() for v in
                                self.model.optimizer.variables]

        def on_epoch_begin(self, epoch, logs=None):
            restored.setdefault("epochs", []).append(epoch)

    history = second.fit(
        x, y, batch_size=16, epochs=3, shuffle=False, verbose=0,
        callbacks=[keras.callbacks.BackupAndRestore(backup, save_freq=3),
                   Record()]).history
    assert restored["iterations"] == 6
    _assert_same_weights(restored["weights"], steps.weights[5])
    _assert_same_weights(restored["adam"], steps.optimizer[5])  # moments too
    assert restored["epochs"] == [1, 2]
    assert len(history["loss"]) == 2
    assert int(second.optimizer.iterations.numpy()) == 6 + 2 * 4
    assert not (tmp_path / "backup").exists()  # deleted once finished


def _events(workdir):
    lines = (workdir / "events.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def _epochs_in_csv(workdir):
    with open(workdir / "epochs.csv") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


@pytest.mark.multiprocess
@pytest.mark.slow
def test_a_killed_run_resumes_from_its_last_backup_and_completes(tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    # Steps 1-4 are epoch 0, 5-8 epoch 1; backups after steps 3 and 6.
    worker = subprocess.Popen(
        [sys.executable, str(WORKER), str(tmp_path), "--pause-after-step",
         "7"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    try:
        deadline = time.monotonic() + 240
        while not (tmp_path / "paused").exists():
            assert worker.poll() is None, worker.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "the worker never paused"
            time.sleep(0.2)
        metadata = json.loads(
            (tmp_path / "backup" / "training_metadata.json").read_text())
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert worker.returncode == -signal.SIGKILL
    assert metadata == {"epoch": 1, "batch": 1}  # the backup of step 6
    killed = _events(tmp_path)
    assert [e["iterations"] for e in killed if e["event"] == "step"] \
        == list(range(1, 8))
    assert _epochs_in_csv(tmp_path) == [0]  # epoch 1 was not finished

    result = subprocess.run([sys.executable, str(WORKER), str(tmp_path)],
                            env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    resumed = _events(tmp_path)[len(killed):]
    begin, end = resumed[0], resumed[-1]
    # It starts from the backup of step 6: its step count and weights.
    step_6 = next(e for e in killed if e.get("iterations") == 6
                  and e["event"] == "step")
    assert begin == {"event": "begin", "iterations": 6,
                     "checksum": step_6["checksum"]}
    # Epoch 0 is kept; the interrupted epoch 1 runs again from its start.
    assert [e["epoch"] for e in resumed if e["event"] == "epoch"] \
        == [1, 2, 3]
    assert end["event"] == "end" and end["finite"]
    assert end["iterations"] == 6 + 3 * 4  # nothing before the backup lost
    # Every epoch finished once, in order, across the two runs.
    assert _epochs_in_csv(tmp_path) == [0, 1, 2, 3]
    assert not (tmp_path / "backup").exists()
