"""Adversarial and virtual adversarial training on embeddings.

Miyato, Dai & Goodfellow (ICLR 2017), as the RNN adversarial-dropout paper
uses them on IMDB (docs/regularizers.md): a perturbation of the word
vectors with L2 norm `epsilon` per example over (time, features), padded
steps excluded. Both need `keras_adrop.layers.Embedding` in the model.
"""

import keras
from keras import ops

from keras_adrop import arguments
from keras_adrop.layers.embedding import Embedding
from keras_adrop.regularizers.base import ModelRegularizer
from keras_adrop.regularizers.base import Penalty
from keras_adrop.regularizers.base import layers_of_type
from keras_adrop.regularizers.base import select_layers
from keras_adrop import divergences


def _adding(perturbation):
    def add(vectors, mask):
        return vectors + ops.cast(perturbation, vectors.dtype)
    return add


def normalize_per_example(values, mask):
    """`values / ||values||_2` per example over (time, features).

    Padded steps (`mask` False) are set to 0 and do not count. Scaling by
    the largest entry first keeps small gradients from underflowing.
    """
    dtype = values.dtype
    values = ops.cast(values, "float32")  # float16 underflows and overflows
    values = values * ops.cast(mask, "float32")[..., None]
    axes = tuple(range(1, len(values.shape)))
    values = values / (1e-12 + ops.max(ops.abs(values), axis=axes,
                                       keepdims=True))
    norm = ops.sqrt(1e-6 + ops.sum(ops.square(values), axis=axes,
                                   keepdims=True))
    return ops.cast(values / norm, dtype)


