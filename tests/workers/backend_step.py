"""One training step of every method on the current Keras backend.

Run by `tests/test_backends.py` once per backend, in a subprocess (Keras
picks its backend at import):

    KERAS_BACKEND=jax python tests/workers/backend_step.py OUT.npz [MODEL.keras]

Weights, inputs and every random draw of keras_adrop (start flips, random
masks, VAT's direction) are the same on every backend: the draws come from
numpy instead of `keras.random`, whose streams differ between backends. The
file holds the outputs with a mask set from outside, the influence maps,
the adversarial masks, and the weights and logs after one SGD step of each
method. With `MODEL.keras`, it also saves a model there if the file does not
exist yet, and stores its predictions after loading it.
"""

import itertools
import os
import sys

import numpy as np

import keras
from keras import ops

import keras_adrop
from keras_adrop.regularizers import adversarial_search
from keras_adrop.regularizers import base as regularizers_base
from keras_adrop.regularizers import embedding_perturbations
from keras_adrop.training import gradient_function
from keras_adrop.training.loss import base_pass

STEPS, FEATURES, UNITS, CLASSES, VOCAB = 5, 3, 6, 3, 12
_draws = itertools.count()


def numpy_uniform(shape, seed=None):
    rng = np.random.RandomState(next(_draws))
    return ops.convert_to_tensor(rng.rand(*shape).astype("float32"))


def numpy_normal(shape, seed=None, **kwargs):
    rng = np.random.RandomState(next(_draws))
    return ops.convert_to_tensor(rng.randn(*shape).astype("float32"))


adversarial_search.per_example_uniform = numpy_uniform
regularizers_base.per_example_uniform = numpy_uniform
embedding_perturbations.keras.random.normal = numpy_normal

R = keras_adrop.regularizers
# name -> (regularizers, recurrent_dropout, text inputs)
METHODS = {
    "adversarial_k1": (lambda: [R.AdversarialDropout(delta=0.5)], 0.0, False),
    "adversarial_k2": (lambda: [R.AdversarialDropout(delta=0.5, iterations=2)],
                       0.0, False),
    "adversarial_random_base": (lambda: [R.AdversarialDropout(
        delta=0.5, iterations=2, base_mask="random")], 0.3, False),
    "fraternal": (lambda: [R.FraternalDropout()], 0.3, False),
    "expectation_linearization": (
        lambda: [R.ExpectationLinearization()], 0.3, False),
    "virtual_adversarial": (lambda: [R.VirtualAdversarialPerturbation(
        epsilon=1.0)], 0.0, True),
    "adversarial_k2_vat": (lambda: [
        R.AdversarialDropout(delta=0.5, iterations=2),
        R.VirtualAdversarialPerturbation(epsilon=1.0)], 0.0, True),
    # Last: the draws of the methods above stay those they were tuned on.
    "adversarial_dropconnect": (lambda: [R.AdversarialDropConnect(
        delta=0.5, iterations=2)], 0.0, False),
}


def data(text):
    rng = np.random.RandomState(1)
    if text:
        x = rng.randint(1, VOCAB, size=(8, STEPS))
        x[2, 3:] = 0  # padding
        return x.astype("int32"), rng.randint(0, 2, size=8)
    return (rng.randn(8, STEPS, FEATURES).astype("float32"),
            rng.randint(0, CLASSES, size=8))


def build(regularizers, recurrent_dropout=0.0, text=False):
    if text:
        inputs = keras.Input((STEPS,), dtype="int32")
        h = keras_adrop.layers.Embedding(VOCAB, 4, mask_zero=True)(inputs)
        classes = 2
    else:
        inputs = keras.Input((STEPS, FEATURES))
        h, classes = inputs, CLASSES
    h = keras_adrop.layers.LSTM(UNITS, recurrent_dropout=recurrent_dropout,
                                name="lstm")(h)
    model = keras_adrop.RegularizedModel(
        inputs, keras.layers.Dense(classes)(h), regularizers=regularizers)
    rng = np.random.RandomState(0)
    model.set_weights([0.5 * rng.randn(*w.shape).astype("float32")
                       for w in model.get_weights()])
    model.compile(keras.optimizers.SGD(0.5),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  run_eagerly=True)  # numpy draws need concrete shapes
    return model


def main(out, saved=None):
    results = {}
    x, y = data(text=False)
    # K=1: the search never returns to eps0, where the influence map is
    # round-off noise that differs between backends.
    model = build([R.AdversarialDropout(delta=0.5)])
    rnn = model.get_layer("lstm")
    mask = np.ones((8, UNITS), "float32")
    mask[:, 1] = 0.0
    mask[::2, 4] = 0.0
    with keras_adrop.layers.recurrent_masks({rnn: ops.convert_to_tensor(mask)}):
        results["masked_outputs"] = model(x, training=True)
    batch = base_pass(model, ops.convert_to_tensor(x), gradient_function(model))
    regularizer = model.regularizers[0]
    target = ops.stop_gradient(batch.outputs)
    results["influence"] = batch.gradient(
        lambda masks: regularizer.compare(batch, target, batch.run(masks)),
        {rnn: ops.convert_to_tensor(mask)})[rnn]
    results["adversarial_masks"] = regularizer.adversarial_masks(batch)[rnn]

    for method, (regularizers, rate, text) in METHODS.items():
        x, y = data(text)
        model = build(regularizers(), rate, text)
        history = model.fit(x, y, batch_size=8, epochs=1, shuffle=False,
                            verbose=0)
        for i, weight in enumerate(model.get_weights()):
            results[f"{method}/weight{i}"] = weight
        for name, values in history.history.items():
            results[f"{method}/log/{name}"] = values[-1]

    if saved:
        if not os.path.exists(saved):
            build([R.AdversarialDropout(delta=0.5)]).save(saved)
        loaded = keras.models.load_model(saved)
        results["loaded_predictions"] = loaded.predict(data(False)[0],
                                                       verbose=0)
        results["loaded_delta"] = loaded.adversarial_dropout.delta if hasattr(
            loaded, "adversarial_dropout") else loaded.regularizers[0].delta
    np.savez(out, backend=keras.backend.backend(),
             **{k: ops.convert_to_numpy(v) for k, v in results.items()})


if __name__ == "__main__":
    main(*sys.argv[1:])
