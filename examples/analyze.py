"""Look inside what dropout does to an LSTM: the analysis figures in one run.

Trains the sequential-digits LSTM of `examples/sequential_mnist.py`
(`keras_adrop.tasks.sequence_classification`) with several methods (default:
variational, fraternal and adversarial dropout K=2, the three of Park et
al.'s Figure 3), or loads a saved model with `--model path.keras`, and makes
every figure of `keras_adrop.analysis` for each model (subnetworks, mask
statistics, 1-D and 2-D loss landscapes, Monte Carlo dropout, and with
`--text-model` the corrupted-text robustness of a text classifier). Every
number goes to `analysis.json` in `--output-dir` (default
`results/analysis/`). docs/analysis.md describes each figure, the run time
and the choices each tool makes.

    python examples/analyze.py            # ~10 minutes of CPU time
    python examples/analyze.py --quick    # ~1-minute smoke run

The training options (`--methods`, `--epochs`, `--units`, `--delta`,
`--recurrent-dropout`, `--seed`, `--train-size`, `--dataset`, ...) are
sequential_mnist.py's, with the same defaults. One seed, one small dataset:
the figures illustrate the tools, they are not evidence for or against a
method.
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_adrop import analysis  # noqa: E402
from keras_adrop import reporting  # noqa: E402
from keras_adrop.arguments import check_choices  # noqa: E402
from keras_adrop.regularizers import adversarial_search  # noqa: E402
from keras_adrop.tasks import presets  # noqa: E402
from keras_adrop.tasks import sequence_classification  # noqa: E402

DEFAULT_METHODS = ("variational", "fraternal", "adversarial_k2")

# Analysis settings of the full run and of the `--quick` smoke run; a
# command-line value wins over both.
DEFAULTS = {
    "subnetwork_samples": 100,
    "subnetwork_rate": None,  # None: the training delta (same mean drops)
    "search_iterations": 2,
    "mask_examples": 0,  # 0: the whole test set
    "mask_every": 1,
    "landscape_examples": 500,
    "resolution_1d": 41,
    "resolution_2d": 21,
    "span": 1.0,
    "mc_samples": 30,
    "mc_rate": None,  # None: the training --recurrent-dropout
    "text_examples": 2000,
}
QUICK_DEFAULTS = dict(
    DEFAULTS, subnetwork_samples=4, mask_examples=100, landscape_examples=100,
    resolution_1d=5, resolution_2d=3, mc_samples=3, text_examples=200)
TEXT_RATES = (0.0, 0.05, 0.1, 0.2, 0.3)
# The options `keras_adrop.analysis.analyze_classifier` takes.
ANALYSIS_OPTIONS = ("subnetwork_samples", "subnetwork_rate",
                    "search_iterations", "landscape_examples",
                    "resolution_1d", "resolution_2d", "span", "mc_samples",
                    "mc_rate")
# The analysis options: (name, type, help).
OPTIONS = [
    ("subnetwork_samples", int, "Random and adversarial subnetworks sampled "
     f"per model (default {DEFAULTS['subnetwork_samples']}; the paper used "
     "500)."),
    ("subnetwork_rate", float, "Drop rate of the random subnetworks "
     "(default: the training --delta, so both kinds drop about as many "
     "units)."),
    ("search_iterations", int, "K of the adversarial search in the figures "
     f"(default {DEFAULTS['search_iterations']}, as the paper's Fig. 3)."),
    ("mask_examples", int, "Test examples the mask statistics average over "
     "(default 0: all)."),
    ("mask_every", int, "Record the mask statistics every this many epochs "
     "(default 1)."),
    ("landscape_examples", int, "Training examples the loss landscape is "
     f"computed on (default {DEFAULTS['landscape_examples']})."),
    ("resolution_1d", int, "Points of the 1-D scan (default "
     f"{DEFAULTS['resolution_1d']})."),
    ("resolution_2d", int, "Points per axis of the 2-D scan (default "
     f"{DEFAULTS['resolution_2d']}; Li et al. used 51)."),
    ("span", float, "Landscape coordinates run over [-span, span] (default "
     "1)."),
    ("mc_samples", int, "Monte Carlo passes (default "
     f"{DEFAULTS['mc_samples']})."),
    ("mc_rate", float, "Recurrent drop rate of the Monte Carlo passes, for "
     "every model (default: the training --recurrent-dropout)."),
    ("text_examples", int, "Test texts used (default "
     f"{DEFAULTS['text_examples']}, class-balanced for IMDB; 0: all)."),
]


def add_training_arguments(parser):
    """sequential_mnist.py's training options, with its defaults."""
    table = presets.SEQUENCE_CLASSIFICATION
    group = parser.add_argument_group(
        "training (the options of examples/sequential_mnist.py)")
    group.add_argument(
        "--methods", default=",".join(DEFAULT_METHODS),
        help=f"Comma-separated methods, from "
        f"{', '.join(sequence_classification.METHODS)}.")
    group.add_argument("--paper-scale", action="store_true",
                       help="The paper's Table 1 setting (for a GPU).")
    group.add_argument("--seed", type=int, default=0,
                       help="Seed of the split, the weights and the masks.")
    for name, value in table["default"].items():
        group.add_argument(
            "--" + name.replace("_", "-"), type=type(value),
            dest="train_" + name,
            choices=(tuple(sequence_classification.DATASETS)
                     if name == "dataset" else None),
            help=f"Default {value}; quick {table['quick'][name]}; paper "
            f"scale {table['paper'][name]}.")


