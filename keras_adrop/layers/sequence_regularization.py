"""Sequence-level activation penalties (AWD-LSTM's AR and TAR).

`RecurrentActivityRegularization` adds AR and TAR to the model's losses.
AWD-LSTM's locked dropout is Keras' own `keras.layers.SpatialDropout1D` (one
mask per sequence, `(batch, 1, features)`; its `SeedGenerator` is a layer
variable, so the passes of a training step replay it, docs/algorithm.md
rule 9).
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
    term.

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
