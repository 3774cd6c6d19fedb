"""Which recurrent units does the adversarial search drop, epoch by epoch?

Park et al. (AAAI 2019), Figure 4 (called 3b in their text): the mean
adversarial mask over the test set, `E_test[eps_adv]`, after every training
epoch. They report that under adversarial-dropout training the dropped units
spread evenly over the layer, while a variationally or fraternally trained
network keeps handing the search the same few units: units it depends on.
"""

import keras
import numpy as np

from keras_adrop.analysis import _common
from keras_adrop.analysis.subnetworks import AdversarialMaskSearch


def effective_units(drop_counts):
    """How many units the drops are spread over: `exp(entropy)`.

    Args:
        drop_counts: `(units,)` or `(records, units)` counts (or
            frequencies) of drops per unit.

    Returns:
        A float (or `(records,)` array) between 1 (every drop on one unit)
        and `units` (drops spread evenly); 0 where nothing was dropped.

    Example:

    >>> float(effective_units(np.array([5, 5, 0, 0])))
    2.0
    """
    counts = np.asarray(drop_counts, dtype="float64")
    totals = counts.sum(axis=-1, keepdims=True)
    p = np.divide(counts, totals, out=np.zeros_like(counts),
                  where=totals > 0)
    logs = np.log(p, out=np.zeros_like(p), where=p > 0)
    result = np.exp(-(p * logs).sum(axis=-1))
    return np.where(totals[..., 0] > 0, result, 0.0)


class AdversarialMaskStatistics(keras.callbacks.Callback):
    """Records the adversarial masks of a held-out set during training.

    After every `every`-th epoch (and before training, when
    `include_initial`), runs the adversarial search (inference mode, base =
    the full network, see `AdversarialMaskSearch`) on `x` and records, per
    recurrent layer:

    - `mean_masks[name]`: `(records, units)`, the mean mask per unit over
      `x` (the paper's `E_test[eps_adv]`; 1 = never dropped);
    - `drop_counts[name]`: `(records, units)`, in how many examples of `x`
      the search dropped each unit.

    `epochs` lists the epoch of each record (0 = before training, e = after
    the e-th epoch). Works with any model that has keras_adrop recurrent
    layers, whatever it is trained with; the model is not changed, and the
    search draws from its own seeded generator.

    Args:
        x: Held-out inputs (array or nested arrays).
        delta: Adversarial budget, a fraction of units.
        iterations: K of the search.
        layers: Names of the recurrent layers (default all).
        divergence: Divergence the search maximizes.
        from_logits: Whether the model outputs logits (default: from the
            compiled loss).
        seed: Seed of the search's start flips.
        batch_size: Examples per search batch.
        every: Record every this many epochs.
        include_initial: Also record before the first epoch.

    Example:

    ```python
    stats = AdversarialMaskStatistics(x_test[:500], delta=0.05, seed=0)
    model.fit(x, y, epochs=20, callbacks=[stats])
    stats.result()["mean_masks"]["lstm"].shape  # (21, units)
    plot_mask_statistics(stats, "masks.png")
    ```
    """

    def __init__(self, x, delta=0.03, iterations=1, layers=None,
                 divergence="kl", from_logits=None, seed=None,
                 batch_size=256, every=1, include_initial=True):
        super().__init__()
        if _common.num_examples(x) < 1:
            raise ValueError("`x` must hold at least one example.")
        self.x = x
        self.search_args = dict(
            delta=delta, iterations=iterations, layers=layers,
            divergence=divergence, from_logits=from_logits, seed=seed,
            batch_size=_common.check_int("batch_size", batch_size),
        )
        self.every = _common.check_int("every", every)
        self.include_initial = bool(include_initial)
        self.search = None
        self.epochs = []
        self.mean_masks = {}
        self.drop_counts = {}
        self.budgets = {}

    def _record(self, epoch):
        if self.search is None:
            self.search = AdversarialMaskSearch(self.model, **self.search_args)
            self.budgets = dict(self.search.budgets)
        masks, _ = self.search(self.x, run_masked=False)
        self.epochs.append(int(epoch))
        for name, mask in masks.items():
            self.mean_masks.setdefault(name, []).append(mask.mean(axis=0))
            self.drop_counts.setdefault(name, []).append(
                (1.0 - mask).sum(axis=0).astype("int64"))

    def on_train_begin(self, logs=None):
        if self.include_initial and not self.epochs:
            self._record(0)

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every == 0:
            self._record(epoch + 1)

    def result(self):
        """The records as numpy arrays.

        Returns:
            dict with `epochs` (`(records,)`), `mean_masks` and
            `drop_counts` (layer name -> `(records, units)`),
            `effective_units` (layer name -> `(records,)`, see
            `effective_units`), `budgets` and `examples`.
        """
        drop_counts = {n: np.stack(v) for n, v in self.drop_counts.items()}
        return {
            "epochs": np.array(self.epochs),
            "mean_masks": {n: np.stack(v) for n, v in self.mean_masks.items()},
            "drop_counts": drop_counts,
            "effective_units": {n: effective_units(v)
                                for n, v in drop_counts.items()},
            "budgets": dict(self.budgets),
            "examples": _common.num_examples(self.x),
        }

    def summary(self):
        """The epochs, effective units and budgets as JSON-ready lists."""
        result = self.result()
        return {
            "epochs": result["epochs"].tolist(),
            "effective_units": {k: v.tolist() for k, v
                                in result["effective_units"].items()},
            "budgets": result["budgets"],
        }
