"""What the LSTM, GRU and SimpleRNN layers share: the recurrent masks.

`VariationalRNN` is the base of keras_adrop's recurrent layers and
`VariationalCell` the base of their cells: variational dropout (Gal &
Ghahramani), one dropout mask per sequence on `h_{t-1}`, which a training
step can replace for one pass (`keras_adrop.layers.mask_overrides`).

docs/algorithm.md rules 1-3. A keras_adrop recurrent layer multiplies the previous
hidden state `h_{t-1}` by one mask per example, where `h_{t-1}` enters the
recurrent matmul, and nowhere else (rule 1). The mask is the same at every time
step and for every gate. It comes from one of three places, checked in order:

1. a mask set from outside for one forward pass with `recurrent_masks(...)`
   (the adversarial-dropout training step uses this); it is rescaled per
   example by `units / kept units`, the factor held constant (rule 2);
2. when `training=True` and `recurrent_dropout=p > 0`, a fresh variational
   mask per example, scaled by `1/(1-p)` (rule 2);
3. otherwise no mask at all: the full network (rule 3).

The input projection `x_t W + b` does not depend on the recurrence, so when
the inputs are at least as wide as the state the layer computes it for the
whole sequence in one matmul before the loop, and the cell's step only adds
`d(h_{t-1}) U`; with narrower inputs the step projects its own input.

When no per-example mask is in play (no mask of case 1 or 2, no zoneout, no
output mask), `LSTM` and `GRU` first hand the whole sequence to the fused
function Keras' own layer calls on this backend (`keras_adrop.keras_compat`:
cuDNN on an NVIDIA GPU under TensorFlow and JAX); DropConnect's masked kernel,
one per batch, goes into that call. Where that function has no kernel (a CPU)
the step loop runs, as in Keras.

A layer hands its cell what the call needs (the mask on `h_{t-1}`, the
DropConnect'ed kernel, zoneout, whether the inputs are projected) as the
cell's `step_context` call argument, a `StepContext`. A cell used without
one, inside a plain `keras.layers.RNN` or `keras.layers.StackedRNNCells`,
behaves as Keras' cells: the RNN has it draw its `dropout` and
`recurrent_dropout` masks once per call (`keras_compat.DropoutRNNCell`).
"""

import dataclasses
import inspect

import keras
from keras import ops

from keras_adrop import keras_compat
from keras_adrop.arguments import check_choice
from keras_adrop.arguments import check_rate
from keras_adrop.arguments import check_seed
from keras_adrop.arguments import check_units
from keras_adrop.layers import mask_overrides
from keras_adrop.layers.mask_overrides import FULL_NETWORK
from keras_adrop.layers.mask_overrides import OUTPUT
from keras_adrop.layers.mask_overrides import RECURRENT
from keras_adrop.layers.mask_overrides import RECURRENT_KERNEL
from keras_adrop.layers.mask_overrides import kept_fraction_scale
from keras_adrop.layers.mask_overrides import override


def constructor_arguments(local_variables, exclude=()):
    """A constructor's arguments as keywords, read from its `locals()`.

    Lets a class list Keras' arguments explicitly in its signature and hand
    them all on in one call; call it first thing in `__init__`.
    """
    skip = {"self", "__class__", "kwargs", *exclude}
    arguments = {k: v for k, v in local_variables.items() if k not in skip}
    return {**arguments, **local_variables.get("kwargs", {})}


DROPCONNECT_MODES = ("element", "row")


@dataclasses.dataclass(frozen=True)
class StepContext:
    """What a keras_adrop layer hands its cell for one call.

    The cell's `step_context` call argument. A dataclass, not a tuple:
    Keras refuses a call argument that nests tensors with other values.

    Attributes:
        multiplier: `(batch, units)` factor on `h_{t-1}` (the recurrent
            mask, already scaled), or None for the full network.
        recurrent_kernel: The recurrent kernel after DropConnect for this
            call, or None for the cell's own.
        zoneout: Whether the step inputs end with per-step zoneout
            keep-masks (one block of `units` columns per zoned state).
        training: Whether this is a training call.
        projected: Whether the step inputs are already projected
            (`x_t W + b`, computed for the whole sequence before the loop)
            or raw inputs that the step projects.
    """

    multiplier: object = None
    recurrent_kernel: object = None
    zoneout: bool = False
    training: bool = False
    projected: bool = True


