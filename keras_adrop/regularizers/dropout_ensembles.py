"""Dropout-ensemble penalties with random recurrent masks.

Both compare outputs of the same network under different recurrent masks
(docs/regularizers.md); they differ in which two networks they compare.
"""


import keras

from keras_adrop import arguments
from keras_adrop.regularizers.base import Penalty
from keras_adrop.regularizers.base import RecurrentMaskRegularizer


def _warn_if_no_recurrent_dropout(regularizer):
    if not any(layer.recurrent_dropout for layer in regularizer.layers):
        arguments.warn_once(
            ("no_recurrent_dropout", type(regularizer).__name__,
             regularizer.name,
             tuple(layer.name for layer in regularizer.layers)),
            f"{type(regularizer).__name__} compares passes that differ only "
            "in their random recurrent masks, but every layer it acts on "
            "has recurrent_dropout=0: its penalty will be 0. Set "
            "recurrent_dropout on those layers (DropConnect, zoneout and "
            "other dropout are replayed alike in both passes).",
            stacklevel=3,
        )


class RandomMaskEnsemble(RecurrentMaskRegularizer):
    """Base of the penalties between passes with random recurrent masks.

    The base pass draws a variational mask per layer (each layer's
    `recurrent_dropout` rate), so the supervised loss is variational
    dropout; a subclass's `penalty` runs the other pass it compares with.

    Args:
        penalty_weight: Weight of the penalty (the papers' kappa).
        divergence, layers, from_logits, rampup_steps, seed, name: As
            `RecurrentMaskRegularizer`.
    """

    def __init__(self, penalty_weight=1.0, divergence="squared_logits",
                 layers=None, from_logits=None, rampup_steps=0, seed=None,
                 name=None):
        super().__init__(divergence=divergence, layers=layers,
                         from_logits=from_logits,
                         penalty_weight=penalty_weight,
                         rampup_steps=rampup_steps, seed=seed, name=name)

    def build(self, model):
        self.check_unbound(model)
        self.resolve_layers(model)
        _warn_if_no_recurrent_dropout(self)
        super().build(model)

    def base_masks(self, batch_size):
        return self.variational_masks(batch_size)


@keras.saving.register_keras_serializable(package="keras_adrop")
class FraternalDropout(RandomMaskEnsemble):
    """Fraternal dropout (Zolna et al., ICLR 2018).

    Two passes with independent random recurrent masks (each layer's
    `recurrent_dropout` rate, one mask per example and sequence). The
    supervised loss is the mean of both passes' losses, and the penalty is
    the mean squared difference of the two outputs' logits (for a
    probability output, of the log-probabilities), weighted over steps and
    examples as docs/algorithm.md rule 6. The target is not held constant: both
    passes receive the gradient.

    Args:
        penalty_weight: Weight of the penalty (the paper's kappa). Default
            0.15 (the authors' code; their PTB model used 0.1).
        divergence: Default "squared_logits"; any name of
            `keras_adrop.divergences`.
        layers: Names of the layers whose masks differ between the passes
            (default: every keras_adrop recurrent layer).
        from_logits: Whether outputs are logits (default: from the loss).
        rampup_steps, seed, name: As `ModelRegularizer`.

    Example:

    ```python
    model = keras_adrop.RegularizedModel(
        inputs, outputs,
        regularizers=[
            keras_adrop.regularizers.FraternalDropout(penalty_weight=0.15)
        ],
    )
    ```
    """

    def __init__(self, penalty_weight=0.15, divergence="squared_logits",
                 layers=None, from_logits=None, rampup_steps=0, seed=None,
                 name="fraternal_dropout"):
        super().__init__(penalty_weight, divergence, layers, from_logits,
                         rampup_steps, seed, name)

    def penalty(self, batch):
        other = batch.run(self.variational_masks(batch.batch_size))
        penalty = self.compare(batch, batch.outputs, other)
        return Penalty(penalty, {f"{self.name}_penalty": penalty},
                       supervised_passes=(other,))


@keras.saving.register_keras_serializable(package="keras_adrop")
class ExpectationLinearization(RandomMaskEnsemble):
    """Expectation-linearization dropout (Ma et al., ICLR 2017).

    The base pass uses random recurrent masks (so the supervised loss is
    variational dropout); the penalty compares its output with the output of
    the network with the expectation of the recurrent mask (no recurrent
    dropout; every other random draw, DropConnect and zoneout included, is
    replayed as in the base pass, docs/algorithm.md rule 9):
    `penalty_weight * sum_t lambda_t D[p(x, E[eps]) || p(x, eps)]`, D the
    mean squared difference of logits by default as in the fraternal-dropout
    authors' code.

    Args:
        penalty_weight: Weight of the penalty (the paper's kappa). Default
            0.25.
        divergence: Default "squared_logits".
        layers, from_logits, rampup_steps, seed, name: As
            `FraternalDropout`.

    Example:

    ```python
    model = keras_adrop.RegularizedModel(
        inputs, outputs,
        regularizers=[keras_adrop.regularizers.ExpectationLinearization()],
    )
    ```
    """

    def __init__(self, penalty_weight=0.25, divergence="squared_logits",
                 layers=None, from_logits=None, rampup_steps=0, seed=None,
                 name="expectation_linearization"):
        super().__init__(penalty_weight, divergence, layers, from_logits,
                         rampup_steps, seed, name)

    def penalty(self, batch):
        full = batch.run({layer: None for layer in self.layers})
        penalty = self.compare(batch, full, batch.outputs)
        return Penalty(penalty, {f"{self.name}_penalty": penalty})
