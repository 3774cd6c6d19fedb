"""KerasTuner searches over adversarial dropout's budget, K and weight.

`AdversarialDropoutHyperModel` wraps *your* model-building function (or
your `keras_tuner.HyperModel`): it builds your compiled model with your
hyperparameters, adds adversarial dropout's to the same search space
(`flips`: the budget as a whole number of flipped units, `delta = flips /
units`; `iterations`: K; optionally `penalty_weight`: lambda) and returns
a compiled `keras_adrop.AdversarialDropoutModel` with your layers, weights,
optimizer, loss and metrics. Keras' own `LSTM`, `GRU` and `SimpleRNN`
layers are converted (`keras_adrop.convert_model`).

Every tuner works with it: `fit` passes Hyperband's `epochs` and
`initial_epoch` (and everything else) on to your `HyperModel.fit` or to
`model.fit`; distributed tuning and resuming a search (`overwrite=False`)
are KerasTuner's own, as for any HyperModel.

Needs KerasTuner with what it imports on either backend (`six`, and
`tensorboard` under TensorFlow): `pip install "keras_adrop[tuner]"`.
`import keras_adrop` does not import this module (nor KerasTuner); the
first use of `keras_adrop.tuners` does, and says what to install when
something is missing.

Example:

```python
import keras, keras_tuner, keras_adrop

def build(hp):
    model = keras.Sequential([
        keras.Input((30, 3)),
        keras.layers.GRU(hp.Choice("units", [32, 64])),
        keras.layers.Dense(1),
    ])
    model.compile(keras.optimizers.Adam(hp.Float("lr", 1e-4, 1e-2,
                                                 sampling="log")), "mse")
    return model

hypermodel = keras_adrop.tuners.AdversarialDropoutHyperModel(
    build, delta_range=(0.02, 0.2), iterations_range=(1, 2))
tuner = keras_tuner.Hyperband(hypermodel, objective="val_loss",
                              max_epochs=10, directory="tuning")
tuner.search(x, y, validation_split=0.2)
```
"""

import math

import keras

from keras_adrop import arguments
from keras_adrop.regularizers import adversarial_search


def _import_keras_tuner():
    try:
        import keras_tuner
    except ImportError as error:
        raise ImportError(
            "keras_adrop.tuners needs KerasTuner and what it imports (six, "
            "and tensorboard under TensorFlow): pip install "
            f"\"keras_adrop[tuner]\". Missing: {error}"
        ) from error
    if keras.backend.backend() == "tensorflow":
        # KerasTuner imports tensorboard in every trial under TensorFlow;
        # without it each trial fails and the search gives up after three.
        try:
            import tensorboard  # noqa: F401
        except ImportError as error:
            raise ImportError(
                "KerasTuner imports tensorboard in every trial under the "
                "TensorFlow backend, and it is not installed: pip install "
                "tensorboard (or pip install \"keras_adrop[tuner]\")."
            ) from error
    return keras_tuner


keras_tuner = _import_keras_tuner()

PAPER_DELTA_RANGE = (0.01, 0.1)  # the delta values the paper validated
DEFAULT_ITERATIONS_RANGE = (1, 3)


def check_range(name, value, low_bound, high_bound, integer=False):
    """Validates a `(low, high)` pair within `[low_bound, high_bound]`.

    Returns:
        `(low, high)` as ints (`integer=True`) or floats.

    Example:

    >>> check_range("iterations_range", (1, 3), 1, 1000, integer=True)
    (1, 3)
    """
    try:
        low, high = value
        if integer and (int(low) != low or int(high) != high):
            raise TypeError
        low, high = (int(low), int(high)) if integer else (
            float(low), float(high))
    except (TypeError, ValueError):
        kind = "integers" if integer else "numbers"
        raise ValueError(
            f"`{name}` must be a pair (low, high) of {kind}. "
            f"Received: {value!r}"
        ) from None
    if not low_bound <= low <= high <= high_bound:
        raise ValueError(
            f"`{name}` must satisfy {low_bound} <= low <= high <= "
            f"{high_bound}. Received: {value!r}"
        )
    return low, high


