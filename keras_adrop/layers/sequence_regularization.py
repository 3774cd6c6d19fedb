"""Sequence-level dropout and activation penalties (AWD-LSTM's toolbox)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_adrop")
class LockedDropout(keras.layers.Layer):
    """Dropout with one mask per sequence, shared by all time steps.

    Variational ("locked") dropout on the inputs or outputs of recurrent
    layers (Gal & Ghahramani; Merity et al.'s AWD-LSTM): for inputs of shape
    `(batch, time, features)`, one mask of shape `(batch, 1, features)`,
    kept units scaled by `1/(1-rate)`. Identity at inference.

    Args:
        rate: Fraction of features dropped, in [0, 1).
        seed: Random seed.

    Example:

    ```python
    h = keras_adrop.layers.LSTM(650, return_sequences=True)(x)
    h = keras_adrop.layers.LockedDropout(0.4)(h)
    ```
    """

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= rate < 1.0:
            raise ValueError(
                f"`rate` must be in [0, 1). Received: rate={rate}"
            )
        self.rate = float(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def call(self, inputs, training=False):
        if not training or self.rate == 0.0:
            return inputs
        shape = ops.shape(inputs)
        return keras.random.dropout(
            inputs, self.rate, noise_shape=(shape[0], 1, shape[2]),
            seed=self.seed_generator,
        )

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


@keras.saving.register_keras_serializable(package="keras_adrop")
class ActivationRegularization(keras.layers.Layer):
    """AR and TAR penalties on a sequence of hidden states (Merity et al.).

    Passes its input through unchanged and, in training, adds to the
    model's losses `alpha * mean(h_t^2)` (activation regularization) and
    `beta * mean((h_t - h_{t-1})^2)` (temporal activation regularization),
    means over the valid (non-padded) steps and features. AWD-LSTM applies
    AR to the dropped output of the last layer and TAR to the output
    before dropout: place one layer at each point.

    Args:
        alpha: Weight of AR. Default 0.0.
        beta: Weight of TAR. Default 0.0.

    Example:

    ```python
    h = keras_adrop.layers.LSTM(400, return_sequences=True)(x)
    h = keras_adrop.layers.ActivationRegularization(beta=1.0)(h)   # TAR
    h = keras_adrop.layers.LockedDropout(0.4)(h)
    h = keras_adrop.layers.ActivationRegularization(alpha=2.0)(h)  # AR
    ```
    """

    def __init__(self, alpha=0.0, beta=0.0, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("alpha", alpha), ("beta", beta)):
            if value < 0:
                raise ValueError(
                    f"`{name}` must be >= 0. Received: {name}={value}"
                )
        self.alpha = float(alpha)
        self.beta = float(beta)
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
