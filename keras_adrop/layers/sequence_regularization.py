"""Sequence-level activation penalties (AWD-LSTM's AR and TAR).

`RecurrentActivityRegularization` adds AR and TAR to the model's losses.
Two deprecated names stay here so that old code and old `.keras` files keep
working: `ActivationRegularization` (now `RecurrentActivityRegularization`)
and `LockedDropout`, which is Keras' `keras.layers.SpatialDropout1D` (one
mask per sequence, `(batch, 1, features)`, kept units scaled by
`1/(1-rate)`, mask propagated, its `SeedGenerator` a layer variable that a
training step's passes rewind alike, docs/algorithm.md rule 9).
"""

import keras
from keras import ops

from keras_adrop import arguments


@keras.saving.register_keras_serializable(package="keras_adrop")
class RecurrentActivityRegularization(keras.layers.Layer):
    """AR and TAR penalties on a sequence of hidden states (Merity et al.).

    Passes its input through unchanged and, in training, adds to the
    model's losses `alpha * mean(h_t^2)` (activation regularization) and
    `beta * mean((h_t - h_{t-1})^2)` (temporal activation regularization),
    means over the valid (non-padded) steps and features. AWD-LSTM applies
    AR to the dropped output of the last layer and TAR to the output
    before dropout: place one layer at each point.

    Unlike `keras.layers.ActivityRegularization` (an L1/L2 penalty summed
    over a batch), it averages over valid time steps and adds the temporal
    term. Formerly `ActivationRegularization` (a deprecated alias).

    Args:
        alpha: Weight of AR, a finite number >= 0. Default 0.0.
        beta: Weight of TAR, a finite number >= 0. Default 0.0.
        **kwargs: `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Example:

    ```python
    h = keras_adrop.layers.LSTM(400, return_sequences=True)(x)
    h = keras_adrop.layers.RecurrentActivityRegularization(beta=1.0)(h)
    h = keras.layers.SpatialDropout1D(0.4)(h)
    h = keras_adrop.layers.RecurrentActivityRegularization(alpha=2.0)(h)
    ```
    """

    def __init__(self, alpha=0.0, beta=0.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = arguments.check_number("alpha", alpha, low=0.0)
        self.beta = arguments.check_number("beta", beta, low=0.0)
        self.supports_masking = True

    def call(self, inputs, training=False, mask=None):
        if training and (self.alpha or self.beta):
            h = ops.cast(inputs, "float32")
            if mask is None:
                valid = ops.ones(ops.shape(h)[:2], dtype="float32")
            else:
                valid = ops.cast(mask, "float32")
            features = ops.cast(ops.shape(h)[-1], "float32")
            if self.alpha:
                squares = ops.sum(ops.square(h), axis=-1) * valid
                self.add_loss(self.alpha * ops.sum(squares) / (
                    ops.maximum(ops.sum(valid), 1.0) * features))
            if self.beta:
                pairs = valid[:, 1:] * valid[:, :-1]
                steps = ops.sum(ops.square(h[:, 1:] - h[:, :-1]), axis=-1)
                self.add_loss(self.beta * ops.sum(steps * pairs) / (
                    ops.maximum(ops.sum(pairs), 1.0) * features))
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha,
                "beta": self.beta}


@keras.saving.register_keras_serializable(package="keras_adrop")
class ActivationRegularization(RecurrentActivityRegularization):
    """Deprecated: use `RecurrentActivityRegularization` (same arguments).

    Kept, registered under its old name, so that `.keras` files saved with
    it still load.
    """

    def __init__(self, alpha=0.0, beta=0.0, **kwargs):
        arguments.warn_once(
            ("deprecated_class", "ActivationRegularization"),
            "keras_adrop.layers.ActivationRegularization is deprecated; use "
            "keras_adrop.layers.RecurrentActivityRegularization (same "
            "arguments and behaviour).", DeprecationWarning, stacklevel=2)
        super().__init__(alpha=alpha, beta=beta, **kwargs)


@keras.saving.register_keras_serializable(package="keras_adrop")
class LockedDropout(keras.layers.SpatialDropout1D):
    """Deprecated: use `keras.layers.SpatialDropout1D` (the same thing).

    Variational ("locked") dropout on a sequence `(batch, time, features)`:
    one mask of shape `(batch, 1, features)` per sequence, kept units scaled
    by `1/(1-rate)`, identity at inference. That is exactly Keras'
    `SpatialDropout1D`, which this class now is; it is kept, registered
    under its old name, so that old code and `.keras` files still work.
    Both propagate the padding mask, and both draw from a `SeedGenerator`
    that is a variable of the layer, so the passes of an adversarial-dropout
    step replay the same mask (docs/algorithm.md rule 9). One difference
    kept for old configs: the rate must be in [0, 1) here (Keras allows 1).

    Args:
        rate: Fraction of features dropped, in [0, 1).
        seed: Random seed (None or an integer >= 0).
        **kwargs: `name`, `dtype`, `trainable`.

    Example:

    ```python
    h = keras_adrop.layers.LSTM(650, return_sequences=True)(x)
    h = keras.layers.SpatialDropout1D(0.4)(h)  # was LockedDropout(0.4)
    ```
    """

    def __init__(self, rate, seed=None, **kwargs):
        arguments.warn_once(
            ("deprecated_class", "LockedDropout"),
            "keras_adrop.layers.LockedDropout is deprecated; use "
            "keras.layers.SpatialDropout1D (same rate, seed, masking and "
            "mask reuse within a training step).", DeprecationWarning,
            stacklevel=2)
        rate = arguments.check_rate("rate", rate,
                                    what=" (the fraction of features dropped)")
        seed = arguments.check_seed("seed", seed)
        trainable = kwargs.pop("trainable", True)
        unknown = sorted(set(kwargs) - {"name", "dtype"})
        if unknown:
            raise TypeError(
                f"LockedDropout got unexpected arguments {unknown}.")
        super().__init__(rate, seed=seed, **kwargs)
        self.trainable = trainable

    def compute_output_shape(self, input_shape):
        return input_shape
