"""What one training step computes, on every backend (docs/algorithm.md §4).

1. base pass with each layer's base mask -> supervised loss
   (`model.compute_loss`) and the target of every penalty (rule 7);
2. each regularizer computes its penalty on that batch (for adversarial
   dropout: K influence-map passes on the masks only, then one adversarial
   pass), and names any extra pass it trains on (fraternal dropout);
3. loss = supervised + sum of weight * penalty.

The backend's trainer (`tensorflow_trainer`, `jax_trainer`) runs this inside
its gradient computation and supplies `gradient(objective, tensors)`, the
one backend-specific operation a regularizer needs. Rule 9 (every pass sees
the base pass's random draws and carried states; only the base pass
advances them) is applied here and nowhere else.

What `fit` hands the step is read in `data`; what happens to a step whose
loss or gradients are not finite is decided in `nonfinite`.
"""

from typing import NamedTuple

import keras
from keras import ops

from keras_adrop import divergences
from keras_adrop import keras_compat
from keras_adrop.layers.mask_overrides import embedding_perturbations
from keras_adrop.layers.mask_overrides import recurrent_kernel_masks
from keras_adrop.layers.mask_overrides import recurrent_masks
from keras_adrop.regularizers.base import Penalty
from keras_adrop.regularizers.base import all_layers
from keras_adrop.regularizers.base import carried_states
from keras_adrop.training.batch import ModelState
from keras_adrop.training.batch import TrainingBatch
from keras_adrop.training.data import batch_size_of
from keras_adrop.training.data import split_unlabeled


class StepLoss(NamedTuple):
    """The loss of one training step and its parts (arrays only).

    Attributes:
        total: What is optimized: supervised + weighted penalties.
        supervised: The supervised loss (averaged with any extra pass a
            regularizer trains on).
        penalties: Weighted penalty of each regularizer, in order.
        logs: Each regularizer's logged values, by metric name.
        y_pred: The outputs of the base pass.
        labels_ok: Whether every class index is in range, for a loss that
            takes class indices (sparse categorical cross-entropy); None
            for other losses.
    """

    total: object
    supervised: object
    penalties: list
    logs: dict
    y_pred: object
    labels_ok: object = None


def model_state(model):
    """The variables a forward pass changes besides weights (rule 9).

    Random-draw states, the non-trainable weights of trainable layers
    (BatchNormalization statistics) and stateful RNNs' carried states; not
    the weights of frozen layers, which no pass changes, and not the
    regularizers' own random draws, which must advance.
    """
    layers = all_layers(model)
    frozen = {id(v) for layer in layers if not layer.trainable
              for v in layer.weights}
    skip = frozen | {id(g.state) for g in model.regularizer_seed_generators}
    variables, seen = [], set()
    for variable in (list(model.non_trainable_variables)
                     + carried_states(model)):
        if id(variable) not in skip and id(variable) not in seen:
            seen.add(id(variable))
            variables.append(variable)
    return ModelState(variables)


def base_masks(model, batch_size):
    """The recurrent masks every regularizer wants in the base pass."""
    masks = {}
    for regularizer in model.regularizers:
        for layer, mask in regularizer.base_masks(batch_size).items():
            # Conflicts are refused when the model is built, from what each
            # regularizer declares; this guards a custom regularizer whose
            # `base_masks` sets more than it declares.
            if layer in masks and (masks[layer] is not None
                                   or mask is not None):
                raise ValueError(
                    f"Two regularizers set the base mask of layer "
                    f"'{layer.name}'; they cannot be combined."
                )
            masks[layer] = mask
    return masks


def base_kernel_masks(model):
    """The recurrent-kernel masks every regularizer wants in every pass
    (conflicts are refused when the model is built)."""
    return {layer: mask for regularizer in model.regularizers
            for layer, mask in regularizer.base_kernel_masks().items()}


def base_pass(model, x, gradient, y=None, sample_weight=None, replicas=1):
    """Runs eps0 on `x`; returns the `TrainingBatch` of its outputs."""
    state = model_state(model)
    masks = base_masks(model, batch_size_of(x))
    kernel_masks = base_kernel_masks(model)
    embeddings = {}

    def record(layer):
        def identity(vectors, mask):
            embeddings[layer] = (ops.shape(vectors), mask)
            return vectors
        return identity

    recorders = {layer: record(layer) for regularizer in model.regularizers
                 for layer in regularizer.observed_embeddings()}
    with recurrent_masks(masks), recurrent_kernel_masks(kernel_masks), \
            embedding_perturbations(recorders):
        outputs = model(x, training=True)
    state.base_pass_done()
    if keras.tree.is_nested(outputs):
        raise ValueError(
            f"{type(model).__name__} supports models with a single output "
            "tensor; this model returns a nested structure."
        )
    step_weights = divergences.step_weights(
        outputs, sample_weight, keras_compat.keras_mask(outputs))
    return TrainingBatch(model, x, outputs, step_weights, masks, state,
                         gradient, y, sample_weight, embeddings, replicas,
                         base_kernel_masks=kernel_masks)


