"""The machinery every regularizer of a `RegularizedModel` shares.

`Regularizer` (the base class), `RecurrentMaskRegularizer` (regularizers of
recurrent masks), `TrainingBatch` (one batch of a training step, which can
run the model again with other masks or perturbations) and `ModelState`
(rewinds random draws and carried states between passes, ALGORITHM.md
rule 9).
"""

import numbers

import keras
from keras import ops

from keras_adrop import divergences
from keras_adrop.layers.embedding import embedding_perturbations
from keras_adrop.layers.recurrent import MaskedRNN
from keras_adrop.layers.recurrent import output_masks
from keras_adrop.layers.recurrent import recurrent_masks
from keras_adrop.masks import per_example_uniform

# String losses whose Keras default is from_logits=False.
_PROBABILITY_LOSSES = (
    "sparse_categorical_crossentropy",
    "categorical_crossentropy",
    "binary_crossentropy",
    "kl_divergence",
    "kld",
)


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


def select_layers(available, names, kind):
    """The layers of `available` named in `names` (all of them if None).

    Raises a ValueError naming `layers` when a name is unknown, the list is
    empty, or two chosen layers share a name (names key the logged metrics).
    """
    if names is None:
        chosen = list(available)
    else:
        by_name = {layer.name: layer for layer in available}
        if not names or any(name not in by_name for name in names):
            raise ValueError(
                f"`layers` must name {kind} layers of the model, one of "
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
            if isinstance(layer, MaskedRNN)]


def carried_states(model):
    """The state variables of stateful RNNs (Keras does not track them)."""
    return [
        state
        for layer in all_layers(model)
        if getattr(layer, "stateful", False) and getattr(layer, "states", None)
        for state in keras.tree.flatten(layer.states)
    ]


class ModelState:
    """Rewinds everything a forward pass changes besides the weights (rule 9).

    A pass draws from every layer's `SeedGenerator` and may update other
    non-trainable state (a stateful RNN's carried states, BatchNormalization
    statistics). The state is saved before the base pass; each later pass of
    the step starts from it, so it sees the same input/embedding/output
    dropout noise and the same carried states; at the end of the step the
    state the base pass left is put back, so only the base pass counts.

    Args:
        variables: The variables to rewind.
    """

    def __init__(self, variables):
        self.variables = variables
        self.before_base = [ops.copy(v.value) for v in variables]
        self.after_base = None

    def base_pass_done(self):
        self.after_base = [ops.copy(v.value) for v in self.variables]

    def rewind(self):
        for variable, value in zip(self.variables, self.before_base):
            variable.assign(value)

    def keep_base_pass(self):
        for variable, value in zip(self.variables, self.after_base):
            variable.assign(value)


