"""The one place where keras_adrop uses Keras' private API.

Keras' own `LSTM` and `GRU` layers hand their whole sequence to a fused
function of the backend (`keras.src.backend.lstm` / `gru`) before falling
back to their step loop: under TensorFlow and JAX it runs cuDNN on an NVIDIA
GPU and raises `NotImplementedError` elsewhere (JAX's `gru` also runs a
`lax.scan` with the input projection hoisted on any device). keras_adrop's
layers call the same functions, through the wrappers below, whenever no
per-example mask is active, so they run what Keras' own layer would run.

Nothing else in keras_adrop imports `keras.src`, reads or overrides an
underscored attribute of Keras' classes, or calls one through `super()`
(the training step's symbolic-build hook, the cloning hook, the saved
compile config, the loss tracker, a variable's held value: all below).
`tests/test_keras_compat.py` checks each of them against the installed
Keras, and that no other module of keras_adrop, `tuning/`, `examples/` or
`benchmarks/` uses Keras' private API; `tests/test_fused.py` checks that
the fused functions still exist, take the arguments passed here, and are
the ones Keras' own layers call (a Keras release that moves them fails
there instead of silently turning the fused route off).

Example:

```python
from keras_adrop import keras_compat

try:
    last, outputs, states = keras_compat.fused_lstm(
        x, h0, c0, None, kernel, recurrent_kernel, bias,
        keras.activations.tanh, keras.activations.sigmoid)
except NotImplementedError:
    ...  # no fused kernel here (e.g. a CPU): run the step loop
```
"""

import threading
import weakref

import keras
from keras.src import backend as _backend
from keras.src.layers.rnn import dropout_rnn_cell as _dropout_rnn_cell
from keras.src.utils import tracking as _tracking

# The mixin of Keras' own `LSTMCell`, `GRUCell` and `SimpleRNNCell`.
# `keras.layers.RNN.call` (and `StackedRNNCells` through it) asks every cell
# that is one for its `dropout` and `recurrent_dropout` masks before the
# loop, so that the cell draws them once per call (and under JAX outside the
# traced loop), and clears them after the call. keras_adrop's cells are one,
# so that inside a plain `keras.layers.RNN` they drop units as Keras' cells
# do. `tests/test_keras_compat.py` checks that Keras' RNN still draws and
# clears the masks of such a cell.
DropoutRNNCell = _dropout_rnn_cell.DropoutRNNCell


def rnn_loop(step, inputs, initial_states, go_backwards=False, mask=None,
             unroll=False, input_length=None, zero_output_for_mask=False,
             return_all_outputs=True):
    """Keras' step loop of the current backend (`keras.layers.RNN`'s).

    keras_adrop's layers run it with a step function that hands the cell
    its `step_context`, which `keras.layers.RNN.inner_loop` cannot pass.

    Args:
        step: `(inputs_t, states) -> (output_t, new_states)`.
        inputs: `(batch, time, features)` tensor.
        initial_states: List of state tensors.
        go_backwards, mask, unroll, input_length, zero_output_for_mask,
        return_all_outputs: As `keras.layers.RNN`'s loop.

    Returns:
        `(last_output, outputs, new_states)`.
    """
    return _backend.rnn(
        step, inputs, initial_states, go_backwards=go_backwards, mask=mask,
        unroll=unroll, input_length=input_length,
        zero_output_for_mask=zero_output_for_mask,
        return_all_outputs=return_all_outputs)


def fused_lstm(inputs, initial_state_h, initial_state_c, mask, kernel,
               recurrent_kernel, bias, activation, recurrent_activation,
               return_sequences=False, go_backwards=False, unroll=False):
    """Keras' fused LSTM of the current backend.

    Returns:
        `(last_output, outputs, [h, c])`, as `keras.layers.RNN`'s loop.

    Raises:
        NotImplementedError: No fused kernel for these arguments on this
            backend and device.
    """
    if keras.backend.backend() == "jax" and go_backwards and return_sequences:
        # Keras 3.15's JAX cuDNN LSTM returns the sequence of a backward
        # layer in input order; its step loop (and TensorFlow's cuDNN path)
        # in processing order. Keep the step loop's answer.
        raise NotImplementedError
    return _backend.lstm(
        inputs, initial_state_h, initial_state_c, mask, kernel=kernel,
        recurrent_kernel=recurrent_kernel, bias=bias, activation=activation,
        recurrent_activation=recurrent_activation,
        return_sequences=return_sequences, go_backwards=go_backwards,
        unroll=unroll)


