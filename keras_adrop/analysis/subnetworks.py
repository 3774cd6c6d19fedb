"""How accurate are the subnetworks that random and adversarial masks leave?

Park et al. (AAAI 2019), Figure 3a: sample many random recurrent dropout
masks and many adversarial masks, run the test set through each masked
network and compare the two distributions of test accuracy. A model whose
adversarial subnetworks are nearly as accurate as its random ones does not
lean on a few recurrent units.

Two kinds of subnetwork are sampled:

- random: a Bernoulli keep-mask with drop rate `rate` on each recurrent
  layer, scaled by `1/(1-rate)` as variational dropout is. By default one
  mask per sample is shared by every test example (`random_masks="shared"`:
  one fixed subnetwork, the paper's wording "the subnetwork reconfigured by
  the sampled dropout mask"); `random_masks="per_example"` draws a mask per
  example instead, as variational dropout does in training.
- adversarial: the mask the adversarial-dropout search finds (docs/algorithm.md
  rules 10-14: one random start flip, then K greedy influence-map steps,
  at most `floor(delta * units)` units dropped, rescaled by `units / kept`).
  The search looks at each example, so every example gets its own mask;
  two samples differ through their random start flips.

The search here runs the network in inference mode (other dropout layers
off, BatchNorm on its moving statistics) from the full network eps0 = 1
and needs no labels: it maximizes the divergence between the full and the
masked network's outputs, as in training. It reuses
`keras_adrop.regularizers.AdversarialDropout`'s search unchanged.
"""

import dataclasses
import warnings

import numpy as np

from keras_adrop import divergences
from keras_adrop import keras_compat
from keras_adrop.analysis import _common
from keras_adrop.layers.mask_overrides import recurrent_masks
from keras_adrop.regularizers import AdversarialDropout
from keras_adrop.regularizers import adversarial_search
from keras_adrop.training import gradient_function
from keras_adrop.training.batch import ModelState
from keras_adrop.training.batch import TrainingBatch


class _InferenceBatch(TrainingBatch):
    """A batch whose extra passes run the model with `training=False`."""

    def run(self, masks=None, outputs=None, perturbations=None):
        with recurrent_masks({**self.base_masks, **(masks or {})}):
            return self.model(self.x, training=False)


class AdversarialMaskSearch:
    """Finds adversarial recurrent masks of a trained model, batch by batch.

    Builds an `AdversarialDropout` regularizer for `model` (which does not
    change the model) and runs its greedy search with the network in
    inference mode. Each call draws fresh start flips from the search's own
    seeded generator, so a sequence of calls repeats with the same seed.

    Args:
        model: A functional `keras.Model` with keras_adrop recurrent layers
            (trained with any method; it need not be an
            `AdversarialDropoutModel`).
        delta: Fraction of each layer's units the mask may drop, in (0, 1);
            `floor(delta * units)` must be >= 1.
        iterations: K, influence-map/flip steps.
        layers: Names of the layers to search (default: every keras_adrop
            recurrent layer).
        divergence: "kl" (default), "reverse_kl", "squared_logits" or
            "squared_probs".
        from_logits: Whether the model outputs logits; default: read from
            the compiled loss.
        seed: Seed of the start flips.
        batch_size: Examples per search batch.

    Example:

    ```python
    search = AdversarialMaskSearch(model, delta=0.05, iterations=2, seed=0)
    masks, outputs = search(x_test)
    masks["lstm"].shape  # (len(x_test), units), values 0 or 1
    ```
    """

    def __init__(self, model, delta=0.03, iterations=1, layers=None,
                 divergence="kl", from_logits=None, seed=None,
                 batch_size=256):
        chosen = _common.recurrent_layers(model, layers)
        self.batch_size = _common.check_int("batch_size", batch_size)
        self.model = model
        self.regularizer = AdversarialDropout(
            delta=delta, iterations=iterations, divergence=divergence,
            layers=[layer.name for layer in chosen],
            from_logits=from_logits, seed=seed,
        )
        with warnings.catch_warnings():
            # "recurrent_dropout ... the rate is not used" is about training
            # with base_mask='expectation'; the search reads no rate.
            warnings.filterwarnings(
                "ignore", message=r"Layer '.*' has recurrent_dropout=")
            self.regularizer.build(model)
        self.from_logits = self.regularizer.outputs_are_logits(model)
        self.layers = list(self.regularizer.layers)
        self.budgets = {
            layer.name: adversarial_search.flip_budget(
                self.regularizer.delta, layer.units)
            for layer in self.layers
        }
        self._compiled = {}

    def _search_batch(self, x, run_masked):
        base_masks = {layer: None for layer in self.layers}
        with recurrent_masks(base_masks):
            outputs = self.model(x, training=False)
        step_weights = divergences.step_weights(
            outputs, None, keras_compat.keras_mask(outputs)
        )
        batch = _InferenceBatch(self.model, x, outputs, step_weights,
                                base_masks, ModelState([]),
                                gradient_function(self.model))
        found = self.regularizer.adversarial_masks(batch)
        masks = [found[layer] for layer in self.layers]
        masked = batch.run(found) if run_masked else outputs
        return masks, masked

    def __call__(self, x, run_masked=True):
        """Searches masks for every example of `x`.

        Args:
            x: Inputs, an array (or nested arrays) with examples first.
            run_masked: Also return the outputs of the masked network.

        Returns:
            `(masks, outputs)`: dict layer name -> `(examples, units)`
            float32 numpy array of {0, 1}, and the model outputs under those
            masks (None unless `run_masked`).
        """
        count = _common.num_examples(x)
        run_masked = bool(run_masked)
        if run_masked not in self._compiled:
            self._compiled[run_masked] = _common.compiled(
                self.model,
                lambda inputs: self._search_batch(inputs, run_masked),
                _common.take(x, slice(0, 1)),
                state=[self.regularizer.seed_generator.state],
            )
        search = self._compiled[run_masked]
        masks = {layer.name: [] for layer in self.layers}
        outputs = []
        for part in _common.batch_slices(count, self.batch_size):
            found, masked = search(_common.take(x, part))
            for layer, mask in zip(self.layers, found):
                masks[layer.name].append(np.asarray(mask))
            if run_masked:
                outputs.append(np.asarray(masked))
        masks = {name: np.concatenate(parts) for name, parts in masks.items()}
        return masks, (np.concatenate(outputs) if run_masked else None)


