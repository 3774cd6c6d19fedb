"""What `fit` hands a training step, and how the step reads it.

A batch is `(x, y)`, `(x, y, sample_weight)`, the inputs of a multi-input
model keyed by name, or a semi-supervised dict
`{"labeled": (x, y[, sample_weight]), "unlabeled": x_u}` whose unlabeled
inputs take part in the penalties only (docs/algorithm.md, "Semi-supervised
training"). Malformed dicts are refused with the expected structure.
"""

import keras
from keras import ops

UNLABELED_FORMAT = ('{"labeled": (x, y) or (x, y, sample_weight), '
                    '"unlabeled": x}')


def _model_input_names(model):
    return {getattr(t, "name", None) for t in getattr(model, "inputs", None)
            or []}


def split_unlabeled(data, model=None):
    """`{"labeled": (x, y[, w]), "unlabeled": x_u}` -> the two parts.

    Other data (an `(x, y[, w])` tuple, or a dict keyed by the model's input
    names) is returned as `(data, None)`. A dict that is neither raises a
    ValueError showing the expected structure: a typo in a key, only
    `"labeled"`, labels in `"unlabeled"`, or a `"labeled"` part without
    labels.
    """
    if not isinstance(data, dict):
        return data, None
    keys = set(data)
    if keys != {"labeled", "unlabeled"}:
        if model is not None and keys <= _model_input_names(model):
            return data, None  # the inputs of a multi-input model
        if model is None and not keys & {"labeled", "unlabeled"}:
            return data, None
        raise ValueError(
            "A semi-supervised batch must be a dict " + UNLABELED_FORMAT
            + f" (exactly these two keys). Received a dict with keys "
            f"{sorted(map(str, keys))}."
            + (" For supervised training only, pass (x, y) as usual."
               if keys == {"labeled"} else "")
        )
    labeled, unlabeled = data["labeled"], data["unlabeled"]
    if not isinstance(labeled, (tuple, list)) or len(labeled) not in (2, 3):
        raise ValueError(
            'The "labeled" part of a semi-supervised batch must be (x, y) or '
            "(x, y, sample_weight), as in " + UNLABELED_FORMAT + ". Received "
            f"{_structure(labeled)}."
        )
    inputs = len(getattr(model, "inputs", None) or [None])
    if isinstance(unlabeled, (tuple, list)) and (
            inputs == 1 or len(unlabeled) != inputs):
        raise ValueError(
            'The "unlabeled" part of a semi-supervised batch is the inputs '
            "x_u alone, without labels, as in " + UNLABELED_FORMAT + ". "
            f"Received {_structure(unlabeled)}"
            + (" (an (x, y) pair?)." if len(unlabeled) in (2, 3) else ".")
        )
    return labeled, unlabeled


def _structure(value):
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)} elements"
    if isinstance(value, dict):
        return f"a dict with keys {sorted(map(str, value))}"
    return f"a {type(value).__name__}"


def labeled_data(data, model=None):
    """`(x, y, sample_weight)` of the labeled part of `fit`'s `data`."""
    labeled, _ = split_unlabeled(data, model)
    return keras.utils.unpack_x_y_sample_weight(labeled)


def batch_size_of(x):
    """The number of examples in `x` (a tensor or a structure of tensors)."""
    first = next(t for t in keras.tree.flatten(x) if t is not None)
    return ops.shape(first)[0]
