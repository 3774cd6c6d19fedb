"""Adversarial DropConnect on recurrent kernels (the authors' PTB target)."""

import keras
from keras import ops

from keras_adrop import arguments
from keras_adrop.regularizers.adversarial_dropout import AdversarialDropout


@keras.saving.register_keras_serializable(package="keras_adrop")
class AdversarialDropConnect(AdversarialDropout):
    """Adversarial dropout on the DropConnect mask of a recurrent kernel.

    The target of the authors' Penn Treebank code (docs/algorithm.md, rules
    16-18): instead of a mask on `h_{t-1}` per example, one mask for the
    whole batch on the entries of the layer's `recurrent_kernel` (AWD-LSTM's
    weight drop). Column `j` of the kernel (shape `(units, gates * units)`)
    feeds gate unit `j`; each column may lose `floor(delta * units)` of its
    `units` entries, found by the greedy influence-map search of
    `AdversarialDropout` with the gate units in the place of the examples
    (a random start drop, then K steps), and is rescaled by
    `units / kept`. The penalty is
    `sum_t lambda_t D[p_t(x) || p_t(x, W_adv)]`, where `p_t(x)` is the base
    pass, which runs the attacked layer with its full kernel (its own
    random `recurrent_dropconnect` mask is not applied, as in the authors'
    code), and `W_adv` the adversarially masked kernel; every other random
    draw of the pass repeats the base pass (rule 9).

    The mask is one matrix, so `LSTM` and `GRU` keep their fused kernel
    (cuDNN) in every pass of the step, unlike a mask on `h_{t-1}`.

    Args:
        delta: Fraction of the entries of each kernel column (of `units`)
            the adversarial mask may drop, in (0, 1); `floor(delta * units)`
            must be >= 1. Default 0.06, the authors' PTB setting.
        iterations: K, the number of influence-map/flip steps. Default 1.
        penalty_weight: lambda, the penalty's weight in the loss, a finite
            number >= 0. Default 1.0.
        rampup_steps: Optional ramp-up of the weight (see
            `ModelRegularizer`).
        divergence: A name of `keras_adrop.divergences.DIVERGENCES`;
            default (None): read from the compiled loss. The authors use
            "squared_logits".
        stop_target_gradient: Hold `p(x)` of the base pass constant in the
            penalty. Default True.
        layers: Names of the attacked layers (default: every keras_adrop
            recurrent layer of the model; the authors attack the last one).
        from_logits: Whether the model outputs logits; default: read from
            the compiled loss.
        seed: Seed of the start-drop draws.
        name: Metric prefix. Default "adversarial_dropconnect".

    Example:

    ```python
    lstm = keras_adrop.layers.LSTM(200, return_sequences=True,
                                   name="last_lstm")
    ...
    model = keras_adrop.RegularizedModel(
        inputs, logits,
        regularizers=[keras_adrop.regularizers.AdversarialDropConnect(
            delta=0.06, penalty_weight=0.1, divergence="squared_logits",
            layers=["last_lstm"])],
    )
    ```
    """

    def __init__(
        self,
        delta=0.06,
        iterations=1,
        penalty_weight=1.0,
        rampup_steps=0,
        divergence=None,
        stop_target_gradient=True,
        layers=None,
        from_logits=None,
        seed=None,
        name="adversarial_dropconnect",
    ):
        super().__init__(
            delta=delta, iterations=iterations,
            penalty_weight=penalty_weight, rampup_steps=rampup_steps,
            divergence=divergence, stop_target_gradient=stop_target_gradient,
            layers=layers, from_logits=from_logits, seed=seed, name=name,
        )

    def base_mask_kinds(self):
        # The base pass keeps each layer's own masks on h_{t-1}.
        return {}

    def base_masks(self, batch_size):
        return {}

    def build(self, model):
        super().build(model)
        for layer in self.layers:
            if layer.cell.recurrent_dropconnect:
                arguments.warn_once(
                    ("unused_dropconnect", self.name, layer.name,
                     layer.cell.recurrent_dropconnect),
                    f"Layer '{layer.name}' has recurrent_dropconnect="
                    f"{layer.cell.recurrent_dropconnect}, but "
                    "AdversarialDropConnect runs the layers it attacks with "
                    "their full kernel in the base pass (as the authors' "
                    "code) and with the adversarial mask in its own passes, "
                    "so the rate is not used.",
                    stacklevel=3,
                )

    def base_kernel_masks(self):
        # Rule 18: the attacked layers run their full kernel in the base
        # pass (and so in the supervised loss), as the authors do.
        return {layer: None for layer in self.layers}

    def eps0(self, batch, layer):
        """The full kernel, one row per gate unit: `(gates*units, units)`."""
        units, columns = layer.cell.recurrent_kernel.shape
        return ops.ones((columns, units), "float32")

    def run_with(self, batch, masks):
        """Runs the batch with per-gate-unit masks: row `j` of a mask is
        column `j` of the kernel."""
        return batch.run(kernel_masks={
            layer: ops.transpose(mask) for layer, mask in masks.items()})

    def get_config(self):
        config = super().get_config()
        del config["base_mask"]
        return config
