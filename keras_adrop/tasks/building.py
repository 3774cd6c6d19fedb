"""What the tasks' model builders share: seeded initial weights, a dtype.

A builder takes a `seed` and hands it to what it creates (each layer's
initializers and its own `seed`), so that the same seed gives the same
model without reseeding the process: building leaves Python's, NumPy's and
Keras' global random state as it found them. A builder takes a `dtype`
policy for its layers the same way, instead of reading or setting the
global policy.

Example:

```python
hidden = keras_adrop.layers.LSTM(
    64, seed=seed, name="lstm", **recurrent_initializers(seed, "lstm"))(x)
logits = keras.layers.Dense(
    10, name="logits", **dense_initializers(seed, "logits"))(hidden)
```
"""

import zlib

import keras


def derived_seed(seed, name):
    """A seed of its own for the weight `name` (e.g. `"lstm/kernel"`).

    Two weights of one model never share a draw, and the seed of one
    weight does not depend on which other layers the model has.

    Example:

    >>> derived_seed(0, "lstm/kernel") == derived_seed(0, "lstm/kernel")
    True
    """
    return zlib.crc32(f"{int(seed)}/{name}".encode()) & 0x7FFFFFFF


def dense_initializers(seed, name):
    """`kernel_initializer` of a `Dense` layer named `name`: Keras'
    default (Glorot uniform), seeded."""
    return {"kernel_initializer": keras.initializers.GlorotUniform(
        derived_seed(seed, f"{name}/kernel"))}


def recurrent_initializers(seed, name):
    """The kernel and recurrent-kernel initializers of an LSTM, GRU or
    SimpleRNN named `name`: Keras' defaults (Glorot uniform, orthogonal),
    seeded. Biases start at zero (and an LSTM's forget gate at one)."""
    return {
        "kernel_initializer": keras.initializers.GlorotUniform(
            derived_seed(seed, f"{name}/kernel")),
        "recurrent_initializer": keras.initializers.Orthogonal(
            seed=derived_seed(seed, f"{name}/recurrent_kernel")),
    }


def embedding_initializers(seed, name):
    """`embeddings_initializer` of an `Embedding` named `name`: Keras'
    default (uniform in [-0.05, 0.05]), seeded."""
    return {"embeddings_initializer": keras.initializers.RandomUniform(
        -0.05, 0.05, seed=derived_seed(seed, f"{name}/embeddings"))}


def loss_scaled(optimizer, dtype=None):
    """`optimizer`, wrapped in a `keras.optimizers.LossScaleOptimizer`
    when `dtype` is the `mixed_float16` policy.

    `compile` does it by itself only for a model whose own policy is
    `mixed_float16`, which a functional model takes from the global policy
    alone; a builder given `dtype="mixed_float16"` leaves that one as it is.
    """
    if dtype is not None and keras.dtype_policies.get(
            dtype).name == "mixed_float16":
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer
