"""A non-finite share on one of two replicas: both skip the step; an
update that overflows (`overflow`) is skipped on both.

Run by tests/test_reliability_distributed.py in a fresh process (logical
devices must be set before TensorFlow starts). Prints one JSON line.
"""

import json
import os
import sys
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402

import keras_adrop  # noqa: E402


def main(jit_compile, case="nan"):
    keras.utils.set_random_seed(0)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        inputs = keras.Input((5, 2))
        h = keras_adrop.layers.LSTM(8)(inputs)
        # "overflow": finite terms and gradients whose square overflows
        # Adam's second moment at the first step.
        model = keras_adrop.AdversarialDropoutModel(
            inputs, keras.layers.Dense(3)(h), delta=0.25, seed=1,
            penalty_weight=3e38 if case == "overflow" else 1.0)
        model.compile(
            keras.optimizers.Adam(0.01),
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            jit_compile=jit_compile)
    rng = np.random.RandomState(0)
    x = rng.rand(32, 5, 2).astype("float32")
    y = rng.randint(0, 3, size=32)
    if case == "nan":
        x[8 + 6, 1, 0] = np.nan  # batch 2, the second replica's half
    initial = [w.tolist() for w in model.get_weights()]
    weights = []

    class Keep(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            weights.append([w.tolist() for w in self.model.get_weights()])

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(x, y, batch_size=8, epochs=1, shuffle=False,
                            verbose=0, callbacks=[Keep()]).history
    print(json.dumps({
        "steps": len(weights),
        "same": weights[0] == weights[-1],
        "initial": weights[-1] == initial,
        "iterations": int(model.optimizer.iterations.numpy()),
        "skipped": history["skipped_steps"],
        "finite": all(np.isfinite(w).all() for w in model.get_weights()),
        "stopped": [str(w.message) for w in caught
                    if issubclass(w.category, RuntimeWarning)],
    }))


if __name__ == "__main__":
    main(sys.argv[1] == "xla", *sys.argv[2:])