def training_options(parser, args):
    """The training settings as a namespace, presets filled in."""
    if args.quick and args.paper_scale:
        parser.error("--quick and --paper-scale exclude each other.")
    preset = presets.SEQUENCE_CLASSIFICATION[
        "quick" if args.quick else "paper" if args.paper_scale
        else "default"]
    try:
        methods = check_choices("--methods", args.methods,
                                sequence_classification.METHODS)
    except ValueError as error:
        parser.error(str(error))
    train_args = argparse.Namespace(
        methods=methods, seed=args.seed, quick=args.quick,
        paper_scale=args.paper_scale)
    for name, value in preset.items():
        given = getattr(args, "train_" + name)
        setattr(train_args, name, value if given is None else given)
        delattr(args, "train_" + name)
    for name in ("methods", "seed", "paper_scale"):  # now in train_args
        delattr(args, name)
    return train_args


def parse_args(argv=None):
    """Returns `(args, train_args)`: the analysis and the training options."""
    parser = argparse.ArgumentParser(
        description=(
            "Analysis figures (random vs adversarial subnetworks, adversarial "
            "masks over epochs, filter-normalized loss landscapes, Monte "
            "Carlo dropout, corrupted-text robustness) for the sequential "
            "digits LSTM. Default methods here: " + ",".join(DEFAULT_METHODS)
            + "."
        ),
    )
    parser.add_argument(
        "--model", metavar="PATH",
        help="Analyze this saved .keras model (trained on the same data "
        "and --seed split) instead of training; no mask-statistics figure.",
    )
    parser.add_argument(
        "--save-models", metavar="DIR",
        help="Save every model trained here as DIR/<method>.keras.",
    )
    parser.add_argument(
        "--output-dir", default=os.path.join("results", "analysis"),
        help="Where the figures and analysis.json go (default "
        "results/analysis).",
    )
    for name, kind, text in OPTIONS:
        parser.add_argument("--" + name.replace("_", "-"), type=kind,
                            help=text)
    parser.add_argument(
        "--text-model", metavar="PATH", action="append",
        help="A text classifier that reads raw strings, for the "
        "corrupted-text figure: a .keras file, or a SavedModel directory "
        "whose `serve` endpoint maps strings to outputs (what "
        "`examples/imdb_sentiment.py --export DIR` writes). Repeat to "
        "compare models in one figure.",
    )
    parser.add_argument(
        "--text-csv", metavar="PATH",
        help="Test texts for --text-model: a CSV with columns text,label "
        "(default: IMDB test reviews from keras_adrop.datasets.imdb, the "
        "test half of the split with --seed: use the seed the text model was "
        "trained with).",
    )
    parser.add_argument(
        "--text-outputs", choices=("logits", "probabilities"),
        default="logits",
        help="What a one-unit --text-model outputs (default logits).",
    )
    parser.add_argument(
        "--docs-figures", metavar="DIR",
        help="Also write 256-colour copies of the figures, named "
        "analysis_<figure>.png, into DIR (how docs/figures was made).",
    )
    parser.add_argument(
        "--text-only", action="store_true",
        help="Only the corrupted-text analysis of --text-model (no digits).",
    )
    parser.add_argument(
        "--quick", action="store_true",
        help="Smoke run for tests (~1 minute): sequential_mnist's --quick "
        "training and tiny analyses.",
    )
    add_training_arguments(parser)
    args = parser.parse_args(argv)
    if args.text_only and not args.text_model:
        parser.error("--text-only needs --text-model.")
    for name, value in (QUICK_DEFAULTS if args.quick else DEFAULTS).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    train_args = training_options(parser, args)
    if args.subnetwork_rate is None:
        args.subnetwork_rate = train_args.delta
    if args.mc_rate is None:
        args.mc_rate = train_args.recurrent_dropout
    return args, train_args


