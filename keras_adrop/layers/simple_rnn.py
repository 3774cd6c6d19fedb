"""Fully-connected RNN with a time-invariant, per-example recurrent mask."""

import keras
from keras import ops

from keras_adrop.layers.recurrent import VariationalCell
from keras_adrop.layers.recurrent import VariationalRNN
from keras_adrop.layers.recurrent import constructor_arguments


@keras.saving.register_keras_serializable(package="keras_adrop")
class SimpleRNNCell(VariationalCell):
    """Cell of `keras_adrop.layers.SimpleRNN`: `h_t = f(x_t W + d(h_{t-1}) U + b)`.

    This is the paper's Eq. 1. Weight layout as `keras.layers.SimpleRNNCell`:
    `kernel (input_dim, units)`, `recurrent_kernel (units, units)`,
    `bias (units,)`.

    Args:
        units: Positive integer, dimensionality of the output space.
        activation: Default: tanh.
        use_bias, kernel_initializer, recurrent_initializer,
        bias_initializer, kernel_regularizer, recurrent_regularizer,
        bias_regularizer, kernel_constraint, recurrent_constraint,
        bias_constraint, dropout, recurrent_dropout, seed, zoneout,
        recurrent_dropconnect, dropconnect_mode: As
            `keras_adrop.layers.LSTMCell`.
        **kwargs: `keras.layers.Layer` arguments.

    Example:

    ```python
    cell = keras_adrop.layers.SimpleRNNCell(4)
    y = keras.layers.RNN(cell)(np.ones((2, 3, 5), "float32"))
    ```
    """

    def __init__(
        self,
        units,
        activation="tanh",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        seed=None,
        zoneout=0.0,
        recurrent_dropconnect=0.0,
        dropconnect_mode="element",
        **kwargs,
    ):
        super().__init__(**constructor_arguments(locals()))
        self.state_size = self.units
        self.output_size = self.units

    def build(self, input_shape):
        self._add_kernels(input_shape[-1])
        self._add_bias((self.units,))

    def project_inputs(self, inputs):
        z = ops.matmul(inputs, self.kernel)
        return z + self.bias if self.use_bias else z

    def step(self, projected, states, context, keeps=None):
        h_tm1 = states[0] if isinstance(states, (list, tuple)) else states
        gates = projected
        h_masked = h_tm1
        if context.multiplier is not None:
            h_masked = h_tm1 * context.multiplier
        h = gates + ops.matmul(h_masked, self.kernel_for(context))
        if self.activation is not None:
            h = self.activation(h)
        keep = keeps[0] if keeps is not None else None
        h = self.zone(h, h_tm1, keep, self.zoneout, context.training)
        new_state = [h] if isinstance(states, (list, tuple)) else h
        return h, new_state

    def get_initial_state(self, batch_size=None):
        return [ops.zeros((batch_size, self.units), dtype=self.compute_dtype)]


@keras.saving.register_keras_serializable(package="keras_adrop")
class SimpleRNN(VariationalRNN):
    """Fully-connected RNN layer whose recurrent mask can be set per batch.

    A drop-in for `keras.layers.SimpleRNN` (Keras' arguments in Keras' order
    with Keras' defaults, Keras' properties and weights); the recurrent mask
    behaves as in `keras_adrop.layers.LSTM`. Keras has no fused SimpleRNN
    kernel (and no `use_cudnn` for it): this layer always runs the step loop.

    Args:
        units: Positive integer, dimensionality of the output space.
        activation, use_bias, kernel_initializer, recurrent_initializer,
        bias_initializer, kernel_regularizer, recurrent_regularizer,
        bias_regularizer, activity_regularizer, kernel_constraint,
        recurrent_constraint, bias_constraint, dropout, recurrent_dropout,
        return_sequences, return_state, go_backwards, stateful, unroll,
        seed: As `keras.layers.SimpleRNN` and `keras_adrop.layers.LSTM`.
        zoneout, recurrent_dropconnect, dropconnect_mode: As
            `keras_adrop.layers.SimpleRNNCell`.
        **kwargs: `keras.layers.Layer` arguments and `zero_output_for_mask`.

    Example:

    ```python
    inputs = keras.Input((None, 8))
    x = keras_adrop.layers.SimpleRNN(32, recurrent_dropout=0.1)(inputs)
    ```
    """

    cell_class = SimpleRNNCell

    def __init__(
        self,
        units,
        activation="tanh",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        seed=None,
        zoneout=0.0,
        recurrent_dropconnect=0.0,
        dropconnect_mode="element",
        **kwargs,
    ):
        super().__init__(**constructor_arguments(locals()))
