"""The progress bar of `fit` for keras_adrop's models.

Keras sorts the logs by name before its progress bar shows them, so `loss`
came after `accuracy` and every penalty, and `skipped_steps: 0.0000e+00`
was printed at every epoch. `ProgressBar` shows `loss` first (and
`val_loss` first among the validation logs) and `skipped_steps` only once
a step of the epoch was skipped. Only the display changes: the logs that
callbacks, `History` and `CSVLogger` receive keep every key at every epoch
(`skipped_steps` included), so their columns stay aligned.
"""

import keras

SKIPPED_STEPS = "skipped_steps"


def display_order(logs):
    """`logs` as the progress bar shows them (a new dict).

    Example:

    >>> display_order({"accuracy": 0.5, "loss": 1.0, "skipped_steps": 0.0})
    {'loss': 1.0, 'accuracy': 0.5}
    """
    if not logs:
        return logs
    logs = {key: value for key, value in logs.items()
            if key != SKIPPED_STEPS or _nonzero(value)}

    def rank(key):
        validation = key.startswith("val_")
        return (validation, key != ("val_loss" if validation else "loss"))

    return {key: logs[key] for key in sorted(logs, key=rank)}


def _nonzero(value):
    try:
        return float(value) != 0.0
    except (TypeError, ValueError):
        return True


class ProgressBar(keras.callbacks.ProgbarLogger):
    """Keras' progress bar with `loss` first and `skipped_steps` shown
    only when a step was skipped.

    `RegularizedModel.fit` uses it in place of Keras' own when `verbose` is
    not 0 and no `keras.callbacks.ProgbarLogger` is passed.
    """

    def on_train_batch_end(self, batch, logs=None):
        super().on_train_batch_end(batch, display_order(logs))

    def on_test_batch_end(self, batch, logs=None):
        super().on_test_batch_end(batch, display_order(logs))

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, display_order(logs))

    def on_test_end(self, logs=None):
        super().on_test_end(display_order(logs))


def with_progress_bar(fit, args, kwargs):
    """`fit`'s `(args, kwargs)` with a `ProgressBar` among the callbacks,
    unless `verbose=0` or a `ProgbarLogger` is already there.

    Args:
        fit: `keras.Model.fit`, for its signature.
        args, kwargs: What `fit` received (without `self`).
    """
    import inspect

    bound = inspect.signature(fit).bind_partial(None, *args, **kwargs)
    arguments = dict(bound.arguments)
    arguments.pop("self", None)
    extra = arguments.pop("kwargs", {})
    verbose = arguments.get("verbose", "auto")
    callbacks = arguments.get("callbacks")
    if verbose == 0 or callbacks is not None and not isinstance(
            callbacks, (list, tuple)):
        return args, kwargs
    callbacks = list(callbacks or [])
    if any(isinstance(c, keras.callbacks.ProgbarLogger) for c in callbacks):
        return args, kwargs
    arguments["callbacks"] = callbacks + [ProgressBar()]
    return (), {**arguments, **extra}
