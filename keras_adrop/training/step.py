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
"""

import warnings
from typing import NamedTuple

import keras
import numpy as np
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

UNLABELED_FORMAT = '{"labeled": (x, y) or (x, y, sample_weight), "unlabeled": x}'


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


def _model_input_names(model):
    return {getattr(t, "name", None) for t in getattr(model, "inputs", None)
            or []}


def split_unlabeled(data, model=None):
    """`{"labeled": (x, y[, w]), "unlabeled": x_u}` -> the two parts.

    Other data (an `(x, y[, w])` tuple, or a dict keyed by the model's input
    names) is returned as `(data, None)`. A dict that is neither raises a
    ValueError showing the expected structure: a typo in a key, only
    `"labeled"`, labels in `"unlabeled"`, or a `"labeled"` part without
    labels.
    """
    if not isinstance(data, dict):
        return data, None
    keys = set(data)
    if keys != {"labeled", "unlabeled"}:
        if model is not None and keys <= _model_input_names(model):
            return data, None  # the inputs of a multi-input model
        if model is None and not keys & {"labeled", "unlabeled"}:
            return data, None
        raise ValueError(
            "A semi-supervised batch must be a dict " + UNLABELED_FORMAT
            + f" (exactly these two keys). Received a dict with keys "
            f"{sorted(map(str, keys))}."
            + (" For supervised training only, pass (x, y) as usual."
               if keys == {"labeled"} else "")
        )
    labeled, unlabeled = data["labeled"], data["unlabeled"]
    if not isinstance(labeled, (tuple, list)) or len(labeled) not in (2, 3):
        raise ValueError(
            'The "labeled" part of a semi-supervised batch must be (x, y) or '
            "(x, y, sample_weight), as in " + UNLABELED_FORMAT + ". Received "
            f"{_structure(labeled)}."
        )
    inputs = len(getattr(model, "inputs", None) or [None])
    if isinstance(unlabeled, (tuple, list)) and (
            inputs == 1 or len(unlabeled) != inputs):
        raise ValueError(
            'The "unlabeled" part of a semi-supervised batch is the inputs '
            "x_u alone, without labels, as in " + UNLABELED_FORMAT + ". "
            f"Received {_structure(unlabeled)}"
            + (" (an (x, y) pair?)." if len(unlabeled) in (2, 3) else ".")
        )
    return labeled, unlabeled


def _structure(value):
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)} elements"
    if isinstance(value, dict):
        return f"a dict with keys {sorted(map(str, value))}"
    return f"a {type(value).__name__}"


def labeled_data(data, model=None):
    """`(x, y, sample_weight)` of the labeled part of `fit`'s `data`."""
    labeled, _ = split_unlabeled(data, model)
    return keras.utils.unpack_x_y_sample_weight(labeled)


def batch_size_of(x):
    """The number of examples in `x` (a tensor or a structure of tensors)."""
    first = next(t for t in keras.tree.flatten(x) if t is not None)
    return ops.shape(first)[0]


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
    for variable in list(model.non_trainable_variables) + carried_states(model):
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
    weights = divergences.step_weights(
        outputs, sample_weight, keras_compat.keras_mask(outputs))
    return TrainingBatch(model, x, outputs, weights, masks, state, gradient,
                         y, sample_weight, embeddings, replicas,
                         base_kernel_masks=kernel_masks)


def regularized_loss(model, data, gradient, replicas=1, states=None):
    """The loss of one training step of a `RegularizedModel` (section 4).

    Args:
        model: The `RegularizedModel`.
        data: What `fit` passes to `train_step`.
        gradient: The backend's `gradient(objective, tensors)` (see
            `TrainingBatch.gradient`).
        replicas: Replicas of a `tf.distribute` strategy: Keras losses are
            divided by it, and so is every penalty.
        states: Optional list; the `ModelState` of the step (saved before
            its first pass) is appended to it, for a trainer that must
            rewind a skipped step.

    Returns:
        A `StepLoss`.
    """
    labeled, unlabeled = split_unlabeled(data, model)
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(labeled)
    batch = base_pass(model, x, gradient, y, sample_weight, replicas)
    if states is not None:
        states.append(batch.state)
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
    return StepLoss(total, supervised, penalties, logs, batch.outputs,
                    labels_in_range(model, y, batch.outputs, sample_weight))


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


def penalty_terms(model, step_loss):
    """`(name, value)` of each term of the loss, for the non-finite check."""
    return [("supervised_loss", step_loss.supervised)] + [
        (regularizer.metric_names()[0], penalty)
        for regularizer, penalty in zip(model.regularizers,
                                        step_loss.penalties)
    ]


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


