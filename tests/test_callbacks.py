"""AdversarialMaskTensorBoard writes the mask statistics it promises."""

import glob
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_adrop
from keras_adrop.callbacks import AdversarialMaskTensorBoard


def _model():
    inputs = keras.Input((5, 2))
    h = keras_adrop.layers.LSTM(8, name="lstm")(inputs)
    model = keras_adrop.AdversarialDropoutModel(
        inputs, keras.layers.Dense(1)(h), delta=0.25, seed=0,  # 2 flips
        divergence="squared_logits", from_logits=True)
    model.compile("adam", "mse")
    return model


def _events(log_dir):
    """tag -> list of (step, numpy value) of every summary written."""
    found = {}
    for path in glob.glob(f"{log_dir}/masks/events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                found.setdefault(value.tag, []).append(
                    (event.step, tf.make_ndarray(value.tensor)))
    return found


def test_scalars_histograms_and_images_per_layer(tmp_path):
    x = np.random.RandomState(0).rand(12, 5, 2).astype("float32")
    callback = AdversarialMaskTensorBoard(str(tmp_path), x, max_examples=10)
    _model().fit(x, np.ones((12, 1)), epochs=2, batch_size=4, verbose=0,
                 callbacks=[callback])
    events = _events(tmp_path)
    prefix = "adversarial_masks/lstm/"
    for name in ("dropped_units_per_example", "units_ever_dropped",
                 "effective_units", "drops_per_unit", "drops_per_example",
                 "masks",
                 "drop_frequency_by_epoch"):
        assert [step for step, _ in events[prefix + name]] == [0, 1], name
    for _, value in events[prefix + "dropped_units_per_example"]:
        assert 0.0 < float(value) <= 2.0  # within the budget of 2 flips
    for _, value in events[prefix + "effective_units"]:
        assert 1.0 <= float(value) <= 8.0
    # The heatmap: 10 examples x 8 units, each cell 32 px wide and high.
    width, height = (int(v) for v in events[prefix + "masks"][0][1][:2])
    assert (width, height) == (8 * 32, 10 * 32)
    # One row per epoch recorded so far.
    _, second = events[prefix + "drop_frequency_by_epoch"][1]
    assert int(second[1]) == 2 * 32
    penalties = events["adversarial_dropout/adversarial_dropout_penalty"]
    assert len(penalties) == 2 and all(np.isfinite(float(v))
                                       for _, v in penalties)


def test_every_skips_epochs(tmp_path):
    x = np.random.RandomState(0).rand(4, 5, 2).astype("float32")
    callback = AdversarialMaskTensorBoard(str(tmp_path), x, every=2)
    _model().fit(x, np.ones((4, 1)), epochs=3, verbose=0,
                 callbacks=[callback])
    steps = [s for s, _ in _events(tmp_path)[
        "adversarial_masks/lstm/effective_units"]]
    assert steps == [1]


def test_a_model_without_adversarial_masks_is_refused(tmp_path):
    inputs = keras.Input((5, 2))
    h = keras_adrop.layers.LSTM(4, recurrent_dropout=0.1)(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1)(h))
    model.compile("adam", "mse")
    x = np.zeros((4, 5, 2), "float32")
    with pytest.raises(ValueError, match="adversarial_masks"):
        model.fit(x, np.ones((4, 1)), verbose=0, callbacks=[
            AdversarialMaskTensorBoard(str(tmp_path), x)])


def test_without_tensorflow_the_error_says_what_to_install(monkeypatch,
                                                           tmp_path):
    monkeypatch.setitem(sys.modules, "tensorflow", None)
    with pytest.raises(ImportError, match="pip install tensorflow"):
        AdversarialMaskTensorBoard(str(tmp_path), np.zeros((2, 5, 2)))
