"""Loss landscapes along random filter-normalized directions (Li et al. 2018).

H. Li, Z. Xu, G. Taylor, C. Studer, T. Goldstein, "Visualizing the Loss
Landscape of Neural Nets", NeurIPS 2018; used for GRUs with zoneout and
DropConnect by Hattimare & Acharya. Around the trained weights theta the loss
is evaluated at `theta + a * d1` (1-D) or `theta + a * d1 + b * d2` (2-D),
where each direction is a Gaussian draw rescaled filter by filter:

    d_f <- d_f / ||d_f|| * ||theta_f||

so that a step of 1 moves every filter by its own size, and landscapes of
networks with different weight scales can be compared.

What a filter is here (Keras keeps output units on the last axis of a
kernel): the slice `w[..., j]` of a weight with 2 or more dimensions, i.e.
the column of one output unit of a `Dense`/RNN kernel (for LSTM and GRU
kernels, one unit of one gate), one output channel of a convolution (Li et
al.'s filter), one embedding dimension of an `Embedding` matrix. Weights
with one dimension (biases, BatchNorm scales and offsets) get a zero
direction by default, as in Li et al.'s published plots (their code's
`ignore='biasbn'` option), or, with `one_dimensional="weights"`, the weights
themselves (their code's other choice). Only trainable weights move;
BatchNorm's moving statistics stay.
"""

import dataclasses

import keras
import numpy as np

from keras_adrop.analysis import _common

ONE_DIMENSIONAL = ("zero", "weights")


def filter_normalized_direction(weights, rng, one_dimensional="zero"):
    """A random direction shaped like `weights`, normalized filter by filter.

    Args:
        weights: List of numpy arrays (the model's trainable weights).
        rng: A `numpy.random.Generator` (the Gaussian draws, in order).
        one_dimensional: "zero" (default; biases and other 1-D weights do
            not move) or "weights" (their direction is the weights).

    Returns:
        List of float arrays, one per weight: for a weight of 2+ dimensions,
        every filter `d[..., j]` has the norm of `weights[..., j]`.

    Example:

    >>> w = [np.ones((3, 2)), np.ones(2)]
    >>> d = filter_normalized_direction(w, np.random.default_rng(0))
    >>> np.linalg.norm(d[0], axis=0)  # the norms of w's columns
    array([1.73205081, 1.73205081])
    """
    if one_dimensional not in ONE_DIMENSIONAL:
        raise ValueError(
            f"`one_dimensional` must be one of {ONE_DIMENSIONAL}. Received: "
            f"one_dimensional={one_dimensional!r}"
        )
    direction = []
    for w in weights:
        w = np.asarray(w, dtype="float64")
        d = rng.standard_normal(w.shape)
        if w.ndim <= 1:
            d = np.zeros_like(w) if one_dimensional == "zero" else w.copy()
        else:
            axes = tuple(range(w.ndim - 1))
            w_norm = np.sqrt(np.sum(w * w, axis=axes, keepdims=True))
            d_norm = np.sqrt(np.sum(d * d, axis=axes, keepdims=True))
            d = d * w_norm / (d_norm + 1e-10)
        direction.append(d)
    return direction


def random_directions(model, count=1, seed=0, one_dimensional="zero"):
    """`count` independent filter-normalized directions for `model`.

    Drawn from `numpy.random.default_rng(seed)` in the order of
    `model.trainable_weights`, so the same seed and model give the same
    directions.

    Returns:
        List of `count` directions (each a list of arrays).

    Example:

    ```python
    d1, d2 = random_directions(model, count=2, seed=0)
    ```
    """
    _common.check_int("count", count)
    rng = np.random.default_rng(seed)
    weights = [keras.ops.convert_to_numpy(v) for v in model.trainable_weights]
    return [filter_normalized_direction(weights, rng, one_dimensional)
            for _ in range(count)]


@dataclasses.dataclass
class LossLandscape:
    """Loss (and accuracy) on a 1-D line or 2-D grid around the weights.

    Attributes:
        alphas: `(resolution,)` coordinates along the first direction.
        betas: `(resolution,)` coordinates along the second direction, or
            None for a 1-D scan.
        losses: `(resolution,)` or `(resolution, resolution)`; entry
            `[i, j]` is at `alphas[i]`, `betas[j]`.
        accuracies: Same shape, or None when accuracy was not asked for.
        seed: Seed of the directions (None for given directions).
    """

    alphas: np.ndarray
    betas: np.ndarray
    losses: np.ndarray
    accuracies: np.ndarray
    seed: object = None

    def to_dict(self):
        """JSON-ready lists."""
        def listed(a):
            return None if a is None else np.asarray(a).tolist()
        return {"alphas": listed(self.alphas), "betas": listed(self.betas),
                "losses": listed(self.losses),
                "accuracies": listed(self.accuracies), "seed": self.seed}