def fused_gru(inputs, initial_state, mask, kernel, recurrent_kernel, bias,
              activation, recurrent_activation, return_sequences=False,
              go_backwards=False, unroll=False, reset_after=True):
    """Keras' fused GRU of the current backend (see `fused_lstm`).

    Returns:
        `(last_output, outputs, [h])`.

    Raises:
        NotImplementedError: No fused kernel for these arguments on this
            backend and device.
    """
    return _backend.gru(
        inputs, initial_state, mask, kernel=kernel,
        recurrent_kernel=recurrent_kernel, bias=bias, activation=activation,
        recurrent_activation=recurrent_activation,
        return_sequences=return_sequences, go_backwards=go_backwards,
        unroll=unroll, reset_after=reset_after)


def tensorflow_cudnn_ok(activation, recurrent_activation, unroll, use_bias,
                        reset_after=None):
    """Whether TensorFlow would run cuDNN for such a layer on this machine.

    Keras' own layers then set `supports_jit = False` when they are built
    (cuDNN ops do not compile with XLA), so that `jit_compile="auto"`
    resolves to off. False under other backends.
    """
    if keras.backend.backend() != "tensorflow":
        return False
    return bool(_backend.cudnn_ok(activation, recurrent_activation, unroll,
                                  use_bias, reset_after=reset_after))


def bidirectional_fuses(bidirectional, mask=None, initial_state=None):
    """Whether `keras.layers.Bidirectional` would hand a call to Keras'
    fused bidirectional kernel (before asking the backend, which raises
    `NotImplementedError` where it has none: always under TensorFlow 2.21;
    under JAX for an LSTM on a GPU with cuDNN).

    Keras decides in its private `_can_attempt_fused_lstm` / `_gru`: both
    wrapped layers are instances of Keras' `LSTM` (or `GRU`), their
    `use_cudnn` is "auto" or True, they have no `dropout` or
    `recurrent_dropout`, equal units and activations, a bias, are built,
    and the call has no padding mask, no stateful layer and a full set of
    initial states. keras_adrop's `LSTM` and `GRU` derive from Keras'
    classes, and their `use_cudnn` reads False while they need their step
    loop. `tests/test_keras_compat.py` checks this still holds.
    """
    return bool(
        bidirectional._can_attempt_fused_lstm(mask, initial_state)
        or bidirectional._can_attempt_fused_gru(mask, initial_state))


# Training-step helpers (keras_adrop.training).


def keras_mask(tensor):
    """The Keras mask attached to `tensor` (padded steps), or None."""
    return _backend.get_keras_mask(tensor)


def set_keras_mask(tensor, mask):
    """Attaches `mask` to `tensor` as Keras' padding mask (in place).

    `keras_adrop.layers.Embedding` needs it: Keras' `ReversibleEmbedding`
    attaches its mask inside `call`, not through `compute_mask`.
    """
    _backend.set_keras_mask(tensor, mask)


def loss_tracker(model):
    """The `keras.metrics.Mean` behind a compiled model's `loss` log."""
    return model._loss_tracker


def compiled_loss(model, y, y_pred, sample_weight=None):
    """The compiled loss alone, without `model.losses`."""
    return model._compile_loss(y, y_pred, sample_weight)


def first_batch(iterator):
    """The first batch of a Keras epoch iterator, as `fit` reads it to
    build the model symbolically (`Trainer._symbolic_build`)."""
    for _, _, data_or_iterator in iterator:
        if isinstance(data_or_iterator, (list, tuple)):
            return data_or_iterator[0]
        return next(data_or_iterator)
    return None


class LabeledSymbolicBuild:
    """Mixin of a model whose `fit` builds on the labeled part of a batch.

    Keras' JAX `fit`, `evaluate` and `predict` first call the model
    symbolically on one batch to build the compiled loss and metrics (the
    private `Trainer._symbolic_build(iterator=None, data_batch=None)`); a
    semi-supervised batch `{"labeled": ..., "unlabeled": ...}` must be
    reduced to its labeled part there. The model defines
    `_labeled_batch(data) -> data` (keras_adrop's JAX trainer does).
    `tests/test_keras_compat.py` checks that Keras still calls the hook
    with these arguments.
    """

    def _symbolic_build(self, iterator=None, data_batch=None):
        if data_batch is None and iterator is not None:
            data_batch = first_batch(iterator)
        if data_batch is not None:
            data_batch = self._labeled_batch(data_batch)
        return super()._symbolic_build(data_batch=data_batch)


