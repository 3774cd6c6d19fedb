"""keras_adrop.tuners: what a search needs installed, and what it reports."""

import importlib
import sys

import keras
import numpy as np
import pytest

import keras_adrop

tuners = pytest.importorskip("keras_adrop.tuners")


def _import_without(monkeypatch, module):
    """Imports keras_adrop.tuners afresh while `module` cannot be imported."""
    monkeypatch.delitem(sys.modules, "keras_adrop.tuners")
    monkeypatch.delattr(keras_adrop, "tuners", raising=False)
    monkeypatch.setitem(sys.modules, module, None)
    return importlib.import_module("keras_adrop.tuners")


@pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                    reason="KerasTuner imports tensorboard under TensorFlow")
def test_a_missing_tensorboard_fails_before_any_trial(monkeypatch):
    with pytest.raises(ImportError, match=r"tensorboard.*keras_adrop\[tuner\]"):
        _import_without(monkeypatch, "tensorboard")


def test_a_missing_keras_tuner_names_the_extra(monkeypatch):
    with pytest.raises(ImportError, match=r"six.*keras_adrop\[tuner\]"):
        _import_without(monkeypatch, "keras_tuner")
    # Through the package's lazy attribute, the same message.
    with pytest.raises(ImportError,
                       match=r"pip install .keras_adrop\[tuner\]"):
        keras_adrop.tuners


@pytest.mark.backend_neutral
def test_the_hypermodel_is_one_module_level_class():
    import keras_tuner

    cls = tuners.AdversarialDropoutHyperModel
    assert cls.__module__ == "keras_adrop.tuners"
    assert cls.__qualname__ == "AdversarialDropoutHyperModel"
    assert issubclass(cls, keras_tuner.HyperModel)
    assert importlib.import_module("keras_adrop.tuners") is tuners


def _build(hp):
    model = keras.Sequential([
        keras.Input((5, 2)),
        keras.layers.GRU(hp.Choice("units", [8, 12])),
        keras.layers.Dense(1),
    ])
    model.compile("adam", "mse")
    return model


def _fixed(**values):
    import keras_tuner

    hp = keras_tuner.HyperParameters()
    for name, value in values.items():
        hp.Fixed(name, value)
    return hp


@pytest.mark.backend_neutral
def test_each_width_samples_flips_over_its_own_range():
    pytest.importorskip("keras_tuner")
    hypermodel = tuners.AdversarialDropoutHyperModel(
        _build, delta_range=(0.1, 0.5), iterations_range=(1, 2))
    hp = _fixed(units=8)
    model = hypermodel.build(hp)
    ranges = {p.name: (p.min_value, p.max_value) for p in hp.space
              if p.name.startswith("flips")}
    assert ranges == {"flips": (1, 4)}  # floor(0.5 * 8) = 4
    assert model.adversarial_dropout.delta == pytest.approx(1 / 8)
    keras.backend.clear_session()
    hp = _fixed(units=12)
    model = hypermodel.build(hp)
    ranges = {p.name: (p.min_value, p.max_value) for p in hp.space
              if p.name.startswith("flips")}
    assert ranges == {"flips_12_units": (2, 6)}  # ceil(1.2), floor(6.0)
    assert model.adversarial_dropout.delta == pytest.approx(2 / 12)
    keras.backend.clear_session()
    model = hypermodel.build(_fixed(units=12, flips_12_units=6))
    assert model.adversarial_dropout.delta == pytest.approx(0.5)
    assert hypermodel.flips_range_of(12) == (2, 6)
    keras.backend.clear_session()
    # A given `units` fixes one range for every width (the old reading).
    given = tuners.AdversarialDropoutHyperModel(
        _build, delta_range=(0.1, 0.5), units=8)
    hp = _fixed(units=12)
    given.build(hp)
    assert [p.name for p in hp.space if p.name.startswith("flips")] == [
        "flips"]


@pytest.mark.backend_neutral
def test_the_trial_records_the_steps_that_run(tmp_path):
    keras_tuner = pytest.importorskip("keras_tuner")
    hypermodel = tuners.AdversarialDropoutHyperModel(
        _build, delta_range=(0.1, 0.3), iterations_range=(1, 3))
    model = hypermodel.build(_fixed(units=8, flips=2, iterations=3))
    assert model.adversarial_dropout.iterations == 1
    # Through a real search: every trial's values carry the K_eff it ran.
    rng = np.random.default_rng(0)
    x = rng.random((16, 5, 2)).astype("float32")
    y = x[:, -1, :1]
    tuner = keras_tuner.RandomSearch(
        hypermodel, objective="val_loss", max_trials=3, seed=0,
        directory=str(tmp_path), project_name="k_eff")
    tuner.search(x, y, epochs=1, validation_split=0.25, verbose=0)
    trials = tuner.oracle.get_best_trials(3)
    assert len(trials) == 3
    for trial in trials:
        values = trial.hyperparameters.values
        name = "flips" if values["units"] == 8 else "flips_12_units"
        assert trial.metrics.get_last_value("K_eff") == (
            tuners.effective_iterations(values[name], values["iterations"]))
        # The flips and delta that ran, whichever width the trial built.
        assert trial.metrics.get_last_value("flips") == values[name]
        assert trial.metrics.get_last_value("delta") == pytest.approx(
            values[name] / values["units"])
        assert "K_eff" not in values  # not a search dimension
    # Distinct samples stay distinct (the values KerasTuner hashes).
    assert len({tuple(sorted(t.hyperparameters.values.items()))
                for t in trials}) == 3