def loss_landscape(model, x, y, dimensions=2, resolution=21, span=1.0,
                   loss=None, accuracy=True, from_logits=None, directions=None,
                   seed=0, one_dimensional="zero", batch_size=256,
                   verbose=True):
    """Evaluates the loss around the trained weights (Li et al. 2018).

    The model's trainable weights are moved to every point of the line or
    grid, the loss on `(x, y)` is computed in inference mode, and the
    original weights are put back at the end, also when an error (or
    Ctrl-C) interrupts the scan. Cost: `resolution` (1-D) or
    `resolution ** 2` (2-D) forward passes over `x`.

    Args:
        model: A built `keras.Model`.
        x: Inputs (array or nested arrays), e.g. a training subset.
        y: Targets for the loss.
        dimensions: 1 (a line, `theta + a d1`) or 2 (a plane,
            `theta + a d1 + b d2`).
        resolution: Points per axis, >= 2 (Li et al. and the GRU study used
            51; 21 is a quick look).
        span: Coordinates run over `[-span, span]` (a float) or
            `[low, high]` (a pair).
        loss: A Keras loss (object, function or name); default: the
            compiled loss. Its value is averaged over examples.
        accuracy: Also compute the accuracy (classification outputs).
        from_logits: Needed for the accuracy of a one-unit binary output.
        directions: Optional precomputed directions (as from
            `random_directions`), one per dimension; default: random
            filter-normalized ones drawn with `seed`.
        seed: Seed of the directions.
        one_dimensional: How 1-D weights move (see
            `filter_normalized_direction`).
        batch_size: Examples per forward pass.
        verbose: Show a progress bar (`keras.utils.Progbar`).

    Returns:
        A `LossLandscape`.

    Example:

    ```python
    surface = loss_landscape(model, x_train[:500], y_train[:500],
                             dimensions=2, resolution=21, seed=0)
    plot_loss_landscape(surface, "landscape_2d.png")
    ```
    """
    if dimensions not in (1, 2):
        raise ValueError(
            f"`dimensions` must be 1 or 2. Received: dimensions={dimensions!r}"
        )
    resolution = _common.check_int("resolution", resolution, minimum=2)
    low, high = _span(span)
    loss_fn = _loss_function(model, loss)
    variables = list(model.trainable_weights)
    if not variables:
        raise ValueError(f"Model '{model.name}' has no trainable weights.")
    if directions is None:
        directions = random_directions(model, dimensions, seed,
                                       one_dimensional)
    else:
        seed = None
        _check_directions(directions, variables, dimensions)
    coordinates = np.linspace(low, high, resolution)
    shape = (resolution,) * dimensions
    losses = np.zeros(shape)
    accuracies = np.zeros(shape) if accuracy else None
    evaluate = _evaluator(model, loss_fn, x, y)
    original = [np.array(keras.ops.convert_to_numpy(v)) for v in variables]
    bar = _common.progress_bar(int(np.prod(shape)), verbose)
    try:
        for index in np.ndindex(*shape):
            steps = [coordinates[i] for i in index]
            for variable, w, *parts in zip(variables, original, *directions):
                moved = w + sum(s * d for s, d in zip(steps, parts))
                variable.assign(moved.astype(w.dtype))
            value, outputs = _evaluate_all(evaluate, x, y, batch_size,
                                           accuracy)
            losses[index] = value
            if accuracy:
                accuracies[index] = _common.accuracy(outputs, y, from_logits)
            bar.add(1)
    finally:
        for variable, w in zip(variables, original):
            variable.assign(w)
    return LossLandscape(
        alphas=coordinates,
        betas=coordinates.copy() if dimensions == 2 else None,
        losses=losses, accuracies=accuracies, seed=seed,
    )


def _span(span):
    if isinstance(span, (int, float)) and not isinstance(span, bool):
        if span <= 0:
            raise ValueError(f"`span` must be > 0. Received: span={span}")
        return -float(span), float(span)
    try:
        low, high = (float(v) for v in span)
    except (TypeError, ValueError):
        low = high = None
    if low is None or not low < high:
        raise ValueError(
            "`span` must be a positive number or a pair (low, high) with "
            f"low < high. Received: span={span!r}"
        )
    return low, high


def _loss_function(model, loss):
    if loss is None:
        loss = getattr(model, "loss", None)
        if loss is None:
            raise ValueError(
                "`loss` is required when the model is not compiled with one."
            )
    if isinstance(loss, (list, tuple, dict)):
        raise ValueError(
            "`loss` must be a single loss (the model has one output here). "
            f"Received: {loss!r}"
        )
    return keras.losses.get(loss) if isinstance(loss, str) else loss


def _check_directions(directions, variables, dimensions):
    if len(directions) != dimensions:
        raise ValueError(
            f"`directions` must hold {dimensions} direction(s) for a "
            f"{dimensions}-D landscape. Received {len(directions)}."
        )
    for direction in directions:
        shapes = [tuple(np.shape(d)) for d in direction]
        expected = [tuple(v.shape) for v in variables]
        if shapes != expected:
            raise ValueError(
                "Each direction must have one array per trainable weight, "
                f"with the weights' shapes {expected}. Received {shapes}."
            )


def _evaluator(model, loss_fn, x, y):
    def evaluate(inputs, targets):
        outputs = model(inputs, training=False)
        value = keras.ops.mean(loss_fn(targets, outputs))
        return value, outputs

    first = slice(0, 1)
    return _common.compiled(
        model, evaluate, _common.take(x, first), np.asarray(y)[first])


def _evaluate_all(evaluate, x, y, batch_size, keep_outputs):
    count = _common.num_examples(x)
    total, outputs = 0.0, []
    for part in _common.batch_slices(count, batch_size):
        value, out = evaluate(_common.take(x, part), np.asarray(y)[part])
        total += float(value) * (part.stop - part.start)
        if keep_outputs:
            outputs.append(np.asarray(out))
    return total / count, (np.concatenate(outputs) if keep_outputs else None)
