"""The training step of a `RegularizedModel` on TensorFlow.

One `tf.GradientTape` records the base pass, the penalties' passes and the
loss; influence maps and perturbation directions are taken with a second
tape that watches only the masks, while the training tape stops recording.
Works under `tf.distribute` strategies (per-replica means, as Keras' losses),
with mixed precision (the optimizer's loss scale), jit-compiled or not.
"""

import contextlib

import tensorflow as tf
from keras import ops

from keras_adrop.training import step as step_lib


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
            loss = step_lib.regularized_loss(
                self, data, tape_gradient(tape), replicas)
            scaled = self.optimizer.scale_loss(loss.total)
        gradients = tape.gradient(scaled, self.trainable_weights)
        # The update reads gradients that wait for the check: a non-finite
        # step raises and leaves the weights of the last finite step. (Only
        # the gradients sit under the control dependency: optimizer
        # variables created by a first `apply` must not depend on the data,
        # or a jit-compiled step cannot lift their initializers.)
        check = assert_finite(step_lib.penalty_terms(self, loss),
                              self.optimizer.iterations)
        with tf.control_dependencies([check]):
            gradients = [None if g is None else tf.identity(g)
                         for g in gradients]
        self.optimizer.apply(gradients, self.trainable_weights)
        x, y, sample_weight = step_lib.labeled_data(data)
        step_lib.record_step(self, loss, step_lib.batch_size_of(x), replicas)
        return self.compute_metrics(x, y, loss.y_pred,
                                    sample_weight=sample_weight)

    def test_step(self, data):
        labeled, _ = step_lib.split_unlabeled(data)
        return self._evaluation_logs(super().test_step(labeled))

    def _metric_seen(self, tracker):
        """False only when `tracker` has certainly seen no update."""
        if not tf.executing_eagerly():
            return True
        return float(tracker.count.numpy()) > 0.0


def assert_finite(terms, step):
    """Raises `tf.errors.InvalidArgumentError` when a loss term is not finite.

    The message gives the optimizer step and every term's name and value,
    so the non-finite one (NaN or inf) is named.

    Args:
        terms: `(name, scalar)` pairs whose sum is the training loss.
        step: The optimizer step, for the message.

    Returns:
        The check (an op in a graph; in eager mode it has already run).
    """
    values = [tf.cast(value, "float32") for _, value in terms]
    data = ["Non-finite training loss: stopped before the update of "
            "optimizer step", step, "- loss terms:"]
    for (name, _), value in zip(terms, values):
        data += [f"{name} =", value]
    data.append("The model keeps the weights of the last finite step. Look "
                "for NaN/inf in the inputs or labels, or lower the learning "
                "rate.")
    return tf.debugging.Assert(
        tf.reduce_all(tf.math.is_finite(tf.stack(values))), data)
