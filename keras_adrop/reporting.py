"""Reporting the runs of a comparison: tables, paired statistics, curves.

What the examples, `examples/replicate.py` and `tuning/` share to report
a comparison of methods: an epoch timer, `results.json`, markdown tables
with one row per method, paired statistics over seeds, and learning-curve
plots (matplotlib, imported when a plot is drawn).

Example:

```python
timer = keras_adrop.reporting.EpochTimer()
history = model.fit(x, y, validation_data=(x_val, y_val), epochs=3,
                    callbacks=[timer])
metrics = {"variational": {"test_error_percent": 1.2,
                           "history": reporting.history_lists(history)}}
print(reporting.method_table(
    metrics, [reporting.Column("test error %", "test_error_percent")]))
reporting.plot_curves(metrics, "curves.png", [reporting.Panel(
    "val_accuracy", "validation error (%)", transform=error_percent)])
```
"""

import dataclasses
import json
import os
import time

import keras
import numpy as np


class EpochTimer(keras.callbacks.Callback):
    """Records the training time of each epoch, validation excluded.

    Example:

    ```python
    timer = EpochTimer()
    model.fit(x, y, epochs=3, validation_data=(x_val, y_val),
              callbacks=[timer])
    timer.times  # seconds of training per epoch
    ```
    """

    def __init__(self):
        super().__init__()
        self.times = []
        self._start = self._end = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start, self._end = time.perf_counter(), None

    def on_test_begin(self, logs=None):
        # Validation at the end of an epoch: training for this epoch is done.
        if self._start is not None and self._end is None:
            self._end = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        end = self._end if self._end is not None else time.perf_counter()
        self.times.append(end - self._start)
        self._start = None


def keep_best_weights(epochs):
    """A callback that ends `fit` with the weights of the epoch of lowest
    `val_loss`: Keras' `EarlyStopping` with `restore_best_weights` and the
    patience of every epoch, so training is never stopped early."""
    return keras.callbacks.EarlyStopping(
        "val_loss", patience=epochs, restore_best_weights=True)


def best_validation(history):
    """The epoch of lowest `val_loss` of a classifier's history lists:
    `best_epoch` (1-based), its `validation_loss` and
    `validation_error_percent`."""
    best = int(np.argmin(history["val_loss"]))
    return {
        "best_epoch": best + 1,
        "validation_loss": float(history["val_loss"][best]),
        "validation_error_percent": 100.0 * (
            1.0 - float(history["val_accuracy"][best])),
    }


def history_lists(history):
    """`{metric: [float per epoch]}` of a `keras.callbacks.History` (JSON).

    Example:

    >>> history_lists({"loss": [np.float32(0.5)]})
    {'loss': [0.5]}
    """
    history = getattr(history, "history", history)
    return {key: [float(v) for v in values] for key, values in history.items()}


def verbosity(stream=None):
    """`fit`'s `verbose`: a live bar in a terminal, one line per epoch else."""
    import sys

    stream = sys.stdout if stream is None else stream
    return 1 if stream.isatty() else 2


def supervised_loss(history):
    """The cross-entropy part of the training loss: `supervised_loss`, which
    the regularized models log beside `loss` = supervised + penalties, else
    `loss`."""
    return history.get("supervised_loss", history["loss"])


def error_percent(accuracy):
    """`100 * (1 - accuracy)`, element-wise."""
    return 100.0 * (1.0 - np.asarray(accuracy, dtype=float))


# ------------------------------------------------------------------ tables


@dataclasses.dataclass(frozen=True)
class Column:
    """A column of `method_table`.

    Attributes:
        title: The header.
        key: The metric's key in a method's dict, or a callable
            `key(metrics) -> value`.
        format: A format spec for the value (`".2f"`), or a callable
            `format(value) -> str`.
    """

    title: str
    key: object
    format: object = ".2f"

    def cell(self, metrics):
        value = self.key(metrics) if callable(self.key) else metrics.get(
            self.key)
        if value is None:
            return "-"
        if callable(self.format):
            return self.format(value)
        return f"{value:{self.format}}"


def markdown_table(header, rows):
    """A markdown table: the first column left-aligned, the others right.

    Example:

    >>> print(markdown_table(["method", "error %"], [["a", "1.00"]]))
    | method | error % |
    |---|---:|
    | a | 1.00 |
    """
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def method_table(metrics, columns, extra_rows=()):
    """One row per method of `{method: metrics dict}`, in `columns`.

    Args:
        metrics: `{method: {metric: value}}`, in row order.
        columns: `Column`s after the `method` column.
        extra_rows: Further rows, lists of cells (e.g. a baseline).

    Returns:
        The markdown table as a string.
    """
    rows = [[method] + [c.cell(m) for c in columns]
            for method, m in metrics.items()]
    return markdown_table(["method"] + [c.title for c in columns],
                          rows + [list(r) for r in extra_rows])


