"""Trains a small AdversarialDropoutModel that survives being killed.

A helper of tests/test_safe_runs.py, run as a script:

    python tests/workers/resumable_fit.py WORKDIR [--pause-after-step N]

4 epochs of 4 steps with `keras.callbacks.BackupAndRestore(WORKDIR/backup,
save_freq=3)` (a backup every 3 steps, so also mid-epoch) and a
`keras.callbacks.CSVLogger(WORKDIR/epochs.csv, append=True)`. Run it again
with the same WORKDIR after it was killed, and it resumes from its last
backup. It appends one JSON line per event to WORKDIR/events.jsonl (the
training start, each epoch start, each step with the optimizer's step count
and a checksum of the weights, the end). `--pause-after-step N` writes
WORKDIR/paused after optimizer step N and then sleeps, waiting to be
killed, so that the kill lands at a known step.
"""

import argparse
import json
import os
import pathlib
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_adrop  # noqa: E402

EPOCHS, BATCH_SIZE, EXAMPLES, SAVE_FREQ = 4, 16, 64, 3


def checksum(model):
    return float(sum(np.sum(w, dtype=np.float64) for w in model.get_weights()))


class EventLog(keras.callbacks.Callback):
    """Appends what happens to a JSON-lines file, flushed at every line."""

    def __init__(self, path, pause_after_step=None, paused_marker=None):
        super().__init__()
        self.path = path
        self.pause_after_step = pause_after_step
        self.paused_marker = paused_marker

    def write(self, **event):
        with open(self.path, "a") as f:
            f.write(json.dumps(event) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def iterations(self):
        return int(self.model.optimizer.iterations.numpy())

    def on_train_begin(self, logs=None):
        # Runs after BackupAndRestore's (it comes first in the list): the
        # state it sees is the restored one.
        self.write(event="begin", iterations=self.iterations(),
                   checksum=checksum(self.model))

    def on_epoch_begin(self, epoch, logs=None):
        self.write(event="epoch", epoch=epoch)

    def on_train_batch_end(self, batch, logs=None):
        step = self.iterations()
        self.write(event="step", batch=batch, iterations=step,
                   checksum=checksum(self.model))
        if step == self.pause_after_step:
            self.paused_marker.write_text(str(os.getpid()))
            time.sleep(600)  # until the test kills this process

    def on_train_end(self, logs=None):
        finite = all(np.isfinite(w).all() for w in self.model.get_weights())
        self.write(event="end", iterations=self.iterations(),
                   checksum=checksum(self.model), finite=bool(finite))


def build():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6, 2))
    hidden = keras_adrop.layers.LSTM(8, name="lstm")(inputs)
    model = keras_adrop.AdversarialDropoutModel(
        inputs, keras.layers.Dense(3)(hidden), delta=0.25, iterations=1,
        seed=1)
    model.compile(keras.optimizers.Adam(0.01),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir", type=pathlib.Path)
    parser.add_argument("--pause-after-step", type=int)
    args = parser.parse_args(argv)
    rng = np.random.RandomState(0)
    x = rng.randn(EXAMPLES, 6, 2).astype("float32")
    y = np.digitize(x[:, :, 0].sum(1), [-1.0, 1.0]).astype("int32")
    model = build()
    model.fit(
        x, y, batch_size=BATCH_SIZE, epochs=EPOCHS, shuffle=False, verbose=0,
        callbacks=[
            keras.callbacks.BackupAndRestore(
                str(args.workdir / "backup"), save_freq=SAVE_FREQ),
            keras.callbacks.CSVLogger(
                str(args.workdir / "epochs.csv"), append=True),
            EventLog(args.workdir / "events.jsonl", args.pause_after_step,
                     args.workdir / "paused"),
        ])


if __name__ == "__main__":
    main()
