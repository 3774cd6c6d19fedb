"""The training step of a `RegularizedModel` on TensorFlow.

One `tf.GradientTape` records the base pass, the penalties' passes and the
loss; influence maps and perturbation directions are taken with a second
tape that watches only the masks, while the training tape stops recording.
Works under `tf.distribute` strategies (per-replica means, as Keras' losses),
with mixed precision (the optimizer's loss scale), jit-compiled or not. A
step whose loss terms or gradients are not finite is skipped (see
`keras_adrop.training.nonfinite` and docs/reliability.md).
"""

import contextlib

import tensorflow as tf
from keras import ops

from keras_adrop.training import data as data_lib
from keras_adrop.training import loss as loss_lib
from keras_adrop.training import nonfinite


def tape_gradient(tape):
    """`gradient(objective, tensors)` for a step recorded on `tape`.

    Only the tensors are watched, and `tape` (the training tape, or None)
    records nothing meanwhile: no gradient with respect to the weights is
    computed, and none flows from the search into the training gradient.
    """

    def gradient(objective, tensors):
        keys = list(tensors)
        values = [tensors[key] for key in keys]
        paused = tape.stop_recording() if tape else contextlib.nullcontext()
        with paused:
            with tf.GradientTape(watch_accessed_variables=False) as inner:
                inner.watch(values)
                value = objective(dict(zip(keys, values)))
            grads = inner.gradient(value, values)
        return {key: ops.zeros_like(v) if g is None else g
                for key, v, g in zip(keys, values, grads)}

    return gradient


class TensorFlowTrainer:
    """`train_step(data)` of a `RegularizedModel` with the TF backend."""

    def train_step(self, data):
        replicas = self.distribute_strategy.num_replicas_in_sync
        with tf.GradientTape() as tape:
            loss, state = loss_lib.regularized_loss(
                self, data, tape_gradient(tape), replicas)
            scaled = self.optimizer.scale_loss(loss.total)
        gradients = tape.gradient(scaled, self.trainable_weights)
        # A non-finite step is skipped: the update runs under a condition
        # (not an assertion, which XLA drops), and the model's state goes
        # back to what it was before the step.
        terms_finite, gradients_finite = nonfinite.finite_checks(
            self, loss, gradients)
        finite = all_replicas(tf.logical_and(terms_finite, gradients_finite))
        # An update that leaves a weight or optimizer slot non-finite (an
        # overflowing second moment) is taken back: skipped alike.
        update_finite = apply_if(self.optimizer, finite, gradients,
                                 self.trainable_weights)
        finite = tf.logical_and(finite, update_finite)
        state.rewind_unless(finite)
        x, y, sample_weight = data_lib.labeled_data(data, self)
        return nonfinite.record_and_log(
            self, loss, x, y, sample_weight, finite,
            all_replicas(gradients_finite), replicas, update_finite)

    def make_train_function(self, force=False):
        super().make_train_function(force)
        self.train_function = nonfinite.guard_train_function(
            self, self.train_function)
        return self.train_function

    def test_step(self, data):
        labeled, _ = data_lib.split_unlabeled(data, self)
        return self._evaluation_logs(super().test_step(labeled))

    def _metric_seen(self, tracker):
        """False only when `tracker` has certainly seen no update."""
        if not tf.executing_eagerly():
            return True
        return float(tracker.count.numpy()) > 0.0


def all_replicas(flag):
    """`flag` and'ed over the replicas of a `tf.distribute` strategy."""
    if not tf.distribute.has_strategy():
        return flag
    context = tf.distribute.get_replica_context()
    if context is None:
        return flag
    failures = context.all_reduce(tf.distribute.ReduceOp.SUM,
                                  1.0 - tf.cast(flag, "float32"))
    return failures < 0.5


def apply_if(optimizer, finite, gradients, variables):
    """`optimizer.apply(gradients, variables)` only where `finite` holds.

    A skipped step changes nothing: no weight, no optimizer slot, no step
    count. An update that leaves a weight or an optimizer slot that is not
    finite (an overflowing second moment: finite gradients can still square
    to inf) is taken back, every variable restored to its value before it.
    Works eagerly, in a `tf.function`, under XLA and in the replica context
    of a `tf.distribute` strategy (as Keras' `LossScaleOptimizer` does: the
    condition is taken in the cross-replica context).

    Returns:
        A boolean scalar: whether the state after the update was finite
        (True when nothing was applied and the state was finite).
    """
    if not optimizer.built:  # no variable may be created inside the cond
        optimizer.build(variables)
    state = list(variables) + list(optimizer.variables)
    if not tf.distribute.has_strategy() or (
            tf.distribute.get_replica_context() is None):
        return _apply_checked(
            finite, lambda: optimizer.apply(gradients, variables), state)

    def cross_replica(distribution, finite, gradients):
        def apply_fn():
            distribution.extended.call_for_each_replica(
                optimizer.apply, args=(gradients, variables))

        return _apply_checked(
            distribution.experimental_local_results(finite)[0], apply_fn,
            state)

    return tf.distribute.get_replica_context().merge_call(
        cross_replica, args=(finite, gradients))


def _apply_checked(finite, apply_fn, state):
    """Runs `apply_fn` if `finite`; restores `state` if it became
    non-finite. Returns whether the state after it is finite."""
    saved = [tf.identity(v.value) for v in state]
    ops.cond(finite, apply_fn, lambda: None)
    update_finite = nonfinite.all_finite(state)

    def restore():
        for variable, value in zip(state, saved):
            variable.assign(value)

    ops.cond(update_finite, lambda: None, restore)
    return update_finite