class TrainingBatch:
    """One batch inside a training step, as a regularizer sees it.

    Attributes:
        model: The model being trained.
        x: The batch inputs.
        outputs: The outputs of the base pass (eps0 masks), not stopped.
        weights: `lambda` of ALGORITHM.md rule 6, shape `outputs.shape[:-1]`,
            normalized so that a penalty is `sum(weights * D)`.
        base_masks: dict layer -> base mask as given to `recurrent_masks`:
            None where the base pass ran the full network, else a tensor or
            a `(tensor, scale)` pair.
        batch_size: Number of examples (a scalar tensor).
        y, sample_weight: The labels and sample weights (None for an
            unlabeled batch).
        supervised_losses: Supervised losses of passes a regularizer asked
            to train on besides the base pass (`add_supervised_pass`); the
            model averages the base pass's loss with them.
    """

    def __init__(self, model, x, outputs, weights, base_masks, state, tape,
                 y=None, sample_weight=None):
        self.model = model
        self.x = x
        self.outputs = outputs
        self.weights = weights
        self.base_masks = base_masks
        self.batch_size = ops.shape(weights)[0]
        self.state = state
        self._tape = tape
        self.y = y
        self.sample_weight = sample_weight
        self.supervised_losses = []

    def compiled_loss(self, outputs):
        """The compiled loss of `outputs` alone, a per-replica mean.

        Unlike `model.compute_loss`, leaves out `model.losses` (weight
        decay, activity penalties), which the base pass already counts, and
        undoes Keras' division by the number of replicas: the model scales
        every penalty for distribution once.
        """
        import tensorflow as tf

        loss = self.model._compile_loss(self.y, outputs, self.sample_weight)
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        return loss if replicas == 1 else loss * float(replicas)

    def add_supervised_pass(self, outputs):
        """Trains on the labels with `outputs` too (call right after the pass).

        The model's supervised loss becomes the mean over the base pass and
        every pass added here (fraternal dropout's two passes). Does nothing
        on an unlabeled batch.
        """
        if self.y is None:
            return
        self.supervised_losses.append(self.model.compute_loss(
            x=self.x, y=self.y, y_pred=outputs,
            sample_weight=self.sample_weight, training=True,
        ))

    def run(self, masks=None, outputs=None, perturbations=None):
        """Runs the model again on the batch with some things changed.

        Every other random draw (input, embedding and output dropout) and
        every carried state repeats the base pass exactly (rule 9).

        Args:
            masks: Recurrent masks set over the base masks (see
                `keras_adrop.layers.recurrent_masks`).
            outputs: Masks on layer outputs (`output_masks`).
            perturbations: Embedding perturbations
                (`embedding_perturbations`).
        """
        self.state.rewind()
        with recurrent_masks({**self.base_masks, **(masks or {})}), \
                output_masks(outputs or {}), \
                embedding_perturbations(perturbations or {}):
            return self.model(self.x, training=True)

    def base_mask(self, layer):
        """The base mask of `layer` as a tensor (all ones for the full network)."""
        mask = self.base_masks.get(layer)
        if mask is None:
            return ops.ones((self.batch_size, layer.units), dtype="float32")
        return mask[0] if isinstance(mask, tuple) else mask

    def near_base(self, masks):
        """Pairs masks found near the base masks with the base's fixed scale.

        A mask a few flips away from a variational base mask is scaled by the
        same `1/(1-p)`, so that re-running the base mask gives D = 0 and the
        penalty measures the flips only; near the full network (no fixed
        scale) a mask is rescaled by `units / kept` (rule 2).
        """
        paired = {}
        for layer, mask in masks.items():
            base = self.base_masks.get(layer)
            paired[layer] = (mask, base[1]) if isinstance(base, tuple) else mask
        return paired

    @property
    def loss_scaled(self):
        """Whether gradients here are scaled by a LossScaleOptimizer."""
        return isinstance(getattr(self.model, "optimizer", None),
                          keras.optimizers.LossScaleOptimizer)

    def scale_for_gradient(self, value):
        """Scales an objective like the loss (mixed precision) before a gradient.

        Under `mixed_float16` the optimizer's loss scale keeps the influence
        maps from underflowing in float16; a positive factor changes no
        ranking of flip scores.
        """
        optimizer = getattr(self.model, "optimizer", None)
        return value if optimizer is None else optimizer.scale_loss(value)

    def stop_recording(self):
        """Context in which the training tape records nothing (mask searches)."""
        return self._tape.stop_recording()


