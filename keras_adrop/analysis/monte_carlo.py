"""Monte Carlo dropout prediction with recurrent masks (Gal & Ghahramani).

Gal and Ghahramani read dropout as variational inference: averaging the
outputs of T forward passes, each with fresh dropout masks, approximates the
predictive distribution (their "MC" rows on Penn Treebank beat the usual
weight-scaling inference), and the spread of the T outputs measures the
model's uncertainty.

Here only the recurrent masks are sampled: each pass draws one variational
mask per example and recurrent layer (kept units scaled by `1/(1-p)`), set
with `keras_adrop.layers.recurrent_masks` while the model runs with
`training=False`, so every other layer stays in inference mode: Dropout
layers are off, BatchNormalization uses its moving statistics, and the
RNNs' own input dropout, zoneout and DropConnect are not sampled.
"""

import dataclasses
import numbers
import warnings

import numpy as np
import tensorflow as tf

from keras_adrop.analysis import _common
from keras_adrop.layers.recurrent import recurrent_masks


@dataclasses.dataclass
class MonteCarloPrediction:
    """The mean and spread of T stochastic forward passes.

    Attributes:
        mean: Mean output over the passes, shaped like `model.predict(x)`
            (probabilities when `from_logits=True` was given).
        std: Standard deviation over the passes, same shape.
        samples: `(T, ...)` every pass, when asked for; else None.
        rates: dict layer name -> drop rate used.
    """

    mean: np.ndarray
    std: np.ndarray
    samples: np.ndarray
    rates: dict


def mc_dropout_predict(model, x, samples=20, rate=None, layers=None,
                       from_logits=False, seed=0, batch_size=256,
                       return_samples=False, verbose=False):
    """Averages `samples` forward passes with random recurrent masks.

    Args:
        model: A `keras.Model` with keras_adrop recurrent layers.
        x: Inputs (array or nested arrays, examples first).
        samples: T, the number of stochastic passes.
        rate: Drop rate of the recurrent masks: None (each layer's own
            `recurrent_dropout`), a number in [0, 1) for every layer, or a
            dict layer name -> rate.
        layers: Names of the layers to sample (default all keras_adrop
            recurrent layers; the others run as the full network).
        from_logits: If True, each pass's outputs are turned into
            probabilities (softmax, or sigmoid for one unit) before
            averaging, the MC estimate of the predictive distribution. If
            False, the raw outputs are averaged.
        seed: Seed of the masks.
        batch_size: Examples per pass.
        return_samples: Keep every pass in the result.
        verbose: Show a progress bar.

    Returns:
        A `MonteCarloPrediction`. With every rate 0 each pass is the full
        network and `mean` equals `model.predict(x)` (with `std` 0); with
        `from_logits=True`, its softmax (or sigmoid).

    Example:

    ```python
    mc = mc_dropout_predict(model, x_test, samples=30, rate=0.1,
                            from_logits=True)
    uncertain = mc.std.max(axis=-1) > 0.2
    ```
    """
    samples = _common.check_int("samples", samples)
    batch_size = _common.check_int("batch_size", batch_size)
    chosen = _common.recurrent_layers(model, layers)
    rates = _rates(chosen, rate)
    if not any(rates.values()):
        warnings.warn(
            "Every recurrent drop rate is 0, so all Monte Carlo passes are "
            "the full network. Pass `rate` (e.g. the rate the model was "
            "trained with) to sample subnetworks.",
            stacklevel=2,
        )
    rng = np.random.default_rng(seed)
    run = _sampler(model, chosen, rates, x)
    count = _common.num_examples(x)
    total = total_sq = None
    kept = [] if return_samples else None
    bar = _common.progress_bar(samples, verbose)
    for _ in range(samples):
        parts = []
        for part in _common.batch_slices(count, batch_size):
            n = part.stop - part.start
            keeps = [
                (rng.random((n, layer.units)) >= rates[layer.name])
                .astype("float32")
                for layer in chosen
            ]
            xb = tf.nest.map_structure(tf.convert_to_tensor,
                                       _common.take(x, part))
            parts.append(np.asarray(run(xb, keeps)))
        outputs = _common.to_probabilities(np.concatenate(parts), from_logits)
        if total is None:
            total = np.zeros_like(outputs)
            total_sq = np.zeros_like(outputs)
        total += outputs
        total_sq += outputs * outputs
        if return_samples:
            kept.append(outputs)
        bar.add(1)
    mean = total / samples
    std = np.sqrt(np.maximum(total_sq / samples - mean * mean, 0.0))
    return MonteCarloPrediction(
        mean=mean, std=std,
        samples=np.stack(kept) if return_samples else None, rates=rates,
    )


def _rates(layers, rate):
    if rate is None:
        return {layer.name: float(layer.recurrent_dropout) for layer in layers}
    if isinstance(rate, dict):
        names = {layer.name for layer in layers}
        unknown = sorted(set(rate) - names)
        if unknown:
            raise ValueError(
                f"`rate` names unknown layers {unknown}; the sampled layers "
                f"are {sorted(names)}."
            )
        return {layer.name: _common.check_rate(
                    "rate", rate.get(layer.name, layer.recurrent_dropout))
                for layer in layers}
    if not isinstance(rate, numbers.Real):
        raise ValueError(
            "`rate` must be None, a number in [0, 1) or a dict layer name -> "
            f"rate. Received: rate={rate!r}"
        )
    rate = _common.check_rate("rate", rate)
    return {layer.name: rate for layer in layers}


def _sampler(model, layers, rates, x):
    def run(inputs, keeps):
        masks = {
            layer: (keep, 1.0 / (1.0 - rates[layer.name]))
            for layer, keep in zip(layers, keeps)
        }
        with recurrent_masks(masks):
            return model(inputs, training=False)

    return _common.traced_once(
        run, _common.batch_spec(_common.take(x, slice(0, 1))),
        _common.mask_specs(layers),
    )
