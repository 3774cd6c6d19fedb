"""Non-finite training steps (docs/reliability.md).

A step whose loss terms or gradients are not all finite, or whose update
would leave a weight or an optimizer slot that is not finite, is skipped on
every backend and path (the trainer applies no update and rewinds the
model's state), counted in the `skipped_steps` log, and `fit` stops after
`max_consecutive_skips` in a row. The decision is taken inside the compiled
step (no assertion, which XLA would drop); the stop is decided in Python
after the step, from a private log entry that `guard_train_function`
removes.
"""

import warnings

import keras
import numpy as np
from keras import ops

from keras_adrop.training.batch import loss_scaled
from keras_adrop.training.data import batch_size_of
from keras_adrop.training.loss import record_step
from keras_adrop.training.loss import sparse_classes

NONFINITE_LOG = "_keras_adrop_nonfinite"


def term_names(model):
    """Names of the loss terms checked for non-finite values, in order."""
    return ["supervised_loss"] + [
        regularizer.metric_names()[0] for regularizer in model.regularizers]


def penalty_terms(model, step_loss):
    """`(name, value)` of each term of the loss, named by `term_names`."""
    return list(zip(term_names(model),
                    [step_loss.supervised] + list(step_loss.penalties)))


def finite_checks(model, step_loss, gradients):
    """`(terms finite, gradients finite)`, two boolean scalars.

    The terms count as not finite when a class index is out of range
    (`labels_in_range`).

    Gradients are checked unless the optimizer scales the loss
    (`loss_scaled`): a `LossScaleOptimizer` expects overflowing gradients
    now and then and skips those steps itself (and lowers the scale).
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
    return all_finite_values([v.value for v in variables])


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