class EmbeddingPerturbation(ModelRegularizer):
    """Base of the embedding perturbations: finds the Embedding layers.

    Miyato et al. normalize the embeddings (zero mean, unit variance,
    weighted by word frequency) so that `epsilon=5.0` means the same for
    every model; `keras_adrop.layers.Embedding` does not, so scale
    `epsilon` to the norm of your word vectors.

    Args:
        epsilon: L2 norm of the perturbation per example. Default 5.0.
        layers: Names of the perturbed `keras_adrop.layers.Embedding` layers
            (default: all of them).
        from_logits: Whether outputs are logits (default: from the loss).
        penalty_weight, rampup_steps, seed, name: As `ModelRegularizer`.
    """

    def __init__(self, epsilon=5.0, layers=None, from_logits=None, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = arguments.check_number(
            "epsilon", epsilon, low=0.0, low_inclusive=False)
        self.layer_names = arguments.check_names("layers", layers)
        self.from_logits = arguments.check_bool(
            "from_logits", from_logits, allow_none=True,
            what=" (None: read from the compiled loss)")
        self.layers = []

    def build(self, model):
        self.check_unbound(model)
        available = layers_of_type(
            model, Embedding, "a keras_adrop.layers.Embedding layer"
        )
        self.layers = select_layers(
            available, self.layer_names, "keras_adrop Embedding"
        )
        super().build(model)

    def perturbation_gradients(self, batch, objective, starts):
        """Gradient of `objective(outputs)` w.r.t. a perturbation per layer.

        Args:
            batch: The `TrainingBatch`.
            objective: Callable outputs -> scalar.
            starts: dict layer -> the perturbation added to that layer's
                output (shaped like it), at which the gradient is taken.

        Returns:
            dict layer -> gradient, shaped like the layer's output (zero at
            padded steps, which no output depends on), a constant.
        """
        def perturbed_objective(perturbations):
            return objective(batch.run(perturbations={
                layer: _adding(r) for layer, r in perturbations.items()}))

        gradients = batch.gradient(perturbed_objective, starts)
        return {layer: ops.stop_gradient(g) for layer, g in gradients.items()}

    def observed_embeddings(self):
        return list(self.layers)

    def perturbed_layers(self, batch):
        """`(layer, shape, padding mask)` of each layer the base pass ran."""
        return [(layer, *batch.embeddings[layer]) for layer in self.layers
                if layer in batch.embeddings]

    def run_perturbed(self, batch, directions):
        """Runs the batch with `epsilon * direction / ||direction||` added."""
        def add(layer):
            def perturb(vectors, mask):
                r = self.epsilon * normalize_per_example(
                    ops.cast(directions[layer], vectors.dtype), mask)
                return vectors + ops.stop_gradient(r)
            return perturb

        return batch.run(perturbations={
            layer: add(layer) for layer in self.layers})

    def get_config(self):
        return {
            **super().get_config(),
            "epsilon": self.epsilon,
            "layers": self.layer_names,
            "from_logits": self.from_logits,
        }


@keras.saving.register_keras_serializable(package="keras_adrop")
class AdversarialPerturbation(EmbeddingPerturbation):
    """Adversarial training on the word embeddings (Miyato et al., 2017).

    The perturbation `r_adv = epsilon * g / ||g||_2`, with `g` the gradient of
    the supervised loss with respect to the embedding output (per example,
    over time and features, padded steps excluded); the penalty is the
    supervised loss on `embedding + r_adv`. Labeled batches only.

    Args:
        epsilon: Norm of the perturbation. Default 5.0.
        penalty_weight: Weight of the adversarial loss. Default 1.0.
        layers, from_logits, rampup_steps, seed: As `EmbeddingPerturbation`.
        name: Default "adversarial_perturbation".

    Example:

    ```python
    model = keras_adrop.RegularizedModel(
        inputs, outputs,
        regularizers=[keras_adrop.regularizers.AdversarialPerturbation()],
    )
    ```
    """

    def __init__(self, epsilon=5.0, penalty_weight=1.0, layers=None,
                 from_logits=None, rampup_steps=0, seed=None,
                 name="adversarial_perturbation"):
        super().__init__(epsilon=epsilon, layers=layers,
                         from_logits=from_logits,
                         penalty_weight=penalty_weight,
                         rampup_steps=rampup_steps, seed=seed, name=name)

    def penalty(self, batch):
        if batch.y is None:
            return Penalty(None, {})  # no labels: nothing to be adversarial against
        gradients = self.perturbation_gradients(
            batch, batch.supervised_loss,
            {layer: ops.zeros(shape, layer.compute_dtype)
             for layer, shape, _ in self.perturbed_layers(batch)},
        )
        penalty = batch.supervised_loss(self.run_perturbed(batch, gradients))
        return Penalty(penalty, {f"{self.name}_penalty": penalty})


@keras.saving.register_keras_serializable(package="keras_adrop")
class VirtualAdversarialPerturbation(EmbeddingPerturbation):
    """Virtual adversarial training on the word embeddings (Miyato et al.).

    Needs no labels. From a random direction `d` (normal, padded steps
    zeroed), `power_iterations` steps of `d <- grad_r KL(p(x) || p(x + r))`
    at `r = xi * d / ||d||` find the most sensitive direction; the penalty
    is `KL(p(x) || p(x + epsilon * d / ||d||))`, the target `p(x)` (the base
    pass) held constant, weighted over steps as docs/algorithm.md rule 6 (the last
    step of a classifier).

    Args:
        epsilon: Norm of the perturbation. Default 5.0.
        xi: Norm of the probe perturbation of the power iteration. Default
            0.1.
        power_iterations: Default 1.
        penalty_weight, layers, from_logits, rampup_steps, seed: As
            `EmbeddingPerturbation`.
        name: Default "virtual_adversarial_perturbation".

    Example:

    ```python
    model = keras_adrop.RegularizedModel(
        inputs, outputs,
        regularizers=[
            keras_adrop.regularizers.AdversarialDropout(iterations=2),
            keras_adrop.regularizers.VirtualAdversarialPerturbation(),
        ],
    )
    ```
    """

    def __init__(self, epsilon=5.0, xi=0.1, power_iterations=1,
                 penalty_weight=1.0, layers=None, from_logits=None,
                 rampup_steps=0, seed=None,
                 name="virtual_adversarial_perturbation"):
        super().__init__(epsilon=epsilon, layers=layers,
                         from_logits=from_logits,
                         penalty_weight=penalty_weight,
                         rampup_steps=rampup_steps, seed=seed, name=name)
        self.xi = arguments.check_number("xi", xi, low=0.0,
                                         low_inclusive=False)
        self.power_iterations = arguments.check_integer(
            "power_iterations", power_iterations, minimum=1)

    def _kl(self, batch, outputs):
        return divergences.weighted_divergence(
            "kl", ops.stop_gradient(batch.outputs), outputs,
            self.outputs_are_logits(batch.model), batch.step_weights,
        )

    def penalty(self, batch):
        layers = self.perturbed_layers(batch)
        # The first power iteration starts from a random direction.
        directions = {
            layer: keras.random.normal(shape, seed=self.seed_generator)
            for layer, shape, _ in layers
        }
        for _ in range(self.power_iterations):
            probes = {
                layer: self.xi * normalize_per_example(
                    ops.cast(directions[layer], layer.compute_dtype), mask)
                for layer, _, mask in layers
            }
            directions = self.perturbation_gradients(
                batch, lambda outputs: self._kl(batch, outputs), probes)
        penalty = self._kl(batch, self.run_perturbed(batch, directions))
        return Penalty(penalty, {f"{self.name}_penalty": penalty})

    def get_config(self):
        return {
            **super().get_config(),
            "xi": self.xi,
            "power_iterations": self.power_iterations,
        }

