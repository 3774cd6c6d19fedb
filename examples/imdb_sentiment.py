"""IMDB sentiment from raw text: the methods of the paper's Table 2.

Trains the one-layer LSTM classifier of
`keras_adrop.tasks.text_classification.text_classifier` on IMDB movie reviews
(Park et al., AAAI 2019, Table 2; Miyato et al. 2017's setting) with the
regularizers the paper compares, chosen by name with `--methods`
(`keras_adrop.tasks.methods`). Raw review strings go in;
`keras_adrop.layers.TextTokenizer` tokenizes them in the TensorFlow graph, for
the `tf.data` batches and in the serving SavedModel of `--export DIR`.
`--pretrain-epochs N` first pretrains the embedding and LSTM as a language
model (`keras_adrop.tasks.text_classification.pretrain_language_model`); the
VAT methods also read unlabeled reviews. docs/imdb.md describes the data (the
reviews of `keras_adrop.datasets.imdb` are NOT the official split unless TFDS's
is prepared), the model, the presets and measured results.

`--validation-fraction` (default 0.1) holds a stratified share of the
training reviews out for validation: the learning curves, and the epoch
whose weights are kept (lowest validation loss). The test reviews are read
once, at the end, and never with `--no-test` (tuning runs). `--penalty-weight`
sets lambda (the adversarial and VAT penalties), `--kappa` the weight of
fraternal and expectation-linearization dropout, `--epsilon` the VAT and
adversarial-training perturbation.

    python examples/imdb_sentiment.py                  # CPU-scale default
    python examples/imdb_sentiment.py --quick          # ~30 s smoke run
    python examples/imdb_sentiment.py --paper-scale    # GPU; hours

Writes `results.json` and `learning_curves.png` to `results/imdb_sentiment/`
and prints a markdown table with the paper's error next to ours. One seed on
a few thousand reviews is an illustration, not evidence.
"""

import argparse
import math
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

import keras_adrop  # noqa: E402
from keras_adrop import reporting  # noqa: E402
from keras_adrop.arguments import check_choices  # noqa: E402
from keras_adrop.datasets import imdb  # noqa: E402
from keras_adrop.layers import text_tokenizer  # noqa: E402
from keras_adrop.regularizers import adversarial_search  # noqa: E402
from keras_adrop.tasks import presets  # noqa: E402
from keras_adrop.tasks import text_classification  # noqa: E402
from keras_adrop.tasks.methods import get_method  # noqa: E402

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
VALIDATION_FRACTION = 0.1  # of the training reviews, held out

# The CPU-scale default, the smoke run and the paper's sizes
# (keras_adrop.tasks.presets.TEXT_CLASSIFICATION). A value given on the
# command line always wins.
DEFAULTS = presets.TEXT_CLASSIFICATION["default"]
QUICK = presets.TEXT_CLASSIFICATION["quick"]
PAPER_SCALE = presets.TEXT_CLASSIFICATION["paper"]


# -------------------------------------------------------------------- data


def load_reviews(args):
    """The labeled, test and unlabeled reviews, and what to report of them."""
    return text_classification.load_reviews(
        "synthetic" if args.data == "synthetic" else args.source,
        seed=args.seed, train_size=args.train_size, test_size=args.test_size,
        unlabeled_size=args.unlabeled_size)


def split_validation(train_set, x_unlabeled, fraction, seed):
    """Holds `fraction` of the training reviews out for validation.

    Stratified and seeded. When the training reviews also serve as the
    unlabeled text (no unlabeled reviews), the unlabeled text becomes the
    fitted reviews, so validation reviews are never trained on.

    Returns:
        `(fit, validation, x_unlabeled)`: `(texts, labels)` pairs
        (`validation` None for a fraction of 0) and the unlabeled texts.
    """
    if not fraction:
        return train_set, None, x_unlabeled
    from sklearn.model_selection import train_test_split

    x, y = train_set
    x_fit, x_val, y_fit, y_val = train_test_split(
        x, y, test_size=fraction, stratify=y, random_state=seed)
    if x_unlabeled is x:
        x_unlabeled = x_fit
    return (x_fit, y_fit), (x_val, y_val), x_unlabeled


