"""Adversarial DropConnect on recurrent kernels (the authors' PTB target)."""

import keras
from keras import ops

from keras_adrop import arguments
from keras_adrop import masks as masks_lib
from keras_adrop.regularizers.base import Penalty
from keras_adrop.regularizers.base import RecurrentMaskRegularizer


@keras.saving.register_keras_serializable(package="keras_adrop")
class AdversarialDropConnect(RecurrentMaskRegularizer):
    """Adversarial dropout on the DropConnect mask of a recurrent kernel.

    The target of the authors' Penn Treebank code (docs/algorithm.md,
    "Adversarial DropConnect"): instead of a mask on `h_{t-1}` per example,
    one mask for the whole batch on the entries of the layer's
    `recurrent_kernel` (AWD-LSTM's weight drop). Column `j` of the kernel
    (shape `(units, gates * units)`) feeds gate unit `j`; each column may
    lose `floor(delta * units)` of its `units` entries, found by the greedy
    influence-map search of `AdversarialDropout` (a random start flip, then
    K steps), and is rescaled by `units / kept`. The penalty is
    `sum_t lambda_t D[p_t(x) || p_t(x, W_adv)]`, where `p_t(x)` is the base
    pass (with the layer's own random `recurrent_dropconnect` mask, if any)
    and `W_adv` the adversarially masked kernel; every other random draw of
    the pass repeats the base pass (rule 9).

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
        seed: Seed of the start-flip draws.
        name: Metric prefix. Default "adversarial_dropconnect".

    Example:

    ```python
    lstm = keras_adrop.layers.LSTM(200, recurrent_dropconnect=0.5,
                                   return_sequences=True, name="last_lstm")
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
            divergence=divergence, layers=layers, from_logits=from_logits,
            penalty_weight=penalty_weight, rampup_steps=rampup_steps,
            seed=seed, name=name,
        )
        self.delta = arguments.check_number(
            "delta", delta, low=0.0, high=1.0, low_inclusive=False,
            high_inclusive=False,
            what=(" (the fraction of a kernel column's entries the "
                  "adversarial mask may drop)"))
        self.iterations = arguments.check_integer(
            "iterations", iterations, minimum=1, what=" (the paper's K)")
        self.stop_target_gradient = arguments.check_bool(
            "stop_target_gradient", stop_target_gradient)
        self.schedules = []

    def build(self, model):
        self.check_unbound(model)
        self.resolve_layers(model)
        self.schedules = [
            masks_lib.flip_schedule(
                masks_lib.flip_budget(self.delta, layer.units),
                self.iterations)
            for layer in self.layers
        ]
        super().build(model)

    def base_mask_kinds(self):
        # The base pass keeps each layer's own masks on h_{t-1}.
        return {}

    def metric_names(self):
        return super().metric_names() + [
            f"{self.name}_flips_{layer.name}" for layer in self.layers
        ]

    def run_with(self, batch, masks):
        """Runs the batch with per-gate-unit masks `(gates * units, units)`:
        row `j` is column `j` of the kernel."""
        return batch.run(kernel_masks={
            layer: ops.transpose(mask) for layer, mask in masks.items()})

    def adversarial_masks(self, batch):
        """Rules 11-15 per gate unit: dict layer -> `(gates*units, units)`.

        Row `j` is the mask of kernel column `j`; the search of
        `AdversarialDropout` runs with the gate units in the place of the
        examples, from the full kernel.
        """
        target = ops.stop_gradient(batch.outputs)
        current = {}
        for layer in self.layers:
            units, columns = layer.cell.recurrent_kernel.shape
            current[layer] = masks_lib.start_mask(
                ops.ones((columns, units), "float32"), self.seed_generator)
        for k in range(self.iterations):
            counts = [schedule[k] for schedule in self.schedules]
            if not any(counts):
                continue
            influence = batch.gradient(
                lambda masks: self.compare(
                    batch, target, self.run_with(batch, masks)),
                current,
            )
            current = {
                layer: masks_lib.flip(current[layer], influence[layer], count)
                for layer, count in zip(self.layers, counts)
            }
        return {layer: ops.stop_gradient(m) for layer, m in current.items()}

    def penalty(self, batch):
        adversarial = self.adversarial_masks(batch)
        target = batch.outputs
        if self.stop_target_gradient:
            target = ops.stop_gradient(target)
        penalty = self.compare(batch, target,
                               self.run_with(batch, adversarial))
        logs = {f"{self.name}_penalty": penalty}
        for layer, mask in adversarial.items():
            # Mean dropped entries per gate unit (the budget's unit).
            logs[f"{self.name}_flips_{layer.name}"] = ops.mean(
                ops.sum(1.0 - mask, axis=-1))
        return Penalty(penalty, logs)

    def get_config(self):
        return {
            **super().get_config(),
            "delta": self.delta,
            "iterations": self.iterations,
            "stop_target_gradient": self.stop_target_gradient,
        }
