"""PNG figures of the analysis results (matplotlib, Agg backend).

matplotlib is imported when a figure is drawn, not when the package is
imported (`pip install matplotlib`, or the package's `[plots]` extra).
Every function takes the result of one analysis tool and a path, writes one
PNG and returns the path.
"""

import os

import numpy as np


def _pyplot():
    try:
        import matplotlib
    except ImportError as error:
        raise ImportError(
            "Plotting needs matplotlib: `pip install matplotlib` (or "
            "`pip install 'keras_adrop[plots]'`)."
        ) from error
    # No backend switch: a headless process falls back to Agg by itself,
    # and a notebook keeps its inline backend.
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path, dpi):
    directory = os.path.dirname(os.fspath(path))
    if directory:
        os.makedirs(directory, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def plot_subnetwork_accuracies(results, path, dpi=100, title=None):
    """Histograms of random vs adversarial subnetwork accuracy (Fig. 3a).

    Args:
        results: A `SubnetworkAccuracies`, or a dict label ->
            `SubnetworkAccuracies` to compare models in one row of panels.
        path: The PNG to write.
        dpi: Resolution.
        title: Optional figure title.

    Example:

    ```python
    plot_subnetwork_accuracies({"variational": r1, "adversarial": r2},
                               "subnetworks.png")
    ```
    """
    plt = _pyplot()
    if not isinstance(results, dict):
        results = {"": results}
    values = 100 * np.concatenate([
        np.concatenate([r.random, r.adversarial, [r.full]])
        for r in results.values()])
    low, high = np.floor(values.min()) - 0.5, np.ceil(values.max()) + 0.5
    bins = np.linspace(low, high, 31)
    fig, axes = plt.subplots(1, len(results),
                             figsize=(4.2 * len(results), 3.4),
                             sharey=True, squeeze=False)
    for ax, (label, r) in zip(axes[0], results.items()):
        ax.hist(r.random * 100, bins=bins, alpha=0.6, color="tab:blue",
                label=f"random, p={r.rate:g}")
        ax.hist(r.adversarial * 100, bins=bins, alpha=0.6, color="tab:red",
                label=f"adversarial, δ={r.delta:g}, K={r.iterations}")
        ax.axvline(r.full * 100, color="black", linestyle="--", linewidth=1,
                   label="full network")
        ax.set(xlabel="test accuracy (%)", title=label)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("subnetworks")
    axes[0][-1].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return _save(fig, path, dpi)


def plot_mask_statistics(statistics, path, layer=None, dpi=100, title=None):
    """Heatmap of the mean adversarial mask per unit over epochs (Fig. 4).

    The top panel shows `E[eps_adv]` per unit (rows) and epoch (columns);
    the bottom panel the number of effective units the drops are spread
    over (`effective_units`).

    Args:
        statistics: An `AdversarialMaskStatistics` callback after training,
            its `result()`, or a dict label -> either of them (one column
            of panels per model).
        path: The PNG to write.
        layer: Name of the recurrent layer (default: the first).
        dpi: Resolution.
        title: Optional figure title.
    """
    plt = _pyplot()
    if isinstance(statistics, dict) and "mean_masks" not in statistics:
        items = statistics
    else:
        items = {"": statistics}
    items = {k: (v.result() if hasattr(v, "result") else v)
             for k, v in items.items()}
    fig, axes = plt.subplots(2, len(items), figsize=(4.6 * len(items), 5.2),
                             squeeze=False,
                             gridspec_kw={"height_ratios": [3, 1]})
    image = None
    for col, (label, result) in enumerate(items.items()):
        name = layer or next(iter(result["mean_masks"]))
        if name not in result["mean_masks"]:
            raise ValueError(
                f"`layer` must be one of {sorted(result['mean_masks'])}. "
                f"Received: layer={name!r}"
            )
        masks = np.asarray(result["mean_masks"][name])
        epochs = np.asarray(result["epochs"])
        ax = axes[0][col]
        image = ax.imshow(
            masks.T, aspect="auto", origin="lower", cmap="viridis",
            vmin=min(0.8, float(masks.min())), vmax=1.0,
            extent=(epochs[0] - 0.5, epochs[-1] + 0.5, -0.5,
                    masks.shape[1] - 0.5),
            interpolation="nearest",
        )
        ax.set(ylabel="recurrent unit",
               title=f"{label} ({name})" if label else name)
        ax_units = axes[1][col]
        ax_units.plot(epochs, result["effective_units"][name], marker=".")
        ax_units.axhline(masks.shape[1], color="gray", linestyle=":",
                         linewidth=1)
        ax_units.set(xlabel="epoch", ylabel="effective units",
                     ylim=(0, masks.shape[1] * 1.05))
        ax_units.grid(alpha=0.3)
    fig.colorbar(image, ax=list(axes[0]), label="mean adversarial mask",
                 fraction=0.05)
    if title:
        fig.suptitle(title)
    directory = os.path.dirname(os.fspath(path))
    if directory:
        os.makedirs(directory, exist_ok=True)
    fig.savefig(path, dpi=dpi)  # no tight_layout: it fights the colorbar
    plt.close(fig)
    return path


def plot_loss_landscape(landscapes, path, dpi=100, title=None, levels=20):
    """A 1-D loss curve, or a 2-D contour map plus a 3-D surface.

    Args:
        landscapes: A `LossLandscape`, or a dict label -> `LossLandscape`.
            1-D results share one axis (with the accuracy on a second axis
            when computed); each 2-D result gets a contour and a surface
            panel.
        path: The PNG to write.
        dpi: Resolution.
        title: Optional figure title.
        levels: Number of contour levels.
    """
    plt = _pyplot()
    if not isinstance(landscapes, dict):
        landscapes = {"": landscapes}
    one_d = [r.betas is None for r in landscapes.values()]
    if all(one_d):
        return _plot_curves(plt, landscapes, path, dpi, title)
    if any(one_d):
        raise ValueError("Plot 1-D and 2-D landscapes in separate figures.")
    count = len(landscapes)
    fig = plt.figure(figsize=(4.3 * count, 7.6))
    for col, (label, r) in enumerate(landscapes.items()):
        a, b = np.meshgrid(r.alphas, r.betas, indexing="ij")
        losses = np.asarray(r.losses)
        low, high = float(losses.min()), float(losses.max())
        # Log-spaced levels when the loss spans a decade or more, so the
        # basin around the minimum is not one blank region.
        if low > 0 and high > 10 * low:
            contour_levels = np.geomspace(low, high, levels)
        else:
            contour_levels = levels
        ax = fig.add_subplot(2, count, col + 1)
        contour = ax.contour(a, b, losses, levels=contour_levels,
                             cmap="viridis")
        ax.clabel(contour, contour.levels[::3], fontsize=6, fmt="%.3g")
        ax.plot([0], [0], marker="*", color="red", markersize=8)
        ax.set(xlabel="direction 1", ylabel="direction 2", aspect="equal",
               title=f"{label} loss contours".strip())
        ax3 = fig.add_subplot(2, count, count + col + 1, projection="3d")
        ax3.plot_surface(a, b, losses, cmap="viridis", linewidth=0,
                         antialiased=False)
        ax3.set(xlabel="direction 1", ylabel="direction 2", zlabel="loss",
                title=f"{label} loss surface".strip())
    if title:
        fig.suptitle(title)
    return _save(fig, path, dpi)


def _plot_curves(plt, landscapes, path, dpi, title):
    with_accuracy = any(r.accuracies is not None for r in landscapes.values())
    fig, axes = plt.subplots(1, 2 if with_accuracy else 1,
                             figsize=(9 if with_accuracy else 5, 3.6),
                             squeeze=False)
    for label, r in landscapes.items():
        axes[0][0].plot(r.alphas, r.losses, label=label or None)
        if with_accuracy and r.accuracies is not None:
            axes[0][1].plot(r.alphas, 100 * np.asarray(r.accuracies),
                            label=label or None)
    axes[0][0].set(xlabel="step along a filter-normalized direction",
                   ylabel="loss", yscale="log", title="Loss")
    if with_accuracy:
        axes[0][1].set(xlabel="step along a filter-normalized direction",
                       ylabel="accuracy (%)", title="Accuracy")
    for ax in axes[0]:
        ax.axvline(0, color="gray", linestyle=":", linewidth=1)
        ax.grid(alpha=0.3)
        if any(landscapes):
            ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return _save(fig, path, dpi)


def plot_corruption_robustness(results, path, dpi=100, title=None):
    """Accuracy vs corruption rate, one line per corruption (and model).

    Args:
        results: A `CorruptionRobustness`, or a dict label -> one.
        path: The PNG to write.
        dpi: Resolution.
        title: Optional figure title.
    """
    plt = _pyplot()
    if not isinstance(results, dict):
        results = {"": results}
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    styles = {"deletion": "-", "qwerty": "--"}
    for color, (label, r) in zip(plt.rcParams["axes.prop_cycle"].by_key()
                                 ["color"] * 10, results.items()):
        for kind, values in r.accuracies.items():
            name = f"{label} {kind}".strip()
            ax.plot(100 * np.asarray(r.rates), 100 * np.asarray(values),
                    linestyle=styles.get(kind, "-"), marker="o",
                    color=color, label=name)
    level = next(iter(results.values())).level
    ax.set(xlabel=f"corruption rate (% of {level}s)", ylabel="accuracy (%)",
           title=title or "Accuracy on corrupted text")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path, dpi)


