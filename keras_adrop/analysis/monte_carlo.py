"""Monte Carlo dropout prediction with recurrent masks (Gal & Ghahramani).

Gal and Ghahramani read dropout as variational inference: averaging the
outputs of T forward passes, each with fresh dropout masks, approximates the
predictive distribution (their "MC" rows on Penn Treebank beat the usual
weight-scaling inference), and the spread of the T outputs measures the
model's uncertainty.

Here only the recurrent masks are sampled: each pass draws variational
masks (kept units scaled by `1/(1-p)`), set with
`keras_adrop.layers.recurrent_masks` while the model runs with
`training=False`, so every other layer stays in inference mode: Dropout
layers are off, BatchNormalization uses its moving statistics, and the
RNNs' own input dropout, zoneout and DropConnect are not sampled.

Two ways to draw the masks (`networks=`):

- `"per_example"`: every example of every pass gets its own mask, as in
  training. Each example's T outputs are T draws from its predictive
  distribution; the outputs of two examples in one pass come from
  different networks.
- `"fixed"`: pass t is one network, a `(units,)` mask per layer shared by
  every example, every batch and, with `FixedNetworks`, every later call
  (a stateful model fed chunk by chunk keeps network t and its own carried
  state for sample t). Each sample is then a function of the input: a
  forecast curve, the outputs of neighbouring inputs or consecutive chunks
  of one stream are coherent within a sample. The per-example mean and
  spread estimate the same predictive distribution; quantities that
  combine several examples (a difference, a ranking, a whole sequence of
  forecasts) need this mode.
"""

import dataclasses
import numbers
import statistics
import warnings

import keras
import numpy as np

from keras_adrop.analysis import _common
from keras_adrop.layers.mask_overrides import recurrent_masks
from keras_adrop.regularizers.base import all_layers


@dataclasses.dataclass
class MonteCarloPrediction:
    """The mean and spread of T stochastic forward passes.

    Attributes:
        mean: Mean output over the passes, shaped like `model.predict(x)`
            (probabilities when `from_logits=True` was given).
        std: Standard deviation over the passes, same shape.
        samples: `(T, ...)` every pass, when asked for; else None.
        rates: dict layer name -> drop rate used.
        networks: "per_example" or "fixed" (see the module docstring).
    """

    mean: np.ndarray
    std: np.ndarray
    samples: np.ndarray
    rates: dict
    networks: str = "per_example"


NETWORKS = ("per_example", "fixed")


