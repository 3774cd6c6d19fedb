"""One training step on one JAX device and on two, with `DataParallel`.

Run by `tests/test_distributed.py` in a subprocess, because the two host
devices must be asked for before JAX starts:

    XLA_FLAGS=--xla_force_host_platform_device_count=2 KERAS_BACKEND=jax \
        python tests/workers/jax_data_parallel.py OUT.npz

For every method (adversarial dropout K=1 and K=2, fraternal dropout,
virtual adversarial training), the same model from the same weights and
seeds takes one SGD step on the same batch of 8, first with no
distribution, then under `keras.distribution.DataParallel` over both
devices (4 examples on each). The file holds the weights and logs of
both, the adversarial masks of the batch found on one device and on two
(with the device that holds each row of the two-device masks and of their
inputs), the number of devices holding the weights, and the number of
devices.
"""

import sys

import jax
import keras
import numpy as np
from keras import ops

import keras_adrop

R = keras_adrop.regularizers
STEPS, FEATURES, UNITS, CLASSES, VOCAB, BATCH = 5, 3, 8, 3, 12, 8
METHODS = {
    "adversarial_k1": (lambda: [R.AdversarialDropout(delta=0.5, seed=1)],
                       0.0, False),
    "adversarial_k2": (lambda: [R.AdversarialDropout(
        delta=0.5, iterations=2, seed=1)], 0.0, False),
    "fraternal": (lambda: [R.FraternalDropout(seed=1)], 0.3, False),
    "virtual_adversarial": (lambda: [R.VirtualAdversarialPerturbation(
        epsilon=1.0, seed=1)], 0.0, True),
}


def data(text):
    rng = np.random.RandomState(1)
    if text:
        x = rng.randint(1, VOCAB, size=(BATCH, STEPS))
        x[2, 3:] = 0  # padding
        return x.astype("int32"), rng.randint(0, 2, size=BATCH)
    return (rng.randn(BATCH, STEPS, FEATURES).astype("float32"),
            rng.randint(0, CLASSES, size=BATCH))


def build(arguments, recurrent_dropout=0.0, text=False,
          model_class=keras_adrop.RegularizedModel):
    keras.utils.set_random_seed(0)
    if text:
        inputs = keras.Input((STEPS,), dtype="int32")
        h = keras_adrop.layers.Embedding(VOCAB, 4, mask_zero=True)(inputs)
        classes = 2
    else:
        inputs = h = keras.Input((STEPS, FEATURES))
        classes = CLASSES
    h = keras_adrop.layers.LSTM(UNITS, recurrent_dropout=recurrent_dropout,
                                name="lstm")(h)
    model = model_class(inputs, keras.layers.Dense(classes)(h),
                        **arguments)
    rng = np.random.RandomState(0)
    model.set_weights([0.5 * rng.randn(*w.shape).astype("float32")
                       for w in model.get_weights()])
    model.compile(keras.optimizers.SGD(0.5),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def row_devices(array):
    """The id of the device holding each row of a batch-sharded array
    (-1 for a row held by every device: not sharded)."""
    owners = np.full(array.shape[0], -1)
    shards = array.sharding.devices_indices_map(array.shape)
    if len({tuple(map(str, index)) for index in shards.values()}) == 1:
        return owners  # replicated
    for device, index in shards.items():
        owners[index[0]] = device.id
    return owners


def one_run(prefix, results):
    for method, (regularizers, rate, text) in METHODS.items():
        x, y = data(text)
        model = build({"regularizers": regularizers()}, rate, text)
        logs = model.train_on_batch(x, y, return_dict=True)
        for i, weight in enumerate(model.get_weights()):
            results[f"{prefix}/{method}/weight{i}"] = weight
        for name, value in logs.items():
            results[f"{prefix}/{method}/log/{name}"] = np.asarray(value)
        kernel = model.trainable_variables[0].value
        results[f"{prefix}/{method}/weight_devices"] = np.asarray(
            len(kernel.sharding.device_set))
    x, _ = data(False)
    model = build(dict(delta=0.5, iterations=2, seed=1),
                  model_class=keras_adrop.AdversarialDropoutModel)
    distribution = keras.distribution.distribution()
    if distribution is not None:
        x = keras.distribution.distribute_tensor(
            x, distribution.get_data_layout(x.shape))
        results[f"{prefix}/input_devices"] = row_devices(x)
    masks = model.adversarial_masks(x)["lstm"]
    results[f"{prefix}/masks"] = ops.convert_to_numpy(masks)
    if distribution is not None:
        results[f"{prefix}/mask_devices"] = row_devices(masks)


def main(out):
    results = {"devices": np.asarray(len(jax.devices()))}
    one_run("one", results)
    keras.distribution.set_distribution(
        keras.distribution.DataParallel(devices=jax.devices()))
    try:
        one_run("two", results)
    finally:
        keras.distribution.set_distribution(None)
    np.savez(out, **results)


if __name__ == "__main__":
    main(*sys.argv[1:])
