"""Issue 13 item 5: the public names, and the deprecated aliases that keep
old code, old configs and old `.keras` files working."""

import warnings

import keras
import numpy as np
import pytest

import keras_adrop
from keras_adrop import layers
from keras_adrop import regularizers

pytestmark = pytest.mark.backend_neutral


def _deprecations(function):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = function()
    return result, [w for w in caught
                    if issubclass(w.category, DeprecationWarning)]


@pytest.mark.parametrize("cls, old", [
    (regularizers.AdversarialDropout, "weight"),
    (regularizers.LastStateAdversarialDropout, "weight"),
    (regularizers.AdversarialPerturbation, "weight"),
    (regularizers.VirtualAdversarialPerturbation, "weight"),
    (regularizers.FraternalDropout, "kappa"),
    (regularizers.ExpectationLinearization, "kappa"),
    (regularizers.FraternalDropout, "weight"),
])
def test_penalty_weight_and_its_deprecated_keywords(cls, old):
    new = cls(penalty_weight=0.5)
    assert new.penalty_weight == 0.5
    config = new.get_config()
    assert config["penalty_weight"] == 0.5
    assert "weight" not in config and "kappa" not in config
    renamed, caught = _deprecations(lambda: cls(**{old: 0.5}))
    assert renamed.penalty_weight == 0.5
    assert len(caught) == 1 and "penalty_weight" in str(caught[0].message)
    _, again = _deprecations(lambda: cls(**{old: 0.7}))
    assert again == []  # once per configuration
    # A config saved before the rename still loads, silently.
    old_config = dict(config)
    old_config[old] = old_config.pop("penalty_weight")
    loaded, caught = _deprecations(lambda: cls.from_config(old_config))
    assert loaded.penalty_weight == 0.5 and caught == []
    with pytest.raises(ValueError, match="`penalty_weight`"):
        cls(**{old: 0.5, "penalty_weight": 0.3})


def test_model_regularizer_and_the_deprecated_regularizer_alias():
    alias, caught = _deprecations(lambda: regularizers.Regularizer)
    assert alias is regularizers.ModelRegularizer
    assert "ModelRegularizer" in str(caught[0].message)
    assert isinstance(regularizers.AdversarialDropout(),
                      regularizers.ModelRegularizer)
    assert "Regularizer" not in regularizers.__all__
    assert "ModelRegularizer" in regularizers.__all__


def test_error_messages_use_penalty_weight():
    with pytest.raises(ValueError, match=r"`penalty_weight` must be .*"
                                         r"Received: penalty_weight=nan"):
        regularizers.FraternalDropout(penalty_weight=float("nan"))
    with pytest.raises(ValueError, match="penalty_weight"):
        regularizers.AdversarialDropout(weight=-1.0)


def test_recurrent_activity_regularization_and_its_old_name(tmp_path):
    layer, caught = _deprecations(
        lambda: layers.ActivationRegularization(alpha=2.0, beta=1.0))
    assert isinstance(layer, layers.RecurrentActivityRegularization)
    assert "RecurrentActivityRegularization" in str(caught[0].message)
    inputs = keras.Input((4, 3))
    h = layers.ActivationRegularization(alpha=2.0)(inputs)
    h = layers.RecurrentActivityRegularization(beta=1.0)(h)
    model = keras.Model(inputs, keras.layers.Dense(1)(h))
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert type(loaded.layers[1]) is layers.ActivationRegularization
    assert type(loaded.layers[2]) is layers.RecurrentActivityRegularization
    assert loaded.layers[1].alpha == 2.0 and loaded.layers[2].beta == 1.0


def test_locked_dropout_is_spatial_dropout_1d(tmp_path):
    old, caught = _deprecations(lambda: layers.LockedDropout(0.5, seed=3))
    assert isinstance(old, keras.layers.SpatialDropout1D)
    assert "SpatialDropout1D" in str(caught[0].message)
    new = keras.layers.SpatialDropout1D(0.5, seed=3)
    x = np.ones((4, 6, 8), "float32")
    # Same draws from the same seed, one mask per sequence.
    np.testing.assert_array_equal(old(x, training=True),
                                  new(x, training=True))
    # Masking is propagated and the noise state is a layer variable (the
    # training step rewinds it between passes, docs/algorithm.md rule 9).
    assert old.supports_masking and new.supports_masking
    assert [v.path.split("/")[-1] for v in old.non_trainable_variables] == [
        "seed_generator_state"]
    inputs = keras.Input((6, 8))
    h = layers.LockedDropout(0.25, seed=1)(inputs)
    model = keras.Model(inputs, h)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert type(loaded.layers[1]) is layers.LockedDropout
    assert loaded.layers[1].rate == 0.25 and loaded.layers[1].seed == 1
    # An old config (with `trainable`) still loads.
    restored = layers.LockedDropout.from_config(
        {"name": "locked", "trainable": True, "dtype": "float32",
         "rate": 0.4, "seed": None})
    assert restored.rate == 0.4


def test_readme_lists_the_new_names_and_the_aliases():
    import pathlib

    readme = (pathlib.Path(__file__).parents[1] / "README.md").read_text()
    for name in ("ModelRegularizer", "RecurrentActivityRegularization",
                 "SpatialDropout1D", "penalty_weight"):
        assert name in readme
    assert keras_adrop.layers.RecurrentActivityRegularization
