"""An Embedding layer whose output a training step can perturb."""

import contextlib

import keras
from keras import ops

from keras_adrop.layers.recurrent import lookup
from keras_adrop.layers.recurrent import registered


@keras.saving.register_keras_serializable(package="keras_adrop")
class Embedding(keras.layers.Embedding):
    """`keras.layers.Embedding` with a hook for perturbations of its output.

    A drop-in for `keras.layers.Embedding` (same arguments and weights).
    Inside `embedding_perturbations({layer: perturb})`, a call returns
    `perturb(vectors, mask)` instead of the looked-up `vectors`, where
    `mask` is the `(batch, time)` padding mask (all True without
    `mask_zero`). Adversarial and virtual adversarial training
    (`keras_adrop.regularizers.AdversarialPerturbation`,
    `VirtualAdversarialPerturbation`) use it.

    Example:

    ```python
    inputs = keras.Input((None,), dtype="int32")
    vectors = keras_adrop.layers.Embedding(10_000, 256, mask_zero=True)(inputs)
    ```
    """

    def call(self, inputs):
        vectors = super().call(inputs)
        perturb = lookup(("perturbation", id(self)))
        if perturb is None:
            return vectors
        mask = self.compute_mask(inputs)
        if mask is None:
            mask = ops.ones(ops.shape(vectors)[:-1], dtype="bool")
        return perturb(vectors, mask)


@contextlib.contextmanager
def embedding_perturbations(perturbations):
    """Replaces the output of keras_adrop `Embedding` layers for a pass.

    Args:
        perturbations: dict `Embedding` layer -> callable
            `(vectors, mask) -> perturbed vectors`, with `vectors` of shape
            `(batch, time, dim)` and `mask` the `(batch, time)` padding mask.

    Example:

    ```python
    noise = lambda vectors, mask: vectors + 0.1
    with keras_adrop.layers.embedding_perturbations({embedding: noise}):
        y = model(tokens, training=True)
    ```
    """
    entries = {}
    for layer, perturb in perturbations.items():
        if not isinstance(layer, Embedding):
            raise ValueError(
                "`perturbations` keys must be keras_adrop.layers.Embedding "
                f"layers. Received a key of type {type(layer).__name__}."
            )
        if not callable(perturb):
            raise ValueError(
                "`perturbations` values must be callables (vectors, mask) -> "
                f"vectors. Received: {perturb!r}"
            )
        entries[("perturbation", id(layer))] = perturb
    with registered(entries):
        yield
