"""An Embedding layer whose output a training step can perturb."""

import keras
from keras import ops

from keras_adrop import arguments
from keras_adrop import keras_compat
from keras_adrop.layers.mask_overrides import PERTURBATION
from keras_adrop.layers.mask_overrides import override


@keras.saving.register_keras_serializable(package="keras_adrop")
class Embedding(keras.layers.ReversibleEmbedding):
    """`keras.layers.Embedding` with a hook for perturbations of its output.

    A drop-in for `keras.layers.Embedding` (same arguments and weights),
    with one more argument, `embedding_dropout`: in training, whole word
    vectors are dropped, one mask over the vocabulary per batch (every
    occurrence of a dropped word is zero), kept ones scaled by `1/(1-p)`
    (AWD-LSTM's embedding dropout, Gal & Ghahramani's word dropout).

    It is Keras' `ReversibleEmbedding`: called with `reverse=True` on
    `(..., output_dim)` hidden states it returns `(..., input_dim)` logits
    with the transposed matrix (weight tying, Inan et al.; Press & Wolf),
    keeping the states' padding mask as a `Dense` decoder would. Keras
    shares the matrix between the two calls in every tool (`.keras` files,
    `clone_model`, `from_config`).

    Inside `keras_adrop.layers.embedding_perturbations({layer: perturb})`
    (`keras_adrop.layers.mask_overrides`), a lookup returns
    `perturb(vectors, mask)` instead of the looked-up `vectors`, where
    `mask` is the `(batch, time)` padding mask (all True without
    `mask_zero`). Adversarial and virtual adversarial training
    (`keras_adrop.regularizers.AdversarialPerturbation`,
    `VirtualAdversarialPerturbation`) use it.

    Args:
        *args, **kwargs: The arguments of `keras.layers.ReversibleEmbedding`
            (those of `keras.layers.Embedding`, `tie_weights`, ...).
        embedding_dropout: Fraction of word types dropped per batch, in
            [0, 1). Default 0.
        seed: Seed of the embedding dropout.

    Call arguments:
        inputs: Token ids, or with `reverse=True` hidden states.
        reverse: Whether to project hidden states to logits.
        training: Whether the embedding dropout is on.

    Example:

    ```python
    inputs = keras.Input((None,), dtype="int32")
    embedding = keras_adrop.layers.Embedding(
        10_000, 256, mask_zero=True, embedding_dropout=0.1)
    h = keras_adrop.layers.LSTM(256, return_sequences=True)(
        embedding(inputs))
    logits = embedding(h, reverse=True)   # (batch, time, 10000), tied
    ```
    """

    # The override it reads (`keras_adrop.layers.mask_overrides`).
    override_sites = frozenset({PERTURBATION})

    def __init__(self, *args, embedding_dropout=0.0, seed=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.embedding_dropout = arguments.check_rate(
            "embedding_dropout", embedding_dropout,
            what=" (the fraction of word types dropped per batch)")
        self.seed = arguments.check_seed("seed", seed)
        self.seed_generator = keras.random.SeedGenerator(self.seed)

    def call(self, inputs, reverse=False, training=False):
        if reverse:
            return super().call(inputs, reverse=True)
        vectors = super().call(inputs)
        # Keras' ReversibleEmbedding attaches the padding mask in its call;
        # the vectors returned here are new tensors, so it is attached again
        # (also for token ids given as floats, which `compute_mask` cannot
        # tell from a reverse call's hidden states).
        mask = keras.layers.Embedding.compute_mask(self, inputs)
        if training and self.embedding_dropout:
            kept = keras.random.dropout(
                ops.ones((self.input_dim, 1), dtype=vectors.dtype),
                self.embedding_dropout, seed=self.seed_generator,
            )
            vectors = vectors * ops.take(kept, ops.cast(inputs, "int32"),
                                         axis=0)
        perturb = override(PERTURBATION, self)
        if perturb is not None:
            vectors = perturb(vectors, ops.ones(ops.shape(vectors)[:-1],
                                                dtype="bool")
                              if mask is None else mask)
        if mask is not None:
            keras_compat.set_keras_mask(vectors, mask)
        return vectors

    def compute_mask(self, inputs, mask=None):
        # Keras calls this without the call's arguments. Token ids are a
        # lookup, with `keras.layers.Embedding`'s padding mask; floating
        # inputs are a reverse call's hidden states, whose mask passes to
        # the logits as through a `Dense` decoder (Keras' own
        # ReversibleEmbedding drops it, and before 3.14 gave the logits a
        # mask of the wrong shape).
        if "float" in str(getattr(inputs, "dtype", "")):
            return mask
        return keras.layers.Embedding.compute_mask(self, inputs, mask)

    def compute_output_spec(self, inputs, reverse=False, training=False):
        return super().compute_output_spec(inputs, reverse=reverse)

    def get_config(self):
        return {
            **super().get_config(),
            "embedding_dropout": self.embedding_dropout,
            "seed": self.seed,
        }
