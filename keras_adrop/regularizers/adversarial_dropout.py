"""Adversarial dropout on the recurrent connections (Park et al., 2019)."""

import keras
from keras import ops

from keras_adrop import arguments
from keras_adrop.regularizers import adversarial_search
from keras_adrop.regularizers.base import RecurrentMaskRegularizer
from keras_adrop.regularizers.base import Penalty


BASE_MASKS = ("expectation", "random")


@keras.saving.register_keras_serializable(package="keras_adrop")
class AdversarialDropout(RecurrentMaskRegularizer):
    """Adversarial dropout on the recurrent connections (Park et al., 2019).

    Penalty `R = sum_t lambda_t D[p_t(x, eps0) || p_t(x, eps_adv)]`, where
    `eps_adv` is the recurrent mask within `floor(delta * units)` flips of
    `eps0` that the greedy influence-map search finds most damaging
    (docs/algorithm.md, "One training step"). Each adversarial layer has its own mask and
    budget; one influence-map pass serves all of them.

    Args:
        delta: Fraction of a layer's units the adversarial mask may flip,
            in (0, 1); `floor(delta * units)` must be >= 1. Default 0.03.
        iterations: K, the number of influence-map/flip steps. Default 1.
        penalty_weight: lambda, the penalty's weight in the loss, a finite
            number >= 0. Default 1.0.
        rampup_steps: Optional ramp-up of the weight (see
            `ModelRegularizer`).
        divergence: "kl", "reverse_kl", "binary_kl", "squared_logits",
            "squared_probs" or "squared_error"; default (None): read from
            the compiled loss (`keras_adrop.divergences.divergence_for_loss`:
            KL for cross-entropies, squared error for regression losses).
        base_mask: "expectation" (default; eps0 = all ones, the full
            network) or "random" (eps0 a fresh variational mask with each
            layer's `recurrent_dropout` rate).
        stop_target_gradient: Hold `p(x, eps0)` constant in the penalty.
            Default True.
        layers: Names of the adversarial layers (default: every keras_adrop
            recurrent layer of the model).
        from_logits: Whether the model outputs logits; default: read from
            the compiled loss.
        seed: Seed of the start-mask draws.
        name: Metric prefix. Default "adversarial_dropout".

    Example:

    ```python
    model = keras_adrop.RegularizedModel(
        inputs, outputs,
        regularizers=[keras_adrop.regularizers.AdversarialDropout(delta=0.03)],
    )
    ```
    """

    def __init__(
        self,
        delta=0.03,
        iterations=1,
        penalty_weight=1.0,
        rampup_steps=0,
        divergence=None,
        base_mask="expectation",
        stop_target_gradient=True,
        layers=None,
        from_logits=None,
        seed=None,
        name="adversarial_dropout",
    ):
        super().__init__(
            divergence=divergence, layers=layers, from_logits=from_logits,
            penalty_weight=penalty_weight, rampup_steps=rampup_steps,
            seed=seed, name=name,
        )
        self.delta = adversarial_search.check_delta(delta)
        self.iterations = adversarial_search.check_iterations(iterations)
        self.base_mask = arguments.check_choice(
            "base_mask", base_mask, BASE_MASKS)
        self.stop_target_gradient = arguments.check_bool(
            "stop_target_gradient", stop_target_gradient)
        self.schedules = []

    def build(self, model):
        self.check_unbound(model)
        self.resolve_layers(model)
        kinds = self.base_mask_kinds()
        self.schedules = []
        for layer in self.layers:
            budget = adversarial_search.flip_budget(self.delta, layer.units)
            schedule = adversarial_search.flip_schedule(
                budget, self.iterations)
            self.schedules.append(schedule)
            steps = adversarial_search.effective_iterations(
                budget, self.iterations)
            if self.iterations > 1 and steps < self.iterations:
                arguments.warn_once(
                    ("iterations", type(self).__name__, self.name, layer.name,
                     layer.units, self.delta, self.iterations),
                    f"`iterations`={self.iterations} exceeds the {budget - 1} "
                    f"greedy flips left after the start flip on layer "
                    f"'{layer.name}' ({layer.units} units, delta="
                    f"{self.delta}); steps without a flip are skipped, so "
                    f"this runs like iterations={steps}.",
                    stacklevel=3,
                )
            if self.base_mask == "random" and not layer.recurrent_dropout:
                raise ValueError(
                    "`base_mask='random'` draws eps0 with the layer's "
                    f"recurrent_dropout rate, but layer '{layer.name}' has "
                    "recurrent_dropout=0. Set it, or use "
                    "base_mask='expectation'."
                )
            if kinds.get(layer) == "full" and layer.recurrent_dropout:
                arguments.warn_once(
                    ("unused_rate", type(self).__name__, self.name,
                     layer.name, layer.recurrent_dropout),
                    f"Layer '{layer.name}' has recurrent_dropout="
                    f"{layer.recurrent_dropout}, but with "
                    "base_mask='expectation' adversarial dropout trains it "
                    "as the full network and the rate is not used. Use "
                    "base_mask='random' to train on variational masks.",
                    stacklevel=3,
                )
        super().build(model)

    def metric_names(self):
        return super().metric_names() + [
            f"{self.name}_flips_{layer.name}" for layer in self.layers
        ]

    def base_mask_kinds(self):
        kind = "full" if self.base_mask == "expectation" else "random"
        return {layer: kind for layer in self.layers}

    def base_masks(self, batch_size):
        """Rule 8: eps0 is the full network, or a fresh variational mask.

        A variational base mask is scaled by `1/(1-p)` (rule 2).
        """
        if self.base_mask == "expectation":
            return {layer: None for layer in self.layers}
        return self.variational_masks(batch_size)

    def eps0(self, batch, layer):
        """The base mask the search starts from and counts flips against."""
        return batch.base_mask(layer)

    def run_with(self, batch, masks):
        """Runs the batch with masks found by the search."""
        return batch.run(batch.near_base(masks))

    def adversarial_masks(self, batch):
        """Rules 11-15: the greedy search for eps_adv, one dict per layer."""
        target = ops.stop_gradient(batch.outputs)
        current = {
            layer: adversarial_search.start_mask(
                self.eps0(batch, layer), self.seed_generator
            )
            for layer in self.layers
        }
        for k in range(self.iterations):
            counts = [schedule[k] for schedule in self.schedules]
            if not any(counts):
                continue
            # Rule 12: one pass serves every layer; each example's term
            # depends only on its own mask, so row i is example i's map.
            influence = batch.gradient(
                lambda masks: self.compare(
                    batch, target, self.run_with(batch, masks)),
                current,
            )
            current = {
                layer: adversarial_search.flip(
                    current[layer], influence[layer], count)
                for layer, count in zip(self.layers, counts)
            }
        return {layer: ops.stop_gradient(m) for layer, m in current.items()}

    def penalty(self, batch):
        adversarial = self.adversarial_masks(batch)
        target = batch.outputs
        if self.stop_target_gradient:
            target = ops.stop_gradient(target)
        penalty = self.compare(
            batch, target, self.run_with(batch, adversarial)
        )
        logs = {f"{self.name}_penalty": penalty}
        for layer, mask in adversarial.items():
            flips = ops.sum(ops.abs(mask - self.eps0(batch, layer)), axis=-1)
            logs[f"{self.name}_flips_{layer.name}"] = ops.mean(flips)
        return Penalty(penalty, logs)

    def get_config(self):
        return {
            **super().get_config(),
            "delta": self.delta,
            "iterations": self.iterations,
            "base_mask": self.base_mask,
            "stop_target_gradient": self.stop_target_gradient,
        }