# ------------------------------------------------------------------ models


def pretrain_language_model(args, tokenizer, texts):
    """Pretrains the embedding and LSTM as a language model on `texts`;
    returns their weights and the per-epoch training loss."""
    print(f"\n== language-model pretraining on {len(texts)} reviews ==",
          flush=True)
    return text_classification.pretrain_language_model(
        texts, tokenizer.vocabulary, args.sequence_length,
        args.pretrain_epochs, embedding_dim=args.embedding_dim,
        units=args.units, embedding_dropout=args.embedding_dropout,
        num_sampled=args.pretrain_samples, batch_size=args.batch_size,
        learning_rate=args.learning_rate, seed=args.seed,
        verbose=reporting.verbosity())



def build_classifier(method, args, vocabulary_size, pretrained=None):
    """The compiled classifier of `method`
    (`keras_adrop.tasks.text_classification`)."""
    return text_classification.text_classifier(
        method, vocabulary_size, args.sequence_length,
        embedding_dim=args.embedding_dim, units=args.units,
        embedding_dropout=args.embedding_dropout,
        recurrent_dropout=args.recurrent_dropout, delta=args.delta,
        epsilon=args.epsilon, seed=args.seed,
        learning_rate=args.learning_rate,
        decay_steps=args.epochs * math.ceil(
            args.train_examples / args.batch_size),
        pretrained=pretrained, penalty_weight=get_method(
            method).penalty_weight(args.kappa, args.penalty_weight))


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
    """Trains one method; returns its metrics, history and the model.

    `data` is `(train, validation, test, x_unlabeled)`; the model keeps
    the weights of its epoch with the lowest validation loss. Without
    validation (None) it keeps the last epoch's; without test (None,
    `--no-test`) the metrics have no test entry.
    """
    (x_train, y_train), validation, test_set, x_unlabeled = data
    model = build_classifier(method, args, tokenizer.vocabulary_size,
                             pretrained)
    if uses_unlabeled(method, args):
        train_data = text_classification.semi_supervised_dataset(
            tokenizer, x_train, y_train, x_unlabeled, args.batch_size,
            args.seed)
    else:
        train_data = text_classification.text_dataset(
            tokenizer, x_train, y_train, args.batch_size, shuffle=True,
            seed=args.seed)
    timer = reporting.EpochTimer()
    callbacks = [timer]
    validation_data = None
    if validation is not None:
        validation_data = text_classification.text_dataset(
            tokenizer, *validation, 256)
        callbacks.append(reporting.keep_best_weights(args.epochs))
    print(f"\n== {method} ==", flush=True)
    history = model.fit(
        train_data, validation_data=validation_data, epochs=args.epochs,
        shuffle=False,  # the dataset shuffles itself
        callbacks=callbacks, verbose=reporting.verbosity(),
    )
    history = reporting.history_lists(history)
    train_loss = reporting.supervised_loss(history)
    metrics = {
        "paper_error_percent": PAPER_ERROR[method],
        "train_seconds_per_epoch": float(np.median(timer.times)),
        "epoch_seconds": timer.times,
        "final_train_loss": train_loss[-1],
        "final_train_accuracy": history["accuracy"][-1],
        "used_unlabeled": uses_unlabeled(method, args),
        "history": history,
    }
    if validation is not None:
        metrics.update(reporting.best_validation(history))
    if test_set is not None:
        test_data = text_classification.text_dataset(tokenizer, *test_set, 256)
        test = model.evaluate(test_data, verbose=0, return_dict=True)
        metrics.update(
            test_error_percent=100.0 * (1.0 - float(test["accuracy"])),
            test_loss=float(test["loss"]))
    return metrics, model