def adversarial_masks(model, x, delta=0.03, iterations=1, layers=None,
                      divergence="kl", from_logits=None, seed=None,
                      batch_size=256):
    """The adversarial recurrent masks of `model` for every example of `x`.

    One run of `AdversarialMaskSearch` (inference mode, base = the full
    network); see there for the arguments.

    Returns:
        dict layer name -> `(examples, units)` float32 numpy array of {0, 1}.

    Example:

    ```python
    masks = adversarial_masks(model, x_test, delta=0.05, iterations=2)
    (1 - masks["lstm"]).sum(axis=1)  # units dropped per example, <= budget
    ```
    """
    search = AdversarialMaskSearch(
        model, delta=delta, iterations=iterations, layers=layers,
        divergence=divergence, from_logits=from_logits, seed=seed,
        batch_size=batch_size,
    )
    return search(x, run_masked=False)[0]


@dataclasses.dataclass
class SubnetworkAccuracies:
    """Test accuracies of randomly and adversarially masked subnetworks.

    Attributes:
        random: `(samples,)` accuracy of each random subnetwork.
        adversarial: `(samples,)` accuracy under each adversarial search.
        full: Accuracy of the full network (no mask).
        rate: Drop rate of the random masks.
        delta, iterations: Settings of the adversarial search.
        budgets: dict layer name -> maximum units an adversarial mask drops.
        random_masks: "shared" or "per_example".
        random_dropped: `(samples,)` mean number of units the random masks
            dropped per layer and example (to compare with `budgets`).
        adversarial_dropped: `(samples,)` the same for adversarial masks.
    """

    random: np.ndarray
    adversarial: np.ndarray
    full: float
    rate: float
    delta: float
    iterations: int
    budgets: dict
    random_masks: str
    random_dropped: np.ndarray
    adversarial_dropped: np.ndarray

    def summary(self):
        """Means, standard deviations and ranges as a JSON-ready dict."""
        out = {"full": self.full, "rate": self.rate, "delta": self.delta,
               "iterations": self.iterations, "budgets": dict(self.budgets),
               "random_masks": self.random_masks,
               "samples": int(len(self.random))}
        for kind in ("random", "adversarial"):
            values = getattr(self, kind)
            out[kind] = {
                "mean": float(np.mean(values)), "std": float(np.std(values)),
                "min": float(np.min(values)), "max": float(np.max(values)),
                "mean_units_dropped": float(
                    np.mean(getattr(self, f"{kind}_dropped"))),
            }
        return out


RANDOM_MASK_MODES = ("shared", "per_example")