def flip_range(delta_range, units):
    """The numbers of flipped units that a delta range allows.

    Adversarial dropout flips `floor(delta * units)` units (at least 1), so
    a search samples that count and reports `delta = flips / units`: every
    sample is a valid, distinct budget.

    Args:
        delta_range: `(low, high)` fractions of units, `0 < low <= high < 1`.
        units: Units of the adversarial layer.

    Returns:
        `(min_flips, max_flips)`, both >= 1.

    Raises:
        ValueError: naming `delta_range` when it is malformed or allows no
            flip for `units` units.

    Example:

    >>> flip_range((0.01, 0.1), 64)  # paper range, 64 units: 1..6 flips
    (1, 6)
    """
    try:
        low, high = (float(v) for v in delta_range)
    except (TypeError, ValueError):
        raise ValueError(
            "`delta_range` must be a pair (low, high) of numbers. "
            f"Received: {delta_range!r}"
        ) from None
    if not 0.0 < low <= high < 1.0:
        raise ValueError(
            "`delta_range` must satisfy 0 < low <= high < 1 (fractions of "
            f"units). Received: {delta_range!r}"
        )
    max_flips = adversarial_search.flip_count(high, units)
    if max_flips < 1:
        raise ValueError(
            f"`delta_range` {delta_range!r} allows floor({high} * {units}) = "
            f"{max_flips} flips of {units} units; adversarial dropout needs "
            f"at least 1. Use a high end >= {1.0 / units:.4g}."
        )
    min_flips = max(1, int(math.ceil(low * units - 1e-6)))
    if min_flips > max_flips:
        raise ValueError(
            f"`delta_range` {delta_range!r} contains no whole number of flips "
            f"of {units} units (delta = flips / {units}); widen it."
        )
    return min_flips, max_flips


def effective_iterations(flips, iterations):
    """Greedy steps that can flip a unit: `min(K, flips - 1)`.

    The start mask spends one of the `flips` (docs/algorithm.md rule 11)
    and the K steps share the rest (rule 14), so steps beyond `flips - 1`
    get no flip (`regularizers.adversarial_search.effective_iterations`).

    Example:

    >>> effective_iterations(flips=3, iterations=2), effective_iterations(2, 3)
    (2, 1)
    """
    return adversarial_search.effective_iterations(int(flips), int(iterations))


def adversarial_model(base, name="adversarial_dropout", **options):
    """Wraps a compiled plain model in an `AdversarialDropoutModel`.

    The new model shares `base`'s layers and weights and is compiled the
    way `base` was (`base.get_compile_config()`: optimizer, loss, metrics).

    Args:
        base: A compiled functional (or built Sequential) Keras model with
            `keras_adrop` recurrent layers.
        name: Name of the new model.
        **options: `AdversarialDropoutModel` arguments (`delta`,
            `iterations`, `penalty_weight`, `base_mask`, `seed`, ...).

    Returns:
        The compiled `keras_adrop.AdversarialDropoutModel`.

    Example:

    ```python
    model = adversarial_model(base, delta=3 / 64, iterations=2)
    ```
    """
    from keras_adrop.models import AdversarialDropoutModel

    compile_config = base.get_compile_config()
    if not compile_config:
        raise ValueError(
            f"`base` ({base.name}) must be compiled: the adversarial model "
            "reuses its optimizer, loss and metrics."
        )
    model = AdversarialDropoutModel(
        base.inputs, base.outputs, name=name, **options)
    model.compile_from_config(compile_config)
    return model


def adversarial_units(model):
    """Units of the smallest keras_adrop recurrent layer of `model`.

    Raises:
        ValueError: when `model` has no such layer.
    """
    from keras_adrop.regularizers import masked_rnn_layers

    layers = masked_rnn_layers(model)
    if not layers:
        raise ValueError(
            f"Model {model.name!r} has no recurrent layer adversarial "
            "dropout can mask (LSTM, GRU or SimpleRNN).")
    return min(int(layer.cell.units) for layer in layers)


