"""The public names: one name for each thing, no deprecated aliases."""

import keras
import pytest

import keras_adrop
from keras_adrop import layers
from keras_adrop import regularizers

pytestmark = pytest.mark.backend_neutral

REGULARIZERS = [regularizers.AdversarialDropout,
                regularizers.LastStateAdversarialDropout,
                regularizers.AdversarialDropConnect,
                regularizers.AdversarialPerturbation,
                regularizers.VirtualAdversarialPerturbation,
                regularizers.FraternalDropout,
                regularizers.ExpectationLinearization]


@pytest.mark.parametrize("cls", REGULARIZERS, ids=lambda c: c.__name__)
def test_every_regularizer_takes_its_weight_as_penalty_weight_only(cls):
    regularizer = cls(penalty_weight=0.5)
    assert regularizer.penalty_weight == 0.5
    config = regularizer.get_config()
    assert config["penalty_weight"] == 0.5
    assert "weight" not in config and "kappa" not in config
    assert cls.from_config(config).penalty_weight == 0.5
    for old in ("weight", "kappa"):
        with pytest.raises(TypeError, match=old):
            cls(**{old: 0.5})
        assert not hasattr(regularizer, old)


def test_the_removed_aliases_are_gone():
    assert isinstance(regularizers.AdversarialDropout(),
                      regularizers.ModelRegularizer)
    for module, name in [(regularizers, "Regularizer"),
                         (layers, "ActivationRegularization"),
                         (layers, "LockedDropout"),
                         (keras_adrop.tasks.language_modeling, "TiedDecoder")]:
        assert not hasattr(module, name), name
    for name in ("Regularizer", "ActivationRegularization", "LockedDropout",
                 "TiedDecoder"):
        assert keras.saving.get_registered_object(
            f"keras_adrop>{name}") is None, name


def test_error_messages_use_penalty_weight():
    with pytest.raises(ValueError, match=r"`penalty_weight` must be .*"
                                         r"Received: penalty_weight=nan"):
        regularizers.FraternalDropout(penalty_weight=float("nan"))
