"""GRU with a time-invariant, per-example recurrent mask."""

import keras
from keras import ops

from keras_adrop import keras_compat
from keras_adrop.layers.recurrent import VariationalCell
from keras_adrop.layers.recurrent import VariationalRNN
from keras_adrop.layers.recurrent import cell_property
from keras_adrop.layers.recurrent import constructor_arguments


@keras.saving.register_keras_serializable(package="keras_adrop")
class GRUCell(VariationalCell):
    """Cell of `keras_adrop.layers.GRU`; same weights as `keras.layers.GRUCell`.

    The update and reset gates and the candidate read the masked previous state
    `d(h_{t-1})` (docs/algorithm.md rule 1); the interpolation
    `h_t = z * h_{t-1} + (1 - z) * candidate` uses the unmasked `h_{t-1}`, as
    Keras does. Weight layout as Keras: `kernel (input_dim, 3*units)`,
    `recurrent_kernel (units, 3*units)`, `bias (2, 3*units)` when
    `reset_after=True` (input and recurrent biases) else `(3*units,)`.

    Args:
        units: Positive integer, dimensionality of the output space.
        activation: Activation of the candidate. Default: tanh.
        recurrent_activation: Activation of the gates. Default: sigmoid.
        use_bias, kernel_initializer, recurrent_initializer,
        bias_initializer, kernel_regularizer, recurrent_regularizer,
        bias_regularizer, kernel_constraint, recurrent_constraint,
        bias_constraint, dropout, recurrent_dropout: As
            `keras_adrop.layers.LSTMCell`.
        reset_after: Apply the reset gate after the recurrent matmul (Keras
            and cuDNN convention). Default: True.
        seed, zoneout, recurrent_dropconnect, dropconnect_mode: As
            `keras_adrop.layers.LSTMCell`.
        **kwargs: `keras.layers.Layer` arguments, and Keras'
            `implementation` (0, 1 or 2, all computing the same function).

    Example:

    ```python
    cell = keras_adrop.layers.GRUCell(4)
    y = keras.layers.RNN(cell)(np.ones((2, 3, 5), "float32"))
    ```
    """

    gate_count = 3

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
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
        reset_after=True,
        seed=None,
        zoneout=0.0,
        recurrent_dropconnect=0.0,
        dropconnect_mode="element",
        **kwargs,
    ):
        super().__init__(**constructor_arguments(locals(), exclude=(
            "recurrent_activation", "reset_after")))
        self.recurrent_activation = keras.activations.get(recurrent_activation)
        self.reset_after = reset_after
        self.state_size = self.units
        self.output_size = self.units

    def build(self, input_shape):
        self._add_kernels(input_shape[-1])
        shape = (2, 3 * self.units) if self.reset_after else (3 * self.units,)
        self._add_bias(shape)

    def _biases(self):
        """(input bias, recurrent bias), either possibly None."""
        if not self.use_bias:
            return None, None
        if self.reset_after:
            return self.bias[0], self.bias[1]
        return self.bias, None

    def project_inputs(self, inputs):
        z = ops.matmul(inputs, self.kernel)
        input_bias, _ = self._biases()
        return z if input_bias is None else z + input_bias

    def step(self, projected, states, context, keeps=None):
        h_tm1 = states[0] if isinstance(states, (list, tuple)) else states
        gates = projected
        h_masked = h_tm1
        if context.multiplier is not None:
            h_masked = h_tm1 * context.multiplier
        kernel = self.kernel_for(context)
        _, recurrent_bias = self._biases()
        x_z, x_r, x_h = ops.split(gates, 3, axis=-1)
        units = self.units
        if self.reset_after:
            inner = ops.matmul(h_masked, kernel)
            if recurrent_bias is not None:
                inner = inner + recurrent_bias
        else:
            inner = ops.matmul(h_masked, kernel[:, : 2 * units])
        z = self.recurrent_activation(x_z + inner[:, :units])
        r = self.recurrent_activation(x_r + inner[:, units : 2 * units])
        if self.reset_after:
            recurrent_h = r * inner[:, 2 * units :]
        else:
            recurrent_h = ops.matmul(r * h_masked, kernel[:, 2 * units :])
        candidate = self.activation(x_h + recurrent_h)
        h = z * h_tm1 + (1 - z) * candidate
        keep = keeps[0] if keeps is not None else None
        h = self.zone(h, h_tm1, keep, self.zoneout, context.training)
        new_state = [h] if isinstance(states, (list, tuple)) else h
        return h, new_state

    def get_initial_state(self, batch_size=None):
        return [ops.zeros((batch_size, self.units), dtype=self.compute_dtype)]

    def get_config(self):
        config = {
            "recurrent_activation": keras.activations.serialize(
                self.recurrent_activation
            ),
            "reset_after": self.reset_after,
        }
        return {**super().get_config(), **config}


@keras.saving.register_keras_serializable(package="keras_adrop")
class GRU(VariationalRNN, keras.layers.GRU):
    """Gated Recurrent Unit layer whose recurrent mask can be set per batch.

    A drop-in for `keras.layers.GRU` (Keras' arguments in Keras' order with
    Keras' defaults, Keras' properties and weight layout); the recurrent
    mask and the fused route behave as in `keras_adrop.layers.LSTM`. Under
    JAX, Keras' fused GRU is a `lax.scan` on every device (cuDNN-free), so
    the fused route runs on a CPU too.

    It is a `keras.layers.GRU` (a subclass, none of whose code runs), so
    `keras.layers.Bidirectional` fuses it where it fuses Keras' own (not
    under TensorFlow or JAX in Keras 3.15), as `keras_adrop.layers.LSTM`.

    Args:
        units: Positive integer, dimensionality of the output space.
        activation, recurrent_activation, use_bias, kernel_initializer,
        recurrent_initializer, bias_initializer, kernel_regularizer,
        recurrent_regularizer, bias_regularizer, activity_regularizer,
        kernel_constraint, recurrent_constraint, bias_constraint, dropout,
        recurrent_dropout, seed, return_sequences, return_state,
        go_backwards, stateful, unroll, reset_after, use_cudnn: As
            `keras.layers.GRU` and `keras_adrop.layers.LSTM`.
        zoneout, recurrent_dropconnect, dropconnect_mode: As
            `keras_adrop.layers.GRUCell`.
        **kwargs: `keras.layers.Layer` arguments, `zero_output_for_mask`
            and Keras' `implementation` (0, 1 or 2: the same function).

    Example:

    ```python
    inputs = keras.Input((None, 8))
    x = keras_adrop.layers.GRU(32, recurrent_dropout=0.1)(inputs)
    ```
    """

    cell_class = GRUCell
    fusable = True

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
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
        seed=None,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        reset_after=True,
        use_cudnn="auto",
        zoneout=0.0,
        recurrent_dropconnect=0.0,
        dropconnect_mode="element",
        **kwargs,
    ):
        super().__init__(**constructor_arguments(locals()))

    recurrent_activation = cell_property("recurrent_activation")
    reset_after = cell_property("reset_after")

    def fused_loop(self, sequences, initial_state, mask, recurrent_kernel):
        return keras_compat.fused_gru(
            sequences, initial_state[0], mask, kernel=self.cell.kernel,
            recurrent_kernel=recurrent_kernel, bias=self.cell.bias,
            activation=self.cell.activation,
            recurrent_activation=self.cell.recurrent_activation,
            return_sequences=self.return_sequences,
            go_backwards=self.go_backwards, unroll=self.unroll,
            reset_after=self.cell.reset_after)