def _with_keras_adrop_layers(model):
    """`model`, or its conversion when it holds Keras' own RNN layers."""
    from keras_adrop.conversion import convert_model
    from keras_adrop.regularizers import masked_rnn_layers

    if masked_rnn_layers(model):
        return model
    compile_config = model.get_compile_config()
    converted = convert_model(model)
    if compile_config:
        converted.compile_from_config(compile_config)
    return converted


class _WhatRuns(keras.callbacks.Callback):
    """Adds what the trial's model runs to every epoch's logs (KerasTuner
    records them as the trial's metrics): `K_eff`, `flips` and `delta`."""

    def __init__(self, k_eff, flips, delta):
        super().__init__()
        self.values = {"K_eff": float(k_eff), "flips": float(flips),
                       "delta": float(delta)}

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs.update(self.values)


class AdversarialDropoutHyperModel(keras_tuner.HyperModel):
    """Adds adversarial dropout's delta, K (and lambda) to a search.

    `build(hp)` builds your compiled model, converts Keras' RNN layers to
    keras_adrop's when it has no keras_adrop one, samples `flips` (delta as
    a whole number of flipped units of the smallest adversarial layer),
    `iterations` (K; the model runs `max(1, K_eff)` steps, `K_eff =
    min(K, flips - 1)` the ones that can flip a unit, recorded as the
    trial's metric `K_eff`, beside the `flips` and `delta` that ran) and,
    with `penalty_weight_range`,
    `penalty_weight` (log scale), and returns a compiled
    `keras_adrop.AdversarialDropoutModel` with your optimizer, loss and
    metrics. `fit` calls your `HyperModel.fit` (or `model.fit`) with every
    argument, so Hyperband's `epochs`/`initial_epoch` reach it.

    Args:
        hypermodel: A function `build(hp) -> compiled keras.Model` or a
            `keras_tuner.HyperModel`; the model is functional or a built
            Sequential with recurrent layers (Keras' or keras_adrop's).
        delta_range: `(low, high)` fractions of units (default `(0.01,
            0.1)`, the values the paper validated), sampled as whole
            numbers of flips; it must contain at least one.
        iterations_range: `(low, high)` range of K. Default `(1, 3)`.
        penalty_weight_range: `(low, high)` range of lambda, log scale;
            None (default) keeps 1.0.
        units: Units the flips range counts in (delta is flips / the
            built model's width). Default: each trial's own width (the
            smallest keras_adrop recurrent layer of the model it builds):
            the first model's width samples `flips`, a model of another
            width `units_w` samples `flips_<units_w>_units` over its own
            range, so every trial's delta stays in `delta_range`.
        seed: Seed of the adversarial search's random start flips.
        name, tunable: As `keras_tuner.HyperModel`.
        **adversarial_options: Other `AdversarialDropoutModel` arguments
            (`base_mask`, `divergence`, `adversarial_layers`, ...).

    Example:

    ```python
    hypermodel = AdversarialDropoutHyperModel(build, delta_range=(0.02, 0.2))
    tuner = keras_tuner.RandomSearch(hypermodel, objective="val_loss",
                                     max_trials=10, directory="tuning")
    tuner.search(x, y, epochs=5, validation_split=0.2)
    best = tuner.get_best_hyperparameters()[0]
    best["flips"], best["iterations"]
    trial = tuner.oracle.get_best_trials(1)[0]
    trial.metrics.get_last_value("K_eff"), trial.metrics.get_last_value(
        "flips")  # what ran
    ```
    """

    def __init__(self, hypermodel, delta_range=PAPER_DELTA_RANGE,
                 iterations_range=DEFAULT_ITERATIONS_RANGE,
                 penalty_weight_range=None, units=None, seed=None,
                 name=None, tunable=True, **adversarial_options):
        super().__init__(name=name, tunable=tunable)
        if isinstance(hypermodel, keras_tuner.HyperModel):
            self.hypermodel = hypermodel
        elif callable(hypermodel):
            self.hypermodel = None
            self.build_fn = hypermodel
        else:
            raise ValueError(
                "`hypermodel` must be a keras_tuner.HyperModel or a "
                f"function build(hp) -> compiled model. Received: "
                f"{hypermodel!r}")
        self.units = (None if units is None
                      else arguments.check_units(units))
        self._units_given = units is not None
        # Checks the pair early (with your width when it is given).
        flip_range(delta_range, self.units or 1_000_000)
        self.delta_range = tuple(delta_range)
        self.iterations_range = check_range(
            "iterations_range", iterations_range, 1, 1000, integer=True)
        self.penalty_weight_range = (
            None if penalty_weight_range is None else check_range(
                "penalty_weight_range", penalty_weight_range, 1e-12,
                1e12))
        self.seed = seed
        self.adversarial_options = adversarial_options

    def build(self, hp):
        if self.hypermodel is not None:
            base = self.hypermodel.build(hp)
        else:
            base = self.build_fn(hp)
        base = _with_keras_adrop_layers(base)
        units = adversarial_units(base)
        if self.units is None:
            self.units = units
        flips = hp.Int(self.flips_name(units),
                       *self.flips_range_of(units))
        iterations = hp.Int("iterations", *self.iterations_range)
        # What runs: K beyond flips - 1 flips nothing (K_eff), and the
        # model is built with max(1, K_eff) steps (`fit` records K_eff).
        k_eff = effective_iterations(flips, iterations)
        options = dict(self.adversarial_options)
        if self.penalty_weight_range is not None:
            options["penalty_weight"] = hp.Float(
                "penalty_weight", *self.penalty_weight_range,
                sampling="log")
        return adversarial_model(
            base, delta=flips / units, iterations=max(1, k_eff),
            seed=self.seed, **options)

    def fit(self, hp, model, *args, **kwargs):
        """Your `HyperModel.fit`, or `model.fit`, with every argument
        (Hyperband's `epochs` and `initial_epoch` included).

        Every epoch's logs also carry what the model runs, so the
        trial records it beside the sampled values: `K_eff`, the
        greedy steps that can flip a unit (`min(K, flips - 1)`),
        `flips` and `delta` (a search over several widths samples
        `flips` and `flips_<units>_units` in every trial, and only
        the trial's own width's applies):
        `trial.metrics.get_last_value("flips")`."""
        units = adversarial_units(model)
        flips = hp.values.get(self.flips_name(units))
        iterations = hp.values.get("iterations")
        if flips is not None and iterations is not None:
            kwargs["callbacks"] = [_WhatRuns(
                effective_iterations(flips, iterations), flips,
                flips / units)] + list(kwargs.get("callbacks") or [])
        if self.hypermodel is not None:
            return self.hypermodel.fit(hp, model, *args, **kwargs)
        return model.fit(*args, **kwargs)

    def delta(self, flips):
        """The `delta` of `flips` flips of `self.units` units."""
        return flips / self.units

    def flips_name(self, units):
        """The name of the `flips` hyperparameter of a model whose
        adversarial layer has `units` units: `"flips"`, or
        `"flips_<units>_units"` for a width other than the first
        model's when `units` was not given (each width has its own
        range)."""
        if self._units_given or self.units in (None, units):
            return "flips"
        return f"flips_{units}_units"

    def flips_range_of(self, units):
        """The `(low, high)` range of flips of a model whose adversarial
        layer has `units` units (of the given `units` when given)."""
        return flip_range(self.delta_range,
                          self.units if self._units_given else units)

    @property
    def flips_range(self):
        """The `(low, high)` range of `flips` (None until `units` is
        known: given, or after the first `build`); a trial of another
        width samples `flips_range_of(its units)`."""
        if self.units is None:
            return None
        return flip_range(self.delta_range, self.units)