class VariationalCell(keras.layers.Layer, keras_compat.DropoutRNNCell):
    """Base of the keras_adrop cells: weights, input projection, config.

    A subclass sets `gate_count`, creates its weights in `build` with the same
    names and shapes as its Keras counterpart, and implements
    `project_inputs(inputs)` (everything that does not depend on the state)
    and `step(projected, states, context)` (the recurrence; `context` is a
    `StepContext`: the mask on `h_{t-1}`, the DropConnect'ed kernel and the
    zoneout masks of this call), which its keras_adrop layer passes as the
    `step_context` call argument.

    Besides Keras' arguments, every cell takes `zoneout` (Krueger et al.:
    each step keeps each unit of the previous hidden state with probability
    z; at inference `z * old + (1 - z) * new`) and `recurrent_dropconnect`
    with `dropconnect_mode` (AWD-LSTM's WeightDrop: one DropConnect mask on
    the recurrent kernel per batch, shared by all examples and steps;
    "element" drops single weights, "row" whole rows
    (AWD-LSTM's variational WeightDrop: whole rows of PyTorch's
    `(gates*units, units)` matrix, i.e. columns of Keras' `recurrent_kernel`:
    a gate pre-activation cut off from `h_{t-1}` for the whole batch), both
    off by default.

    Used alone inside `keras.layers.RNN` (or `keras.layers.StackedRNNCells`),
    a cell works as Keras' own cells do there: the RNN has it draw one
    `dropout` mask on the step inputs and one `recurrent_dropout` mask on
    `h_{t-1}` per call, shared by all steps (and, as in the keras_adrop layer,
    by all gates: docs/algorithm.md rule 1), each scaled by `1/(1-p)`; no
    mask outside training. Zoneout (fresh masks at every step) and
    DropConnect (one kernel mask per batch) need the keras_adrop layer: in a
    training call of a plain RNN they raise a ValueError rather than
    silently dropping nothing.

    `implementation` is Keras' argument of `LSTMCell` and `GRUCell`: 0
    (legacy configs), 1 or 2; every value computes the same function, with
    all gates in one matmul per step.
    """

    gate_count = 1

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
        units = check_units(units)
        implementation = 2
        if self.gate_count > 1:  # Keras' LSTM and GRU cells take it
            implementation = check_choice(
                "implementation", kwargs.pop("implementation", 2), (0, 1, 2),
                " (each computes the same function; keras_adrop runs all "
                "gates in one matmul per step)")
        super().__init__(**kwargs)
        if self.gate_count > 1:
            self.implementation = implementation
        self.units = units
        self.activation = keras.activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(
            recurrent_initializer
        )
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = keras.regularizers.get(
            recurrent_regularizer
        )
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.recurrent_constraint = keras.constraints.get(recurrent_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.dropout = check_rate("dropout", dropout)
        self.recurrent_dropout = check_rate(
            "recurrent_dropout", recurrent_dropout
        )
        self.zoneout = check_rate("zoneout", zoneout)
        self.recurrent_dropconnect = check_rate(
            "recurrent_dropconnect", recurrent_dropconnect
        )
        self.dropconnect_mode = check_choice(
            "dropconnect_mode", dropconnect_mode, DROPCONNECT_MODES)
        self.seed = check_seed("seed", seed)
        self.seed_generator = keras.random.SeedGenerator(seed=self.seed)

    def zoneout_rates(self):
        """Zoneout rate of each zoned state, in state order (h first)."""
        return [self.zoneout]

    def uses_random_masks(self):
        return bool(self.dropout or self.recurrent_dropout
                    or self.recurrent_dropconnect or any(self.zoneout_rates()))

    def split_zoneout(self, step_inputs, context):
        """(inputs, keep-masks per zoned state or None) of a step."""
        if not context.zoneout:
            return step_inputs, None
        count = len(self.zoneout_rates())
        width = step_inputs.shape[-1] - count * self.units
        keeps = ops.split(step_inputs[..., width:], count, axis=-1)
        return step_inputs[..., :width], keeps

    @staticmethod
    def zone(new, old, keep, rate, training):
        """Zoneout of one state: keep the old value where `keep` is 1."""
        if keep is not None:
            return keep * old + (1.0 - keep) * new
        if rate and not training:
            return rate * old + (1.0 - rate) * new
        return new

    def kernel_for(self, context):
        if context.recurrent_kernel is not None:
            return context.recurrent_kernel
        return self.recurrent_kernel

    def _add_kernels(self, input_dim):
        self.kernel = self.add_weight(
            shape=(input_dim, self.units * self.gate_count),
            name="kernel",
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, self.units * self.gate_count),
            name="recurrent_kernel",
            initializer=self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint,
        )

    def _add_bias(self, shape, initializer=None):
        if not self.use_bias:
            self.bias = None
            return
        self.bias = self.add_weight(
            shape=shape,
            name="bias",
            initializer=initializer or self.bias_initializer,
            regularizer=self.bias_regularizer,
            constraint=self.bias_constraint,
        )

    def project_inputs(self, inputs):
        raise NotImplementedError

    def step(self, projected, states, context, keeps=None):
        raise NotImplementedError

    # Set by the keras_adrop layer that owns the cell: it draws the masks
    # itself, so the `DropoutRNNCell` masks that `keras.layers.RNN.call`
    # asks every cell for are not drawn (nor the seed generator advanced).
    masks_from_layer = False

    def get_dropout_mask(self, step_input):
        if self.masks_from_layer:
            return None
        return super().get_dropout_mask(step_input)

    def get_recurrent_dropout_mask(self, step_input):
        if self.masks_from_layer:
            return None
        return super().get_recurrent_dropout_mask(step_input)

    def call(self, inputs, states, training=False, step_context=None):
        if step_context is not None:  # called by its keras_adrop layer
            inputs, keeps = self.split_zoneout(inputs, step_context)
            if not step_context.projected:
                inputs = self.project_inputs(inputs)
            return self.step(inputs, states, step_context, keeps)
        # In a plain keras.layers.RNN or StackedRNNCells, as Keras' cells.
        if training and (self.recurrent_dropconnect
                         or any(self.zoneout_rates())):
            raise ValueError(
                f"{type(self).__name__} with zoneout or "
                "recurrent_dropconnect draws fresh masks at every step or "
                "one kernel mask per batch, which needs its keras_adrop "
                f"layer: use keras_adrop.layers.{type(self).__name__[:-4]}"
                "(...) instead of keras.layers.RNN(cell)."
            )
        multiplier = None
        if training and self.dropout:
            inputs = inputs * self.get_dropout_mask(inputs)
        if training and self.recurrent_dropout:
            h_tm1 = states[0] if keras.tree.is_nested(states) else states
            multiplier = self.get_recurrent_dropout_mask(h_tm1)
        return self.step(self.project_inputs(inputs), states, StepContext(
            multiplier=multiplier, training=bool(training)))

    def get_initial_state(self, batch_size=None):
        return [
            ops.zeros((batch_size, self.units), dtype=self.compute_dtype)
            for _ in self.state_size
        ]

    def get_config(self):
        config = {
            "units": self.units,
            "activation": keras.activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(
                self.kernel_initializer
            ),
            "recurrent_initializer": keras.initializers.serialize(
                self.recurrent_initializer
            ),
            "bias_initializer": keras.initializers.serialize(
                self.bias_initializer
            ),
            "kernel_regularizer": keras.regularizers.serialize(
                self.kernel_regularizer
            ),
            "recurrent_regularizer": keras.regularizers.serialize(
                self.recurrent_regularizer
            ),
            "bias_regularizer": keras.regularizers.serialize(
                self.bias_regularizer
            ),
            "kernel_constraint": keras.constraints.serialize(
                self.kernel_constraint
            ),
            "recurrent_constraint": keras.constraints.serialize(
                self.recurrent_constraint
            ),
            "bias_constraint": keras.constraints.serialize(
                self.bias_constraint
            ),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
            "zoneout": self.zoneout,
            "recurrent_dropconnect": self.recurrent_dropconnect,
            "dropconnect_mode": self.dropconnect_mode,
        }
        return {**super().get_config(), **config}


