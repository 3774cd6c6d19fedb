"""The package's building blocks: method registry, tuner wrapper, imports,
and `.keras` files of every example's model in a fresh process."""

import argparse
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import keras_adrop
from keras_adrop.layers import text_tokenizer
from keras_adrop.tasks import language_modeling
from keras_adrop.tasks import methods
from keras_adrop.tasks import text_classification


def test_every_table_row_has_a_method():
    table = ("unregularized", "variational", "expectation_linearization",
             "fraternal", "last_state_adversarial", "adversarial_k1",
             "adversarial_k2", "adversarial_training", "virtual_adversarial",
             "adversarial_k1_vat", "adversarial_k2_vat")
    known = methods.available_methods()
    assert [name for name in known if name in table] == list(table)
    spec = methods.get_method("adversarial_k2_vat", delta=0.2, epsilon=0.5,
                              seed=3)
    adrop, vat = spec.regularizers
    assert (type(adrop).__name__, adrop.delta, adrop.iterations,
            adrop.seed) == ("AdversarialDropout", 0.2, 2, 3)
    assert (type(vat).__name__, vat.epsilon) == (
        "VirtualAdversarialPerturbation", 0.5)
    assert not spec.random_recurrent_masks and spec.label_free
    fraternal = methods.get_method("fraternal", penalty_weight=0.1)
    assert fraternal.recurrent_dropout(0.3) == 0.3
    assert fraternal.regularizers[0].penalty_weight == 0.1
    assert not fraternal.label_free


def test_unknown_method_lists_the_known_ones():
    with pytest.raises(ValueError, match="known methods: unregularized, "):
        methods.get_method("dropconnect")


def test_a_registered_method_builds_its_model():
    methods.register_method(
        "test_fraternal_strong",
        lambda o: [methods.make_regularizer(
            keras_adrop.regularizers.FraternalDropout, o, "seed",
            penalty_weight=1.0)],
        random_recurrent_masks=True)
    try:
        spec = methods.get_method("test_fraternal_strong", seed=1)
        inputs = keras.Input((4, 2))
        h = keras_adrop.layers.LSTM(
            3, recurrent_dropout=spec.recurrent_dropout(0.2))(inputs)
        model = spec.build_model(inputs, keras.layers.Dense(2)(h))
        assert type(model) is keras_adrop.RegularizedModel
        assert model.regularizers[0].penalty_weight == 1.0
        plain = methods.get_method("variational").build_model(inputs, h)
        assert not isinstance(plain, keras_adrop.RegularizedModel)
        adversarial = methods.get_method("adversarial_k1", delta=0.4)
        assert type(adversarial.build_model(inputs, h)) is (
            keras_adrop.AdversarialDropoutModel)
    finally:
        methods._REGISTRY.pop("test_fraternal_strong")


@pytest.mark.slow  # a Hyperband search (~70 s); test_tuners.py runs one
def test_tuner_wraps_a_keras_model_with_flips_and_k(tmp_path):
    keras_tuner = pytest.importorskip("keras_tuner")
    x = np.random.default_rng(0).random((24, 5, 3)).astype("float32")
    y = x[:, -1, :1]

    def build(hp):
        model = keras.Sequential([
            keras.Input((5, 3)),
            keras.layers.GRU(hp.Choice("units", [10, 20])),
            keras.layers.Dense(1)])
        model.compile("adam", "mse", metrics=["mae"])
        return model

    hypermodel = keras_adrop.tuners.AdversarialDropoutHyperModel(
        build, delta_range=(0.1, 0.3), iterations_range=(1, 2),
        penalty_weight_range=(0.1, 10.0), seed=0)
    tuner = keras_tuner.Hyperband(
        hypermodel, objective="val_loss", max_epochs=2, factor=2,
        directory=tmp_path, project_name="p", seed=0)
    tuner.search(x, y, validation_split=0.25, verbose=0)
    trials = tuner.oracle.get_best_trials(10)
    assert trials
    for trial in trials:
        hp = trial.hyperparameters.values
        assert 1 <= hp["flips"] <= 3 and hp["iterations"] in (1, 2)
        assert 0.1 <= hp["penalty_weight"] <= 10.0
    model = tuner.hypermodel.build(trials[0].hyperparameters)
    assert isinstance(model, keras_adrop.AdversarialDropoutModel)
    assert model.get_compile_config()["loss"] == "mse"


