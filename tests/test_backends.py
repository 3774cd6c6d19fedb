"""One training step on TensorFlow and on JAX: the same algorithm.

`test_*_tensorflow_and_jax_agree` run `tests/workers/backend_step.py` under
each backend in a subprocess (Keras picks its backend at import) and compare
what they computed from the same weights, inputs and draws. The tests
marked `backend_neutral` run under whatever backend this process has; CI
runs them a second time with `KERAS_BACKEND=jax` (README's test command).
"""

import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest
from keras import ops

import keras_adrop
from keras_adrop.regularizers import AdversarialDropout
from keras_adrop.regularizers import ExpectationLinearization
from keras_adrop.regularizers import FraternalDropout
from keras_adrop.regularizers import VirtualAdversarialPerturbation

WORKER = pathlib.Path(__file__).parent / "workers" / "backend_step.py"
BACKENDS = ("tensorflow", "jax")


def _run_worker(backend, out, saved):
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, str(WORKER), str(out), str(saved)],
                          env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(np.load(out))


@pytest.fixture(scope="module")
def steps(tmp_path_factory):
    """What each backend computed; TensorFlow saved the `.keras` file."""
    folder = tmp_path_factory.mktemp("backends")
    saved = folder / "model.keras"
    return {backend: _run_worker(backend, folder / f"{backend}.npz", saved)
            for backend in BACKENDS}


def test_outputs_influence_maps_and_flips_tensorflow_and_jax_agree(steps):
    tf_, jax_ = steps["tensorflow"], steps["jax"]
    assert (str(tf_["backend"]), str(jax_["backend"])) == BACKENDS
    np.testing.assert_allclose(jax_["masked_outputs"], tf_["masked_outputs"],
                               rtol=1e-5, atol=1e-6)
    influence = tf_["influence"]
    assert np.abs(influence).max() > 1e-6  # not a vacuous comparison
    np.testing.assert_allclose(jax_["influence"], influence, rtol=1e-5,
                               atol=1e-5 * np.abs(influence).max())
    np.testing.assert_array_equal(jax_["adversarial_masks"],
                                  tf_["adversarial_masks"])
    assert 0 < (1 - tf_["adversarial_masks"]).sum(1).max() <= 3  # budget


@pytest.mark.parametrize("method", [
    "adversarial_k1", "adversarial_k2", "adversarial_random_base",
    "adversarial_dropconnect", "fraternal", "expectation_linearization", "virtual_adversarial",
    "adversarial_k2_vat",
])
def test_one_sgd_step_tensorflow_and_jax_agree(steps, method):
    tf_, jax_ = steps["tensorflow"], steps["jax"]
    weights = sorted(k for k in tf_ if k.startswith(f"{method}/weight"))
    logs = sorted(k for k in tf_ if k.startswith(f"{method}/log/"))
    assert weights and any(k.endswith("_penalty") for k in logs)
    for key in weights:
        np.testing.assert_allclose(jax_[key], tf_[key], rtol=1e-5, atol=1e-6,
                                   err_msg=key)
    for key in logs:
        np.testing.assert_allclose(jax_[key], tf_[key], rtol=1e-4, atol=1e-8,
                                   err_msg=key)
        if key.endswith("_penalty"):
            assert tf_[key] > 0, key
    # The step moved the weights: the comparison is not of two no-ops.
    start = np.random.RandomState(0)
    first = 0.5 * start.randn(*tf_[weights[0]].shape)
    assert np.abs(tf_[weights[0]] - first).max() > 1e-4


def test_a_keras_file_saved_on_tensorflow_predicts_the_same_on_jax(steps):
    tf_, jax_ = steps["tensorflow"], steps["jax"]
    assert float(jax_["loaded_delta"]) == 0.5
    np.testing.assert_allclose(jax_["loaded_predictions"],
                               tf_["loaded_predictions"], rtol=1e-5,
                               atol=1e-6)


