"""LSTM with a time-invariant, per-example recurrent mask."""

import keras
from keras import ops

from keras_adrop import keras_compat
from keras_adrop.arguments import check_rate
from keras_adrop.layers.recurrent import VariationalCell
from keras_adrop.layers.recurrent import VariationalRNN
from keras_adrop.layers.recurrent import cell_property
from keras_adrop.layers.recurrent import constructor_arguments


@keras.saving.register_keras_serializable(package="keras_adrop")
class LSTMCell(VariationalCell):
    """Cell of `keras_adrop.layers.LSTM`; same weights as `keras.layers.LSTMCell`.

    `h_t = o * tanh(c_t)`, `c_t = f * c_{t-1} + i * tanh(g)`, where the gates
    `[i, f, g, o] = x_t W + d(h_{t-1}) U + b` all see the same masked previous
    state `d(h_{t-1})` (docs/algorithm.md rule 1); the cell state is not masked.
    Weight layout: `kernel (input_dim, 4*units)`, `recurrent_kernel
    (units, 4*units)`, `bias (4*units,)`, gate order i, f, g, o, as Keras.

    Args:
        units: Positive integer, dimensionality of the output space.
        activation: Activation of the candidate and the output. Default: tanh.
        recurrent_activation: Activation of the gates. Default: sigmoid.
        use_bias: Whether to use a bias vector. Default: True.
        kernel_initializer, recurrent_initializer, bias_initializer:
            Initializers as in Keras (defaults glorot_uniform, orthogonal,
            zeros).
        unit_forget_bias: Add 1 to the forget-gate bias at initialization.
            Default: True.
        kernel_regularizer, recurrent_regularizer, bias_regularizer,
        kernel_constraint, recurrent_constraint, bias_constraint: As Keras.
        dropout: Fraction of input units dropped, one mask per sequence.
        recurrent_dropout: Fraction `p` of `h_{t-1}` units dropped with one
            variational mask per sequence (docs/algorithm.md rules 1-3).
        seed: Random seed for the dropout masks.
        zoneout: Zoneout rate of the hidden state (Krueger et al.).
        cell_zoneout: Zoneout rate of the cell state.
        recurrent_dropconnect, dropconnect_mode: DropConnect on the
            recurrent kernel (see
            `keras_adrop.layers.recurrent.VariationalCell`).
        **kwargs: `keras.layers.Layer` arguments (name, dtype, ...), and
            Keras' `implementation` (0, 1 or 2: each computes the same
            function; keras_adrop runs all gates in one matmul per step).

    Example:

    ```python
    cell = keras_adrop.layers.LSTMCell(4)
    y = keras.layers.RNN(cell)(np.ones((2, 3, 5), "float32"))
    ```
    """

    gate_count = 4

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        unit_forget_bias=True,
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
        cell_zoneout=0.0,
        recurrent_dropconnect=0.0,
        dropconnect_mode="element",
        **kwargs,
    ):
        super().__init__(**constructor_arguments(locals(), exclude=(
            "recurrent_activation", "unit_forget_bias", "cell_zoneout")))
        self.recurrent_activation = keras.activations.get(recurrent_activation)
        self.unit_forget_bias = unit_forget_bias
        self.cell_zoneout = check_rate("cell_zoneout", cell_zoneout)
        self.state_size = [self.units, self.units]
        self.output_size = self.units

    def build(self, input_shape):
        self._add_kernels(input_shape[-1])
        initializer = None
        if self.unit_forget_bias:

            def initializer(_, *args, **kwargs):
                units = self.units
                return ops.concatenate(
                    [
                        self.bias_initializer((units,), *args, **kwargs),
                        keras.initializers.get("ones")((units,), *args, **kwargs),
                        self.bias_initializer((2 * units,), *args, **kwargs),
                    ]
                )

        self._add_bias((4 * self.units,), initializer)

    def project_inputs(self, inputs):
        z = ops.matmul(inputs, self.kernel)
        return z + self.bias if self.use_bias else z

    def zoneout_rates(self):
        return [self.zoneout, self.cell_zoneout]

    def step(self, projected, states, context, keeps=None):
        h_tm1, c_tm1 = states[0], states[1]
        gates = projected
        h_masked = h_tm1
        if context.multiplier is not None:
            h_masked = h_tm1 * context.multiplier
        z = gates + ops.matmul(h_masked, self.kernel_for(context))
        z_i, z_f, z_g, z_o = ops.split(z, 4, axis=-1)
        i = self.recurrent_activation(z_i)
        f = self.recurrent_activation(z_f)
        c = f * c_tm1 + i * self.activation(z_g)
        h = self.recurrent_activation(z_o) * self.activation(c)
        keep_h, keep_c = keeps if keeps is not None else (None, None)
        # Zoneout (Krueger et al.): h uses the new, not yet zoned, c.
        h = self.zone(h, h_tm1, keep_h, self.zoneout, context.training)
        c = self.zone(c, c_tm1, keep_c, self.cell_zoneout, context.training)
        return h, [h, c]

    def get_config(self):
        config = {
            "recurrent_activation": keras.activations.serialize(
                self.recurrent_activation
            ),
            "unit_forget_bias": self.unit_forget_bias,
            "cell_zoneout": self.cell_zoneout,
        }
        return {**super().get_config(), **config}


