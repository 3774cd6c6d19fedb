"""The adversarial search: budget, start mask, greedy flips.

docs/algorithm.md rules 10-14, as small functions on `(batch, units)`
tensors so that each rule can be read and tested on its own. This is the
one home of the budget (`flip_budget`, `check_delta`) and of the flip
schedule (`flip_schedule`, `effective_iterations`):
`regularizers.AdversarialDropout`, `AdversarialDropConnect`,
`analysis.AdversarialMaskSearch` and `tuners` all read them here.
"""

import math

import keras
from keras import ops

from keras_adrop import arguments


def flip_budget(delta, units):
    """Rule 10: the number of units that may differ from the base mask.

    Args:
        delta: Fraction of units, in (0, 1).
        units: Number of units `H` of the layer.

    Returns:
        `floor(delta * H + 1e-6)`, at least 1.

    Raises:
        ValueError: if delta is outside (0, 1) or the budget is below 1.

    Example:

    >>> flip_budget(0.03, 100)
    3
    """
    check_delta(delta)
    budget = flip_count(delta, units)
    if budget < 1:
        raise ValueError(
            f"`delta`={delta} allows floor(delta * units) = {budget} flips for "
            f"a layer of {units} units; adversarial dropout needs at least 1. "
            f"Use delta >= {1.0 / units:.4g} for this layer."
        )
    return budget


def flip_count(delta, units):
    """`floor(delta * units + 1e-6)`, the count of rule 10 without checks
    (the `1e-6` absorbs float rounding: `0.29 * 100` gives 29)."""
    return int(math.floor(delta * units + 1e-6))


def check_delta(delta):
    """`delta` as a float in (0, 1); a ValueError with its value and type."""
    return arguments.check_number(
        "delta", delta, low=0.0, high=1.0, low_inclusive=False,
        high_inclusive=False,
        what=(" (the fraction of recurrent units the adversarial mask may "
              "flip)"))


def check_iterations(iterations):
    """`iterations` (K) as an int >= 1; a ValueError with value and type."""
    return arguments.check_integer("iterations", iterations, minimum=1,
                                   what=" (the paper's K)")


def flip_schedule(budget, iterations):
    """Rule 14: flips allowed at each of the K greedy steps.

    The start mask already spends one flip (rule 11); the remaining
    `budget - 1` are split so that step k gets
    `floor((k+1)(n-1)/K) - floor(k(n-1)/K)`.

    Example:

    >>> flip_schedule(3, 2)
    [1, 1]
    """
    check_iterations(iterations)
    rest = budget - 1
    return [
        (k + 1) * rest // iterations - k * rest // iterations
        for k in range(iterations)
    ]


def effective_iterations(budget, iterations):
    """The greedy steps of `flip_schedule` that get a flip:
    `min(K, budget - 1)`, 0 when the start flip spends the whole budget.

    Steps beyond `budget - 1` have nothing to flip and are skipped.

    Example:

    >>> effective_iterations(3, 2), effective_iterations(2, 3)
    (2, 1)
    """
    return sum(1 for count in flip_schedule(budget, iterations) if count > 0)


def start_mask(base, seed):
    """Rule 11: `base` with exactly one uniformly random unit flipped per row.

    Args:
        base: `(batch, units)` tensor with values in {0, 1}.
        seed: A `keras.random.SeedGenerator` or an integer.
    """
    units = ops.shape(base)[-1]
    noise = per_example_uniform(ops.shape(base), seed)
    chosen = ops.one_hot(ops.argmax(noise, axis=-1), units, dtype=base.dtype)
    return flip_units(base, chosen)


def per_example_uniform(shape, seed):
    """Uniform noise in [0, 1) whose row i is example i's, on any replica.

    Without a `tf.distribute` strategy this is `keras.random.uniform(shape,
    seed=seed)`. Under one, replica `r` of `R` (all at the same seed state)
    draws the noise of the whole global batch, `R * shape[0]` rows, and
    keeps rows `r * shape[0]` to `(r + 1) * shape[0]`: when the global batch
    is split evenly and in order, as `fit` splits it, every example gets the
    noise it gets on one device, so the masks do not depend on the number
    of replicas (and replicas do not repeat each other's draws).

    Args:
        shape: `(batch, ...)`, the shape of this replica's noise.
        seed: A `keras.random.SeedGenerator` or an integer.

    Example:

    >>> noise = per_example_uniform((4, 3), keras.random.SeedGenerator(1))
    >>> tuple(noise.shape)
    (4, 3)
    """
    if keras.backend.backend() != "tensorflow":
        return keras.random.uniform(shape, seed=seed)
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return keras.random.uniform(shape, seed=seed)
    replicas = context.num_replicas_in_sync
    noise = keras.random.uniform((replicas, *shape), seed=seed)
    return noise[context.replica_id_in_sync_group]


def flip_units(mask, chosen):
    """Flips the entries of `mask` where `chosen` is 1 (`|mask - chosen|`)."""
    return mask + chosen - 2.0 * mask * chosen


def flip(mask, influence, count):
    """Rule 13: flips the `count` units with the largest positive scores.

    The score of a unit is `(1 - 2 mask) * influence`: how much flipping it
    raises the divergence to first order. Units whose score is <= 0 are never
    flipped, so fewer than `count` flips happen when fewer candidates exist.

    Args:
        mask: `(batch, units)` binary tensor, the current mask.
        influence: `(batch, units)` gradient of the divergence at `mask`.
        count: Python int >= 0, flips allowed per example at this step.

    Returns:
        The new mask, same shape and dtype as `mask`.
    """
    mask = ops.convert_to_tensor(mask)
    if count == 0:
        return mask
    influence = ops.cast(influence, mask.dtype)
    score = (1.0 - 2.0 * mask) * influence
    values, indices = ops.top_k(score, k=count, sorted=False)
    positive = ops.cast(values > 0, mask.dtype)
    units = ops.shape(mask)[-1]
    chosen = ops.sum(
        ops.one_hot(indices, units, dtype=mask.dtype) * positive[..., None],
        axis=-2,
    )
    return flip_units(mask, chosen)
