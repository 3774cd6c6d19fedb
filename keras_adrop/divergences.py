"""Distances between two output distributions, and the weights lambda_t.

docs/algorithm.md rules 4 and 6. Every divergence here maps two model outputs of
shape `(batch, classes)` or `(batch, time, classes)` to one value per example
(and time step). For "kl", "reverse_kl", "squared_logits" and
"squared_probs", a last axis of size 1 is a Bernoulli output (one sigmoid
unit) and anything larger a categorical output (softmax over the last axis).
"binary_kl" reads every output unit as its own Bernoulli (multi-label
outputs); "squared_error" compares raw outputs (regression values, scores).
`divergence_for_loss` picks the divergence that fits a compiled loss.
"""

from typing import NamedTuple

import keras
from keras import ops

from keras_adrop import arguments

DIVERGENCES = (
    "kl", "reverse_kl", "squared_logits", "squared_probs", "binary_kl",
    "squared_error",
)

_EPSILON = 1e-7


def _at_least_float32(x):
    """Half-precision outputs are compared in float32; float64 stays."""
    x = ops.convert_to_tensor(x)
    return x if x.dtype == "float64" else ops.cast(x, "float32")


def check_divergence(name):
    """`name` if it is one of `DIVERGENCES`, else a ValueError naming it."""
    return arguments.check_choice("divergence", name, DIVERGENCES)


def bernoulli_log_probabilities(outputs, from_logits):
    """`(log p, log(1 - p))` of every output unit, on a new last axis of 2."""
    outputs = _at_least_float32(outputs)
    if from_logits:
        return ops.stack(
            [ops.log_sigmoid(outputs), ops.log_sigmoid(-outputs)], axis=-1
        )
    p = ops.clip(outputs, _EPSILON, 1.0 - _EPSILON)
    return ops.stack([ops.log(p), ops.log(1.0 - p)], axis=-1)


def log_probabilities(outputs, from_logits):
    """Log-probabilities of each outcome, last axis; Bernoulli gets 2 columns."""
    outputs = _at_least_float32(outputs)
    if outputs.shape[-1] == 1:
        return bernoulli_log_probabilities(outputs, from_logits)[..., 0, :]
    if from_logits:
        return keras.activations.log_softmax(outputs, axis=-1)
    return ops.log(ops.clip(outputs, _EPSILON, 1.0))


def divergence(name, target, outputs, from_logits):
    """`D[target || outputs]` per example (and step), in float32 or float64.

    Args:
        name: "kl" (default of the package: `KL(p_target || p_outputs)`),
            "reverse_kl" (`KL(p_outputs || p_target)`), "squared_logits"
            (mean over the last axis of the squared difference of logits; for
            probability outputs, of log-probabilities) or "squared_probs"
            (mean squared difference of probabilities), "binary_kl" (mean
            over the last axis of the KL of each unit's Bernoulli, for
            sigmoid outputs of any width) or "squared_error" (mean over the
            last axis of the squared difference of the raw outputs; ignores
            `from_logits`: the divergence of regression outputs).
        target: The base (eps0) outputs, usually held constant by the caller.
        outputs: The perturbed outputs.
        from_logits: Whether the model outputs logits.

    Returns:
        Tensor of shape `outputs.shape[:-1]`.

    Example:

    >>> float(divergence("squared_error", [[1.0, 2.0]], [[2.0, 4.0]], None)[0])
    2.5
    """
    check_divergence(name)
    if name == "squared_error":
        a, b = _at_least_float32(target), _at_least_float32(outputs)
        return ops.mean(ops.square(a - b), axis=-1)
    if name == "binary_kl":
        log_p = bernoulli_log_probabilities(target, from_logits)
        log_q = bernoulli_log_probabilities(outputs, from_logits)
        kl = ops.sum(ops.exp(log_p) * (log_p - log_q), axis=-1)
        return ops.mean(kl, axis=-1)
    if name == "squared_logits":
        if from_logits:
            a, b = _at_least_float32(target), _at_least_float32(outputs)
        else:
            a = log_probabilities(target, False)
            b = log_probabilities(outputs, False)
        return ops.mean(ops.square(a - b), axis=-1)
    log_p = log_probabilities(target, from_logits)
    log_q = log_probabilities(outputs, from_logits)
    if name == "squared_probs":
        return ops.mean(ops.square(ops.exp(log_p) - ops.exp(log_q)), axis=-1)
    if name == "reverse_kl":
        log_p, log_q = log_q, log_p
    return ops.sum(ops.exp(log_p) * (log_p - log_q), axis=-1)


