"""What the LSTM, GRU and SimpleRNN layers share: the recurrent masks.

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
"""

import contextlib
import inspect
import threading
from typing import NamedTuple

import keras
from keras import ops

from keras_adrop import keras_compat
from keras_adrop.arguments import check_choice  # noqa: F401 (re-exported)
from keras_adrop.arguments import check_rate  # noqa: F401 (re-exported)
from keras_adrop.arguments import check_seed
from keras_adrop.arguments import check_units  # noqa: F401 (re-exported)

# Masks set from outside, per thread: under `tf.distribute.MirroredStrategy`
# every replica traces the model in a thread of its own, and each must see its
# own masks. Keys are (site, id(layer or cell)): "recurrent" and "output"
# map to (mask tensor, fixed scale or None) or FULL_NETWORK, "perturbation"
# to an embedding perturbation, "cell" to the StepContext of a call.
_local = threading.local()

# Used in the registry for "this pass runs the full network".
FULL_NETWORK = object()


def _active_masks():
    if not hasattr(_local, "masks"):
        _local.masks = {}
    return _local.masks


def lookup(key):
    """What is set for `key` in this thread (None if nothing)."""
    return _active_masks().get(key)


@contextlib.contextmanager
def registered(entries):
    """Sets `entries` (key -> value) for this thread inside the block.

    Nested blocks see their own values; the outer values come back on exit.
    """
    registry = _active_masks()
    saved = {key: registry.get(key) for key in entries}
    registry.update(entries)
    try:
        yield
    finally:
        for key, previous in saved.items():
            if previous is None:
                registry.pop(key, None)
            else:
                registry[key] = previous


@contextlib.contextmanager
def recurrent_masks(masks):
    """Sets the recurrent dropout mask of keras_adrop layers for a forward pass.

    Inside the `with` block, every call of a listed layer multiplies
    `h_{t-1}` by the given mask instead of drawing its own variational mask.
    A mask is rescaled per example by `units / sum(mask)`, the factor
    treated as a constant in gradients (docs/algorithm.md rule 2, for adversarial
    masks); a `(mask, s)` pair is multiplied by the fixed `s` instead (e.g.
    `1/(1-p)` for a variational mask). The mask is a real
    tensor, so a `tf.GradientTape` that watches it gives the gradient of a
    loss with respect to every mask element (the influence map). A value of
    `None` runs that layer as the full network (no recurrent dropout) even
    when `training=True`. Masks apply in training and inference calls alike.

    The setting is local to the calling thread (each replica of a
    `tf.distribute` strategy sets its own): enter the block in the same
    function that calls the model, e.g. inside `train_step`.

    Args:
        masks: dict mapping keras_adrop recurrent layers (`LSTM`, `GRU`,
            `SimpleRNN`) to a `(batch, units)` tensor (binary, or relaxed to
            real values), a `(tensor, scale)` pair, or `None`.

    Example:

    ```python
    layer = keras_adrop.layers.LSTM(8)
    x = np.ones((2, 5, 3), "float32")
    mask = tf.constant(np.ones((2, 8), "float32"))
    with tf.GradientTape() as tape:
        tape.watch(mask)
        with keras_adrop.layers.recurrent_masks({layer: mask}):
            y = layer(x, training=True)
        loss = tf.reduce_sum(y)
    influence = tape.gradient(loss, mask)  # shape (2, 8)
    ```
    """
    with registered(_mask_entries(masks, "recurrent")):
        yield


@contextlib.contextmanager
def output_masks(masks):
    """Sets a dropout mask on the outputs of keras_adrop layers for a pass.

    Like `recurrent_masks`, but the mask multiplies what the layer returns
    (its last hidden state, or every step of `return_sequences`), not
    `h_{t-1}` inside the recurrence: dropout on the hidden state that feeds
    the next layer, the site of the original adversarial dropout for
    feed-forward networks (Park et al., AAAI 2018). Rescaling as in
    `recurrent_masks`.

    Args:
        masks: dict layer -> `(batch, units)` tensor or `(tensor, scale)`.

    Example:

    ```python
    with keras_adrop.layers.output_masks({layer: mask}):
        y = model(x, training=True)
    ```
    """
    with registered(_mask_entries(masks, "output")):
        yield


