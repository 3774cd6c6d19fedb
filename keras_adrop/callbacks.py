"""What adversarial dropout does during training, in TensorBoard.

`AdversarialMaskTensorBoard` runs the mask search of an
`AdversarialDropoutModel` on a fixed batch after every `every`-th epoch and
writes, per adversarial layer, what it found: how many units each example
loses, how evenly the drops spread over the units, a histogram of the drops
per unit, and the masks themselves as a heatmap image, beside the epoch's
penalty and flip counts. Summaries are written with TensorFlow
(`tf.summary`), imported when the callback is created.
"""

import os

import keras
import numpy as np

from keras_adrop.analysis.mask_statistics import effective_units


def _tensorflow():
    try:
        import tensorflow as tf
    except ImportError:
        raise ImportError(
            "AdversarialMaskTensorBoard writes TensorBoard summaries with "
            "TensorFlow: `pip install tensorflow tensorboard`."
        ) from None
    return tf


def _image(rows, min_width=256):
    """A `(1, h, w, 1)` grayscale image of 0/1 rows, cells scaled up."""
    rows = np.asarray(rows, dtype="float32")
    scale = max(1, min_width // rows.shape[1])
    pixels = np.repeat(np.repeat(rows, scale, axis=0), scale, axis=1)
    return pixels[None, :, :, None]


class AdversarialMaskTensorBoard(keras.callbacks.Callback):
    """Logs the adversarial masks of a fixed batch to TensorBoard.

    After every `every`-th epoch, calls `model.adversarial_masks(x)` (the
    masks a training step would find for `x`; weights and state are left
    unchanged) and writes, under `adversarial_masks/<layer>/`:

    - scalars `dropped_units_per_example` (mean over `x` of the units the
      mask drops), `units_ever_dropped` (how many units are dropped for
      some example) and `effective_units` (`exp` of the entropy of the drops
      over the units: 1 when every drop hits the same unit, the number of
      units when they spread evenly; see
      `keras_adrop.analysis.effective_units`);
    - histograms `drops_per_unit` (for each unit, in how many examples it is
      dropped) and `drops_per_example` (how many units each example
      loses);
    - images `masks` (examples down, units across; black = dropped) and
      `drop_frequency_by_epoch` (one row per record so far, the fraction of
      examples dropping each unit; white = never).

    The epoch's logged `*penalty*` and `*flips*` values (e.g.
    `adversarial_dropout_penalty`) are written as scalars under
    `adversarial_dropout/`. Use it beside `keras.callbacks.TensorBoard`,
    which logs the losses, with the same `log_dir`: TensorBoard shows both.

    Args:
        log_dir: Directory of the event files (a `masks` sub-directory is
            used, like Keras' `train` and `validation`).
        x: A fixed batch of inputs (array or nested arrays); at most
            `max_examples` of its first examples are used.
        every: Record every this many epochs. Default 1.
        max_examples: Examples of `x` searched. Default 256.

    Raises:
        ImportError: if TensorFlow is not installed.

    Example:

    ```python
    model = keras_adrop.AdversarialDropoutModel(inputs, outputs, delta=0.1)
    model.compile("adam", "mse")
    model.fit(x, y, epochs=10, callbacks=[
        keras.callbacks.TensorBoard("logs"),
        keras_adrop.callbacks.AdversarialMaskTensorBoard("logs", x[:256]),
    ])
    # tensorboard --logdir logs
    ```
    """

    def __init__(self, log_dir, x, every=1, max_examples=256):
        super().__init__()
        self._tf = _tensorflow()
        if (not isinstance(every, int) or isinstance(every, bool)
                or every < 1):
            raise ValueError(
                "`every` must be a positive integer. Received: "
                f"every={every!r}"
            )
        self.x = keras.tree.map_structure(
            lambda a: np.asarray(a)[:max_examples], x)
        self.every = every
        self.log_dir = log_dir
        self.writer = None
        self.frequencies = {}  # layer name -> list of (units,) rows

    def on_train_begin(self, logs=None):
        if not callable(getattr(self.model, "adversarial_masks", None)):
            raise ValueError(
                "AdversarialMaskTensorBoard needs a model with "
                "`adversarial_masks(x)`, e.g. keras_adrop."
                f"AdversarialDropoutModel; got {type(self.model).__name__}."
            )
        if self.writer is None:
            self.writer = self._tf.summary.create_file_writer(
                os.path.join(self.log_dir, "masks"))

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every:
            return
        tf = self._tf
        masks = self.model.adversarial_masks(self.x)
        with self.writer.as_default(step=epoch):
            for name, mask in masks.items():
                self._write_layer(name, np.asarray(mask))
            for key, value in (logs or {}).items():
                if "penalty" in key or "flips" in key:
                    tf.summary.scalar(f"adversarial_dropout/{key}", value)
        self.writer.flush()

    def _write_layer(self, name, mask):
        tf = self._tf
        dropped = 1.0 - mask  # (examples, units), 1 where dropped
        per_unit = dropped.sum(axis=0)
        per_example = dropped.sum(axis=1)
        self.frequencies.setdefault(name, []).append(
            per_unit / len(dropped))
        prefix = f"adversarial_masks/{name}"
        tf.summary.scalar(f"{prefix}/dropped_units_per_example",
                          float(per_example.mean()))
        tf.summary.scalar(f"{prefix}/units_ever_dropped",
                          float((per_unit > 0).sum()))
        tf.summary.scalar(f"{prefix}/effective_units",
                          float(effective_units(per_unit)))
        tf.summary.histogram(f"{prefix}/drops_per_unit", per_unit)
        tf.summary.histogram(f"{prefix}/drops_per_example", per_example)
        tf.summary.image(f"{prefix}/masks", _image(mask))
        tf.summary.image(f"{prefix}/drop_frequency_by_epoch",
                         _image(1.0 - np.stack(self.frequencies[name])))

    def on_train_end(self, logs=None):
        if self.writer is not None:
            self.writer.close()
            self.writer = None
