"""The training step of `RegularizedModel`, on each Keras backend.

- `batch`: `TrainingBatch`, what a regularizer sees of a step, and
  `ModelState`, which replays random draws between passes (rule 9).
- `data`: what `fit` hands a step (`(x, y[, sample_weight])` or the
  semi-supervised `{"labeled": ..., "unlabeled": ...}`), read once.
- `loss`: what a step computes, written once for every backend.
- `nonfinite`: skipping a step whose loss or gradients are not finite, and
  stopping `fit` after too many in a row.
- `tensorflow_trainer`, `jax_trainer`: how each backend differentiates it
  and applies the update (`train_step`).
"""

import keras

SUPPORTED_BACKENDS = ("tensorflow", "jax")


class UnsupportedBackendTrainer:
    """Stands in for a trainer on a backend keras_adrop cannot train on."""

    def __init__(self, *args, **kwargs):
        raise ValueError(
            f"{type(self).__name__} trains on the Keras backends "
            f"{SUPPORTED_BACKENDS}. Received: KERAS_BACKEND="
            f"'{keras.backend.backend()}'. Set the environment variable "
            "KERAS_BACKEND before importing keras. (The layers work on any "
            "backend inside a plain keras.Model.)"
        )


def trainer_class():
    """The class whose `train_step` trains on the current Keras backend."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        from keras_adrop.training.tensorflow_trainer import TensorFlowTrainer

        return TensorFlowTrainer
    if backend == "jax":
        from keras_adrop.training.jax_trainer import JAXTrainer

        return JAXTrainer
    return UnsupportedBackendTrainer


def gradient_function(model):
    """`gradient(objective, tensors)` outside a training step (eager).

    What `TrainingBatch.gradient` uses, for a search run on its own (the
    adversarial masks of a trained model): the weights are constants.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        from keras_adrop.training.tensorflow_trainer import tape_gradient

        return tape_gradient(None)
    if backend == "jax":
        from keras_adrop.training.jax_trainer import stopped_gradient

        return stopped_gradient(model)
    raise ValueError(
        f"keras_adrop computes gradients on the Keras backends "
        f"{SUPPORTED_BACKENDS}. Received: '{backend}'."
    )