@contextlib.contextmanager
def recurrent_kernel_masks(masks):
    """Sets the DropConnect mask on the recurrent kernel of layers for a pass.

    Inside the `with` block, a listed layer multiplies its `recurrent_kernel`
    (shape `(units, gates * units)`: column `j` feeds gate unit `j` from
    every unit of `h_{t-1}`) by the given mask instead of drawing its own
    `recurrent_dropconnect` mask: one mask for the whole batch, as AWD-LSTM's
    weight drop (docs/algorithm.md, "Adversarial DropConnect"). A mask is
    rescaled per column by `units / kept entries of the column`, the factor
    held constant in gradients; a `(mask, s)` pair is multiplied by the fixed
    `s` instead. `None` runs the layer with its plain kernel even when
    `training=True`. The kernel stays a single matrix, so `LSTM` and `GRU`
    keep their fused route (cuDNN). Like `recurrent_masks`, the setting is
    local to the calling thread and applies in training and inference calls.

    Args:
        masks: dict mapping keras_adrop recurrent layers to a tensor shaped
            like the layer's `recurrent_kernel` (binary, or relaxed to real
            values), a `(tensor, scale)` pair, or `None`.

    Example:

    ```python
    layer = keras_adrop.layers.LSTM(8)
    y = layer(np.ones((2, 5, 3), "float32"))       # builds the kernel
    mask = np.ones(layer.cell.recurrent_kernel.shape, "float32")
    mask[0, :8] = 0.0  # cut unit 0 of h_{t-1} from the 8 input gates
    with keras_adrop.layers.recurrent_kernel_masks({layer: mask}):
        y = layer(np.ones((2, 5, 3), "float32"))
    ```
    """
    with registered(_mask_entries(masks, "recurrent_kernel")):
        yield


def _mask_entries(masks, site):
    """Registry entries for masks of a site: "recurrent", "output" (shape
    `(batch, units)`) or "recurrent_kernel" (the kernel's shape)."""
    if not isinstance(masks, dict):
        shape = ("tensors shaped like their recurrent_kernel"
                 if site == "recurrent_kernel" else "(batch, units) tensors")
        raise ValueError(
            "`masks` must be a dict mapping keras_adrop recurrent layers to "
            f"{shape} or None. Received: {type(masks).__name__}"
        )
    entries = {}
    for layer, mask in masks.items():
        if not isinstance(layer, MaskedRNN):
            raise ValueError(
                "`masks` keys must be keras_adrop recurrent layers (LSTM, GRU, "
                f"SimpleRNN). Received a key of type {type(layer).__name__}."
            )
        fixed = None
        if isinstance(mask, tuple):
            mask, fixed = mask
        if mask is not None and site == "recurrent_kernel":
            layer.check_kernel_mask(mask)
        elif mask is not None:
            layer.check_recurrent_mask(mask)
        elif site == "output":
            raise ValueError("An output mask cannot be None.")
        entries[(site, id(layer))] = (
            FULL_NETWORK if mask is None else (mask, fixed)
        )
    return entries


def constructor_arguments(local_variables, exclude=()):
    """A constructor's arguments as keywords, read from its `locals()`.

    Lets a class list Keras' arguments explicitly in its signature and hand
    them all on in one call; call it first thing in `__init__`.
    """
    skip = {"self", "__class__", "kwargs", *exclude}
    arguments = {k: v for k, v in local_variables.items() if k not in skip}
    return {**arguments, **local_variables.get("kwargs", {})}


def _multiplier(entry, dtype):
    """The factor of a registered (mask, fixed scale) entry."""
    mask, scale = entry
    mask = ops.cast(mask, dtype)
    if scale is None:
        return kept_fraction_scale(mask)
    return mask * ops.cast(scale, dtype)


def kept_fraction_scale(mask):
    """Per-example rescaling `units / kept` of rule 2, held constant."""
    units = ops.cast(ops.shape(mask)[-1], mask.dtype)
    kept = ops.sum(ops.stop_gradient(mask), axis=-1, keepdims=True)
    return mask * (units / ops.maximum(kept, ops.cast(1e-6, mask.dtype)))


DROPCONNECT_MODES = ("element", "row")


