"""The methods registry's knobs: what a method's options are, read from the
regularizers it builds, for every table row and for a registered method."""

import pytest

import keras_adrop
from keras_adrop.regularizers import embedding_perturbations
from keras_adrop.tasks import methods

regularizers = keras_adrop.regularizers
pytestmark = pytest.mark.backend_neutral

ADVERSARIAL = (regularizers.AdversarialDropout,
               embedding_perturbations.EmbeddingPerturbation)


def test_each_table_row_has_the_knobs_of_the_paper():
    """The knobs that the examples' options and replicate.py's search read:
    p for the random masks, kappa or lambda, the budget's kind, epsilon."""
    Knobs = methods.Knobs
    expected = {
        "unregularized": Knobs(),
        "variational": Knobs(recurrent_dropout=True),
        "fraternal": Knobs(recurrent_dropout=True, penalty_weight="kappa"),
        "expectation_linearization": Knobs(recurrent_dropout=True,
                                           penalty_weight="kappa"),
        "last_state_adversarial": Knobs(penalty_weight="lambda",
                                        delta="flips"),
        "adversarial_k1": Knobs(penalty_weight="lambda", delta="flips"),
        "adversarial_k2": Knobs(penalty_weight="lambda", delta="flips"),
        "adversarial_dropconnect": Knobs(penalty_weight="lambda",
                                         delta="dropconnect"),
        "adversarial_training": Knobs(penalty_weight="lambda", epsilon=True),
        "virtual_adversarial": Knobs(penalty_weight="lambda", epsilon=True),
        "adversarial_k1_vat": Knobs(penalty_weight="lambda", delta="flips",
                                    epsilon=True),
        "adversarial_k2_vat": Knobs(penalty_weight="lambda", delta="flips",
                                    epsilon=True),
    }
    assert {name: methods.get_method(name).knobs
            for name in methods.available_methods()} == expected


def _check_knobs_agree_with_regularizers(name):
    spec = methods.get_method(name)
    knobs, built = spec.knobs, spec.regularizers
    # Random masks: the variational rate matters, and a penalty between
    # random-mask passes has them (an adversarial one runs the full network).
    assert knobs.recurrent_dropout == spec.random_recurrent_masks
    ensembles = [r for r in built
                 if isinstance(r, regularizers.RandomMaskEnsemble)]
    assert bool(ensembles) <= spec.random_recurrent_masks
    if spec.random_recurrent_masks:
        assert ensembles == list(built)
    # kappa: penalties between random-mask passes; lambda: adversarial ones.
    if knobs.penalty_weight == "kappa":
        assert ensembles and ensembles == list(built)
    elif knobs.penalty_weight == "lambda":
        assert all(isinstance(r, ADVERSARIAL) for r in built)
    else:
        assert not built
    assert (knobs.delta is not None) == any(hasattr(r, "delta")
                                            for r in built)
    assert knobs.epsilon == any(hasattr(r, "epsilon") for r in built)
    # Every knob reaches the regularizers that take it.
    tuned = methods.get_method(name, penalty_weight=0.37, delta=0.21,
                               epsilon=0.43)
    for regularizer in tuned.regularizers:
        if knobs.penalty_weight:
            assert regularizer.penalty_weight == 0.37
        if hasattr(regularizer, "delta"):
            assert regularizer.delta == 0.21
        if hasattr(regularizer, "epsilon"):
            assert regularizer.epsilon == 0.43


@pytest.mark.parametrize("name", methods.available_methods())
def test_every_method_s_knobs_agree_with_its_regularizers(name):
    _check_knobs_agree_with_regularizers(name)


def test_a_registered_method_gets_its_knobs():
    """`register_method` declares no knobs: they come from what it builds."""
    methods.register_method(
        "test_fraternal_probs",
        lambda o: [methods.make_regularizer(
            regularizers.FraternalDropout, o, "penalty_weight", "seed",
            divergence="squared_probs")],
        random_recurrent_masks=True)
    methods.register_method(
        "test_dropconnect_vat",
        lambda o: [
            methods.make_regularizer(
                regularizers.AdversarialDropConnect, o, "delta",
                "penalty_weight", "seed"),
            methods.make_regularizer(
                regularizers.VirtualAdversarialPerturbation, o, "epsilon",
                "penalty_weight", "seed")])
    try:
        assert methods.get_method("test_fraternal_probs").knobs == (
            methods.Knobs(recurrent_dropout=True, penalty_weight="kappa"))
        assert methods.get_method("test_dropconnect_vat").knobs == (
            methods.Knobs(penalty_weight="lambda", delta="dropconnect",
                          epsilon=True))
        for name in ("test_fraternal_probs", "test_dropconnect_vat"):
            _check_knobs_agree_with_regularizers(name)
    finally:
        methods._REGISTRY.pop("test_fraternal_probs")
        methods._REGISTRY.pop("test_dropconnect_vat")