def load_data(train_args):
    """The train and test data of sequential_mnist, and the input shape."""
    if train_args.dataset != "digits" and train_args.train_size == 0:
        train_args.train_size = None  # all MNIST training images
    train_data, _, test_data = sequence_classification.load_data(
        train_args.dataset, train_args.train_size,
        train_args.validation_size, train_args.seed)
    train_args.train_size = len(train_data[1])
    train_args.input_shape = train_data[0].shape[1:]
    return train_data, test_data


def train_models(args, train_args, train_data, test_data):
    """Trains each method with an `AdversarialMaskStatistics` callback.

    Returns:
        dict method -> `(model, statistics callback, test accuracy)`.
    """
    x_masks = analysis.classifier.first(test_data[0], args.mask_examples)
    trained = {}
    for method in train_args.methods:
        model = sequence_classification.lstm_classifier(
            method, train_args.input_shape, units=train_args.units,
            recurrent_dropout=train_args.recurrent_dropout,
            delta=train_args.delta, seed=train_args.seed,
            learning_rate=train_args.learning_rate,
            decay_steps=train_args.epochs * -(-train_args.train_size
                                              // train_args.batch_size))
        statistics = analysis.AdversarialMaskStatistics(
            x_masks, delta=train_args.delta,
            iterations=args.search_iterations, seed=train_args.seed,
            every=args.mask_every,
        )
        print(f"\n== training {method} ==", flush=True)
        start = time.perf_counter()
        model.fit(*train_data, epochs=train_args.epochs,
                  batch_size=train_args.batch_size, callbacks=[statistics],
                  verbose=1 if sys.stdout.isatty() else 2)
        seconds = time.perf_counter() - start
        accuracy = model.evaluate(*test_data, verbose=0, return_dict=True)
        print(f"{method}: test accuracy {accuracy['accuracy']:.4f} "
              f"({seconds:.0f} s with the mask statistics)")
        if args.save_models:
            os.makedirs(args.save_models, exist_ok=True)
            model.save(os.path.join(args.save_models, f"{method}.keras"))
        trained[method] = (model, statistics, float(accuracy["accuracy"]))
    return trained


def analyze_text(model, texts, labels, output_dir, preprocess=None,
                 from_logits=None, rates=TEXT_RATES, level="character",
                 seed=0, label=""):
    """Corrupted-text robustness of any text classifier; writes corruption.png.

    The plug-in point for text models from Python: `model` is a Keras model
    or any callable on (`preprocess`ed) batches of the raw strings `texts`;
    the other arguments are `keras_adrop.analysis.corruption_robustness`'s,
    and `label` names the model in the figure. Returns the
    `CorruptionRobustness` result.
    """
    result = analysis.corruption_robustness(
        model, texts, labels, rates=rates, level=level,
        preprocess=preprocess, from_logits=from_logits, seed=seed,
        verbose=sys.stdout.isatty(),
    )
    analysis.plot_corruption_robustness(
        {label: result}, os.path.join(output_dir, "corruption.png"))
    return result


def load_text_data(args, seed):
    """Test texts and labels from `--text-csv` or the IMDB loader."""
    if args.text_csv:
        return analysis.read_labeled_texts(args.text_csv, args.text_examples,
                                           seed)
    from keras_adrop.datasets import imdb

    _, (texts, labels) = imdb.load_data(
        seed=seed, test_size=args.text_examples or None)
    return list(texts), np.asarray(labels)


def analyze_digits(args, train_args, summary):
    """Trains (or loads) the digits models and makes their figures.

    Fills `summary["models"]`; returns the figure paths.
    """
    train_data, test_data = load_data(train_args)
    adversarial_search.flip_budget(train_args.delta, train_args.units)
    verbose = sys.stdout.isatty()
    if args.model:
        model = keras.saving.load_model(args.model)
        name = os.path.splitext(os.path.basename(args.model))[0]
        models, statistics = {name: model}, {}
    else:
        trained = train_models(args, train_args, train_data, test_data)
        models = {m: t[0] for m, t in trained.items()}
        statistics = {m: t[1] for m, t in trained.items()}
    per_model = {}
    for name, model in models.items():
        print(f"\n== analyzing {name} ==", flush=True)
        per_model[name], summary["models"][name] = (
            analysis.analyze_classifier(
                model, train_data, test_data, train_args.delta,
                **{k: getattr(args, k) for k in ANALYSIS_OPTIONS},
                seed=train_args.seed, verbose=verbose))
        if name in statistics:
            summary["models"][name]["mask_statistics"] = (
                statistics[name].summary())
    paths = analysis.plot_classifier_analyses(
        per_model, args.output_dir, statistics, test_data[1])
    def spread(s):  # mean ± std of a subnetwork kind, in %
        return f"{100 * s['mean']:.2f} ± {100 * s['std']:.2f}"

    print("\n" + reporting.markdown_table(
        ["model", "test acc", "random subnets", "adversarial subnets",
         "MC mean acc"],
        [[name, f"{100 * s['test_accuracy']:.2f}",
          spread(s["subnetworks"]["random"]),
          spread(s["subnetworks"]["adversarial"]),
          f"{100 * s['monte_carlo']['accuracy_of_mean']:.2f}"]
         for name, s in summary["models"].items()]))
    return paths


def main(argv=None):
    """Runs the analyses; returns the summary dict (also analysis.json)."""
    args, train_args = parse_args(argv)
    os.makedirs(args.output_dir, exist_ok=True)
    summary = {
        "config": {**vars(args), "training": {
            k: (list(v) if isinstance(v, tuple) else v)
            for k, v in vars(train_args).items()}},
        "models": {},
    }
    paths = {}
    verbose = sys.stdout.isatty()
    if not args.text_only:
        paths.update(analyze_digits(args, train_args, summary))
    if args.text_model:
        texts, labels = load_text_data(args, train_args.seed)
        results = {}
        for path in args.text_model:
            text_model, probabilities = analysis.load_text_classifier(path)
            name = os.path.splitext(os.path.basename(path.rstrip("/")))[0]
            print(f"\n== corrupted text: {name} on {len(texts)} texts ==",
                  flush=True)
            results[name] = analysis.corruption_robustness(
                text_model, texts, labels, rates=TEXT_RATES,
                from_logits=(False if probabilities
                             else args.text_outputs == "logits"),
                seed=train_args.seed, verbose=verbose,
            )
            for kind, values in results[name].accuracies.items():
                print(f"{kind}: " + ", ".join(
                    f"{100 * r:g}%: {100 * a:.2f}"
                    for r, a in zip(results[name].rates, values)))
        summary["text_corruption"] = {k: r.to_dict()
                                      for k, r in results.items()}
        paths["corruption"] = analysis.plot_corruption_robustness(
            results, os.path.join(args.output_dir, "corruption.png"))
    summary["figures"] = paths
    if args.docs_figures:
        summary["docs_figures"] = reporting.palette_copies(
            paths, args.docs_figures, prefix="analysis_")
    json_path = os.path.join(args.output_dir, "analysis.json")
    with open(json_path, "w") as f:
        json.dump(summary, f, indent=1, default=_json_default)
    print(f"\nWrote {json_path} and the figures {', '.join(sorted(paths))}.")
    return summary


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


if __name__ == "__main__":
    main()
