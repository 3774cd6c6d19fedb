"""Trains small regularized models on 1 or 2 replicas; writes what they logged.

A helper of tests/test_distributed.py, run as a script (a few seconds per
mode on 2 CPU cores, plus TensorFlow's start-up):

    python tests/workers/distributed_fit.py MODE OUT.json [KINDS]

MODE:
    one          one CPU device (`OneDeviceStrategy`);
    mirrored     one device, then `MirroredStrategy` over two logical CPU
                 devices of this process;
    multiworker  `MultiWorkerMirroredStrategy`, this process being the
                 worker `TF_CONFIG` names (start one process per worker).

KINDS: comma-separated models, from "adversarial" (an
`AdversarialDropoutModel`, K = 2) and "fraternal" (a `RegularizedModel` with
`FraternalDropout`); default both.

Every run trains the same models from the same weights on the same global
batches of 16 and writes, per mode and model, the loss terms of every step,
the final weights and the optimizer's step count.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

MODES = ("one", "mirrored", "multiworker")
KINDS = ("adversarial", "fraternal")
GLOBAL_BATCH, EPOCHS, EXAMPLES = 16, 2, 64


def strategies(mode):
    """`{name: strategy}` for `mode`; must run before any other TF op."""
    if mode == "mirrored":
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        return {
            "one": tf.distribute.OneDeviceStrategy("/cpu:0"),
            "mirrored": tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]),
        }
    if mode == "multiworker":
        return {"multiworker": tf.distribute.MultiWorkerMirroredStrategy()}
    return {"one": tf.distribute.OneDeviceStrategy("/cpu:0")}


def data():
    rng = np.random.RandomState(0)
    x = rng.randn(EXAMPLES, 6, 2).astype("float32")
    y = np.digitize(x[:, :, 0].sum(1), [-1.0, 1.0]).astype("int32")
    return x, y


def build(kind):
    """The model `kind` ("adversarial" or "fraternal"), compiled."""
    import keras

    import keras_adrop

    keras.utils.set_random_seed(0)
    inputs = keras.Input((6, 2))
    rate = 0.25 if kind == "fraternal" else 0.0
    hidden = keras_adrop.layers.LSTM(10, recurrent_dropout=rate,
                                     name="lstm")(inputs)
    # Logits of a few units, not of ~0.1: with near-uniform outputs the KL's
    # influence map is ~1e-9, and whether a unit's score is above 0 (rule
    # 13) is then decided by rounding, which differs with the summation
    # order of 1 or 2 replicas.
    outputs = keras.layers.Dense(
        3, kernel_initializer=keras.initializers.RandomNormal(
            stddev=3.0, seed=2))(hidden)
    if kind == "adversarial":
        # Budget floor(0.3 * 10) = 3: the random start flip, then two
        # greedy flips (K = 2).
        model = keras_adrop.AdversarialDropoutModel(
            inputs, outputs, delta=0.3, iterations=2, seed=1)
    else:
        model = keras_adrop.RegularizedModel(
            inputs, outputs, regularizers=[
                keras_adrop.regularizers.FraternalDropout(penalty_weight=1.0, seed=1)])
    model.compile(keras.optimizers.SGD(0.05),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def fit_with_keras(model, x, y):
    """`model.fit` on global batches; returns the loss terms of each step."""
    import keras

    running = []
    record = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: running.append(
            {k: float(v) for k, v in logs.items()}))
    model.fit(x, y, batch_size=GLOBAL_BATCH, epochs=EPOCHS, shuffle=False,
              verbose=0, callbacks=[record])
    return per_step(running, len(x) // GLOBAL_BATCH)


def per_step(running, steps_per_epoch):
    """Each step's values from the running epoch means that `fit` logs."""
    steps = []
    for i, logs in enumerate(running):
        k = i % steps_per_epoch
        steps.append({
            name: value * (k + 1) - running[i - 1][name] * k if k else value
            for name, value in logs.items()
        })
    return steps


def fit_this_workers_share(strategy, model, x, y):
    """Runs `model.train_step` on this worker's share of each global batch.

    Keras 3.15's `fit` and `train_on_batch` cannot run under
    MultiWorkerMirroredStrategy (keras-team/keras#20585): `fit`'s first step
    hands the nested input batch to `strategy.reduce`, which takes no nest,
    and both reduce the scalar logs along an axis they do not have. This
    loop is the same step without those reductions: worker `i` of `n` runs
    it on rows `i * b` to `(i + 1) * b` of each global batch
    (`b = GLOBAL_BATCH / n`, the rows `fit` gives replica `i`), and the
    optimizer sums the gradients of all workers.
    """
    from keras_adrop.training import nonfinite

    workers = strategy.num_replicas_in_sync
    index = strategy.cluster_resolver.task_id
    share = GLOBAL_BATCH // workers
    with strategy.scope():
        model.optimizer.build(model.trainable_variables)

    @tf.function
    def step(x, y):
        logs = strategy.run(model.train_step, args=((x, y),))
        # The non-finite record is for fit's train function only.
        return {name: strategy.reduce("MEAN", value, axis=None)
                for name, value in logs.items()
                if name != nonfinite.NONFINITE_LOG}

    steps = []
    for _ in range(EPOCHS):
        for start in range(0, len(x), GLOBAL_BATCH):
            rows = slice(start + index * share, start + (index + 1) * share)
            model.reset_metrics()  # the logs of this step alone
            logs = step(tf.constant(x[rows]), tf.constant(y[rows]))
            steps.append({k: float(v) for k, v in logs.items()})
    return steps


def main(mode, out, kinds=",".join(KINDS)):
    if mode not in MODES:
        raise SystemExit(f"MODE must be one of {MODES}. Received: {mode!r}")
    kinds = kinds.split(",")
    if not set(kinds) <= set(KINDS):
        raise SystemExit(f"KINDS must be from {KINDS}. Received: {kinds}")
    report = {}
    x, y = data()
    for name, strategy in strategies(mode).items():
        for kind in kinds:
            with strategy.scope():
                model = build(kind)
            if name == "multiworker":
                steps = fit_this_workers_share(strategy, model, x, y)
            else:
                steps = fit_with_keras(model, x, y)
            report.setdefault(name, {})[kind] = {
                "replicas": strategy.num_replicas_in_sync,
                "steps": steps,
                "weights": [w.tolist() for w in model.get_weights()],
                "iterations": int(model.optimizer.iterations.numpy()),
            }
    with open(out, "w") as f:
        json.dump(report, f)


if __name__ == "__main__":
    main(*sys.argv[1:4])