@keras.saving.register_keras_serializable(package="keras_adrop")
class LSTM(VariationalRNN, keras.layers.LSTM):
    """Long Short-Term Memory layer whose recurrent mask can be set per batch.

    A drop-in for `keras.layers.LSTM`: Keras' arguments in Keras' order with
    Keras' defaults, Keras' properties and weight layout, so
    `ours.set_weights(keras_lstm.get_weights())` moves weights across.
    `recurrent_dropout=p` is variational dropout (Gal & Ghahramani): one mask
    per example on `h_{t-1}`, shared by all gates and all time steps, scaled
    by `1/(1-p)`, off at inference. A training step can replace that mask for
    one forward pass with `keras_adrop.layers.recurrent_masks`.

    Where no per-example mask is in play (inference; training with only
    `dropout` and `recurrent_dropconnect`) the layer runs the fused function
    Keras' own LSTM runs on this backend (cuDNN on an NVIDIA GPU under
    TensorFlow and JAX; the step loop on a CPU), with DropConnect's masked
    kernel in it.

    It is a `keras.layers.LSTM` (a subclass, none of whose code runs), so
    `keras.layers.Bidirectional` treats it as Keras' own: where Keras fuses
    both directions into one kernel (JAX on a GPU) it fuses ours, unless a
    per-example mask is in play (then `use_cudnn` reads False and each
    direction runs its own route).

    Args:
        units: Positive integer, dimensionality of the output space.
        activation, recurrent_activation, use_bias, kernel_initializer,
        recurrent_initializer, bias_initializer, unit_forget_bias,
        kernel_regularizer, recurrent_regularizer, bias_regularizer,
        activity_regularizer, kernel_constraint, recurrent_constraint,
        bias_constraint, dropout, seed, return_sequences, return_state,
        go_backwards, stateful, unroll: As `keras.layers.LSTM`; `dropout`
            draws one input mask per sequence.
        recurrent_dropout: Rate of the variational mask on `h_{t-1}`.
        use_cudnn: "auto" (default) runs Keras' fused kernel where it can
            (see above); False always runs the step loop (e.g. to keep XLA
            on a GPU); True raises a ValueError on a call that cannot run
            it (a recurrent or output mask, zoneout, or no cuDNN here).
        zoneout, cell_zoneout, recurrent_dropconnect, dropconnect_mode:
            As `keras_adrop.layers.LSTMCell`.
        **kwargs: `keras.layers.Layer` arguments (name, dtype, ...),
            `zero_output_for_mask` and Keras' `implementation` (0, 1 or 2:
            the same function).

    Example:

    ```python
    inputs = keras.Input((28, 28))
    x = keras_adrop.layers.LSTM(100, recurrent_dropout=0.1)(inputs)
    outputs = keras.layers.Dense(10)(x)
    model = keras.Model(inputs, outputs)
    ```
    """

    cell_class = LSTMCell
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
        unit_forget_bias=True,
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
        use_cudnn="auto",
        zoneout=0.0,
        cell_zoneout=0.0,
        recurrent_dropconnect=0.0,
        dropconnect_mode="element",
        **kwargs,
    ):
        super().__init__(**constructor_arguments(locals()))

    recurrent_activation = cell_property("recurrent_activation")
    unit_forget_bias = cell_property("unit_forget_bias")
    cell_zoneout = cell_property("cell_zoneout")

    def fused_loop(self, sequences, initial_state, mask, recurrent_kernel):
        return keras_compat.fused_lstm(
            sequences, initial_state[0], initial_state[1], mask,
            kernel=self.cell.kernel, recurrent_kernel=recurrent_kernel,
            bias=self.cell.bias, activation=self.cell.activation,
            recurrent_activation=self.cell.recurrent_activation,
            return_sequences=self.return_sequences,
            go_backwards=self.go_backwards, unroll=self.unroll)