# Non-finite steps (docs/reliability.md): a step whose loss terms or
# gradients are not all finite, or whose update would leave a weight or an
# optimizer slot that is not finite, is skipped on every backend and path
# (the trainer applies no update and rewinds the model's state), counted in the
# `skipped_steps` log, and `fit` stops after `max_consecutive_skips` in a
# row. The decision is taken inside the compiled step (no assertion, which
# XLA would drop); the stop is decided in Python after the step, from a
# private log entry that `guard_train_function` removes.

NONFINITE_LOG = "_keras_adrop_nonfinite"


def term_names(model):
    """Names of the loss terms checked for non-finite values, in order."""
    return ["supervised_loss"] + [
        regularizer.metric_names()[0] for regularizer in model.regularizers]


def loss_scaled(model):
    """Whether the optimizer scales the loss (mixed precision): it then
    handles non-finite gradients itself (skips and lowers the scale)."""
    return isinstance(getattr(model, "optimizer", None),
                      keras.optimizers.LossScaleOptimizer)


def finite_checks(model, step_loss, gradients):
    """`(terms finite, gradients finite)`, two boolean scalars.

    The terms count as not finite when a class index is out of range
    (`labels_in_range`).

    Gradients are checked unless the optimizer scales the loss: a
    `LossScaleOptimizer` expects overflowing gradients now and then and
    skips those steps itself.
    """
    terms = ops.all(ops.stack([
        ops.all(ops.isfinite(value))
        for _, value in penalty_terms(model, step_loss)]))
    if step_loss.labels_ok is not None:
        terms = ops.logical_and(terms, step_loss.labels_ok)
    grads = [ops.all(ops.isfinite(g)) for g in gradients if g is not None]
    if loss_scaled(model) or not grads:
        return terms, ops.convert_to_tensor(True)
    return terms, ops.all(ops.stack(grads))


def all_finite(variables):
    """Whether every floating-point value of `variables` is finite (a
    boolean scalar); integer variables (step counts) are left out."""
    checks = [ops.all(ops.isfinite(v.value)) for v in variables
              if "float" in keras.backend.standardize_dtype(v.dtype)]
    if not checks:
        return ops.convert_to_tensor(True)
    return ops.all(ops.stack(checks))


def all_finite_values(values):
    """`all_finite` of arrays (the new values of a stateless update)."""
    checks = [ops.all(ops.isfinite(v)) for v in values
              if "float" in keras.backend.standardize_dtype(v.dtype)]
    if not checks:
        return ops.convert_to_tensor(True)
    return ops.all(ops.stack(checks))


class SkippedSteps(keras.metrics.Metric):
    """Counts the training steps skipped because they were not finite.

    Its result, logged as `skipped_steps`, is the number of steps of the
    epoch that were skipped. It also holds the number of consecutive skips
    (carried across epochs) and what was not finite in the last skipped
    step (its loss terms, its gradients, or the weights and optimizer state
    its update would have left), which the train function's guard reads to
    stop training.

    Args:
        terms: Number of loss terms checked.
        name: The log name. Default "skipped_steps".
    """

    def __init__(self, terms, name="skipped_steps", **kwargs):
        super().__init__(name=name, **kwargs)
        self.terms = int(terms)
        self.skipped = self.add_variable(
            (), "zeros", dtype="float32", aggregation="only_first_replica",
            name="skipped")
        self.count = self.add_variable(
            (), "zeros", dtype="float32", aggregation="only_first_replica",
            name="count")
        self.consecutive = self.add_variable(
            (), "zeros", dtype="float32", aggregation="only_first_replica",
            name="consecutive")
        # [optimizer step, gradients finite, update finite, labels in
        # range, term values...] of the last skipped step.
        self.last = self.add_variable(
            (self.terms + 4,), "zeros", dtype="float32",
            aggregation="only_first_replica", name="last")

    def update_state(self, finite, step=0, gradients_finite=True,
                     values=(), update_finite=True, labels_ok=True):
        kept = ops.cast(finite, "float32")
        self.skipped.assign(self.skipped.value + (1.0 - kept))
        self.count.assign(self.count.value + 1.0)
        self.consecutive.assign((self.consecutive.value + 1.0)
                                * (1.0 - kept))
        record = ops.stack(
            [ops.cast(step, "float32"), ops.cast(gradients_finite, "float32"),
             ops.cast(update_finite, "float32"),
             ops.cast(labels_ok, "float32")]
            + [ops.cast(v, "float32") for v in values])
        self.last.assign(ops.where(finite, self.last.value, record))

    def result(self):
        return ops.add(self.skipped.value, 0.0)  # a tensor, not the variable

    def info(self):
        """`[consecutive skips, step, gradients finite, update finite,
        labels in range, terms...]`."""
        return ops.concatenate(
            [ops.reshape(self.consecutive.value, (1,)), self.last.value])

    def reset_state(self):
        # Consecutive skips and the last skipped step carry over epochs.
        self.skipped.assign(0.0)
        self.count.assign(0.0)

    def get_config(self):
        return {**super().get_config(), "terms": self.terms}