def step_weights(outputs, sample_weight=None, output_mask=None):
    """Rule 6: the weights `lambda` so that the penalty is `sum(lambda * D)`.

    Many-to-one outputs `(batch, classes)`: the last step only, so one
    weight per example, `sample_weight / batch` (Keras' sum over batch size).
    Sequence outputs `(batch, time, classes)`: a uniform mean over the valid
    steps of the batch (`output_mask`, Keras' padding mask of the output),
    each step weighted by `sample_weight` (`(batch,)` or `(batch, time)`).

    Returns:
        float32 tensor of shape `outputs.shape[:-1]`.
    """
    shape = ops.shape(outputs)[:-1]
    weights = ops.ones(shape, dtype="float32")
    if output_mask is not None and len(outputs.shape) == 3:
        valid = ops.cast(output_mask, "float32")
    else:
        valid = weights
    if sample_weight is not None:
        sample_weight = ops.cast(sample_weight, "float32")
        if len(outputs.shape) == 3 and len(sample_weight.shape) == 1:
            sample_weight = sample_weight[:, None]
        if len(sample_weight.shape) == len(outputs.shape):
            sample_weight = ops.squeeze(sample_weight, axis=-1)
        weights = weights * sample_weight
    weights = weights * valid
    return weights / ops.maximum(ops.sum(valid), 1.0)


def weighted_divergence(name, target, outputs, from_logits, weights):
    """`sum_t lambda_t D_t` summed over the batch (the penalty R)."""
    values = divergence(name, target, outputs, from_logits)
    return ops.sum(ops.cast(weights, values.dtype) * values)


class DivergenceChoice(NamedTuple):
    """The divergence that fits a loss, as `divergence_for_loss` returns it.

    Attributes:
        divergence: A name of `DIVERGENCES`.
        from_logits: Whether the outputs are logits (True) or probabilities
            (False); None for "squared_error", which compares raw outputs.
    """

    divergence: str
    from_logits: object


_L = keras.losses
# Every Keras loss, as (class, function, divergence, from_logits when the
# loss has no `from_logits` argument): distributions are compared by KL,
# anything else (regression values, scores, embeddings) by squared error.
_KERAS_LOSSES = (
    (_L.CategoricalCrossentropy, _L.categorical_crossentropy, "kl", False),
    (_L.SparseCategoricalCrossentropy, _L.sparse_categorical_crossentropy,
     "kl", False),
    (_L.CategoricalFocalCrossentropy, _L.categorical_focal_crossentropy,
     "kl", False),
    (_L.CategoricalGeneralizedCrossEntropy,
     _L.categorical_generalized_cross_entropy, "kl", False),
    (_L.KLDivergence, _L.kl_divergence, "kl", False),
    (_L.CTC, _L.ctc, "kl", True),  # per-step logits
    (_L.BinaryCrossentropy, _L.binary_crossentropy, "binary_kl", False),
    (_L.BinaryFocalCrossentropy, _L.binary_focal_crossentropy,
     "binary_kl", False),
    (_L.Dice, _L.dice, "binary_kl", False),
    (_L.Tversky, _L.tversky, "binary_kl", False),
    (_L.MeanSquaredError, _L.mean_squared_error, "squared_error", None),
    (_L.MeanAbsoluteError, _L.mean_absolute_error, "squared_error", None),
    (_L.MeanAbsolutePercentageError, _L.mean_absolute_percentage_error,
     "squared_error", None),
    (_L.MeanSquaredLogarithmicError, _L.mean_squared_logarithmic_error,
     "squared_error", None),
    (_L.Huber, _L.huber, "squared_error", None),
    (_L.LogCosh, _L.log_cosh, "squared_error", None),
    (_L.Poisson, _L.poisson, "squared_error", None),
    (_L.Hinge, _L.hinge, "squared_error", None),
    (_L.SquaredHinge, _L.squared_hinge, "squared_error", None),
    (_L.CategoricalHinge, _L.categorical_hinge, "squared_error", None),
    (_L.CosineSimilarity, _L.cosine_similarity, "squared_error", None),
    (_L.Circle, _L.circle, "squared_error", None),
)
del _L