def test_an_unsupported_backend_is_named_when_the_model_is_built():
    code = (
        "import keras, keras_adrop\n"
        "x = keras.Input((3, 2))\n"
        "y = keras.layers.Dense(2)(keras_adrop.layers.LSTM(4)(x))\n"
        "keras_adrop.AdversarialDropoutModel(x, y, delta=0.5)\n"
    )
    env = {**os.environ, "KERAS_BACKEND": "numpy"}
    done = subprocess.run([sys.executable, "-c", code], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert "('tensorflow', 'jax')" in done.stderr
    assert "KERAS_BACKEND='numpy'" in done.stderr


# Backend-neutral tests: also run with KERAS_BACKEND=jax in CI.

def _data(n=32, seed=0, text=False):
    rng = np.random.RandomState(seed)
    if text:
        x = rng.randint(1, 12, size=(n, 6)).astype("int32")
        x[: n // 2, 4:] = 0
        return x, rng.randint(0, 2, size=n)
    return rng.randn(n, 6, 3).astype("float32"), rng.randint(0, 3, size=n)


def _model(regularizers, rate=0.0, text=False):
    if text:
        inputs = keras.Input((6,), dtype="int32")
        h = keras_adrop.layers.Embedding(12, 4, mask_zero=True)(inputs)
    else:
        inputs = h = keras.Input((6, 3))
    h = keras_adrop.layers.GRU(8, recurrent_dropout=rate, seed=0)(h)
    outputs = keras.layers.Dense(2 if text else 3)(h)
    model = keras_adrop.RegularizedModel(inputs, outputs,
                                         regularizers=regularizers)
    model.compile(keras.optimizers.Adam(0.01),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


@pytest.mark.backend_neutral
@pytest.mark.parametrize("regularizers, rate, text", [
    (lambda: [AdversarialDropout(delta=0.375, iterations=2, seed=0)], 0.0,
     False),
    (lambda: [FraternalDropout(seed=0)], 0.25, False),
    (lambda: [ExpectationLinearization(seed=0)], 0.25, False),
    (lambda: [AdversarialDropout(delta=0.25, seed=0),
              VirtualAdversarialPerturbation(epsilon=1.0, seed=0)], 0.0, True),
], ids=["adversarial_k2", "fraternal", "expectation_linearization",
        "adversarial_vat"])
def test_fit_logs_every_term_and_evaluate_leaves_them_out(
        regularizers, rate, text):
    model = _model(regularizers(), rate, text)
    x, y = _data(text=text)
    history = model.fit(x, y, batch_size=16, epochs=2, verbose=0).history
    names = ["loss", "supervised_loss", "skipped_steps"] + [
        name for r in model.regularizers for name in r.metric_names()]
    assert sorted(history) == sorted(names)
    assert all(np.isfinite(v).all() for v in history.values())
    for regularizer in model.regularizers:
        assert history[regularizer.metric_names()[0]][-1] > 0
    assert history["loss"][1] < history["loss"][0]
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert sorted(logs) == ["loss"]


@pytest.mark.backend_neutral
def test_adversarial_masks_respect_the_budget_and_change_no_state():
    inputs = keras.Input((6, 3))
    h = keras_adrop.layers.LSTM(10, name="lstm")(inputs)
    model = keras_adrop.AdversarialDropoutModel(
        inputs, keras.layers.Dense(3)(keras.layers.Dropout(0.3)(h)),
        delta=0.3, iterations=2, seed=0)
    model.compile("adam",
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, _ = _data(8)
    own = model.regularizer_seed_generators[0].state  # advances: new draws
    state = [v for v in model.variables if v is not own]
    before = [ops.convert_to_numpy(v) for v in state]
    masks = model.adversarial_masks(x)
    after = [ops.convert_to_numpy(v) for v in state]
    mask = ops.convert_to_numpy(masks["lstm"])
    assert mask.shape == (8, 10)
    assert set(np.unique(mask)) <= {0.0, 1.0}
    flips = (1 - mask).sum(1)
    assert flips.min() >= 1 and flips.max() <= 3  # floor(0.3 * 10) = 3
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a, b)


@pytest.mark.backend_neutral
def test_semi_supervised_batches_train_the_penalty_on_unlabeled_inputs():
    model = _model([AdversarialDropout(delta=0.25, seed=0)])
    x, y = _data(16)
    unlabeled, _ = _data(16, seed=1)

    def batches():
        for start in (0, 8):
            yield {"labeled": (x[start:start + 8], y[start:start + 8]),
                   "unlabeled": unlabeled[start:start + 8]}

    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return 2

        def __getitem__(self, index):
            return list(batches())[index]

    history = model.fit(Batches(), epochs=1, verbose=0).history
    assert history["adversarial_dropout_penalty"][0] > 0


@pytest.mark.backend_neutral
def test_a_non_finite_step_never_reaches_the_weights():
    model = _model([AdversarialDropout(delta=0.25, seed=0)])
    x, y = _data(16)
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    before = model.get_weights()
    x[3, 2, 1] = np.nan
    # Both backends skip the step inside the compiled function and stop
    # (docs/reliability.md; every path in tests/test_reliability.py).
    with pytest.warns(RuntimeWarning, match="supervised_loss = nan"):
        history = model.fit(x, y, batch_size=16, epochs=1, verbose=0).history
    assert history["skipped_steps"] == [1.0]
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.backend_neutral
@pytest.mark.parametrize("cls", [keras_adrop.layers.LSTM,
                                 keras_adrop.layers.GRU], ids=["lstm", "gru"])
def test_a_stateful_layer_carries_its_state_on_every_backend(cls):
    """Under JAX Keras' own stateful layers drop their state in compiled
    steps (it is not a tracked variable); ours carry it on every backend,
    across calls and across the batches of one call, and an adversarial
    step leaves the base pass's state (rule 9)."""
    x = np.random.default_rng(0).normal(size=(2, 3, 4)).astype("float32")
    inputs = keras.Input((3, 4), batch_size=2)
    layer = cls(5, stateful=True, return_state=True, name="rnn")
    model = keras.Model(inputs, layer(inputs))
    # The stream x, x, x, x read whole by a stateless twin.
    whole = cls(5, return_sequences=True, return_state=True)
    stream = np.concatenate([x] * 4, axis=1)
    whole(stream)
    whole.set_weights(model.get_weights())
    sequence = ops.convert_to_numpy(whole(stream)[0])
    first = model.predict_on_batch(x)[0]
    second = model.predict_on_batch(x)[0]
    np.testing.assert_allclose(first, sequence[:, 2], atol=1e-5)
    np.testing.assert_allclose(second, sequence[:, 5], atol=1e-5)
    # Two batches of one `predict` call: rows 0-1, then rows 2-3.
    layer.reset_state()
    both = model.predict(np.concatenate([x, x]), batch_size=2, verbose=0)[0]
    np.testing.assert_allclose(both[2:], sequence[:, 5], atol=1e-5)
    assert len(model.get_weights()) == len(whole.get_weights())

    # Every carried state (h, and c of an LSTM) after an adversarial step.
    layer.reset_state()
    adversarial = keras_adrop.AdversarialDropoutModel(
        inputs, keras.layers.Dense(2)(model.outputs[0]), delta=0.4, seed=0)
    adversarial.compile(keras.optimizers.SGD(0.0),
                        keras.losses.SparseCategoricalCrossentropy(True))
    adversarial.train_on_batch(x, np.array([0, 1]))
    _, *after_one = [ops.convert_to_numpy(t) for t in whole(x)]
    states = [ops.convert_to_numpy(s) for s in layer.states]
    assert [p.split("/")[-1] for p in
            (s.path for s in keras.tree.flatten(layer.states))] == [
        f"rnn_state_{i}" for i in range(len(states))]
    for state, expected in zip(states, after_one):
        np.testing.assert_allclose(state, expected, atol=1e-5)
    # Distinct paths: Keras' state tree (Orbax checkpoints) works.
    tree = adversarial.get_state_tree()
    adversarial.set_state_tree(tree)
