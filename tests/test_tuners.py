"""keras_adrop.tuners: what a search needs installed, and what it reports."""

import sys

import keras
import pytest

from keras_adrop import tuners


@pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                    reason="KerasTuner imports tensorboard under TensorFlow")
def test_a_missing_tensorboard_fails_before_any_trial(monkeypatch):
    monkeypatch.setattr(tuners, "_CLASSES", {})
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    with pytest.raises(ImportError, match=r"tensorboard.*keras_adrop\[tuner\]"):
        tuners.AdversarialDropoutHyperModel(lambda hp: None)


def test_a_missing_keras_tuner_names_the_extra(monkeypatch):
    monkeypatch.setattr(tuners, "_CLASSES", {})
    monkeypatch.setitem(sys.modules, "keras_tuner", None)
    with pytest.raises(ImportError, match=r"six.*keras_adrop\[tuner\]"):
        tuners.AdversarialDropoutHyperModel(lambda hp: None)
