"""Masks and perturbations set from outside a layer, for one forward pass.

The one home of keras_adrop's per-pass overrides: a training step (or a
user) enters `recurrent_masks`, `recurrent_kernel_masks`, `output_masks` or
`embedding_perturbations` around a model call, and the listed layers read
their entry with `override(site, layer)` while they run. Nothing else is
kept here: what a recurrent layer hands its cell for one call travels as a
call argument (`keras_adrop.layers.recurrent.StepContext`).

The entries are kept per thread: under `tf.distribute.MirroredStrategy`
every replica traces the model in a thread of its own, and each must see
its own masks. Enter the block in the same function that calls the model
(e.g. inside `train_step`).

Example:

```python
layer = keras_adrop.layers.LSTM(8)
mask = np.ones((2, 8), "float32")
with keras_adrop.layers.recurrent_masks({layer: mask}):
    y = layer(np.ones((2, 5, 3), "float32"), training=True)
```
"""

import contextlib
import threading

from keras import ops

# Sites of an override: what each maps a layer to.
RECURRENT = "recurrent"  # (mask, fixed scale or None) or FULL_NETWORK
RECURRENT_KERNEL = "recurrent_kernel"  # idem, shaped like the kernel
OUTPUT = "output"  # (mask, fixed scale or None)
PERTURBATION = "perturbation"  # callable (vectors, mask) -> vectors

# An entry meaning "this pass runs the full network" (a mask of None).
FULL_NETWORK = object()

# The layers that read each site, as the errors name them. A layer class
# declares the sites it reads in its `override_sites` attribute.
_RECURRENT_LAYERS = "keras_adrop recurrent layers (LSTM, GRU, SimpleRNN)"
SITE_READERS = {
    RECURRENT: _RECURRENT_LAYERS,
    RECURRENT_KERNEL: _RECURRENT_LAYERS,
    OUTPUT: _RECURRENT_LAYERS,
    PERTURBATION: "keras_adrop.layers.Embedding layers",
}

_local = threading.local()


def _entries():
    if not hasattr(_local, "entries"):
        _local.entries = {}
    return _local.entries


def override(site, layer):
    """What is set for `layer` at `site` in this thread, or None."""
    return _entries().get((site, id(layer)))


@contextlib.contextmanager
def _overriding(entries):
    """Sets `entries` ((site, id(layer)) -> value) inside the block.

    Nested blocks see their own values; the outer values come back on exit.
    """
    registry = _entries()
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
    """Sets the recurrent dropout mask of keras_adrop layers for a forward
    pass.

    Inside the `with` block, every call of a listed layer multiplies
    `h_{t-1}` by the given mask instead of drawing its own variational mask.
    A mask is rescaled per example by `units / sum(mask)`, the factor
    treated as a constant in gradients (docs/algorithm.md rule 2, for
    adversarial masks); a `(mask, s)` pair is multiplied by the fixed `s`
    instead (e.g. `1/(1-p)` for a variational mask). The mask is a real
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
    with _overriding(_mask_entries(masks, RECURRENT)):
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
    with _overriding(_mask_entries(masks, OUTPUT)):
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
    with _overriding(_mask_entries(masks, RECURRENT_KERNEL)):
        yield


@contextlib.contextmanager
def embedding_perturbations(perturbations):
    """Replaces the output of keras_adrop `Embedding` layers for a pass.

    Args:
        perturbations: dict `Embedding` layer -> callable
            `(vectors, mask) -> perturbed vectors`, with `vectors` of shape
            `(batch, time, dim)` and `mask` the `(batch, time)` padding mask.

    Example:

    ```python
    noise = lambda vectors, mask: vectors + 0.1
    with keras_adrop.layers.embedding_perturbations({embedding: noise}):
        y = model(tokens, training=True)
    ```
    """
    _check_dict(perturbations, "perturbations", PERTURBATION,
                "callables (vectors, mask) -> vectors")
    entries = {}
    for layer, perturb in perturbations.items():
        if not callable(perturb):
            raise ValueError(
                "`perturbations` values must be callables (vectors, mask) -> "
                f"vectors. Received: {perturb!r}"
            )
        entries[(PERTURBATION, id(layer))] = perturb
    with _overriding(entries):
        yield


def _check_dict(value, name, site, values):
    """Checks that argument `name` maps layers that read `site` (their
    class's `override_sites`) to `values` (described in the error)."""
    readers = SITE_READERS[site]
    if not isinstance(value, dict):
        raise ValueError(
            f"`{name}` must be a dict mapping {readers} to {values}. "
            f"Received: {type(value).__name__}"
        )
    for layer in value:
        if site not in getattr(type(layer), "override_sites", ()):
            raise ValueError(
                f"`{name}` keys must be {readers}. Received a key of type "
                f"{type(layer).__name__}."
            )


def _mask_entries(masks, site):
    """Entries for masks of a site: RECURRENT, OUTPUT (shape
    `(batch, units)`) or RECURRENT_KERNEL (the kernel's shape)."""
    shape = ("tensors shaped like their recurrent_kernel"
             if site == RECURRENT_KERNEL else "(batch, units) tensors")
    _check_dict(masks, "masks", site, f"{shape} or None")
    entries = {}
    for layer, mask in masks.items():
        fixed = None
        if isinstance(mask, tuple):
            mask, fixed = mask
        if mask is not None and site == RECURRENT_KERNEL:
            layer.check_kernel_mask(mask)
        elif mask is not None:
            layer.check_recurrent_mask(mask)
        elif site == OUTPUT:
            raise ValueError("An output mask cannot be None.")
        entries[(site, id(layer))] = (
            FULL_NETWORK if mask is None else (mask, fixed)
        )
    return entries


def kept_fraction_scale(mask):
    """Per-example rescaling `units / kept` of rule 2, held constant."""
    units = ops.cast(ops.shape(mask)[-1], mask.dtype)
    kept = ops.sum(ops.stop_gradient(mask), axis=-1, keepdims=True)
    return mask * (units / ops.maximum(kept, ops.cast(1e-6, mask.dtype)))


def multiplier(entry, dtype):
    """The factor of a `(mask, fixed scale or None)` entry, in `dtype`."""
    mask, scale = entry
    mask = ops.cast(mask, dtype)
    if scale is None:
        return kept_fraction_scale(mask)
    return mask * ops.cast(scale, dtype)
