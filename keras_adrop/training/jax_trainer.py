"""The training step of a `RegularizedModel` on JAX.

Keras' JAX pattern: `train_step(state, data)` is a pure function of the
variables' values, jit-compiled by `fit`. The whole regularized loss
(`loss.regularized_loss`, the same code as on TensorFlow) runs inside one
`keras.StatelessScope` that maps every variable to its value in `state`;
`jax.value_and_grad` differentiates it with respect to the trainable
values. Rule 9 needs nothing more: the passes of a step assign the
non-trainable state (seed-generator states included) inside that scope,
`ModelState` rewinds it there, and the state the base pass left is what the
step returns. Influence maps are `jax.grad` with respect to the masks only,
in a nested scope where the weights are `stop_gradient` constants.

As on TensorFlow, a non-finite step is skipped inside the compiled step
(weights, optimizer and random state stay as they were), counted in
`skipped_steps`, and `fit` stops after `max_consecutive_skips` in a row
(docs/reliability.md). A stateful keras_adrop RNN's carried state is one
of the model's non-trainable variables (`VariationalRNN.variables`), so it is
carried from batch to batch here as on TensorFlow (Keras' own stateful
layers carry nothing under JAX).
"""

import jax
import keras
from keras import ops

from keras_adrop import keras_compat
from keras_adrop.training import data as data_lib
from keras_adrop.training import loss as loss_lib
from keras_adrop.training import nonfinite


def _values(scope, variables, defaults):
    """The values of `variables` at the end of a `StatelessScope`."""
    values = []
    for variable, default in zip(variables, defaults):
        value = scope.get_current_value(variable)
        values.append(default if value is None else value)
    return values


def _optimizer_variables(model):
    optimizer = getattr(model, "optimizer", None)
    return list(optimizer.variables) if optimizer is not None else []


def stopped_gradient(model):
    """`gradient(objective, tensors)` with every weight held constant."""

    def gradient(objective, tensors):
        keys = list(tensors)
        trainable = [(v, jax.lax.stop_gradient(v.value))
                     for v in model.trainable_variables]
        others = [(v, v.value) for v in list(model.non_trainable_variables)
                  + _optimizer_variables(model)]

        def function(values):
            # Whatever the objective's passes assign stays in this scope.
            with keras.StatelessScope(trainable + others):
                return objective(dict(zip(keys, values)))

        grads = jax.grad(function)([tensors[key] for key in keys])
        return dict(zip(keys, grads))

    return gradient