# `keras.models.clone_model` of a functional model subclass builds the copy
# as `type(model)(inputs, outputs, name=model.name)`
# (`keras/src/models/cloning.py`, `_clone_functional_model`), so the extra
# constructor arguments of `RegularizedModel` (its regularizers, delta, K,
# ...) would come back as defaults. The clone computes those `outputs` with
# the private `Functional._run_through_graph(..., operation_fn=...,
# call_fn=...)` (the constructor's own call passes no `operation_fn`); the
# mixin below notes the model and the output tensors of that call, and a
# constructor that receives exactly those tensors is the clone's and takes
# the original's settings (`clone_source`). `tests/test_reliability.py` and
# `tests/test_keras_compat.py` check it.

_cloning = threading.local()


class CloneSettings:
    """Mixin of a functional model whose copies keep its settings."""

    def _run_through_graph(self, *args, **kwargs):
        outputs = super()._run_through_graph(*args, **kwargs)
        if "operation_fn" in kwargs and "call_fn" in kwargs:
            _cloning.entry = (weakref.ref(self), keras.tree.flatten(outputs))
        return outputs


class PortableCompileConfig:
    """Mixin of a model whose saved compile config travels across backends.

    Keras stores the `jit_compile` that `"auto"` resolved to on the saving
    backend (False on a CPU-only TensorFlow machine), so a `.keras` file
    saved there ran without `jit` on JAX, where `"auto"` means compiled
    (10 s against 254 s for three epochs in one report). When the stored
    value is what `"auto"` gives here, `"auto"` is saved instead, and each
    backend resolves it as Keras does by default; an explicit choice that
    differs from the default is kept.
    """

    def get_compile_config(self):
        config = super().get_compile_config()
        if (config and not config.get("run_eagerly")
                and config.get("jit_compile")
                == self._resolve_auto_jit_compile()):
            config = {**config, "jit_compile": "auto"}
        return config


def clone_source(cls, args, kwargs):
    """The model `keras.models.clone_model` is copying into a new
    `cls(*args, **kwargs)`, or None (then it is not a clone): the clone's
    constructor receives the very output tensors the clone computed."""
    entry = getattr(_cloning, "entry", None)
    if entry is None:
        return None
    ref, cloned_outputs = entry
    source = ref()
    outputs = args[1] if len(args) > 1 else kwargs.get("outputs")
    if source is None or type(source) is not cls or outputs is None:
        return None
    outputs = keras.tree.flatten(outputs)
    if len(outputs) != len(cloned_outputs) or any(
            a is not b for a, b in zip(outputs, cloned_outputs)):
        return None
    _cloning.entry = None
    return source


def single_input(args, kwargs):
    """A functional model's `(args, kwargs)` with a list of one input
    unwrapped.

    `model.inputs` is always a list, so `Model(base.inputs, base.outputs)`
    builds a model whose input structure is a list of one tensor: Keras
    then warns "The structure of `inputs` doesn't match the expected
    structure" whenever it is called with the tensor itself (every JAX
    `predict`, `evaluate` and `fit`), and its SavedModel export's `serve`
    refuses a tensor (it wants `[x]`). One input tensor is what a
    single-input model means; several inputs and dicts are kept as given.
    """
    if args and _one_tensor_list(args[0]):
        args = (args[0][0],) + tuple(args[1:])
    elif _one_tensor_list(kwargs.get("inputs")):
        kwargs = {**kwargs, "inputs": kwargs["inputs"][0]}
    return args, kwargs


def _one_tensor_list(inputs):
    return (isinstance(inputs, (list, tuple)) and len(inputs) == 1
            and isinstance(inputs[0], keras.KerasTensor))


# Stateful RNNs (keras_adrop.layers.VariationalRNN).


def held_value(variable):
    """The value a variable holds, or None when Keras detached it.

    Keras' JAX `fit` clears every variable (`_value = None`) while its
    compiled steps hand the state along; reading `variable.value` then
    calls the initializer, which a built variable no longer has.
    """
    return variable._value


def name_states_apart(layer):
    """Renames a stateful RNN's carried states `rnn_state_0`, `rnn_state_1`.

    Keras creates each state of `layer.states` untracked and names every one
    `rnn_state`. keras_adrop's layers list their states among their
    variables (`VariationalRNN.variables`, so that JAX carries them), and two
    equal paths would break `Model.get_state_tree`. The states are re-created
    with the same values and, as Keras' are, untracked (not weights).
    """
    flat = keras.tree.flatten(layer.states)
    if all(state.name != "rnn_state" for state in flat):
        return
    names = iter(f"rnn_state_{i}" for i in range(len(flat)))
    with _tracking.DotNotTrackScope(), _backend.name_scope(
            layer.name, caller=layer):
        layer.states = keras.tree.map_structure(
            lambda state: keras.Variable(
                state.value, trainable=False, dtype=state.dtype,
                name=next(names)),
            layer.states)
