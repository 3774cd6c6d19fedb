"""Every analysis of a trained recurrent classifier, in one call.

`analyze_classifier` runs the subnetwork, loss-landscape and Monte Carlo
tools of `keras_adrop.analysis` on one model and returns their results and
a JSON-ready summary; `plot_classifier_analyses` draws the comparison
figures of several models. `examples/analyze.py` is the command line
around them.
"""

import os

import numpy as np

from keras_adrop.analysis import plotting
from keras_adrop.analysis.loss_landscape import loss_landscape
from keras_adrop.analysis.monte_carlo import mc_dropout_predict
from keras_adrop.analysis.subnetworks import subnetwork_accuracies


def first(x, count):
    """The first `count` rows of `x` (all of them for 0 or None)."""
    return x if not count or count >= len(x) else x[:count]


def label_accuracy(outputs, labels):
    """Accuracy of the arg-max of `outputs` (logits or probabilities)."""
    return float(np.mean(np.argmax(outputs, axis=-1) == labels))


def analyze_classifier(model, train_data, test_data, delta,
                       subnetwork_samples=100, subnetwork_rate=None,
                       search_iterations=2, landscape_examples=500,
                       resolution_1d=41, resolution_2d=21, span=1.0,
                       mc_samples=30, mc_rate=0.1, seed=0, verbose=False):
    """Subnetworks, loss landscapes and Monte Carlo dropout for one model.

    Args:
        model: A trained classifier with `keras_adrop` recurrent layers
            that outputs logits.
        train_data: `(x, y)`; the first `landscape_examples` give the loss
            landscapes.
        test_data: `(x, y)` of the subnetworks and Monte Carlo dropout.
        delta: Budget of the adversarial subnetworks (a fraction of units).
        subnetwork_samples: Random and adversarial subnetworks each.
        subnetwork_rate: Drop rate of the random ones (None: `delta`, so
            both kinds drop about as many units).
        search_iterations: K of the adversarial search.
        landscape_examples: Training examples of the landscapes (0: all).
        resolution_1d, resolution_2d, span: The scans (points of the line,
            points per axis of the plane, coordinates in [-span, span]).
        mc_samples, mc_rate: Monte Carlo passes and their recurrent rate.
        seed: Seed of every draw (the same directions for every model).
        verbose: Progress bars.

    Returns:
        `(results, summary)`: the tools' result objects by name
        (`"subnetworks"`, `"line"`, `"plane"`, `"mc"`), and a dict of
        numbers (test accuracy, subnetworks, landscapes, Monte Carlo).

    Example:

    ```python
    results, summary = analyze_classifier(model, (x, y), (x_test, y_test),
                                          delta=0.05, seed=0)
    print(summary["subnetworks"]["adversarial"]["mean"])
    ```
    """
    x_test, y_test = test_data
    if subnetwork_rate is None:
        subnetwork_rate = delta
    print("  subnetworks ...", flush=True)
    subnetworks = subnetwork_accuracies(
        model, x_test, y_test, samples=subnetwork_samples,
        rate=subnetwork_rate, delta=delta, iterations=search_iterations,
        from_logits=True, seed=seed, verbose=verbose,
    )
    x_land = first(train_data[0], landscape_examples)
    y_land = first(train_data[1], landscape_examples)
    # Every model is scanned along its own directions drawn with the same
    # seed (filter normalization makes their scales comparable).
    print("  loss landscape 1-D ...", flush=True)
    line = loss_landscape(
        model, x_land, y_land, dimensions=1, resolution=resolution_1d,
        span=span, seed=seed, verbose=verbose,
    )
    print("  loss landscape 2-D ...", flush=True)
    plane = loss_landscape(
        model, x_land, y_land, dimensions=2, resolution=resolution_2d,
        span=span, seed=seed, verbose=verbose,
    )
    print("  Monte Carlo dropout ...", flush=True)
    mc = mc_dropout_predict(
        model, x_test, samples=mc_samples, rate=mc_rate, from_logits=True,
        seed=seed, verbose=verbose,
    )
    deterministic = model.predict(x_test, verbose=0)
    summary = {
        "test_accuracy": label_accuracy(deterministic, y_test),
        "subnetworks": subnetworks.summary(),
        "loss_landscape_1d": line.to_dict(),
        "loss_landscape_2d": plane.to_dict(),
        "monte_carlo": {
            "samples": mc_samples, "rates": mc.rates,
            "accuracy_of_mean": label_accuracy(mc.mean, y_test),
            "mean_std_of_predicted_class": float(np.mean(
                np.take_along_axis(mc.std, mc.mean.argmax(-1)[:, None], -1))),
        },
    }
    return {"subnetworks": subnetworks, "line": line, "plane": plane,
            "mc": mc}, summary


def plot_classifier_analyses(per_model, output_dir, statistics=None,
                             test_labels=None):
    """Writes the comparison figures of `analyze_classifier`'s results.

    Args:
        per_model: dict model name -> the `results` of `analyze_classifier`.
        output_dir: Where the PNGs go.
        statistics: Optional dict name -> `AdversarialMaskStatistics`
            callback (adds `mask_statistics.png`).
        test_labels: The test labels (adds `mc_uncertainty.png`).

    Returns:
        dict figure name -> path.

    Example:

    ```python
    paths = plot_classifier_analyses({"adversarial": results}, "figures",
                                     test_labels=y_test)
    ```
    """
    join = os.path.join
    paths = {
        "subnetworks": plotting.plot_subnetwork_accuracies(
            {k: v["subnetworks"] for k, v in per_model.items()},
            join(output_dir, "subnetworks.png")),
        "loss_landscape_1d": plotting.plot_loss_landscape(
            {k: v["line"] for k, v in per_model.items()},
            join(output_dir, "loss_landscape_1d.png")),
        "loss_landscape_2d": plotting.plot_loss_landscape(
            {k: v["plane"] for k, v in per_model.items()},
            join(output_dir, "loss_landscape_2d.png")),
    }
    if statistics:
        paths["mask_statistics"] = plotting.plot_mask_statistics(
            statistics, join(output_dir, "mask_statistics.png"))
    if test_labels is not None:
        paths["mc_uncertainty"] = plotting.plot_mc_uncertainty(
            {k: v["mc"] for k, v in per_model.items()}, test_labels,
            join(output_dir, "mc_uncertainty.png"))
    return paths