class JAXTrainer(keras_compat.LabeledSymbolicBuild):
    """`train_step(state, data)` of a `RegularizedModel` with JAX."""

    def train_step(self, state, data):
        trainable, non_trainable, optimizer_values, metric_values = state

        def loss_fn(trainable_values):
            mapping = (
                list(zip(self.trainable_variables, trainable_values))
                + list(zip(self.non_trainable_variables, non_trainable))
                + list(zip(self.optimizer.variables, optimizer_values))
                + list(zip(self.metrics_variables, metric_values))
            )
            with keras.StatelessScope(mapping, collect_losses=True) as scope:
                loss, _ = loss_lib.regularized_loss(
                    self, data, stopped_gradient(self))
                scaled = self.optimizer.scale_loss(loss.total)
            after = (
                _values(scope, self.non_trainable_variables, non_trainable),
                _values(scope, self.metrics_variables, metric_values),
            )
            return scaled, (loss, after)

        (_, (loss, (non_trainable_after, metric_values))), grads = (
            jax.value_and_grad(loss_fn, has_aux=True)(trainable))
        new_trainable, new_optimizer = self.optimizer.stateless_apply(
            optimizer_values, grads, trainable)
        # A non-finite loss or gradient never reaches the weights, nor does
        # an update that would leave a weight or optimizer slot non-finite
        # (an overflowing second moment): the step is skipped (weights,
        # optimizer and random state kept).
        terms_finite, gradients_finite = nonfinite.finite_checks(
            self, loss, grads)
        applied = ops.logical_and(terms_finite, gradients_finite)
        # Only an update that would be applied is judged (as on TensorFlow).
        update_finite = ops.logical_or(
            ops.logical_not(applied), nonfinite.all_finite_values(
                list(new_trainable) + list(new_optimizer)))
        finite = ops.logical_and(applied, update_finite)

        def keep(new, old):
            return [ops.where(finite, n, o) for n, o in zip(new, old)]

        trainable = keep(new_trainable, trainable)
        optimizer_values = keep(new_optimizer, optimizer_values)
        non_trainable = keep(non_trainable_after, non_trainable)

        x, y, sample_weight = data_lib.labeled_data(data, self)
        with keras.StatelessScope(
                list(zip(self.metrics_variables, metric_values))
                + list(zip(self.optimizer.variables, optimizer_values))
        ) as scope:
            logs = nonfinite.record_and_log(
                self, loss, x, y, sample_weight, finite, gradients_finite,
                update_finite=update_finite)
        metric_values = _values(scope, self.metrics_variables, metric_values)
        return logs, (trainable, non_trainable, optimizer_values,
                      metric_values)

    def make_train_function(self, force=False):
        super().make_train_function(force)
        self.train_function = nonfinite.guard_train_function(
            self, self.train_function)
        return self.train_function

    def fit(self, *args, **kwargs):
        # Keras' JAX `fit` detaches the variables from their values for an
        # epoch and hands the state from step to step (each step takes the
        # state it receives); an interruption (Ctrl-C, an error in a
        # callback or in the data) left every variable on a deleted buffer,
        # and the model could be neither used nor saved. The last state is
        # given back to the variables here.
        try:
            return super().fit(*args, **kwargs)
        except BaseException as error:
            try:
                restore_last_state(self, error)
            except Exception as failure:  # never hide the user's error
                error.add_note(
                    "keras_adrop: the model's state could not be restored "
                    f"after the interruption ({type(failure).__name__}: "
                    f"{failure}).")
            raise
        finally:
            if getattr(self.train_function, "last_state", None) is not None:
                self.train_function.last_state = None  # no stale copy kept

    def _labeled_batch(self, data):
        # Keras' JAX `fit` builds the model on one batch's inputs first
        # (`keras_compat.LabeledSymbolicBuild`).
        return data_lib.split_unlabeled(data, self)[0]

    def test_step(self, state, data):
        labeled, _ = data_lib.split_unlabeled(data, self)
        logs, state = super().test_step(state, labeled)
        return self._evaluation_logs(logs), state

    def _metric_seen(self, tracker):
        """False only when `tracker` has certainly seen no update."""
        count = tracker.count.value
        if isinstance(count, jax.core.Tracer):
            return True
        return float(count) > 0.0


def restore_last_state(model, error):
    """Gives the variables the last state of an interrupted JAX `fit`.

    The state is the one after the last step that finished (or the one
    before the step that was interrupted, if that step had not taken it
    yet). If the interrupted step had already taken it, nothing can be
    restored, and a note on `error` says so.
    """
    function = getattr(model, "train_function", None)
    state = getattr(function, "last_state", None)
    groups = [model.trainable_variables, model.non_trainable_variables,
              model.optimizer.variables, model.metrics_variables]
    if state is None or all(_usable(v) for group in groups for v in group):
        return  # nothing was detached (or it was given back already)
    arrays = [a for part in state for a in part]
    if any(isinstance(a, jax.Array) and a.is_deleted() for a in arrays):
        error.add_note(
            "keras_adrop: the training step in flight had taken the model's "
            "state when fit was interrupted; the variables could not be "
            "restored. Load the last saved model or backup.")
        return
    for variables, values in zip(groups, state):
        for variable, value in zip(variables, values):
            variable.assign(value)


def _usable(variable):
    value = keras_compat.held_value(variable)
    return value is not None and not (
        isinstance(value, jax.Array) and value.is_deleted())