def record_and_log(model, step_loss, x, y, sample_weight, finite,
                   gradients_finite, replicas=1, update_finite=True):
    """Updates every metric for a step and returns the step's logs.

    A skipped step (`finite` False) leaves every metric as it was, except
    `skipped_steps`. `update_finite` says whether the weights and optimizer
    state the update left were finite. Returns `model.get_metrics_result()`
    plus the private entry that `guard_train_function` reads.
    """
    tracker = model.skipped_steps_tracker
    skip = {id(v) for v in tracker.variables}
    variables = [v for v in model.metrics_variables if id(v) not in skip]
    before = [ops.copy(v.value) for v in variables]
    record_step(model, step_loss, batch_size_of(x), replicas)
    model.compute_metrics(x, y, step_loss.y_pred, sample_weight=sample_weight)
    for variable, old in zip(variables, before):
        variable.assign(ops.where(finite, variable.value, old))
    tracker.update_state(
        finite, model.optimizer.iterations, gradients_finite,
        [value for _, value in penalty_terms(model, step_loss)],
        update_finite,
        True if step_loss.labels_ok is None else step_loss.labels_ok)
    logs = model.get_metrics_result()
    logs[NONFINITE_LOG] = tracker.info()
    return logs


def guard_train_function(model, function):
    """Wraps `fit`'s train function: stops training after too many skips.

    The wrapped function returns what `function` returns (logs, or
    `(logs, state)` under JAX) without the private non-finite entry, and
    keeps the latest JAX state in its `last_state` attribute (what
    `jax_trainer` gives back to the variables when `fit` is interrupted);
    when
    `model.max_consecutive_skips` steps in a row were skipped, it sets
    `model.stop_training`, keeps the message in `model.nonfinite_stop` and
    warns (a `RuntimeWarning`) with the names and values of the terms.
    """
    if function is None or getattr(function, "_keras_adrop_guard", False):
        return function

    def guarded(*args, **kwargs):
        if args and isinstance(args[0], tuple):
            # JAX: the state going in, valid until the step takes it.
            guarded.last_state = args[0]
        result = function(*args, **kwargs)
        if isinstance(result, tuple):
            guarded.last_state = result[1]  # JAX: the state coming out
        logs = result[0] if isinstance(result, tuple) else result
        info = logs.pop(NONFINITE_LOG, None) if isinstance(logs, dict) \
            else None
        if info is not None:
            check_skips(model, info)
        return result

    guarded._keras_adrop_guard = True
    guarded.last_state = None
    return guarded


def check_skips(model, info):
    """Stops training when the consecutive skips reach the model's limit."""
    info = np.asarray(keras.ops.convert_to_numpy(info), dtype="float64")
    consecutive = int(info[0])
    if consecutive < model.max_consecutive_skips:
        return
    step, gradients_finite = int(info[1]), bool(info[2])
    update_finite, labels_ok, values = bool(info[3]), bool(info[4]), info[5:]
    names = term_names(model)
    bad = [name for name, value in zip(names, values)
           if not np.isfinite(value)]
    if not labels_ok:
        classes, _ = sparse_classes(model)
        bad.append(f"labels (a class index outside [0, {classes}); under "
                   "JAX the sparse cross-entropy counts it as 0 without a "
                   "word)")
    if not gradients_finite:
        bad.append("gradients")
    if not update_finite:
        bad.append("the update (weights or optimizer state after it, e.g. "
                   "an overflowing second moment; not applied)")
    terms = ", ".join(f"{name} = {value:g}"
                      for name, value in zip(names, values))
    message = (
        f"Non-finite training step: {consecutive} consecutive step(s) "
        f"skipped (max_consecutive_skips={model.max_consecutive_skips}), "
        f"the last at optimizer step {step}; non-finite: "
        f"{', '.join(bad) or 'none'}. Loss terms: {terms}. Training stops; "
        "the model keeps the weights and optimizer state of the last "
        "finite step. Look for NaN/inf in the inputs or labels, labels "
        "out of range, or lower the learning rate or the penalty weights."
    )
    model.nonfinite_stop = message
    model.stop_training = True
    warnings.warn(message, RuntimeWarning, stacklevel=3)