# Arguments of keras.layers.RNN that a keras_adrop layer passes to its base,
# and those of keras.layers.Layer; every other constructor argument belongs to
# the cell.
_RNN_ARGS = (
    "return_sequences",
    "return_state",
    "go_backwards",
    "stateful",
    "unroll",
    "zero_output_for_mask",
)
_LAYER_ARGS = ("name", "dtype", "trainable", "autocast",
               "activity_regularizer", "input_shape", "input_dim")


def cell_property(name):
    """A read-only layer property that reads the cell's `name`, as Keras'."""
    return property(lambda self: getattr(self.cell, name),
                    doc=f"The cell's `{name}`.")


class VariationalRNN(keras.layers.RNN):
    """Base of the keras_adrop recurrent layers (`cell_class` set by each).

    A subclass lists its Keras counterpart's arguments (and ours) in its
    signature and hands them all here; this base builds the cell from those
    the cell takes and passes the others to `keras.layers.RNN`. An argument
    that neither takes raises a TypeError, as Python does.

    `fusable` subclasses (`LSTM`, `GRU`) implement `fused_loop`, Keras' fused
    function for the whole sequence, and take Keras' `use_cudnn`: "auto"
    tries the fused function whenever no per-example mask is in play and
    falls back to the step loop where it has no kernel; False always runs the
    step loop; True raises a ValueError on a call that cannot be fused.
    """

    cell_class = None
    fusable = False
    # The overrides it reads (`keras_adrop.layers.mask_overrides`).
    override_sites = frozenset({RECURRENT, RECURRENT_KERNEL, OUTPUT})

    def __init__(self, units, **kwargs):
        use_cudnn = "auto"
        if self.fusable:
            use_cudnn = check_choice(
                "use_cudnn", kwargs.pop("use_cudnn", "auto"),
                ("auto", True, False))
        cell_params = set(
            inspect.signature(self.cell_class.__init__).parameters
        ) - {"self", "units", "kwargs"}
        if self.cell_class.gate_count > 1:
            cell_params.add("implementation")  # in Keras' **kwargs
        cell_args = {k: kwargs.pop(k) for k in list(kwargs)
                     if k in cell_params}
        rnn_args = {k: kwargs.pop(k) for k in list(kwargs) if k in _RNN_ARGS}
        unknown = sorted(set(kwargs) - set(_LAYER_ARGS))
        if unknown:
            raise TypeError(
                f"{type(self).__name__} got unexpected arguments {unknown}."
            )
        cell = self.cell_class(
            units,
            dtype=kwargs.get("dtype"),
            trainable=kwargs.get("trainable", True),
            name=f"{self.cell_class.__name__[:-4].lower()}_cell",
            **cell_args,
        )
        cell.masks_from_layer = True
        # `LSTM` and `GRU` also derive from Keras' own class (so that
        # `keras.layers.Bidirectional` fuses them as it fuses Keras' own);
        # none of its code runs: this class builds the cell.
        keras.layers.RNN.__init__(self, cell, **rnn_args, **kwargs)
        self.input_spec = keras.layers.InputSpec(ndim=3)
        if self.fusable:  # Keras' SimpleRNN has no `use_cudnn`
            self.use_cudnn = use_cudnn
        zoneout = any(cell.zoneout_rates())
        if use_cudnn is True and zoneout:
            check_choice("use_cudnn", use_cudnn, ("auto", False),
                         " with zoneout, which needs the step loop")
        if (self.fusable and use_cudnn is not False and not zoneout
                and keras_compat.tensorflow_cudnn_ok(
                    cell.activation, cell.recurrent_activation, self.unroll,
                    cell.use_bias, getattr(cell, "reset_after", None))):
            # As Keras' own layer: cuDNN ops do not compile with XLA, so
            # `jit_compile="auto"` must resolve to off. Pass use_cudnn=False
            # to keep XLA and the step loop instead.
            self.supports_jit = False

    @property
    def use_cudnn(self):
        """Keras' `use_cudnn` ("auto", True or False), `LSTM` and `GRU` only.

        Once the layer is built, it reads False while the layer needs its
        step loop whatever the call (zoneout, `recurrent_dropconnect`, or a
        recurrent, kernel or output mask set for it from outside):
        `keras.layers.Bidirectional` reads it to decide whether to hand both
        built directions to Keras' fused kernel, which would skip those
        (`keras_compat.bidirectional_fuses`). Before the build it reads the
        value set, which `Bidirectional` copies into its two layers;
        `get_config` keeps the value set.
        """
        if not self.fusable:
            raise AttributeError(
                f"'{type(self).__name__}' object has no attribute "
                "'use_cudnn' (as Keras' layer)")
        if (self.cudnn_setting is not False and self.built
                and self._needs_step_loop()):
            return False
        return self.cudnn_setting

    @use_cudnn.setter
    def use_cudnn(self, value):
        if not self.fusable:
            raise AttributeError(
                f"'{type(self).__name__}' object has no attribute "
                "'use_cudnn' (as Keras' layer)")
        self.cudnn_setting = check_choice("use_cudnn", value,
                                          ("auto", True, False))

    def _needs_step_loop(self):
        """Whether every call of the layer needs its step loop now."""
        if self.cell.recurrent_dropconnect or any(self.cell.zoneout_rates()):
            return True
        entries = (override(RECURRENT, self),
                   override(RECURRENT_KERNEL, self), override(OUTPUT, self))
        return any(e is not None and e is not FULL_NETWORK for e in entries)

    units = cell_property("units")
    activation = cell_property("activation")
    use_bias = cell_property("use_bias")
    kernel_initializer = cell_property("kernel_initializer")
    recurrent_initializer = cell_property("recurrent_initializer")
    bias_initializer = cell_property("bias_initializer")
    kernel_regularizer = cell_property("kernel_regularizer")
    recurrent_regularizer = cell_property("recurrent_regularizer")
    bias_regularizer = cell_property("bias_regularizer")
    kernel_constraint = cell_property("kernel_constraint")
    recurrent_constraint = cell_property("recurrent_constraint")
    bias_constraint = cell_property("bias_constraint")
    dropout = cell_property("dropout")
    recurrent_dropout = cell_property("recurrent_dropout")
    zoneout = cell_property("zoneout")
    recurrent_dropconnect = cell_property("recurrent_dropconnect")
    dropconnect_mode = cell_property("dropconnect_mode")

    def build(self, sequences_shape, initial_state_shape=None):
        super().build(sequences_shape, initial_state_shape)
        if self.stateful and self.states is not None:
            keras_compat.name_states_apart(self)

    @property
    def variables(self):
        """The layer's variables, with a stateful layer's carried state.

        Keras keeps a stateful RNN's state (`states`) outside the variables
        it tracks, so JAX's compiled `fit`, `predict` and `evaluate`, which
        thread only tracked variables, drop it: under JAX, Keras' own
        stateful layers carry nothing from one batch to the next. Listed
        here (as `rnn_state_0`, `rnn_state_1`), among the non-trainable
        variables like a seed generator's state, the state is carried on
        every backend. It is not a weight: `get_weights`, `.keras` and
        `.weights.h5` files are unchanged (a TensorFlow SavedModel export
        holds it, as it needs to carry it across calls). Under JAX, reset
        it in a callback through `self.model` (whose layers Keras syncs
        first), as for any variable during `fit`.
        """
        variables = super().variables
        if not self.stateful or self.states is None:
            return variables
        known = {id(v) for v in variables}
        return variables + [state for state in keras.tree.flatten(self.states)
                            if id(state) not in known]

    def check_recurrent_mask(self, mask, batch_size=None):
        """Raises a ValueError unless `mask` has shape (batch, units)."""
        shape = tuple(mask.shape)
        wrong_batch = (
            isinstance(batch_size, int)
            and len(shape) == 2
            and shape[0] is not None
            and shape[0] != batch_size
        )
        if (
            len(shape) != 2
            or (shape[1] is not None and shape[1] != self.units)
            or wrong_batch
        ):
            raise ValueError(
                f"The recurrent mask of layer '{self.name}' must have shape "
                f"(batch={batch_size}, units={self.units}). Received shape "
                f"{shape}."
            )

    def check_kernel_mask(self, mask):
        """Raises a ValueError unless `mask` is shaped like the kernel."""
        expected = tuple(self.cell.recurrent_kernel.shape)
        if tuple(mask.shape) != expected:
            raise ValueError(
                f"The recurrent-kernel mask of layer '{self.name}' must have "
                f"the shape of its recurrent_kernel, {expected}. Received "
                f"shape {tuple(mask.shape)}."
            )

    def _recurrent_multiplier(self, batch_size, training):
        """The (batch, units) factor on h_{t-1} for this call, or None."""
        entry = override(RECURRENT, self)
        if entry is FULL_NETWORK:
            return None
        if entry is not None:
            return mask_overrides.multiplier(entry, self.compute_dtype)
        rate = self.cell.recurrent_dropout
        if not training or rate == 0.0:
            return None
        ones = ops.ones((batch_size, self.units), dtype=self.compute_dtype)
        return keras.random.dropout(
            ones, rate, seed=self.cell.seed_generator
        )

    def _dropconnect_kernel(self, training):
        """The recurrent kernel with this batch's DropConnect mask, or None.

        None means the cell's own kernel. A mask set with
        `recurrent_kernel_masks` replaces the random one; the random draw
        still happens in training, so that every later draw of the cell
        repeats the base pass's (rule 9).
        """
        entry = override(RECURRENT_KERNEL, self)
        rate = self.cell.recurrent_dropconnect
        dropped = None
        if not (training and rate > 0.0) and entry is None:
            return None
        kernel = ops.cast(self.cell.recurrent_kernel, self.compute_dtype)
        if training and rate > 0.0:
            noise_shape = None
            if self.cell.dropconnect_mode == "row":
                # A row of PyTorch's (gates*units, units) weight_hh, as
                # AWD-LSTM drops it, is a column of Keras' (units,
                # gates*units) kernel.
                noise_shape = (1, ops.shape(kernel)[1])
            dropped = keras.random.dropout(
                kernel, rate, noise_shape=noise_shape,
                seed=self.cell.seed_generator)
        if entry is FULL_NETWORK:
            return None
        if entry is None:
            return dropped
        mask, scale = entry
        mask = ops.cast(mask, self.compute_dtype)
        if scale is None:
            # `units / kept` per column (per gate unit), held constant.
            factor = ops.transpose(kept_fraction_scale(ops.transpose(mask)))
        else:
            factor = mask * ops.cast(scale, self.compute_dtype)
        return kernel * factor

    def call(self, sequences, initial_state=None, mask=None, training=False):
        if training and self.cell.dropout > 0.0:
            # One input mask per example, shared by all steps and gates.
            sequences = keras.random.dropout(
                sequences,
                self.cell.dropout,
                noise_shape=(ops.shape(sequences)[0], 1,
                             ops.shape(sequences)[2]),
                seed=self.cell.seed_generator,
            )
        # keras.layers.RNN.call runs `inner_loop` below.
        result = super().call(
            ops.cast(sequences, self.compute_dtype),
            initial_state=initial_state,
            mask=mask,
            training=training,
        )
        entry = override(OUTPUT, self)
        if entry is None:
            return result
        self.check_recurrent_mask(entry[0], sequences.shape[0])
        factor = mask_overrides.multiplier(entry, self.compute_dtype)
        if self.return_sequences:
            factor = factor[:, None, :]
        if self.return_state:
            return (result[0] * factor, *result[1:])
        return result * factor

    def step_context(self, sequences, training):
        """The `StepContext` of a call on `sequences`: the recurrent mask
        and DropConnect kernel drawn (or set from outside) for it."""
        multiplier = self._recurrent_multiplier(ops.shape(sequences)[0],
                                                training)
        if multiplier is not None:
            self.check_recurrent_mask(multiplier, sequences.shape[0])
        return StepContext(
            multiplier=multiplier,
            recurrent_kernel=self._dropconnect_kernel(training),
            zoneout=bool(training) and any(self.cell.zoneout_rates()),
            training=bool(training),
        )

    def inner_loop(self, sequences, initial_state, mask, training=False):
        context = self.step_context(sequences, training)
        if self.fusable and self.cudnn_setting is not False:
            result = self._fused_route(sequences, initial_state, mask, context)
            if result is not None:
                return result
        # Hoist `x W + b` out of the loop (one matmul for the whole sequence)
        # when the inputs are at least as wide as the state. With narrow
        # inputs (pixels: 1 feature) the projected sequence would be
        # gates*units/input_dim times larger than the inputs, and moving it
        # costs more than the small per-step matmul it saves.
        hoist = sequences.shape[-1] >= self.units
        projected = self.cell.project_inputs(sequences) if hoist else sequences
        if context.zoneout:
            # Fresh keep-masks for every step, drawn before the loop and
            # carried in as extra input columns.
            shape = ops.shape(projected)[:2] + (self.units,)
            projected = ops.concatenate([projected] + [
                ops.cast(keras.random.uniform(
                    shape, seed=self.cell.seed_generator) < rate,
                    self.compute_dtype)
                for rate in self.cell.zoneout_rates()
            ], axis=-1)
        context = dataclasses.replace(context, projected=hoist)

        def step(inputs, states):
            output, new_states = self.cell(
                inputs, states, training=training, step_context=context)
            if not keras.tree.is_nested(new_states):
                new_states = [new_states]
            return output, new_states

        if not keras.tree.is_nested(initial_state):
            initial_state = [initial_state]
        return keras_compat.rnn_loop(
            step, projected, initial_state, go_backwards=self.go_backwards,
            mask=mask, unroll=self.unroll, input_length=projected.shape[1],
            zero_output_for_mask=self.zero_output_for_mask,
            return_all_outputs=self.return_sequences)

    def _per_step_reason(self, mask, context):
        """Why this call needs the step loop, or None if it can be fused."""
        if context.multiplier is not None:
            return ("a recurrent mask is active (recurrent_masks, or "
                    "recurrent_dropout in training)")
        if any(self.cell.zoneout_rates()):
            return "zoneout needs the step loop"
        if override(OUTPUT, self) is not None:
            return "an output mask is active"
        if (mask is not None and self.return_sequences
                and not self.zero_output_for_mask):
            # cuDNN writes zeros at padded steps; the loop repeats the last
            # output there unless zero_output_for_mask.
            return ("a padding mask with return_sequences=True needs "
                    "zero_output_for_mask=True")
        return None

    def _fused_route(self, sequences, initial_state, mask, context):
        """Keras' fused loop for this call, or None for the step loop."""
        if keras.tree.is_nested(mask):
            mask = mask[0]
        reason = self._per_step_reason(mask, context)
        if reason is None:
            try:
                result = self.fused_loop(sequences, initial_state, mask,
                                         self.cell.kernel_for(context))
            except NotImplementedError:
                reason = ("Keras has no fused kernel for this configuration "
                          "on this backend and device")
            else:
                if keras.backend.backend() == "tensorflow":
                    self.supports_jit = False  # as Keras' own layer
                return result
        if self.cudnn_setting is True:
            check_choice("use_cudnn", True, ("auto", False),
                         f" for this call of layer '{self.name}': {reason}")
        return None

    def fused_loop(self, sequences, initial_state, mask, recurrent_kernel):
        """Keras' fused function on the whole sequence (`fusable` layers).

        Returns `(last_output, outputs, states)` as `keras.layers.RNN`'s
        loop, or raises NotImplementedError where the backend and device
        have no fused kernel for this configuration.
        """
        raise NotImplementedError

    def get_config(self):
        # keras.layers.RNN's, not that of Keras' LSTM or GRU (a base of ours).
        config = keras.layers.RNN.get_config(self)
        del config["cell"]
        cell_config = self.cell.get_config()
        for key in ("name", "dtype", "trainable"):
            cell_config.pop(key, None)
        config["activity_regularizer"] = keras.regularizers.serialize(
            self.activity_regularizer)
        if self.fusable:
            config["use_cudnn"] = self.cudnn_setting
        return {**config, **cell_config}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