TABLE = [
    reporting.Column("test error %", "test_error_percent"),
    reporting.Column("validation error % (best epoch)",
                     "validation_error_percent"),
    reporting.Column("paper (official split, LSTM 1024) %",
                     "paper_error_percent", ".3f"),
    reporting.Column("train s/epoch", "train_seconds_per_epoch", ".1f"),
    reporting.Column("final train loss", "final_train_loss", ".4f"),
]
CURVES = [
    reporting.Panel("val_accuracy", "validation error (%)",
                    "Validation error",
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
    return reporting.report_methods(results, output_dir, TABLE, CURVES,
                                    "learning_curves.png", note)


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
    parser.add_argument("--penalty-weight", type=float,
                        help="Lambda, the weight of every penalty of the "
                        "adversarial, VAT and adversarial-training methods "
                        "(default: each regularizer's, 1.0).")
    parser.add_argument("--kappa", type=float,
                        help="Weight of the fraternal and expectation-"
                        "linearization penalties (default: the "
                        "regularizer's, 0.15 and 0.25).")
    parser.add_argument("--validation-fraction", type=float,
                        default=VALIDATION_FRACTION,
                        help="Share of the training reviews held out "
                        "(stratified) for validation: the learning curves "
                        "and the best epoch, whose weights are kept (0: "
                        "none, the last epoch's weights).")
    parser.add_argument("--no-test", action="store_true",
                        help="Never read the test reviews: select on "
                        "validation only (no test metric is written). Needs "
                        "--validation-fraction > 0.")
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
    try:
        args.methods = check_choices("--methods", args.methods,
                                     AVAILABLE_METHODS)
    except ValueError as error:
        parser.error(str(error))
    for name in ("sequence_length", "embedding_dim", "units", "epochs",
                 "batch_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1.")
    if args.pretrain_epochs < 0:
        parser.error("--pretrain-epochs must be >= 0.")
    for name in ("penalty_weight", "kappa"):
        value = getattr(args, name)
        if value is not None and not value >= 0:
            parser.error(f"--{name.replace('_', '-')} must be >= 0; got "
                         f"{value}.")
    if not 0.0 <= args.validation_fraction < 1.0:
        parser.error("--validation-fraction must be in [0, 1); got "
                     f"{args.validation_fraction}.")
    if args.no_test and not args.validation_fraction:
        parser.error("--no-test selects on validation data: "
                     "--validation-fraction must be > 0; got "
                     f"{args.validation_fraction}.")
    for name in ("train_size", "test_size"):
        if getattr(args, name) == 0:
            parser.error(f"--{name.replace('_', '-')} must be >= 1 or 'all'.")
    return args


def main(argv=None):
    """Runs the chosen methods; returns the results dict (also saved)."""
    args = parse_args(argv)
    if any(get_method(m).knobs.delta == "flips" for m in args.methods):
        # Raises a clear error before any work when delta * units < 1.
        adversarial_search.flip_budget(args.delta, args.units)
    start = time.perf_counter()
    train_set, test_set, x_unlabeled, dataset_info = load_reviews(args)
    if args.no_test:
        test_set = None  # never read
    train_set, validation_set, x_unlabeled = split_validation(
        train_set, x_unlabeled, args.validation_fraction, args.seed)
    args.train_examples = len(train_set[1])
    dataset_info.update(
        fit_reviews=len(train_set[1]),
        validation_reviews=(0 if validation_set is None
                            else len(validation_set[1])))
    # From the fitted and unlabeled reviews only.
    vocabulary = text_tokenizer.learn_vocabulary(
        list(train_set[0]) + list(x_unlabeled), args.vocab_size,
        args.min_count)
    tokenizer = text_tokenizer.TextTokenizer(vocabulary, args.sequence_length,
                                   args.truncate)
    # Token statistics of the test reviews (of the fitted ones with
    # --no-test).
    dataset_info.update(vocabulary_size=len(vocabulary),
                        **text_tokenizer.tokenizer_stats(tokenizer, list(
                            (train_set if test_set is None else test_set)[0])))
    print(
        f"IMDB ({dataset_info['source']}"
        + ("" if dataset_info["official_split"] else ", NOT the official "
           "split") + f"): {len(train_set[1])} train / "
        f"{dataset_info['validation_reviews']} validation / "
        + ("no test (--no-test)" if test_set is None
           else f"{len(test_set[1])} test")
        + f" / {len(x_unlabeled)} unlabeled reviews; vocabulary "
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
            method, args, tokenizer,
            (train_set, validation_set, test_set, x_unlabeled), pretrained)
        if args.export:
            path = os.path.join(args.export, method)
            text_classification.export_text_classifier(model, tokenizer, path)
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
