"""The machinery every regularizer of a `RegularizedModel` shares.

`ModelRegularizer` (the base class), `Penalty` (what it returns for a
batch) and `RecurrentMaskRegularizer` (regularizers of recurrent masks). A
regularizer sees a training step through a
`keras_adrop.training.batch.TrainingBatch`, on any backend.
"""

from typing import NamedTuple

import keras
from keras import ops

from keras_adrop import arguments
from keras_adrop import divergences
from keras_adrop.layers.recurrent import VariationalRNN
from keras_adrop.regularizers.adversarial_search import per_example_uniform

def all_layers(model):
    """Every layer inside `model`, depth first, each once.

    Looks into nested models and wrappers (`Bidirectional`, `TimeDistributed`).
    """
    found = []

    def visit(layer):
        if any(layer is other for other in found):
            return
        found.append(layer)
        children = list(getattr(layer, "layers", None) or [])
        for attr in ("layer", "forward_layer", "backward_layer"):
            child = getattr(layer, attr, None)
            if isinstance(child, keras.layers.Layer):
                children.append(child)
        for child in children:
            visit(child)

    for layer in model.layers:
        visit(layer)
    return found


def layers_of_type(model, cls, what):
    """Layers of `model` that are instances of `cls`; raises if none."""
    found = [layer for layer in all_layers(model) if isinstance(layer, cls)]
    if not found:
        raise ValueError(
            f"The regularizer needs {what} in the model; model "
            f"'{model.name}' has none."
        )
    return found


def select_layers(available, names, kind, argument="layers"):
    """The layers of `available` named in `names` (all of them if None).

    Raises a ValueError naming `argument` (the argument `names` came from)
    when a name is unknown, the list is empty, or two chosen layers share a
    name (names key the logged metrics).
    """
    if names is None:
        chosen = list(available)
    else:
        by_name = {layer.name: layer for layer in available}
        if not names or any(name not in by_name for name in names):
            raise ValueError(
                f"`{argument}` must name {kind} layers of the model, one of "
                f"{sorted(by_name)}. Received: {names}"
            )
        chosen = [by_name[name] for name in names]
    chosen_names = [layer.name for layer in chosen]
    if len(set(chosen_names)) != len(chosen_names):
        raise ValueError(
            f"The layers of a regularizer need distinct names (they name "
            f"the logged metrics). Received: {chosen_names}"
        )
    return chosen


def names_of(layers):
    """A `layers` argument as a list of names (layers or names given)."""
    if layers is None:
        return None
    return [getattr(layer, "name", layer) for layer in layers]


def masked_rnn_layers(model):
    """Every keras_adrop recurrent layer inside `model`, in model order."""
    return [layer for layer in all_layers(model)
            if isinstance(layer, VariationalRNN)]


def carried_states(model):
    """The state variables of stateful RNNs (Keras' own layers do not
    track theirs; keras_adrop's list them in `variables`)."""
    return [
        state
        for layer in all_layers(model)
        if getattr(layer, "stateful", False) and getattr(layer, "states", None)
        for state in keras.tree.flatten(layer.states)
    ]


class Penalty(NamedTuple):
    """What a regularizer returns for one batch.

    Attributes:
        value: The penalty, a scalar (None: the regularizer does not apply
            to this batch, e.g. a supervised penalty on unlabeled inputs).
        logs: dict metric name -> scalar, the penalty under
            `metric_names()[0]` first.
        supervised_passes: Outputs of passes the model should also train
            on with the labels (fraternal dropout's second pass): the
            supervised loss becomes the mean over the base pass and these.
    """

    value: object
    logs: dict
    supervised_passes: tuple = ()


