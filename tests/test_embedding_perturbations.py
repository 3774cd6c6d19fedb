"""Adversarial / virtual adversarial training on embeddings, and adversarial
dropout on the last hidden state (docs/regularizers.md)."""

import numpy as np
import pytest
import tensorflow as tf
import keras

import keras_adrop
from conftest import base_batch
from keras_adrop import layers
from keras_adrop.regularizers import AdversarialDropout
from keras_adrop.regularizers import AdversarialPerturbation
from keras_adrop.regularizers import LastStateAdversarialDropout
from keras_adrop.regularizers import VirtualAdversarialPerturbation
from keras_adrop.regularizers import normalize_per_example

VOCAB, STEPS = 20, 7


def _tokens(n=48, seed=0):
    rng = np.random.RandomState(seed)
    tokens = rng.randint(1, VOCAB, size=(n, STEPS))
    lengths = rng.randint(2, STEPS + 1, size=n)
    tokens[np.arange(STEPS)[None] >= lengths[:, None]] = 0  # padding
    labels = (tokens >= VOCAB // 2).sum(1) > lengths / 2
    return tokens, labels.astype("int32")


def _text_model(regularizers, **lstm_kwargs):
    inputs = keras.Input((STEPS,), dtype="int32")
    h = layers.Embedding(VOCAB, 8, mask_zero=True, name="embedding")(inputs)
    h = layers.LSTM(10, name="lstm", **lstm_kwargs)(h)
    model = keras_adrop.RegularizedModel(
        inputs, keras.layers.Dense(2)(h), regularizers=regularizers)
    model.compile(keras.optimizers.Adam(0.01),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def _batch(model, tokens, labels):
    return base_batch(model, tf.constant(tokens), tf.constant(labels))


def test_normalize_per_example_excludes_padded_steps():
    values = np.random.RandomState(0).randn(3, 4, 2).astype("float32") * 1e-9
    mask = np.array([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]], bool)
    unit = normalize_per_example(values, mask).numpy()
    np.testing.assert_allclose(np.sqrt((unit ** 2).sum((1, 2))), 1.0,
                               rtol=1e-3)  # tiny inputs do not underflow
    np.testing.assert_array_equal(unit[~mask], 0.0)
    direction = values[0] / np.linalg.norm(values[0])
    np.testing.assert_allclose(unit[0], direction, rtol=1e-3)


def _captured_final_perturbation(model, regularizer):
    """Runs the penalty; returns the perturbation of its last pass, by hand."""
    tokens, labels = _tokens(n=8)
    batch = _batch(model, tokens, labels)
    calls = []
    run = batch.run

    def recording_run(masks=None, outputs=None, perturbations=None):
        calls.append(perturbations)
        return run(masks, outputs, perturbations)

    batch.run = recording_run
    penalty = regularizer.penalty(batch).value
    embedding = model.get_layer("embedding")
    vectors = embedding(tokens)
    mask = tokens != 0
    perturbed = calls[-1][embedding](vectors, tf.constant(mask))
    return (perturbed - vectors).numpy(), mask, penalty, batch


@pytest.mark.parametrize("cls", [AdversarialPerturbation,
                                 VirtualAdversarialPerturbation])
def test_perturbation_has_norm_epsilon_over_valid_steps(cls):
    regularizer = cls(epsilon=2.5, seed=0, from_logits=True)
    model = _text_model([regularizer])
    r, mask, penalty, _ = _captured_final_perturbation(model, regularizer)
    np.testing.assert_allclose(np.sqrt((r ** 2).sum((1, 2))), 2.5, rtol=1e-4)
    np.testing.assert_array_equal(r[~mask], 0.0)
    assert float(penalty) > 0


def test_adversarial_penalty_is_the_loss_at_the_perturbed_embedding():
    regularizer = AdversarialPerturbation(epsilon=1.5, seed=0,
                                          from_logits=True)
    model = _text_model([regularizer])
    r, mask, penalty, batch = _captured_final_perturbation(model, regularizer)
    tokens, labels = _tokens(n=8)
    embedding = model.get_layer("embedding")
    with layers.embedding_perturbations({embedding: lambda v, m: v + r}):
        logits = model(tokens, training=True).numpy()
    z = logits - logits.max(1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(1, keepdims=True))
    expected = -log_p[np.arange(len(labels)), labels].mean()
    np.testing.assert_allclose(float(penalty), expected, rtol=1e-5)


def test_adversarial_penalty_leaves_out_weight_decay():
    """The penalty is the loss at the perturbed input, not that plus the
    model's other losses (which the base pass already counts)."""
    regularizer = AdversarialPerturbation(epsilon=0.5, seed=0,
                                          from_logits=True)
    model = _text_model([regularizer],
                        kernel_regularizer=keras.regularizers.L2(10.0))
    _, _, penalty, _ = _captured_final_perturbation(model, regularizer)
    assert float(penalty) < 2.0  # cross-entropy of 2 classes, not ~100


def test_vat_direction_beats_random_directions():
    regularizer = VirtualAdversarialPerturbation(epsilon=1.0, seed=0,
                                                 from_logits=True)
    model = _text_model([regularizer])
    tokens, labels = _tokens()
    model.fit(tokens, labels, epochs=5, verbose=0)
    batch = _batch(model, tokens, labels)
    virtual = regularizer.penalty(batch).value
    embedding = model.get_layer("embedding")
    clean = batch.outputs
    rng = np.random.RandomState(1)
    random_kl = []
    for _ in range(5):
        d = rng.randn(len(tokens), STEPS, 8).astype("float32")
        with layers.embedding_perturbations({embedding: lambda v, m: v + 1.0
                                             * normalize_per_example(d, m)}):
            out = model(tokens, training=True)
        p = tf.nn.softmax(clean)
        random_kl.append(float(tf.reduce_mean(tf.reduce_sum(
            p * (tf.nn.log_softmax(clean) - tf.nn.log_softmax(out)), -1))))
    assert float(virtual) > 2 * max(random_kl)


def test_perturbations_train_under_mixed_float16():
    keras.config.set_dtype_policy("mixed_float16")
    model = _text_model([AdversarialPerturbation(seed=0),
                         VirtualAdversarialPerturbation(seed=0)])
    tokens, labels = _tokens()
    tokens[0] = 0  # an all-padding sequence: a zero-norm direction
    history = model.fit(tokens, labels, epochs=1, verbose=0).history
    assert np.isfinite(history["loss"][0])
    assert history["virtual_adversarial_perturbation_penalty"][0] > 0
    unit = normalize_per_example(
        np.full((1, 400, 300), 30.0, "float16"), np.ones((1, 400), bool))
    assert unit.dtype == "float16"
    np.testing.assert_allclose(np.sqrt((np.float32(unit) ** 2).sum()), 1.0,
                               rtol=1e-2)


def test_adversarial_direction_raises_the_loss_more_than_random_ones():
    regularizer = AdversarialPerturbation(epsilon=1.0, seed=0,
                                          from_logits=True)
    model = _text_model([regularizer])
    tokens, labels = _tokens()
    model.fit(tokens, labels, epochs=5, verbose=0)
    batch = _batch(model, tokens, labels)
    adversarial = regularizer.penalty(batch).value
    clean = model.compute_loss(y=labels, y_pred=batch.outputs)
    embedding = model.get_layer("embedding")
    rng = np.random.RandomState(1)
    random_losses = []
    for _ in range(5):
        d = rng.randn(len(tokens), STEPS, 8).astype("float32")
        with layers.embedding_perturbations({embedding: lambda v, m: v + 1.0
                                             * normalize_per_example(d, m)}):
            out = model(tokens, training=True)
        random_losses.append(float(model.compute_loss(y=labels, y_pred=out)))
    assert float(adversarial) > max(random_losses)
    assert float(adversarial) > float(clean)


def test_vat_penalty_is_kl_to_the_clean_prediction():
    regularizer = VirtualAdversarialPerturbation(epsilon=1.0, seed=0,
                                                 from_logits=True)
    model = _text_model([regularizer])
    r, mask, penalty, batch = _captured_final_perturbation(model, regularizer)
    embedding = model.get_layer("embedding")
    tokens = _tokens(n=8)[0]
    with layers.embedding_perturbations({embedding: lambda v, m: v + r}):
        perturbed = model(tokens, training=True).numpy()
    clean = batch.outputs.numpy()

    def log_softmax(z):
        z = z - z.max(1, keepdims=True)
        return z - np.log(np.exp(z).sum(1, keepdims=True))

    p, log_p, log_q = (np.exp(log_softmax(clean)), log_softmax(clean),
                       log_softmax(perturbed))
    expected = (p * (log_p - log_q)).sum(1).mean()
    np.testing.assert_allclose(float(penalty), expected, rtol=1e-4)


def test_adversarial_dropout_with_vat_logs_both_and_sums_them():
    model = _text_model([
        AdversarialDropout(delta=0.3, iterations=2, seed=0),
        VirtualAdversarialPerturbation(epsilon=1.0, penalty_weight=0.5,
                                       seed=0),
    ])
    tokens, labels = _tokens()
    history = model.fit(tokens, labels, epochs=2, batch_size=16,
                        verbose=0).history
    assert min(history["adversarial_dropout_penalty"]) > 0
    assert min(history["virtual_adversarial_perturbation_penalty"]) > 0
    np.testing.assert_allclose(
        history["loss"],
        np.array(history["supervised_loss"])
        + np.array(history["adversarial_dropout_penalty"])
        + 0.5 * np.array(history["virtual_adversarial_perturbation_penalty"]),
        rtol=1e-5)


def test_adversarial_training_skips_unlabeled_batches():
    tokens, labels = _tokens()
    unlabeled = _tokens(seed=1)[0]
    labeled = tf.data.Dataset.from_tensor_slices((tokens, labels)).batch(16)
    data = tf.data.Dataset.zip(
        (labeled, tf.data.Dataset.from_tensor_slices(unlabeled).batch(16))
    ).map(lambda lab, unl: {"labeled": lab, "unlabeled": unl})
    model = _text_model([AdversarialPerturbation(seed=0),
                         VirtualAdversarialPerturbation(seed=0)])
    history = model.fit(data, epochs=1, verbose=0).history
    assert history["adversarial_perturbation_penalty"][0] > 0
    assert history["virtual_adversarial_perturbation_penalty"][0] > 0


def test_last_state_adversarial_dropout_masks_the_returned_state():
    regularizer = LastStateAdversarialDropout(delta=0.3, iterations=2,
                                              seed=0, from_logits=True)
    model = _text_model([regularizer])
    r_tokens, labels = _tokens(n=16)
    batch = _batch(model, r_tokens, labels)
    found = regularizer.adversarial_masks(batch)
    lstm = model.get_layer("lstm")
    mask = found[lstm].numpy()
    flips = (1 - mask).sum(1)
    assert np.all(flips <= 3)  # budget floor(0.3 * 10); flips back allowed
    assert flips.mean() > 1
    # The mask multiplies the returned state, rescaled by units / kept.
    with layers.output_masks({lstm: found[lstm]}):
        state = lstm(model.get_layer("embedding")(r_tokens)).numpy()
    full = lstm(model.get_layer("embedding")(r_tokens)).numpy()
    np.testing.assert_allclose(
        state, full * mask * 10 / mask.sum(1, keepdims=True), atol=1e-5)
    history = model.fit(r_tokens, labels, epochs=1, verbose=0).history
    assert history["last_state_adversarial_dropout_penalty"][0] > 0


def test_errors_name_the_argument():
    inputs = keras.Input((STEPS,), dtype="int32")
    h = keras.layers.Embedding(VOCAB, 4)(inputs)
    outputs = keras.layers.Dense(2)(layers.LSTM(4)(h))
    with pytest.raises(ValueError, match="keras_adrop.layers.Embedding"):
        keras_adrop.RegularizedModel(
            inputs, outputs, regularizers=[AdversarialPerturbation()])
    with pytest.raises(ValueError, match="`epsilon`"):
        VirtualAdversarialPerturbation(epsilon=0.0)
    with pytest.raises(ValueError, match="`power_iterations`"):
        VirtualAdversarialPerturbation(power_iterations=0)
    with pytest.raises(ValueError, match="return_sequences=False"):
        seq = layers.LSTM(4, return_sequences=True)(h)
        keras_adrop.RegularizedModel(
            inputs, keras.layers.Dense(2)(seq),
            regularizers=[LastStateAdversarialDropout(delta=0.5)])


def test_round_trip_with_every_embedding_regularizer(tmp_path):
    regularizers = [
        AdversarialPerturbation(epsilon=3.0, penalty_weight=0.5, seed=1),
        VirtualAdversarialPerturbation(epsilon=2.0, xi=0.5,
                                       power_iterations=2, seed=2),
        LastStateAdversarialDropout(delta=0.2, seed=3),
    ]
    model = _text_model(regularizers)
    tokens, labels = _tokens(n=16)
    model.fit(tokens, labels, epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert isinstance(loaded.get_layer("embedding"), layers.Embedding)
    for original, restored in zip(regularizers, loaded.regularizers):
        assert type(restored) is type(original)
        assert restored.get_config() == original.get_config()
    np.testing.assert_allclose(loaded.predict(tokens, verbose=0),
                               model.predict(tokens, verbose=0), atol=1e-6)
    assert loaded.fit(tokens, labels, epochs=1, verbose=0).history["loss"]