def subnetwork_accuracies(model, x, y, samples=100, rate=0.03, delta=0.03,
                          iterations=2, random_masks="shared", layers=None,
                          divergence="kl", from_logits=None, seed=0,
                          batch_size=256, verbose=False):
    """Samples random and adversarial subnetworks and measures their accuracy.

    Park et al. (AAAI 2019), Figure 3a (they used 500 samples, rate 0.03,
    delta 0.03 and K = 2 on sequential MNIST). Costs `samples` forward
    passes for the random masks and `samples * (iterations + 2)` passes
    (K with gradients) for the adversarial ones.

    Args:
        model: A trained `keras.Model` with keras_adrop recurrent layers.
        x: Test inputs (array or nested arrays, examples first).
        y: Integer (or one-hot) labels of `x`.
        samples: Number of random and of adversarial samples.
        rate: Drop rate of the random masks, in [0, 1).
        delta: Adversarial budget as a fraction of units (see
            `AdversarialMaskSearch`).
        iterations: K of the adversarial search.
        random_masks: "shared" (one random mask per sample for the whole
            test set, a fixed subnetwork) or "per_example".
        layers: Names of the recurrent layers to mask (default all).
        divergence: Divergence the search maximizes.
        from_logits: Whether the model outputs logits (default: from the
            compiled loss; needed for a one-unit binary output).
        seed: Seed of every random draw (random masks and start flips).
        batch_size: Examples per forward pass.
        verbose: Show a progress bar.

    Returns:
        A `SubnetworkAccuracies`.

    Example:

    ```python
    result = subnetwork_accuracies(model, x_test, y_test, samples=50,
                                   rate=0.05, delta=0.05, iterations=2)
    result.random.mean(), result.adversarial.mean()
    plot_subnetwork_accuracies(result, "subnetworks.png")
    ```
    """
    samples = _common.check_int("samples", samples)
    rate = _common.check_rate("rate", rate)
    if random_masks not in RANDOM_MASK_MODES:
        raise ValueError(
            f"`random_masks` must be one of {RANDOM_MASK_MODES}. Received: "
            f"random_masks={random_masks!r}"
        )
    search = AdversarialMaskSearch(
        model, delta=delta, iterations=iterations, layers=layers,
        divergence=divergence, from_logits=from_logits, seed=seed,
        batch_size=batch_size,
    )
    from_logits = search.from_logits
    count = _common.num_examples(x)
    rng = np.random.default_rng(seed)
    run = _masked_runner(model, search.layers, x)
    full_keeps = [np.ones((count, layer.units), "float32")
                  for layer in search.layers]
    full = _common.accuracy(
        _predict_in_batches(run, x, full_keeps, 1.0, search.batch_size), y,
        from_logits,
    )
    bar = _common.progress_bar(2 * samples, verbose)
    random_acc, random_dropped = [], []
    for _ in range(samples):
        rows = 1 if random_masks == "shared" else count
        keeps = [
            (rng.random((rows, layer.units)) >= rate).astype("float32")
            for layer in search.layers
        ]
        if rows == 1:
            keeps = [np.repeat(k, count, axis=0) for k in keeps]
        outputs = _predict_in_batches(run, x, keeps, 1.0 / (1.0 - rate),
                                      search.batch_size)
        random_acc.append(_common.accuracy(outputs, y, from_logits))
        random_dropped.append(np.mean([np.mean(np.sum(1 - k, axis=1))
                                       for k in keeps]))
        bar.add(1)
    adversarial_acc, adversarial_dropped = [], []
    for _ in range(samples):
        masks, outputs = search(x)
        adversarial_acc.append(_common.accuracy(outputs, y, from_logits))
        adversarial_dropped.append(np.mean([np.mean(np.sum(1 - m, axis=1))
                                            for m in masks.values()]))
        bar.add(1)
    return SubnetworkAccuracies(
        random=np.array(random_acc), adversarial=np.array(adversarial_acc),
        full=full, rate=rate, delta=search.regularizer.delta,
        iterations=search.regularizer.iterations, budgets=search.budgets,
        random_masks=random_masks, random_dropped=np.array(random_dropped),
        adversarial_dropped=np.array(adversarial_dropped),
    )


def _masked_runner(model, layers, x):
    """A compiled inference pass with keep-masks times a fixed scale."""

    def run(inputs, keeps, scale):
        masks = {layer: (keep, scale) for layer, keep in zip(layers, keeps)}
        with recurrent_masks(masks):
            return model(inputs, training=False)

    return _common.compiled(
        model, run, _common.take(x, slice(0, 1)),
        [np.ones((1, layer.units), "float32") for layer in layers],
        np.float32(1.0),
    )


def _predict_in_batches(run, x, keeps, scale, batch_size):
    outputs = []
    scale = np.float32(scale)
    for part in _common.batch_slices(_common.num_examples(x), batch_size):
        outputs.append(run(
            _common.take(x, part),
            [np.ascontiguousarray(k[part], "float32") for k in keeps], scale))
    return np.concatenate(outputs)