# -------------------------------------------------------------- statistics


def summary_rows(runs, metric):
    """Mean, spread and time of a metric over the seeds of each method.

    Args:
        runs: `{method: {seed: metrics dict}}`.
        metric: The key compared.

    Returns:
        `(method, n, mean, std, min, max, mean s/epoch)` tuples in `runs`
        order; `std` is NaN for a single seed.
    """
    rows = []
    for method in runs:
        values = np.array([r[metric] for r in runs[method].values()])
        seconds = np.mean([r["train_seconds_per_epoch"]
                           for r in runs[method].values()])
        rows.append((method, len(values), values.mean(),
                     values.std(ddof=1) if len(values) > 1 else float("nan"),
                     values.min(), values.max(), seconds))
    return rows


def paired_comparison(runs, metric, method, baseline):
    """Per-seed differences `method - baseline` and their tests.

    Args:
        runs: `{method: {seed: metrics dict}}`.
        metric: The key compared (lower is better for `wins`).
        method, baseline: Two keys of `runs`.

    Returns:
        A dict with the seeds both have, the differences, their mean and
        std, how many seeds the method won (a lower value), and the
        two-sided p-values of the paired t-test and the Wilcoxon
        signed-rank test (None with fewer than 2 pairs). Needs scipy.
    """
    from scipy import stats

    seeds = sorted(set(runs.get(method, {})) & set(runs.get(baseline, {})))
    differences = np.array([runs[method][s][metric] - runs[baseline][s][metric]
                            for s in seeds])
    result = {"method": method, "baseline": baseline, "seeds": seeds,
              "differences": differences.tolist(), "t_p": None,
              "wilcoxon_p": None}
    if len(seeds) >= 2:
        result["t_p"] = float(stats.ttest_rel(
            [runs[method][s][metric] for s in seeds],
            [runs[baseline][s][metric] for s in seeds]).pvalue)
        if np.any(differences != 0):
            result["wilcoxon_p"] = float(stats.wilcoxon(differences).pvalue)
    result.update(mean=float(differences.mean()) if len(seeds) else None,
                  std=float(differences.std(ddof=1)) if len(seeds) > 1
                  else None,
                  wins=int(np.sum(differences < 0)))
    return result


# ------------------------------------------------------------------- plots


@dataclasses.dataclass(frozen=True)
class Panel:
    """One axis of `plot_curves`: a per-epoch curve of every method.

    Attributes:
        key: A history key, or a callable `key(history) -> values`.
        ylabel, title: Axis label and title.
        transform: Applied to the values (e.g. `error_percent`).
        yscale: `"log"` (default) or `"linear"`.
        ticks: Major y ticks written as plain numbers, or None.
        marker: Line marker (None: none).
        reference: `(value, label)` drawn as a dashed line, or None.
    """

    key: object
    ylabel: str
    title: str = ""
    transform: object = None
    yscale: str = "log"
    ticks: tuple = None
    marker: str = None
    reference: tuple = None

    def available(self, history):
        """Whether `history` has this panel's values."""
        return callable(self.key) or self.key in history

    def values(self, history):
        values = (self.key(history) if callable(self.key)
                  else history[self.key])
        values = np.asarray(values, dtype=float)
        return values if self.transform is None else self.transform(values)


