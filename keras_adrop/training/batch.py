"""One batch of a training step, as a regularizer sees it.

Backend-neutral: a `TrainingBatch` runs the model again with other masks or
perturbations, and differentiates an objective with respect to given tensors
through a `gradient` function that the backend's trainer supplies (a
`tf.GradientTape` or `jax.grad`). `ModelState` is rule 9 of
docs/algorithm.md: every pass of a step sees the random draws and carried
states of the base pass, and only the base pass advances them.
"""

import keras
from keras import ops

from keras_adrop import keras_compat
from keras_adrop.layers.mask_overrides import embedding_perturbations
from keras_adrop.layers.mask_overrides import output_masks
from keras_adrop.layers.mask_overrides import recurrent_kernel_masks
from keras_adrop.layers.mask_overrides import recurrent_masks


def loss_scaled(model):
    """Whether the model's optimizer scales the loss (mixed precision)."""
    return isinstance(getattr(model, "optimizer", None),
                      keras.optimizers.LossScaleOptimizer)


class ModelState:
    """Rewinds everything a forward pass changes besides the weights (rule 9).

    A pass draws from every layer's `SeedGenerator` and may update other
    non-trainable state (a stateful RNN's carried states, BatchNormalization
    statistics). The state is saved before the base pass; each later pass of
    the step starts from it, so it sees the same input/embedding/output
    dropout noise and the same carried states; at the end of the step the
    state the base pass left is put back, so only the base pass counts.
    Under JAX the variables are read and assigned inside the trainer's
    `keras.StatelessScope`, so the same code rewinds traced values.

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

    def rewind_unless(self, keep):
        """Puts back the state from before the step where `keep` is False
        (a skipped, non-finite step); a boolean scalar tensor."""
        for variable, value in zip(self.variables, self.before_base):
            variable.assign(ops.where(keep, variable.value, value))


class TrainingBatch:
    """One batch inside a training step, as a regularizer sees it.

    Read-only data:

    Attributes:
        model: The model being trained.
        x: The batch inputs.
        outputs: The outputs of the base pass (eps0 masks), not stopped.
        step_weights: `lambda_t` of rule 6 (`divergences.step_weights`):
            the weight of each example and output step in a penalty, shape
            `outputs.shape[:-1]`, normalized so that a penalty is
            `sum(step_weights * D)`. Not the model's weights.
        base_masks: dict layer -> base mask as given to `recurrent_masks`:
            None where the base pass ran the full network, else a tensor or
            a `(tensor, scale)` pair.
        base_kernel_masks: dict layer -> recurrent-kernel mask of every
            pass (`recurrent_kernel_masks`; None: the full kernel), unless a
            `run` sets another.
        embeddings: dict keras_adrop `Embedding` layer -> `(shape, mask)` of
            its output in the base pass (`mask` the `(batch, time)` padding
            mask), for the layers a regularizer observes
            (`Regularizer.observed_embeddings`): where a perturbation of the
            word vectors lives.
        batch_size: Number of examples (a scalar tensor).
        y, sample_weight: The labels and sample weights (None for an
            unlabeled batch).

    What a regularizer can do with it: `run` the model again,
    `gradient` of an objective with respect to tensors (weights held
    constant), `supervised_loss` of other outputs.
    """

    def __init__(self, model, x, outputs, step_weights, base_masks, state,
                 gradient, y=None, sample_weight=None, embeddings=None,
                 replicas=1, base_kernel_masks=None):
        self.model = model
        self.x = x
        self.outputs = outputs
        self.step_weights = step_weights
        self.base_masks = base_masks
        self.base_kernel_masks = base_kernel_masks or {}
        self.embeddings = embeddings or {}
        self.batch_size = ops.shape(step_weights)[0]
        self.state = state
        self.y = y
        self.sample_weight = sample_weight
        self._gradient = gradient
        self._replicas = replicas

    def run(self, masks=None, outputs=None, perturbations=None,
            kernel_masks=None):
        """Runs the model again on the batch with some things changed.

        Every other random draw (input, embedding and output dropout, the
        other layers' DropConnect) and every carried state repeats the base
        pass exactly (rule 9).

        Args:
            masks: Recurrent masks set over the base masks (see
                `keras_adrop.layers.recurrent_masks`).
            outputs: Masks on layer outputs (`output_masks`).
            perturbations: Embedding perturbations
                (`embedding_perturbations`).
            kernel_masks: DropConnect masks on recurrent kernels
                (`recurrent_kernel_masks`), set over `base_kernel_masks`.
        """
        self.state.rewind()
        with recurrent_masks({**self.base_masks, **(masks or {})}), \
                recurrent_kernel_masks(
                    {**self.base_kernel_masks, **(kernel_masks or {})}), \
                output_masks(outputs or {}), \
                embedding_perturbations(perturbations or {}):
            return self.model(self.x, training=True)

    def gradient(self, objective, tensors):
        """The gradient of `objective(tensors)` with respect to `tensors`.

        The weights are constants here (no gradient with respect to them is
        computed, and the training gradient does not flow through this
        computation): influence maps and perturbation directions only steer
        a search.

        Under mixed precision the objective is multiplied by the optimizer's
        loss scale so that a float16 gradient does not underflow, and
        entries that overflowed become 0: the result is the gradient up to a
        positive factor, which changes no flip ranking and no normalized
        direction.

        Args:
            objective: Callable taking a dict like `tensors` and returning
                a scalar.
            tensors: dict key -> tensor.

        Returns:
            dict key -> gradient, shaped like the tensor (zeros where the
            objective does not depend on it).
        """
        optimizer = getattr(self.model, "optimizer", None)
        scaled = self.loss_scaled

        def scaled_objective(values):
            value = objective(values)
            return optimizer.scale_loss(value) if scaled else value

        gradients = self._gradient(scaled_objective, tensors)
        if scaled:
            gradients = {key: ops.where(ops.isfinite(g), g, 0.0)
                         for key, g in gradients.items()}
        return gradients

    def supervised_loss(self, outputs):
        """The compiled loss of `outputs` against the labels.

        Unlike `model.compute_loss`, leaves out `model.losses` (weight
        decay, activity penalties), which the base pass already counts; a
        mean over this replica's batch, like a penalty (the trainer scales
        penalties for distribution once).
        """
        loss = keras_compat.compiled_loss(
            self.model, self.y, outputs, self.sample_weight)
        return loss if self._replicas == 1 else loss * float(self._replicas)

    def base_mask(self, layer):
        """The base mask of `layer` as a tensor (all ones: full network)."""
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
        """Whether the optimizer scales the loss (mixed precision)."""
        return loss_scaled(self.model)