def divergence_for_loss(loss):
    """The divergence (and `from_logits`) that fits a compiled Keras loss.

    Distributions are compared by KL, read as the loss reads the outputs:
    categorical losses (categorical, sparse categorical and focal
    cross-entropy, KL divergence, generalized cross-entropy, CTC) give
    "kl" over the last axis; binary losses (binary and binary focal
    cross-entropy, Dice, Tversky) give "binary_kl", one Bernoulli per
    output unit. `from_logits` is the loss's own (False when it has none:
    Keras' default; True for CTC, which reads logits). Every other Keras
    loss (mean squared, absolute, percentage and squared logarithmic error,
    Huber, log-cosh, Poisson, the hinges, cosine similarity, Circle) treats
    the outputs as values: "squared_error", with `from_logits=None`.

    Args:
        loss: What was given to `compile(loss=...)` (`model.loss`): a Keras
            loss name ("mse", "binary_crossentropy", ...), a function of
            `keras.losses`, an instance of one of its classes (or of a
            subclass), or a one-element list or dict of these.

    Returns:
        A `DivergenceChoice(divergence, from_logits)` named tuple.

    Raises:
        ValueError: for a loss it cannot read (a custom function or loss
            class, several outputs, no loss), naming the `divergence` and
            `from_logits` arguments to pass instead.

    Example:

    >>> divergence_for_loss("mse")
    DivergenceChoice(divergence='squared_error', from_logits=None)
    >>> divergence_for_loss(
    ...     keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    DivergenceChoice(divergence='kl', from_logits=True)
    """
    resolved = loss
    if isinstance(resolved, dict) and len(resolved) == 1:
        resolved = next(iter(resolved.values()))
    if isinstance(resolved, (list, tuple)) and len(resolved) == 1:
        resolved = resolved[0]
    if isinstance(resolved, str):
        try:
            resolved = keras.losses.get(resolved)
        except ValueError:
            pass
    for cls, function, name, from_logits in _KERAS_LOSSES:
        if isinstance(resolved, cls):
            if from_logits is not None:
                config = resolved.get_config()
                from_logits = bool(config.get("from_logits", from_logits))
            return DivergenceChoice(name, from_logits)
        if resolved is function:
            return DivergenceChoice(name, from_logits)
    raise ValueError(
        f"Cannot choose a divergence for the loss {loss!r}: it is not one "
        "of Keras' losses (keras.losses), or the model has several outputs "
        "or no compiled loss. Pass `divergence=` (one of "
        f"{DIVERGENCES}: e.g. 'squared_error' for regression outputs, 'kl' "
        "for a softmax, 'binary_kl' for sigmoids) and, for 'kl' and "
        "'binary_kl', `from_logits=` to the model or regularizer."
    )


def resolve(divergence, from_logits, loss):
    """The `(divergence, from_logits)` a regularizer compares outputs with.

    What the user gave wins; what they left out (None) is read from the
    compiled loss with `divergence_for_loss`. A probability divergence
    ("kl", "squared_probs", ...) with a loss that reads the outputs as
    values (MSE, ...) and no `from_logits` cannot be read and raises;
    "squared_logits" then compares the values as they are.

    Args:
        divergence: A name of `DIVERGENCES`, or None.
        from_logits: True, False or None.
        loss: The model's compiled loss (`model.loss`).

    Returns:
        A `DivergenceChoice`.

    Raises:
        ValueError: naming `divergence` or `from_logits` when the loss does
            not say what was left out.

    Example:

    >>> resolve(None, None, "mse")
    DivergenceChoice(divergence='squared_error', from_logits=None)
    >>> resolve("squared_logits", None, "mse")
    DivergenceChoice(divergence='squared_logits', from_logits=True)
    """
    if divergence is not None and (from_logits is not None
                                   or divergence == "squared_error"):
        return DivergenceChoice(divergence, from_logits)
    read = divergence_for_loss(loss)
    if from_logits is None:
        from_logits = read.from_logits
    if divergence is None:
        return DivergenceChoice(read.divergence, from_logits)
    if from_logits is None:  # the loss reads the outputs as values
        if divergence == "squared_logits":
            return DivergenceChoice(divergence, True)
        raise ValueError(
            f"divergence={divergence!r} compares probabilities, but the "
            f"compiled loss {loss!r} reads the outputs as values, so whether "
            "they are logits cannot be read from it. Pass `from_logits=True` "
            "or `from_logits=False`, or leave `divergence` out (squared "
            "error on the outputs)."
        )
    return DivergenceChoice(divergence, from_logits)