def regularized_loss(model, data, gradient, replicas=1):
    """The loss of one training step of a `RegularizedModel` (section 4).

    Args:
        model: The `RegularizedModel`.
        data: What `fit` passes to `train_step`.
        gradient: The backend's `gradient(objective, tensors)` (see
            `TrainingBatch.gradient`).
        replicas: Replicas of a `tf.distribute` strategy: Keras losses are
            divided by it, and so is every penalty.

    Returns:
        `(step_loss, state)`: the `StepLoss`, and the `ModelState` of the
        step (saved before its first pass), for a trainer that must rewind
        a skipped step.
    """
    labeled, unlabeled = split_unlabeled(data, model)
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(labeled)
    batch = base_pass(model, x, gradient, y, sample_weight, replicas)
    supervised = model.compute_loss(
        x=x, y=y, y_pred=batch.outputs, sample_weight=sample_weight,
        training=True,
    )
    batches = [batch]
    if unlabeled is not None:
        batches.append(base_pass(model, unlabeled, gradient,
                                 replicas=replicas))
    extra = []
    penalties, logs = [], {}
    step = model.optimizer.iterations
    for regularizer in model.regularizers:
        penalty, regularizer_logs, losses = _mean_over_batches(
            model, regularizer, batches)
        weight = regularizer.current_weight(step)
        penalties.append(weight * penalty / float(replicas))
        logs.update(regularizer_logs)
        extra += losses
    # Only the base pass advances random draws and carried states.
    batches[-1].state.keep_base_pass()
    if extra:
        # The base pass's loss, averaged with any pass a regularizer
        # trains on too (fraternal dropout).
        supervised = ops.sum(ops.stack([supervised] + extra)) / (
            1 + len(extra))
    total = supervised
    for penalty in penalties:
        total = total + ops.cast(penalty, total.dtype)
    step_loss = StepLoss(
        total, supervised, penalties, logs, batch.outputs,
        labels_in_range(model, y, batch.outputs, sample_weight))
    return step_loss, batch.state


def sparse_classes(model):
    """`(classes, ignore_class)` when the compiled loss takes class indices
    (sparse categorical cross-entropy), else None."""
    loss = getattr(model, "loss", None)
    ignore_class = None
    if isinstance(loss, str):
        sparse = loss == "sparse_categorical_crossentropy"
    elif isinstance(loss, keras.losses.SparseCategoricalCrossentropy):
        sparse = True
        ignore_class = loss.get_config().get("ignore_class")
    else:
        sparse = loss is keras.losses.sparse_categorical_crossentropy
    outputs = getattr(model, "outputs", None) or [None]
    classes = getattr(outputs[0], "shape", (None,))[-1]
    if not sparse or classes is None:
        return None
    return int(classes), ignore_class


def labels_in_range(model, y, y_pred, sample_weight=None):
    """Whether every label of `y` that counts is a class index in
    [0, classes).

    Keras' sparse cross-entropy under JAX turns an out-of-range label into
    a zero loss without a word (TensorFlow raises on a CPU); the step
    treats such labels like a non-finite term. A label that does not count
    is exempt: the loss's `ignore_class`, and a position whose
    `sample_weight` is 0 (padding). None when the loss takes no class
    indices.
    """
    found = sparse_classes(model)
    if found is None or y is None or keras.tree.is_nested(y):
        return None
    classes, ignore_class = found
    y = ops.convert_to_tensor(y)
    ok = ops.logical_and(y >= 0, y < classes)
    if ignore_class is not None:
        ok = ops.logical_or(ok, y == ignore_class)
    if sample_weight is not None and not keras.tree.is_nested(sample_weight):
        weight = ops.convert_to_tensor(sample_weight)
        if len(weight.shape) <= len(y.shape):
            weight = ops.reshape(
                weight, tuple(ops.shape(weight))
                + (1,) * (len(y.shape) - len(weight.shape)))
            ok = ops.logical_or(ok, ops.equal(weight, 0))
    return ops.all(ok)


def _mean_over_batches(model, regularizer, batches):
    """A regularizer's penalty and logs, averaged over labeled + unlabeled.

    A regularizer returns a penalty of None for a batch it does not apply to
    (a supervised penalty on unlabeled inputs); that batch is left out.
    Returns `(penalty, logs, supervised losses of the passes it asks to
    train on)`; each loss is taken right after the regularizer's passes, so
    that `model.losses` (activity penalties) are those of its last pass.
    """
    results, sizes, losses = [], [], []
    for batch in batches:
        result = regularizer.penalty(batch)
        if not isinstance(result, Penalty):  # a `(value, logs)` pair
            result = Penalty(*result)
        if batch.y is not None:
            losses += [
                model.compute_loss(x=batch.x, y=batch.y, y_pred=outputs,
                                   sample_weight=batch.sample_weight,
                                   training=True)
                for outputs in result.supervised_passes
            ]
        if result.value is not None:
            results.append(result)
            sizes.append(ops.cast(batch.batch_size, "float32"))
    if len(results) == 1:
        return results[0].value, results[0].logs, losses
    total = sum(sizes[1:], sizes[0])

    def mean(values):
        weighted = [ops.cast(v, "float32") * n for v, n in zip(values, sizes)]
        return sum(weighted[1:], weighted[0]) / total

    penalty = mean([r.value for r in results])
    logs = {key: mean([r.logs[key] for r in results])
            for key in results[0].logs}
    return penalty, logs, losses


def record_step(model, step_loss, batch_size, replicas=1):
    """Updates the `loss`, `supervised_loss` and regularizer metrics.

    The losses are per-replica means; multiplied back by the number of
    replicas, the logged values do not depend on it.
    """
    keras_compat.loss_tracker(model).update_state(
        step_loss.total * replicas, sample_weight=batch_size)
    model.supervised_loss_tracker.update_state(
        step_loss.supervised * replicas, sample_weight=batch_size)
    for trackers in model.regularizer_trackers:
        for tracker in trackers:
            tracker.update_state(step_loss.logs[tracker.name])