class StepContext(NamedTuple):
    """What a keras_adrop layer hands its cell for one call.

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


class MaskedCell(keras.layers.Layer):
    """Base of the keras_adrop cells: weights, input projection, config.

    A subclass sets `gate_count`, creates its weights in `build` with the same
    names and shapes as its Keras counterpart, and implements
    `project_inputs(inputs)` (everything that does not depend on the state)
    and `step(projected, states, context)` (the recurrence; `context` is a
    `StepContext`: the mask on `h_{t-1}`, the DropConnect'ed kernel and the
    zoneout masks of this call).

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

    Used alone inside `keras.layers.RNN`, a cell runs its full network (the
    step input is projected at every step). Dropout needs the keras_adrop
    layer, which draws one mask per sequence; a cell with dropout asked for in
    a foreign RNN in training raises instead of silently dropping nothing.
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
        if self.gate_count > 1:  # Keras' LSTM and GRU cells take it
            check_choice(
                "implementation", kwargs.pop("implementation", 2), (2,),
                " (keras_adrop computes all gates in one matmul per step, "
                "Keras' implementation 2)")
        super().__init__(**kwargs)
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

    def call(self, inputs, states, training=False):
        context = lookup(("cell", id(self)))
        if context is not None:  # inside a keras_adrop layer
            inputs, keeps = self.split_zoneout(inputs, context)
            if not context.projected:
                inputs = self.project_inputs(inputs)
            return self.step(inputs, states, context, keeps)
        if training and self.uses_random_masks():
            raise ValueError(
                f"{type(self).__name__} with dropout, recurrent_dropout, "
                "zoneout or recurrent_dropconnect draws its masks per "
                "sequence or per batch, which needs its keras_adrop layer: "
                f"use keras_adrop.layers.{type(self).__name__[:-4]}(...) "
                "instead of keras.layers.RNN(cell)."
            )
        return self.step(self.project_inputs(inputs), states,
                         StepContext(training=bool(training)))

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


class MaskedRNN(keras.layers.RNN):
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
        super().__init__(cell, **rnn_args, **kwargs)
        self.input_spec = keras.layers.InputSpec(ndim=3)
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
        entry = lookup(("recurrent", id(self)))
        if entry is FULL_NETWORK:
            return None
        if entry is not None:
            return _multiplier(entry, self.compute_dtype)
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
        entry = lookup(("recurrent_kernel", id(self)))
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
        batch_size = ops.shape(sequences)[0]
        if training and self.cell.dropout > 0.0:
            # One input mask per example, shared by all steps and gates.
            sequences = keras.random.dropout(
                sequences,
                self.cell.dropout,
                noise_shape=(batch_size, 1, ops.shape(sequences)[2]),
                seed=self.cell.seed_generator,
            )
        multiplier = self._recurrent_multiplier(batch_size, training)
        if multiplier is not None:
            self.check_recurrent_mask(multiplier, sequences.shape[0])
        context = StepContext(
            multiplier=multiplier,
            recurrent_kernel=self._dropconnect_kernel(training),
            zoneout=bool(training) and any(self.cell.zoneout_rates()),
            training=bool(training),
        )
        # keras.layers.RNN.call calls `inner_loop` below, which reads this.
        with registered({("cell", id(self.cell)): context}):
            result = super().call(
                ops.cast(sequences, self.compute_dtype),
                initial_state=initial_state,
                mask=mask,
                training=training,
            )
        entry = lookup(("output", id(self)))
        if entry is None:
            return result
        self.check_recurrent_mask(entry[0], sequences.shape[0])
        factor = _multiplier(entry, self.compute_dtype)
        if self.return_sequences:
            factor = factor[:, None, :]
        if self.return_state:
            return (result[0] * factor, *result[1:])
        return result * factor

    def inner_loop(self, sequences, initial_state, mask, training=False):
        context = lookup(("cell", id(self.cell))) or StepContext(
            training=bool(training))
        if self.fusable and self.use_cudnn is not False:
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
        context = context._replace(projected=hoist)
        with registered({("cell", id(self.cell)): context}):
            return super().inner_loop(projected, initial_state, mask,
                                      training=training)

    def _per_step_reason(self, mask, context):
        """Why this call needs the step loop, or None if it can be fused."""
        if context.multiplier is not None:
            return ("a recurrent mask is active (recurrent_masks, or "
                    "recurrent_dropout in training)")
        if any(self.cell.zoneout_rates()):
            return "zoneout needs the step loop"
        if lookup(("output", id(self))) is not None:
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
        if self.use_cudnn is True:
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
        config = super().get_config()
        del config["cell"]
        cell_config = self.cell.get_config()
        for key in ("name", "dtype", "trainable"):
            cell_config.pop(key, None)
        config["activity_regularizer"] = keras.regularizers.serialize(
            self.activity_regularizer)
        if self.fusable:
            config["use_cudnn"] = self.use_cudnn
        return {**config, **cell_config}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