class ModelRegularizer:
    """Base class of the penalties of a `RegularizedModel`.

    Not a `keras.regularizers.Regularizer` (a penalty on one weight
    tensor): a `ModelRegularizer` computes a penalty from extra passes of
    the whole model in its training step.

    Subclasses implement `penalty(batch)` and, when they need them,
    `build(model)`, `base_masks(batch_size)` and `metric_names()`.

    Args:
        penalty_weight: Multiplier of the penalty in the loss (the paper's
            lambda), a finite number >= 0.
        rampup_steps: If > 0, the weight ramps up as
            `penalty_weight * exp(-5 (1 - min(step / rampup_steps, 1))^2)`
            over the first optimizer steps (the sigmoid ramp-up of the sMNIST
            code, counted in steps instead of epochs).
        seed: Seed of the regularizer's own random draws (None or an
            integer >= 0).
        name: Prefix of the logged metrics.

    Example:

    ```python
    class OutputNorm(keras_adrop.regularizers.ModelRegularizer):
        def penalty(self, batch):
            value = keras.ops.mean(keras.ops.square(batch.outputs))
            return keras_adrop.regularizers.Penalty(
                value, {f"{self.name}_penalty": value})

    model = keras_adrop.RegularizedModel(
        inputs, outputs, regularizers=[OutputNorm(penalty_weight=0.1)])
    ```
    """

    def __init__(self, penalty_weight=1.0, rampup_steps=0, seed=None,
                 name=None):
        self.penalty_weight = arguments.check_number(
            "penalty_weight", penalty_weight, low=0.0)
        self.rampup_steps = arguments.check_integer(
            "rampup_steps", rampup_steps, minimum=0,
            what=" (0 = no ramp-up)")
        self.seed = arguments.check_seed("seed", seed)
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(
                "`name` must be a non-empty string or None. Received: "
                f"{arguments.describe('name', name)}"
            )
        self.name = name or _snake_case(type(self).__name__)
        self.seed_generator = None
        self.model = None

    def build(self, model):
        """Binds the regularizer to `model`; raises on a bad configuration.

        A regularizer serves one model: build a new one (or a copy,
        `type(r).from_config(r.get_config())`) for another model.
        """
        self.check_unbound(model)
        self.model = model
        self.seed_generator = keras.random.SeedGenerator(self.seed)

    def check_unbound(self, model):
        if self.model is not None and self.model is not model:
            raise ValueError(
                f"Regularizer '{self.name}' already belongs to model "
                f"'{self.model.name}'. Create a new one for each model, e.g. "
                "`type(r).from_config(r.get_config())`."
            )

    def base_masks(self, batch_size):
        """Recurrent masks this regularizer wants in the base pass."""
        return {}

    def base_mask_kinds(self):
        """dict layer -> "full" or "random": base masks `base_masks` sets."""
        return {}

    def base_kernel_masks(self):
        """Recurrent-kernel masks this regularizer wants in every pass of
        the step (`recurrent_kernel_masks`; None: the full kernel)."""
        return {}

    def observed_embeddings(self):
        """keras_adrop `Embedding` layers whose output shape and padding mask
        the base pass records for this regularizer (`batch.embeddings`)."""
        return []

    def penalty(self, batch):
        """The `Penalty` (or a `(value, logs)` pair) of a `TrainingBatch`."""
        raise NotImplementedError

    def outputs_are_logits(self, model):
        """`self.from_logits`, or read from the compiled loss when None."""
        return divergences.resolve(
            "kl", getattr(self, "from_logits", None), model.loss).from_logits

    def metric_names(self):
        """Names of the metrics this regularizer logs (penalty first)."""
        return [f"{self.name}_penalty"]

    def current_weight(self, step):
        """The penalty weight at optimizer step `step` (ramp-up applied)."""
        if not self.rampup_steps:
            return ops.cast(self.penalty_weight, "float32")
        progress = ops.minimum(
            ops.cast(step, "float32") / float(self.rampup_steps), 1.0
        )
        return self.penalty_weight * ops.exp(
            -5.0 * ops.square(1.0 - progress))

    def get_config(self):
        return {
            "penalty_weight": self.penalty_weight,
            "rampup_steps": self.rampup_steps,
            "seed": self.seed,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _snake_case(name):
    out = []
    for i, char in enumerate(name):
        if char.isupper() and i and not name[i - 1].isupper():
            out.append("_")
        out.append(char.lower())
    return "".join(out)


class RecurrentMaskRegularizer(ModelRegularizer):
    """A regularizer acting on the recurrent masks of keras_adrop layers.

    Finds its layers when built and compares two outputs with a divergence.

    Args:
        divergence: How two outputs are compared (a name of
            `keras_adrop.divergences.DIVERGENCES`); None: read from the
            compiled loss (`keras_adrop.divergences.resolve`).
        layers: Names of the layers it acts on (default: every keras_adrop
            recurrent layer of the model).
        from_logits: Whether the model outputs logits; default: read from
            the compiled loss.
        **kwargs: `penalty_weight`, `rampup_steps`, `seed`, `name` of
            `ModelRegularizer`.
    """

    # The argument `layers` came from, as the user wrote it (a model that
    # builds the regularizer may take it under another name).
    layers_argument = "layers"

    def __init__(self, divergence=None, layers=None, from_logits=None,
                 **kwargs):
        super().__init__(**kwargs)
        if divergence is not None:
            arguments.check_choice("divergence", divergence,
                                   tuple(divergences.DIVERGENCES),
                                   " or None (read from the compiled loss)")
        self.divergence = divergence
        self.layer_names = arguments.check_names("layers", layers)
        self.from_logits = arguments.check_bool(
            "from_logits", from_logits, allow_none=True,
            what=" (None: read from the compiled loss)")
        self.layers = []

    def resolve_layers(self, model):
        """Sets `self.layers` from `model`; raises when none can be used."""
        available = masked_rnn_layers(model)
        if not available:
            raise ValueError(
                f"{type(self).__name__} needs a keras_adrop recurrent layer "
                "(keras_adrop.layers.LSTM, GRU or SimpleRNN) in the model; "
                f"model '{model.name}' has none."
            )
        self.layers = select_layers(
            available, self.layer_names, "keras_adrop recurrent",
            self.layers_argument)

    def base_mask_kinds(self):
        return {layer: "random" for layer in self.layers}

    def variational_masks(self, batch_size):
        """Fresh variational masks with each layer's recurrent_dropout rate.

        Returns dict layer -> `(mask, 1/(1-p))`, for `recurrent_masks`.
        """
        masks = {}
        for layer in self.layers:
            rate = layer.recurrent_dropout
            noise = per_example_uniform(
                (batch_size, layer.units), self.seed_generator
            )
            masks[layer] = (ops.cast(noise >= rate, "float32"), 1 / (1 - rate))
        return masks

    def compare(self, batch, target, outputs):
        """`sum(lambda * D[target || outputs])` over the batch (rule 6)."""
        divergence, from_logits = self.resolved_divergence(batch.model)
        return divergences.weighted_divergence(
            divergence, target, outputs, from_logits, batch.step_weights)

    def resolved_divergence(self, model):
        """`(divergence, from_logits)`: as given, the rest read from the
        compiled loss (`keras_adrop.divergences.resolve`)."""
        return divergences.resolve(self.divergence, self.from_logits,
                                   model.loss)

    def get_config(self):
        return {
            **super().get_config(),
            "divergence": self.divergence,
            "layers": self.layer_names,
            "from_logits": self.from_logits,
        }