def mc_dropout_predict(model, x, samples=20, rate=None, layers=None,
                       from_logits=False, seed=0, batch_size=256,
                       return_samples=False, verbose=False,
                       networks="per_example"):
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
        batch_size: Examples per pass (for a stateful model, its batch
            size).
        return_samples: Keep every pass in the result.
        verbose: Show a progress bar.
        networks: "per_example" (default: a fresh mask for every example
            and pass) or "fixed" (pass t is one network for every example
            and batch, see `FixedNetworks`).

    Returns:
        A `MonteCarloPrediction`. With every rate 0 each pass is the full
        network and `mean` equals `model.predict(x)` (with `std` 0); with
        `from_logits=True`, its softmax (or sigmoid). Stateful layers
        carry one state per sample through the batches of `x`, starting
        from the model's state, which is restored afterwards.

    Example:

    ```python
    mc = mc_dropout_predict(model, x_test, samples=30, rate=0.1,
                            from_logits=True)
    uncertain = mc.std.max(axis=-1) > 0.2
    curves = mc_dropout_predict(model, x_days, samples=30, rate=0.25,
                                networks="fixed", return_samples=True)
    curves.samples[t]   # network t's forecast of every day
    ```
    """
    if networks not in NETWORKS:
        raise ValueError(
            f"`networks` must be one of {NETWORKS}. Received: "
            f"networks={networks!r}"
        )
    if networks == "fixed":
        return FixedNetworks(model, samples, rate, layers, seed).predict(
            x, from_logits, batch_size, return_samples, verbose)
    passes = _Passes(model, samples, rate, layers)
    rng = np.random.default_rng(seed)

    def keeps(sample, n):
        return [(rng.random((n, layer.units)) >= passes.rates[layer.name])
                .astype("float32") for layer in passes.layers]

    return passes.predict(x, keeps, from_logits, batch_size, return_samples,
                          verbose, "per_example")


DEFAULT_LEVELS = (0.5, 0.68, 0.8, 0.9, 0.95, 0.99)


def interval_coverage(prediction, targets, levels=DEFAULT_LEVELS):
    """How often the Monte Carlo intervals of a regression cover the truth.

    The interval of level `p` is `mean +- z_p * std` (Gaussian, `z_p` the
    two-sided normal quantile, 1.96 for 0.95), for every output of every
    example. Calibrated intervals cover a fraction `p` of the targets; a
    lower coverage means over-confident intervals.

    Args:
        prediction: A `MonteCarloPrediction` of a regression model (raw
            outputs, `from_logits=False`).
        targets: The true values, shaped like `prediction.mean` (or with
            the trailing axis of one output left out).
        levels: Nominal levels, each in (0, 1).

    Returns:
        dict level -> fraction of targets inside the interval.

    Example:

    ```python
    mc = mc_dropout_predict(model, x_test, samples=30, rate=0.1)
    interval_coverage(mc, y_test)  # {0.5: 0.46, ..., 0.95: 0.91, ...}
    ```
    """
    mean = np.asarray(prediction.mean, dtype="float64")
    std = np.asarray(prediction.std, dtype="float64")
    targets = np.asarray(targets, dtype="float64")
    if targets.size != mean.size:
        raise ValueError(
            "`targets` must hold one value per output of the prediction "
            f"(shape {mean.shape}). Received: shape {targets.shape}"
        )
    targets = targets.reshape(mean.shape)
    coverage = {}
    for level in levels:
        if (not isinstance(level, numbers.Real) or isinstance(level, bool)
                or not 0.0 < level < 1.0):
            raise ValueError(
                "`levels` must be numbers in (0, 1). Received: "
                f"levels={levels!r}"
            )
        z = statistics.NormalDist().inv_cdf(0.5 + level / 2.0)
        inside = np.abs(targets - mean) <= z * std
        coverage[float(level)] = float(np.mean(inside))
    return coverage


class FixedNetworks:
    """T fixed subnetworks of a model, for Monte Carlo prediction.

    Draws, once, one keep-mask `(units,)` per recurrent layer for each of
    the `samples` networks (kept units scaled by `1/(1-p)`). Every
    `predict` call runs network t on every example and batch, so sample t
    is one deterministic function of the input, the same from call to call
    (the same `seed` gives the same networks in a new object). For a
    stateful model fed one chunk of its streams per call, each network
    keeps its own carried state from call to call (`reset_states` starts
    them again), and the model's own state is left as it was.

    Args:
        model: A `keras.Model` with keras_adrop recurrent layers.
        samples: T, the number of networks.
        rate: As `mc_dropout_predict`.
        layers: Names of the layers to sample (default all).
        seed: Seed of the networks.

    Attributes:
        masks: dict layer name -> `(samples, units)` float32 keep-masks
            (1 = kept, before scaling).
        rates: dict layer name -> drop rate.

    Example:

    ```python
    nets = FixedNetworks(model, samples=30, rate=0.25, seed=0)
    for chunk in stream_chunks:          # a stateful model, chunk by chunk
        mc = nets.predict(chunk)
        print(mc.mean, mc.std)           # one coherent state per network
    ```
    """

    def __init__(self, model, samples=20, rate=None, layers=None, seed=0):
        self._passes = _Passes(model, samples, rate, layers)
        rng = np.random.default_rng(seed)
        self.rates = self._passes.rates
        self.masks = {
            layer.name: (rng.random((self._passes.samples, layer.units))
                         >= self.rates[layer.name]).astype("float32")
            for layer in self._passes.layers
        }
        self._states = None

    def predict(self, x, from_logits=False, batch_size=256,
                return_samples=False, verbose=False):
        """Mean and spread of the T networks on `x`.

        Args:
            x: Inputs (array or nested arrays, examples first).
            from_logits, batch_size, return_samples, verbose: As
                `mc_dropout_predict`.

        Returns:
            A `MonteCarloPrediction` with `networks="fixed"`.
        """
        def keeps(sample, n):
            return [np.broadcast_to(self.masks[layer.name][sample],
                                    (n, layer.units))
                    for layer in self._passes.layers]

        result, self._states = self._passes.predict(
            x, keeps, from_logits, batch_size, return_samples, verbose,
            "fixed", states=self._states, keep_states=True)
        return result

    def reset_states(self):
        """Starts every network's carried state from the model's again."""
        self._states = None


class _Passes:
    """Runs T masked passes over batches and averages them."""

    def __init__(self, model, samples, rate, layers):
        self.samples = _common.check_int("samples", samples)
        self.layers = _common.recurrent_layers(model, layers)
        self.rates = _rates(self.layers, rate)
        if not any(self.rates.values()):
            warnings.warn(
                "Every recurrent drop rate is 0, so all Monte Carlo passes "
                "are the full network. Pass `rate` (e.g. the rate the model "
                "was trained with) to sample subnetworks.",
                stacklevel=3,
            )
        self.model = model
        self.stateful = [
            variable
            for layer in all_layers(model)
            if getattr(layer, "stateful", False) and layer.states is not None
            for variable in keras.tree.flatten(layer.states)
        ]
        self._run = None

    def _traced(self, x):
        if self._run is None:
            self._run = _sampler(self.model, self.layers, self.rates, x)
        return self._run

    def _state(self):
        return [np.array(v.numpy()) for v in self.stateful]

    def _set_state(self, values):
        for variable, value in zip(self.stateful, values):
            variable.assign(value)

    def predict(self, x, keeps, from_logits, batch_size, return_samples,
                verbose, networks, states=None, keep_states=False):
        """Every pass `t` runs `keeps(t, n)` masks on each batch of `n`.

        `states` (one list of carried-state values per sample, or None to
        start from the model's) is where each sample's stateful layers
        start; with `keep_states` the states they end in are returned too.
        """
        batch_size = _common.check_int("batch_size", batch_size)
        run = self._traced(x)
        count = _common.num_examples(x)
        original = self._state()
        ended = []
        total = total_sq = None
        kept = [] if return_samples else None
        bar = _common.progress_bar(self.samples, verbose)
        try:
            for sample in range(self.samples):
                self._set_state(original if states is None
                                else states[sample])
                parts = []
                for part in _common.batch_slices(count, batch_size):
                    masks = keeps(sample, part.stop - part.start)
                    parts.append(run(
                        _common.take(x, part),
                        [np.ascontiguousarray(m, "float32") for m in masks]))
                ended.append(self._state())
                outputs = _common.to_probabilities(np.concatenate(parts),
                                                   from_logits)
                if total is None:
                    total = np.zeros_like(outputs)
                    total_sq = np.zeros_like(outputs)
                total += outputs
                total_sq += outputs * outputs
                if return_samples:
                    kept.append(outputs)
                bar.add(1)
        finally:
            self._set_state(original)
        mean = total / self.samples
        std = np.sqrt(np.maximum(total_sq / self.samples - mean * mean, 0.0))
        result = MonteCarloPrediction(
            mean=mean, std=std,
            samples=np.stack(kept) if return_samples else None,
            rates=self.rates, networks=networks,
        )
        return (result, ended) if keep_states else result
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

    return _common.compiled(
        model, run, _common.take(x, slice(0, 1)),
        [np.ones((1, layer.units), "float32") for layer in layers],
    )