def plot_curves(runs, path, panels, dpi=120, sharey=False):
    """Per-epoch curves, one line per method, one axis per panel.

    With several runs of a method (seeds), the line is their mean and a
    band their range.

    Args:
        runs: `{method: [history dict, ...]}` or `{method: history dict}`.
        path: The PNG to write.
        panels: `Panel`s, left to right; one whose history key some run
            lacks is left out.
        dpi: Resolution. Default 120.
        sharey: Whether the panels share their y axis.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import ticker

    # A panel whose values some run lacks (no validation data) is left out.
    histories = [h for hs in runs.values()
                 for h in ([hs] if isinstance(hs, dict) else hs)]
    panels = [p for p in panels if all(p.available(h) for h in histories)]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4),
                             sharey=sharey, squeeze=False)
    axes = axes[0]
    for method, histories in runs.items():
        if isinstance(histories, dict):
            histories = [histories]
        for ax, panel in zip(axes, panels):
            curves = np.array([panel.values(h) for h in histories])
            epochs = np.arange(1, curves.shape[1] + 1)
            line, = ax.plot(epochs, curves.mean(0), marker=panel.marker,
                            label=method)
            if len(curves) > 1:
                ax.fill_between(epochs, curves.min(0), curves.max(0),
                                color=line.get_color(), alpha=0.15)
    for ax, panel in zip(axes, panels):
        if panel.reference is not None:
            ax.axhline(panel.reference[0], color="gray", linestyle="--",
                       label=panel.reference[1])
        ax.set(xlabel="epoch", ylabel=panel.ylabel, title=panel.title,
               yscale=panel.yscale)
        ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
        if panel.ticks is not None:
            ax.set_yticks(list(panel.ticks))
        if panel.yscale == "log":
            # Plain numbers on the log axis, at 1, 2, 3 and 5 times powers of
            # ten (a range within one decade, 150-400, has no power of ten).
            if panel.ticks is None:
                ax.yaxis.set_major_locator(ticker.LogLocator(
                    base=10, subs=(1.0, 2.0, 3.0, 5.0)))
            ax.yaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
            ax.yaxis.set_minor_formatter(ticker.NullFormatter())
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    save_figure(fig, path, dpi)


def save_figure(fig, path, dpi=120):
    """Lays out, saves and closes a matplotlib figure."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)


def palette_copies(paths, directory, prefix=""):
    """Small copies of PNG figures for a repository: a 256-colour palette.

    Args:
        paths: dict name -> path of a figure.
        directory: Where the copies go (created), as
            `<prefix><name>.png`.
        prefix: Prefix of the copies' file names.

    Returns:
        dict name -> path of the copy.

    Example:

    ```python
    palette_copies({"curves": "results/curves.png"}, "docs/figures",
                   prefix="mnist_")
    ```
    """
    from PIL import Image

    os.makedirs(directory, exist_ok=True)
    copies = {}
    for name, path in paths.items():
        target = os.path.join(directory, f"{prefix}{name}.png")
        with Image.open(path) as image:
            image.convert("RGB").quantize(
                256, method=Image.Quantize.FASTOCTREE
            ).save(target, optimize=True)
        copies[name] = target
    return copies


# ------------------------------------------------------------------ output


def save_results(results, output_dir, plot=None, plot_name=None):
    """Writes `results.json` and, with `plot`, the plot of the methods.

    Args:
        results: JSON-serializable dict with a `"methods"` entry.
        output_dir: Directory to write to (created).
        plot: `plot(methods, path)` drawing the PNG, or None.
        plot_name: File name of the PNG.

    Returns:
        `(json_path, plot_path)` (`plot_path` None without a plot).
    """
    os.makedirs(output_dir, exist_ok=True)
    json_path = os.path.join(output_dir, "results.json")
    with open(json_path, "w") as f:
        json.dump(results, f, indent=2)
    plot_path = None
    if plot is not None:
        plot_path = os.path.join(output_dir, plot_name)
        plot(results["methods"], plot_path)
    print(f"\nWrote {json_path}" + (f" and {plot_path}" if plot_path else ""))
    return json_path, plot_path


def report(results, output_dir, table, note=None, plot=None, plot_name=None):
    """Prints the table and a note, then writes the JSON and the plot.

    Args:
        results: The run's results dict (with `"methods"`).
        output_dir: Where to write.
        table: The markdown table to print.
        note: A paragraph printed under the table, or None.
        plot, plot_name: As `save_results`.

    Returns:
        `table`.
    """
    print("\n" + table)
    if note:
        print("\n" + note)
    save_results(results, output_dir, plot, plot_name)
    return table


def report_methods(results, output_dir, columns, panels, plot_name,
                   note=None):
    """`report` of a comparison whose methods each have a `"history"`.

    Prints `method_table(results["methods"], columns)` and `note`, writes
    `results.json` and the learning curves of every method's history
    (`plot_curves` with `panels`) as `plot_name`.

    Returns:
        The table.

    Example:

    ```python
    report_methods(results, "results/run",
                   [Column("test error %", "test_error_percent")],
                   [Panel("loss", "cross-entropy", "Training loss")],
                   "learning_curves.png")
    ```
    """
    return report(
        results, output_dir, method_table(results["methods"], columns), note,
        lambda methods, path: plot_curves(
            {m: r["history"] for m, r in methods.items()}, path, panels),
        plot_name)