class Regularizer:
    """Base class of the penalties of a `RegularizedModel`.

    Subclasses implement `penalty(batch)` and, when they need them,
    `build(model)`, `base_masks(batch_size)` and `metric_names()`.

    Args:
        weight: Multiplier of the penalty in the loss (the paper's lambda).
        rampup_steps: If > 0, the weight ramps up as
            `weight * exp(-5 (1 - min(step / rampup_steps, 1))^2)` over the
            first optimizer steps (the sigmoid ramp-up of the sMNIST code,
            counted in steps instead of epochs).
        seed: Seed of the regularizer's own random draws.
        name: Prefix of the logged metrics.
    """

    def __init__(self, weight=1.0, rampup_steps=0, seed=None, name=None):
        if (not isinstance(weight, numbers.Real) or isinstance(weight, bool)
                or weight < 0):
            raise ValueError(
                f"`weight` must be a number >= 0. Received: weight={weight}"
            )
        if (not isinstance(rampup_steps, numbers.Integral)
                or isinstance(rampup_steps, bool) or rampup_steps < 0):
            raise ValueError(
                "`rampup_steps` must be an integer >= 0 (0 = no ramp-up). "
                f"Received: rampup_steps={rampup_steps}"
            )
        self.weight = float(weight)
        self.rampup_steps = int(rampup_steps)
        self.seed = seed
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

    def penalty(self, batch):
        """Returns `(penalty, logs)`: a scalar and a dict of scalar metrics."""
        raise NotImplementedError

    def outputs_are_logits(self, model):
        """`self.from_logits`, or read from the compiled loss when None."""
        from_logits = getattr(self, "from_logits", None)
        if from_logits is None:
            return infer_from_logits(model)
        return from_logits

    def metric_names(self):
        """Names of the metrics this regularizer logs (penalty first)."""
        return [f"{self.name}_penalty"]

    def current_weight(self, step):
        """The penalty weight at optimizer step `step` (ramp-up applied)."""
        if not self.rampup_steps:
            return ops.cast(self.weight, "float32")
        progress = ops.minimum(
            ops.cast(step, "float32") / float(self.rampup_steps), 1.0
        )
        return self.weight * ops.exp(-5.0 * ops.square(1.0 - progress))

    def get_config(self):
        return {
            "weight": self.weight,
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


def infer_from_logits(model):
    """Whether the compiled loss reads logits; raises when it cannot tell."""
    loss = getattr(model, "loss", None)
    if isinstance(loss, str):
        if loss in _PROBABILITY_LOSSES:
            return False
    elif loss is not None:
        from_logits = getattr(loss, "from_logits", None)
        if from_logits is None:
            from_logits = getattr(loss, "_fn_kwargs", {}).get("from_logits")
        if from_logits is not None:
            return bool(from_logits)
    raise ValueError(
        "Cannot tell from the compiled loss whether the model outputs logits "
        f"or probabilities (loss={loss!r}). Pass `from_logits=True` or "
        "`from_logits=False` to the regularizer."
    )


class RecurrentMaskRegularizer(Regularizer):
    """A regularizer acting on the recurrent masks of keras_adrop layers.

    Finds its layers when built and compares two outputs with a divergence.

    Args:
        divergence: How two outputs are compared (see
            `keras_adrop.divergences.divergence`).
        layers: Names of the layers it acts on (default: every keras_adrop
            recurrent layer of the model).
        from_logits: Whether the model outputs logits; default: read from
            the compiled loss.
        **kwargs: `weight`, `rampup_steps`, `seed`, `name` of `Regularizer`.
    """

    def __init__(self, divergence="kl", layers=None, from_logits=None,
                 **kwargs):
        super().__init__(**kwargs)
        divergences.check_divergence(divergence)
        self.divergence = divergence
        self.layer_names = names_of(layers)
        self.from_logits = from_logits
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
            available, self.layer_names, "keras_adrop recurrent"
        )

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
        return divergences.weighted_divergence(
            self.divergence, target, outputs,
            self.outputs_are_logits(batch.model), batch.weights,
        )

    def get_config(self):
        return {
            **super().get_config(),
            "divergence": self.divergence,
            "layers": self.layer_names,
            "from_logits": self.from_logits,
        }


def influence_maps(objective, masks, zero_non_finite=False):
    """Rule 12: the gradient of `objective(masks)` w.r.t. each mask.

    Args:
        objective: Callable taking a dict layer -> mask and returning a
            scalar (the weighted divergence summed over the batch; each
            example's term depends only on its own mask, so the gradient row
            of an example is that example's influence map).
        masks: dict layer -> `(batch, units)` float32 tensor.
        zero_non_finite: Set entries that overflowed (a loss-scaled float16
            gradient) to 0 instead of letting them steer a flip.

    Returns:
        dict layer -> `(batch, units)` influence map. Only the masks are
        watched: no gradient with respect to the weights is computed.
    """
    import tensorflow as tf

    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(list(masks.values()))
        value = objective(masks)
    gradients = tape.gradient(value, list(masks.values()))
    return {
        layer: clean_gradient(grad, mask, zero_non_finite)
        for (layer, mask), grad in zip(masks.items(), gradients)
    }


def clean_gradient(grad, source, zero_non_finite):
    """A gradient w.r.t. `source` ready to steer a search.

    None (the objective does not reach `source`) becomes zeros; with
    `zero_non_finite` (a loss-scaled float16 gradient) overflowed entries
    become 0, carrying no signal.
    """
    if grad is None:
        grad = ops.zeros_like(source)
    if zero_non_finite:
        grad = ops.where(ops.isfinite(grad), grad, 0.0)
    return grad


def scale_for_replicas(value):
    """Divides a per-replica mean by the number of replicas, as Keras losses do."""
    import tensorflow as tf

    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return value if replicas == 1 else value / float(replicas)