@keras.saving.register_keras_serializable(package="keras_adrop")
class LastStateAdversarialDropout(AdversarialDropout):
    """Adversarial dropout on the last hidden state (Park et al., AAAI 2018).

    The feed-forward version of adversarial dropout, applied to what a
    many-to-one recurrent layer returns (its final hidden state) rather than
    to `h_{t-1}` inside the recurrence: the "AdD on the last hidden state"
    row of the RNN paper's IMDB table. The search is the same (budget
    `floor(delta * units)`, one random start flip, K greedy influence-map
    steps); the base mask is the full state (all ones) and the adversarial
    mask is rescaled by `units / kept`.

    Args:
        delta, iterations, penalty_weight, rampup_steps, divergence,
        stop_target_gradient, from_logits, seed: As `AdversarialDropout`.
        layers: Names of the layers whose output is masked (default: every
            keras_adrop recurrent layer with `return_sequences=False`).
        name: Default "last_state_adversarial_dropout".

    Example:

    ```python
    model = keras_adrop.RegularizedModel(
        inputs, outputs,
        regularizers=[
            keras_adrop.regularizers.LastStateAdversarialDropout(delta=0.05)
        ],
    )
    ```
    """

    def __init__(self, delta=0.03, iterations=1, penalty_weight=1.0,
                 rampup_steps=0, divergence=None, stop_target_gradient=True,
                 layers=None, from_logits=None, seed=None,
                 name="last_state_adversarial_dropout", base_mask=None):
        if base_mask is not None:
            arguments.check_choice(
                "base_mask", base_mask, ("expectation",),
                " (LastStateAdversarialDropout searches near the full "
                "state)")
        super().__init__(
            delta=delta, iterations=iterations,
            penalty_weight=penalty_weight, rampup_steps=rampup_steps,
            divergence=divergence,
            stop_target_gradient=stop_target_gradient, layers=layers,
            from_logits=from_logits, seed=seed, name=name,
        )

    def resolve_layers(self, model):
        super().resolve_layers(model)
        if self.layer_names is None:
            self.layers = [
                layer for layer in self.layers if not layer.return_sequences
            ]
            if not self.layers:
                raise ValueError(
                    "LastStateAdversarialDropout needs a keras_adrop "
                    "recurrent layer with return_sequences=False (its last "
                    f"hidden state); model '{model.name}' has none."
                )

    def base_mask_kinds(self):
        return {}

    def base_masks(self, batch_size):
        return {}

    def eps0(self, batch, layer):
        return ops.ones((batch.batch_size, layer.units), dtype="float32")

    def run_with(self, batch, masks):
        return batch.run(outputs=masks)

    def get_config(self):
        config = super().get_config()
        config.pop("base_mask")
        return config
