"""Distances between two output distributions, and the weights lambda_t.

ALGORITHM.md rules 4 and 6. Every divergence here maps two model outputs of
shape `(batch, classes)` or `(batch, time, classes)` to one value per example
(and time step). A last axis of size 1 is a Bernoulli output (one sigmoid
unit); anything larger is a categorical output (softmax over the last axis).
"""

import keras
from keras import ops

DIVERGENCES = ("kl", "reverse_kl", "squared_logits", "squared_probs")

_EPSILON = 1e-7


def _at_least_float32(x):
    """Half-precision outputs are compared in float32; float64 stays."""
    x = ops.convert_to_tensor(x)
    return x if x.dtype == "float64" else ops.cast(x, "float32")


def check_divergence(name):
    if name not in DIVERGENCES:
        raise ValueError(
            f"`divergence` must be one of {DIVERGENCES}. Received: "
            f"divergence={name!r}"
        )
    return name


def log_probabilities(outputs, from_logits):
    """Log-probabilities of each outcome, last axis; Bernoulli gets 2 columns."""
    outputs = _at_least_float32(outputs)
    if outputs.shape[-1] == 1:
        if from_logits:
            return ops.concatenate(
                [ops.log_sigmoid(outputs), ops.log_sigmoid(-outputs)], axis=-1
            )
        p = ops.clip(outputs, _EPSILON, 1.0 - _EPSILON)
        return ops.concatenate([ops.log(p), ops.log(1.0 - p)], axis=-1)
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
            (mean squared difference of probabilities).
        target: The base (eps0) outputs, usually held constant by the caller.
        outputs: The perturbed outputs.
        from_logits: Whether the model outputs logits.

    Returns:
        Tensor of shape `outputs.shape[:-1]`.
    """
    check_divergence(name)
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
