"""What the training examples share: epoch timing and saving results.

The examples import it as a sibling module (`import _common`); each adds its
own directory to `sys.path` first, so this works when a script is run from
anywhere and when a test loads it from its file.
"""

import json
import os
import time

import keras


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


def save_results(results, output_dir, plot, plot_name):
    """Writes `results.json` and the plot of `results["methods"]`.

    Args:
        results: JSON-serializable dict with a `"methods"` entry.
        output_dir: Directory to write to (created).
        plot: `plot(methods, path)` drawing the PNG.
        plot_name: File name of the PNG.

    Returns:
        `(json_path, plot_path)`.
    """
    os.makedirs(output_dir, exist_ok=True)
    json_path = os.path.join(output_dir, "results.json")
    with open(json_path, "w") as f:
        json.dump(results, f, indent=2)
    plot_path = os.path.join(output_dir, plot_name)
    plot(results["methods"], plot_path)
    print(f"\nWrote {json_path} and {plot_path}")
    return json_path, plot_path


def save_figure(fig, path):
    """Lays out, saves (120 dpi) and closes a matplotlib figure."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def report(results, output_dir, table, note, plot, plot_name):
    """Prints the table and a note, then writes the JSON and the plot.

    Args:
        results: The run's results dict (with `"methods"`).
        output_dir: Where to write.
        table: The markdown table to print.
        note: A paragraph printed under the table (or None).
        plot, plot_name: As `save_results`.

    Returns:
        `table`.
    """
    print("\n" + table)
    if note:
        print("\n" + note)
    save_results(results, output_dir, plot, plot_name)
    return table
