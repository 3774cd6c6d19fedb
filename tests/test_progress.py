"""The progress bar of `fit` shows `loss` first and
`skipped_steps` only when a step was skipped; the logs keep every key."""

import re
import warnings

import keras
import numpy as np
import pytest

import keras_adrop
from keras_adrop import layers
from keras_adrop.training.progress import display_order

STEPS, FEATURES, CLASSES = 5, 2, 3


def _model():
    inputs = keras.Input((STEPS, FEATURES))
    h = layers.LSTM(8, seed=1)(inputs)
    model = keras_adrop.AdversarialDropoutModel(
        inputs, keras.layers.Dense(CLASSES)(h), delta=0.25, seed=1,
        max_consecutive_skips=3)
    model.compile("adam",
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


def _data():
    rng = np.random.RandomState(0)
    return (rng.rand(32, STEPS, FEATURES).astype("float32"),
            rng.randint(0, CLASSES, size=32))


def _shown(line):
    """The names in a progress line, in order."""
    return re.findall(r" - ([a-z_]+): ", line)


@pytest.mark.backend_neutral
def test_loss_comes_first_and_skipped_steps_only_when_a_step_was_skipped(
        capsys):
    model = _model()
    x, y = _data()
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=2,
                        validation_data=(x, y)).history
    lines = [l for l in capsys.readouterr().out.splitlines() if "loss" in l]
    assert len(lines) == 2
    for line in lines:
        names = _shown(line)
        assert names[0] == "loss" and "skipped_steps" not in names, line
        assert names.index("val_loss") == names.index("accuracy") + 4
        assert names[names.index("val_loss"):] == ["val_loss",
                                                   "val_accuracy"]
    # The logs keep every key at every epoch (History, CSVLogger).
    assert history["skipped_steps"] == [0.0, 0.0]
    x[9, 1, 1] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        model.fit(x, y, batch_size=8, epochs=1, verbose=2, shuffle=False)
    line = [l for l in capsys.readouterr().out.splitlines() if "loss" in l]
    assert "skipped_steps: 1.0000" in line[0]
    assert _shown(line[0])[0] == "loss"


@pytest.mark.backend_neutral
def test_keras_own_progress_bar_or_silence_when_asked(capsys):
    model = _model()
    x, y = _data()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert capsys.readouterr().out == ""
    own = keras.callbacks.ProgbarLogger()
    model.fit(x, y, batch_size=8, epochs=1, verbose=2, callbacks=[own])
    line = [l for l in capsys.readouterr().out.splitlines() if "loss" in l]
    assert _shown(line[0])[0] == "accuracy"  # Keras sorts by name
    assert "skipped_steps" in _shown(line[0])


def test_display_order():
    logs = {"accuracy": 0.5, "adversarial_dropout_penalty": 0.1,
            "loss": 1.0, "skipped_steps": 0.0, "supervised_loss": 0.9,
            "val_accuracy": 0.4, "val_loss": 1.1}
    assert list(display_order(logs)) == [
        "loss", "accuracy", "adversarial_dropout_penalty",
        "supervised_loss", "val_loss", "val_accuracy"]
    assert "skipped_steps" in display_order({**logs, "skipped_steps": 2.0})
    assert display_order(None) is None