MC_TASKS = ("classification", "regression")


def plot_mc_uncertainty(predictions, labels, path, dpi=100, title=None,
                        from_logits=None, task=None, level=0.95):
    """What the spread of Monte Carlo passes says, for a classifier or a
    regression.

    Classification: histograms of the standard deviation (over passes) of
    the predicted class's output, split by whether the MC mean classifies
    the example correctly: a useful uncertainty is larger on the mistakes.

    Regression: the predictive mean of every example (in the order given,
    first output) with its `level` band (`mean +- z * std`) and the
    targets, and beside it the coverage of the intervals at every level
    (`interval_coverage`) against the nominal level: calibrated intervals
    lie on the diagonal, over-confident ones below it.

    Args:
        predictions: A `MonteCarloPrediction`, or a dict label -> one.
        labels: Integer (or one-hot) labels of the examples, or the
            regression targets.
        path: The PNG to write.
        dpi: Resolution.
        title: Optional figure title.
        from_logits: For a one-unit classifier: whether `mean` holds logits.
        task: "classification" or "regression"; default: regression when
            `labels` are floating-point values that are not all whole
            numbers, else classification.
        level: The level of the regression band, in (0, 1).

    Example:

    ```python
    mc = mc_dropout_predict(regressor, x_test, samples=30, rate=0.1)
    plot_mc_uncertainty(mc, y_test, "mc.png", task="regression")
    ```
    """
    from keras_adrop.analysis import _common

    labels = np.asarray(labels)
    if task is None:
        task = ("regression" if labels.dtype.kind == "f"
                and not np.all(labels == np.round(labels)) else
                "classification")
    if task not in MC_TASKS:
        raise ValueError(
            f"`task` must be one of {MC_TASKS} (or None to infer it from "
            f"`labels`). Received: task={task!r}"
        )
    if not isinstance(predictions, dict):
        predictions = {"": predictions}
    if task == "regression":
        return _plot_mc_regression(predictions, labels, path, dpi, title,
                                   level)
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(predictions),
                             figsize=(4.2 * len(predictions), 3.4),
                             squeeze=False)
    for ax, (label, mc) in zip(axes[0], predictions.items()):
        predicted = _common.predicted_labels(mc.mean, from_logits)
        truth = labels if labels.ndim == predicted.ndim else labels.argmax(-1)
        std = np.asarray(mc.std)
        if std.ndim >= 2 and std.shape[-1] > 1:
            spread = np.take_along_axis(std, predicted[..., None], -1)[..., 0]
        else:
            spread = std.reshape(predicted.shape)
        right = predicted == truth.reshape(predicted.shape)
        bins = np.linspace(0, max(float(spread.max()), 1e-6), 26)
        ax.hist(spread[right], bins=bins, alpha=0.6, density=True,
                label=f"correct ({right.sum()})")
        ax.hist(spread[~right], bins=bins, alpha=0.6, density=True,
                label=f"wrong ({(~right).sum()})")
        ax.set(xlabel="std of the predicted class over passes",
               ylabel="density", title=label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return _save(fig, path, dpi)


def _plot_mc_regression(predictions, targets, path, dpi, title, level):
    import statistics

    from keras_adrop.analysis.monte_carlo import DEFAULT_LEVELS
    from keras_adrop.analysis.monte_carlo import interval_coverage

    if (isinstance(level, bool) or not isinstance(level, (int, float))
            or not 0.0 < level < 1.0):
        raise ValueError(
            f"`level` must be a number in (0, 1). Received: level={level!r}")
    z = statistics.NormalDist().inv_cdf(0.5 + level / 2.0)
    plt = _pyplot()
    fig, axes = plt.subplots(len(predictions), 2,
                             figsize=(10.0, 3.4 * len(predictions)),
                             squeeze=False,
                             gridspec_kw={"width_ratios": [2.2, 1]})
    for (ax, cover_ax), (label, mc) in zip(axes, predictions.items()):
        levels = sorted(set(DEFAULT_LEVELS) | {float(level)})
        coverage = interval_coverage(mc, targets, levels)
        count = len(np.asarray(mc.mean))
        mean = np.asarray(mc.mean, "float64").reshape(count, -1)[:, 0]
        std = np.asarray(mc.std, "float64").reshape(count, -1)[:, 0]
        truth = np.asarray(targets, "float64").reshape(count, -1)[:, 0]
        index = np.arange(count)
        ax.fill_between(index, mean - z * std, mean + z * std, alpha=0.3,
                        label=f"{level:.0%} band (covers "
                              f"{coverage[float(level)]:.0%})")
        ax.plot(index, mean, lw=1.2, label="MC mean")
        ax.plot(index, truth, ".", ms=3, color="black", label="target")
        ax.set(xlabel="example", ylabel="output", title=label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        cover_ax.plot([0, 1], [0, 1], "--", color="gray", lw=1,
                      label="calibrated")
        cover_ax.plot(levels, [coverage[l] for l in levels], "o-",
                      label="observed")
        cover_ax.set(xlabel="nominal level", ylabel="coverage",
                     xlim=(0, 1), ylim=(0, 1.02), title="interval coverage")
        cover_ax.grid(alpha=0.3)
        cover_ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return _save(fig, path, dpi)