def test_import_keeps_datasets_and_analysis_lazy():
    code = textwrap.dedent("""
        import sys
        import keras_adrop
        lazy = ("datasets", "analysis", "callbacks", "tuners", "reporting")
        loaded = [m for m in lazy if f"keras_adrop.{m}" in sys.modules]
        assert not loaded, loaded
        assert "keras_tuner" not in sys.modules
        keras_adrop.datasets, keras_adrop.analysis
        assert "keras_adrop.datasets" in sys.modules
        assert "keras_adrop.analysis" in sys.modules
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("ok")


_LOAD = textwrap.dedent("""
    import sys
    import numpy as np
    import keras
    import keras_adrop  # registers the package's layers
    model = keras.saving.load_model(sys.argv[1])
    x = np.load(sys.argv[2], allow_pickle=True)["x"]
    if x.dtype == object:
        import tensorflow as tf
        x = tf.constant(list(x))
    np.save(sys.argv[3], keras.ops.convert_to_numpy(model(x)))
""")


def _reloaded_output(tmp_path, model, x):
    path = tmp_path / f"{model.name}.keras"
    model.save(path)
    np.savez(tmp_path / "x.npz", x=x)
    out = tmp_path / "out.npy"
    done = subprocess.run(
        [sys.executable, "-c", _LOAD, str(path), str(tmp_path / "x.npz"),
         str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return np.load(out)


@pytest.mark.slow
def test_example_models_load_in_a_fresh_process(tmp_path):
    """PTB (tied decoder), IMDB (tokenizer and LM pretraining) models."""
    import tensorflow as tf  # the string inputs (the backend_neutral tests
    # of this file need no TensorFlow)

    inputs, logits = language_modeling.awd_lstm(
        20, embedding_dim=4, units=5, layers=2, ar=1.0, tar=1.0, seed=0)
    ptb = methods.get_method("adversarial_k1", delta=0.5).build_model(
        inputs, logits, name="ptb")
    tokens = np.arange(12, dtype="int32").reshape(2, 6)
    np.testing.assert_allclose(_reloaded_output(tmp_path, ptb, tokens),
                               ptb(tokens), atol=1e-5)

    texts = ["A good film.", "A bad film!", "Good, good."]
    strings = keras.Input((), dtype="string")
    tokenizer = text_tokenizer.TextTokenizer(
        text_tokenizer.learn_vocabulary(texts, min_count=1),
        sequence_length=5)
    ids = tokenizer(strings)
    h = keras_adrop.layers.Embedding(tokenizer.vocabulary_size, 3,
                                     mask_zero=True)(ids)
    h = keras_adrop.layers.LSTM(4)(h)
    imdb = keras.Model(strings, keras.layers.Dense(2)(h), name="imdb")
    x = np.array(texts, dtype=object)
    np.testing.assert_allclose(_reloaded_output(tmp_path, imdb, x),
                               imdb(tf.constant(texts)), atol=1e-5)

    lm_tokens = keras.Input((6,), dtype="int32", name="tokens")
    lm_targets = keras.Input((6,), dtype="int32", name="targets")
    hidden = keras_adrop.layers.LSTM(4, return_sequences=True)(
        keras_adrop.layers.Embedding(20, 3)(lm_tokens))
    loss = keras_adrop.layers.SampledSoftmaxLoss(20, num_sampled=4)(
        hidden, lm_targets)
    lm = keras.Model([lm_tokens, lm_targets], loss, name="lm")
    path = tmp_path / "lm.keras"
    lm.save(path)
    done = subprocess.run(
        [sys.executable, "-c", "import sys, keras, keras_adrop; "
         "m = keras.saving.load_model(sys.argv[1]); print(type(m.layers[-1]"
         ").__name__)", str(path)], capture_output=True, text=True,
        timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "SampledSoftmaxLoss" in done.stdout


# --- The builders of the examples' models -----------------------------------


@pytest.mark.backend_neutral
def test_lstm_classifier_starts_every_method_from_the_same_weights():
    from keras_adrop.tasks import sequence_classification as sc

    plain = sc.lstm_classifier("variational", (6, 2), units=4, num_classes=3,
                               recurrent_dropout=0.25, delta=0.5, seed=3,
                               decay_steps=10)
    adversarial = sc.lstm_classifier("adversarial_k1", (6, 2), units=4,
                                     num_classes=3, recurrent_dropout=0.25,
                                     delta=0.5, seed=3, decay_steps=10)
    assert not isinstance(plain, keras_adrop.RegularizedModel)
    assert isinstance(adversarial, keras_adrop.AdversarialDropoutModel)
    # Only the random-mask methods use the rate; the adversarial base pass
    # is the full network.
    assert plain.get_layer("lstm").recurrent_dropout == 0.25
    assert adversarial.get_layer("lstm").recurrent_dropout == 0.0
    for a, b in zip(plain.get_weights(), adversarial.get_weights()):
        np.testing.assert_array_equal(a, b)
    schedule = plain.optimizer.learning_rate
    assert float(keras.ops.convert_to_numpy(schedule)) == pytest.approx(1e-2)
    x = np.arange(36, dtype="float32").reshape(3, 6, 2) / 36.0
    logs = adversarial.train_on_batch(x, np.array([0, 1, 2]),
                                      return_dict=True)
    assert np.isfinite(logs["loss"]) and logs["accuracy"] >= 0.0


@pytest.mark.backend_neutral
def test_digits_validate_on_images_that_are_neither_trained_nor_tested():
    from keras_adrop.tasks import sequence_classification

    train, validation, test = sequence_classification.load_data(
        "digits", train_size=800, validation_size=200, seed=3)
    assert [len(y) for _, y in (train, validation, test)] == [800, 200, 797]
    # The three splits are the 1,797 images, each once.
    rows = np.concatenate([x for x, _ in (train, validation, test)])
    from sklearn.datasets import load_digits
    everything = (load_digits().data / 16.0).astype("float32")
    assert (sorted(map(tuple, rows.reshape(1797, 64)))
            == sorted(map(tuple, everything)))
    assert set(np.unique(validation[1])) == set(range(10))  # stratified
    again = sequence_classification.load_data("digits", 800, 200, seed=3)
    np.testing.assert_array_equal(again[1][0], validation[0])
    _, none, test_again = sequence_classification.load_data(
        "digits", 800, 0, seed=3)
    assert none is None and len(test_again[1]) == 997
    with pytest.raises(ValueError, match=r"validation_size=5"):
        sequence_classification.load_data("digits", 800, 5)
    with pytest.raises(ValueError,
                       match=r"train_size=1700, validation_size=200"):
        sequence_classification.load_data("digits", 1700, 200)


@pytest.mark.backend_neutral
def test_text_classifier_loads_pretrained_embedding_and_lstm():
    first = text_classification.text_classifier("variational", 12, 5,
                                                embedding_dim=3, units=4,
                                                seed=1)
    pretrained = {name: [w + 1.0 for w in first.get_layer(name).get_weights()]
                  for name in ("embedding", "lstm")}
    model = text_classification.text_classifier("adversarial_k1", 12, 5,
                                                embedding_dim=3, units=4,
                                                delta=0.5, seed=1,
                                                pretrained=pretrained)
    for name, weights in pretrained.items():
        for a, b in zip(model.get_layer(name).get_weights(), weights):
            np.testing.assert_array_equal(a, b)
    assert model.get_layer("logits").units == 2
    assert model.optimizer.clipnorm == 1.0


@pytest.mark.backend_neutral
def test_awd_lstm_config_presets_and_training_model():
    lm = language_modeling
    config = lm.AWDLSTMConfig.from_preset("quick", layers=3, units=None)
    assert (config.layers, config.units, config.delta) == (3, 16, 0.2)
    assert lm.AWDLSTMConfig() == lm.AWDLSTMConfig.from_preset("default")
    with pytest.raises(ValueError, match="paper"):
        lm.AWDLSTMConfig.from_preset("huge")
    assert lm.awd_lstm_method(
        "fraternal", config).regularizers[0].penalty_weight == 0.1
    # Every adversarial method ramps its weight up over the same steps.
    for method in ("adversarial_k1", "adversarial_k2",
                   "adversarial_dropconnect"):
        regularizer, = lm.awd_lstm_method(
            method, config, total_steps=1000).regularizers
        assert regularizer.rampup_steps == int(config.rampup_fraction * 1000)
    assert lm.awd_lstm_method(
        "fraternal", config, total_steps=1000).regularizers[0].rampup_steps \
        == 0
    small = lm.AWDLSTMConfig.from_preset(
        "quick", embedding_dim=4, units=5, layers=2, batch_size=2, bptt=3,
        delta=0.5)
    model = lm.awd_lstm_model("adversarial_k1", small, 20, steps_per_epoch=4)
    assert isinstance(model, keras_adrop.AdversarialDropoutModel)
    assert model.get_layer("lstm_1").stateful
    inference = lm.awd_lstm_inference_model(small, 20,
                                            log_probabilities=True)
    lm.copy_weights(model, inference)  # same weights, same order
    tokens = np.arange(6, dtype="int32").reshape(2, 3)
    log_probabilities = keras.ops.convert_to_numpy(inference(tokens))
    np.testing.assert_allclose(np.exp(log_probabilities).sum(-1), 1.0,
                               rtol=1e-5)


@pytest.mark.parametrize("name, value, message", [
    # Keras' compile takes any jit_compile (a string turns XLA on).
    ("jit_compile", "yes", r"`jit_compile` must be one of \('auto', True"),
    # Anything but "sgd" used to mean Adam.
    ("optimizer", "Adam", r"`optimizer` must be one of \('adam', 'sgd'\)"),
    # Keras' own message named `rate`, not the option.
    ("input_dropout", 1.5, r"`input_dropout` must be in \[0, 1\)"),
    ("learning_rate", 0.0, r"`learning_rate` must be a finite number > 0"),
    ("clipnorm", -1.0, r"`clipnorm` must be a finite number >= 0"),
    ("batch_size", 0, r"`batch_size` must be a positive integer"),
    ("rampup_fraction", 2.0, r"`rampup_fraction` must be a number in"),
    ("divergence", "kld", r"`divergence` must be one of"),
])
def test_awd_lstm_config_refuses_bad_values(name, value, message):
    lm = language_modeling
    pattern = message + r".*Received: " + name + "="
    with pytest.raises(ValueError, match=pattern):
        lm.AWDLSTMConfig.from_preset("quick", **{name: value})
    # An argparse.Namespace is checked where it is used.
    options = argparse.Namespace(**{
        **vars(lm.AWDLSTMConfig.from_preset("quick")), name: value})
    with pytest.raises(ValueError, match=pattern):
        lm.awd_lstm_model("variational", options, 20)
    # The inference network checks the options it reads, and only those.
    if name == "input_dropout":
        with pytest.raises(ValueError, match=pattern):
            lm.awd_lstm_inference_model(options, 20)
    else:
        lm.awd_lstm_inference_model(options, 20)


@pytest.mark.parametrize("method", ["adversarial_k1",
                                    "adversarial_dropconnect"])
def test_awd_lstm_step_under_xla(method):
    # The CPU preset compiles the training step with XLA (much faster
    # there). XLA draws other random numbers than TensorFlow's kernels
    # (rule 11's start flip among them), so the random dropouts are off and
    # what must agree is the deterministic part: the base pass, and flips
    # within the budget (how many differ from the base mask depends on the
    # random start flip, which a greedy step may take back); the penalty
    # must be a real one.
    lm = language_modeling
    assert lm.AWDLSTMConfig().jit_compile is True
    no_dropout = dict.fromkeys(
        ["embedding_dropout", "input_dropout", "hidden_dropout",
         "output_dropout", "weight_dropout", "recurrent_dropout"], 0.0)
    tokens = np.random.default_rng(0).integers(0, 20, (2, 3))
    logs = {}
    for jit_compile in (False, True):
        config = lm.AWDLSTMConfig.from_preset(
            "quick", embedding_dim=4, units=6, layers=2, batch_size=2,
            bptt=3, delta=0.5, dropconnect_delta=0.34,
            jit_compile=jit_compile, **no_dropout)
        model = lm.awd_lstm_model(method, config, 20, steps_per_epoch=2)
        assert model.jit_compile is jit_compile
        # Larger weights than the initial ones, for a penalty well above
        # float32 round-off.
        model.set_weights([4.0 * w for w in model.get_weights()])
        logs[jit_compile] = model.train_on_batch(
            tokens, np.roll(tokens, -1, axis=-1), return_dict=True)
    graph, xla = logs[False], logs[True]
    assert sorted(xla) == sorted(graph)
    flips = [name for name in xla if "flips" in name]
    assert flips
    np.testing.assert_allclose(xla["cross_entropy"], graph["cross_entropy"],
                               rtol=1e-5)
    budget = 3 if method == "adversarial_k1" else 2  # floor(delta * units)
    for name in flips:
        assert 1.0 <= float(xla[name]) <= budget, (name, xla[name])
        assert 1.0 <= float(graph[name]) <= budget, (name, graph[name])
    penalty = float(xla[f"{model.regularizers[0].name}_penalty"])
    assert 1e-5 < penalty < 1.0 and xla["skipped_steps"] == 0


def test_read_labeled_texts_and_load_a_keras_text_model(tmp_path):
    from keras_adrop import analysis

    path = tmp_path / "texts.csv"
    path.write_text("text,label\na,0\nb,1\nc,0\nd,1\ne,1\n")
    texts, labels = analysis.read_labeled_texts(path)
    assert texts == ["a", "b", "c", "d", "e"]
    assert labels.tolist() == [0, 1, 0, 1, 1]
    some, some_labels = analysis.read_labeled_texts(path, count=3, seed=2)
    assert len(some) == 3 and set(some) <= set(texts)
    assert [labels[texts.index(t)] for t in some] == some_labels.tolist()
    (tmp_path / "bad.csv").write_text("review,label\na,0\n")
    with pytest.raises(ValueError, match="'text' and 'label'"):
        analysis.read_labeled_texts(tmp_path / "bad.csv")
    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    model.save(tmp_path / "m.keras")
    loaded, probabilities = analysis.load_text_classifier(
        str(tmp_path / "m.keras"))
    assert isinstance(loaded, keras.Model) and probabilities is None
