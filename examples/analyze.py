"""Look inside what dropout does to an LSTM: the analysis figures in one run.

Trains the sequential-digits LSTM of `examples/sequential_mnist.py` with
several methods (default: variational, fraternal and adversarial dropout
K=2, the three of Park et al.'s Figure 3), or loads a saved model with
`--model path.keras`, and makes every figure of `keras_adrop.analysis` for
each model:

- `subnetworks.png`: test accuracy of `--subnetwork-samples` random
  subnetworks (recurrent drop rate `--subnetwork-rate`, one mask shared by
  the whole test set) and of as many adversarial ones (the search with the
  training delta and K=2, a mask per example) (Park et al., Fig. 3a);
- `mask_statistics.png`: the mean adversarial mask of every recurrent unit
  over the test set after each epoch, and over how many units the drops are
  spread (Park et al., Fig. 4; only for models trained here);
- `loss_landscape_1d.png`, `loss_landscape_2d.png`: training loss along one
  and two random filter-normalized directions around the trained weights
  (Li et al. 2018);
- `mc_uncertainty.png`: spread of `--mc-samples` Monte Carlo passes with
  random recurrent masks on correct vs wrong test predictions (Gal &
  Ghahramani), and the accuracy of the MC mean;
- `corruption.png` (with `--text-model`): accuracy of a text classifier on
  reviews with deleted letters or QWERTY typos, as a function of the rate
  (Hattimare & Acharya).

Every number goes to `analysis.json`; the figures and the JSON go to
`--output-dir` (default `results/analysis/`).

Run it from the repository root:

    python examples/analyze.py

(3 methods x 80 epochs of the 64-step digits, then the analyses: roughly
10 minutes of CPU time; a run at half that size took 3 min 50 s of CPU, see
docs/analysis.md), or `python examples/analyze.py --quick` for a ~1-minute
smoke run. Options this script does not know (`--epochs`,
`--units`, `--delta`, `--recurrent-dropout`, `--seed`, `--train-size`,
`--dataset`, ...) are passed to `examples/sequential_mnist.py`, whose data
loading and model building this script reuses; `--methods` picks the
methods from its list.

Text robustness: `--text-model model.keras` (a Keras model that reads raw
strings, e.g. with a `TextVectorization` layer inside) evaluated on IMDB
test reviews (`keras_adrop.datasets.imdb`, `--text-examples` of them) or on
`--text-csv file.csv` (columns `text`, `label`). From Python, any model and
preprocessing function plug in through `analyze_text(...)`.

One seed, one small dataset: the figures illustrate the tools, they are
not evidence for or against a method.
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_adrop  # noqa: E402
from keras_adrop import analysis  # noqa: E402
import sequential_mnist  # noqa: E402

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
QUICK_DEFAULTS = {
    "subnetwork_samples": 4,
    "subnetwork_rate": None,
    "search_iterations": 2,
    "mask_examples": 100,
    "mask_every": 1,
    "landscape_examples": 100,
    "resolution_1d": 5,
    "resolution_2d": 3,
    "span": 1.0,
    "mc_samples": 3,
    "mc_rate": None,
    "text_examples": 200,
}
TEXT_RATES = (0.0, 0.05, 0.1, 0.2, 0.3)


def parse_args(argv=None):
    """Returns `(args, train_args)`: this script's and sequential_mnist's."""
    parser = argparse.ArgumentParser(
        description=(
            "Analysis figures (random vs adversarial subnetworks, adversarial "
            "masks over epochs, filter-normalized loss landscapes, Monte "
            "Carlo dropout, corrupted-text robustness) for the sequential "
            "digits LSTM. Options not listed here (--methods, --epochs, "
            "--units, --delta, --recurrent-dropout, --seed, --train-size, "
            "--dataset, ...) go to examples/sequential_mnist.py; see its "
            "--help. Default methods here: " + ",".join(DEFAULT_METHODS)
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
    parser.add_argument(
        "--subnetwork-samples", type=int,
        help="Random and adversarial subnetworks sampled per model "
        f"(default {DEFAULTS['subnetwork_samples']}; the paper used 500).",
    )
    parser.add_argument(
        "--subnetwork-rate", type=float,
        help="Drop rate of the random subnetworks (default: the training "
        "--delta, so both kinds drop about as many units).",
    )
    parser.add_argument(
        "--search-iterations", type=int,
        help="K of the adversarial search in the figures (default "
        f"{DEFAULTS['search_iterations']}, as the paper's Fig. 3).",
    )
    parser.add_argument(
        "--mask-examples", type=int,
        help="Test examples the mask statistics average over (default 0: "
        "all).",
    )
    parser.add_argument(
        "--mask-every", type=int,
        help="Record the mask statistics every this many epochs (default "
        "1).",
    )
    parser.add_argument(
        "--landscape-examples", type=int,
        help="Training examples the loss landscape is computed on (default "
        f"{DEFAULTS['landscape_examples']}).",
    )
    parser.add_argument(
        "--resolution-1d", type=int,
        help=f"Points of the 1-D scan (default {DEFAULTS['resolution_1d']}).",
    )
    parser.add_argument(
        "--resolution-2d", type=int,
        help="Points per axis of the 2-D scan (default "
        f"{DEFAULTS['resolution_2d']}; Li et al. used 51).",
    )
    parser.add_argument(
        "--span", type=float,
        help="Landscape coordinates run over [-span, span] (default 1).",
    )
    parser.add_argument(
        "--mc-samples", type=int,
        help=f"Monte Carlo passes (default {DEFAULTS['mc_samples']}).",
    )
    parser.add_argument(
        "--mc-rate", type=float,
        help="Recurrent drop rate of the Monte Carlo passes, for every model "
        "(default: the training --recurrent-dropout).",
    )
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
        "--text-examples", type=int,
        help="Test texts used (default "
        f"{DEFAULTS['text_examples']}, class-balanced for IMDB; 0: all).",
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
    args, rest = parser.parse_known_args(argv)
    if args.text_only and not args.text_model:
        parser.error("--text-only needs --text-model.")
    for name, value in (QUICK_DEFAULTS if args.quick else DEFAULTS).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    forwarded = list(rest)
    if not any(a == "--methods" or a.startswith("--methods=")
               for a in forwarded):
        forwarded += ["--methods", ",".join(DEFAULT_METHODS)]
    if args.quick:
        forwarded.append("--quick")
    for option in ("--output-dir", "--export"):
        if any(a == option or a.startswith(option + "=") for a in forwarded):
            parser.error(f"{option} is not an option of analyze.py's "
                         "training (use --output-dir for the figures).")
    train_args = sequential_mnist.parse_args(forwarded)
    if args.subnetwork_rate is None:
        args.subnetwork_rate = train_args.delta
    if args.mc_rate is None:
        args.mc_rate = train_args.recurrent_dropout
    return args, train_args


def load_data(train_args):
    """The train and test data of sequential_mnist, and the input shape."""
    if train_args.dataset != "digits" and train_args.train_size == 0:
        train_args.train_size = None  # all MNIST training images
    train_data, _, test_data = sequential_mnist.load_data(train_args)
    train_args.train_size = len(train_data[1])
    train_args.input_shape = train_data[0].shape[1:]
    return train_data, test_data


def train_models(args, train_args, train_data, test_data):
    """Trains each method with an `AdversarialMaskStatistics` callback.

    Returns:
        dict method -> `(model, statistics callback, test accuracy)`.
    """
    x_masks = _subset(test_data[0], args.mask_examples)
    trained = {}
    for method in train_args.methods:
        model = sequential_mnist.build_model(method, train_args)
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


def _subset(x, count):
    return x if not count or count >= len(x) else x[:count]


def analyze_model(model, args, train_args, train_data, test_data, verbose):
    """Subnetworks, loss landscapes and Monte Carlo dropout for one model.

    Returns:
        dict of results objects (for the figures) and a JSON-ready summary.
    """
    x_test, y_test = test_data
    seed = train_args.seed
    print("  subnetworks ...", flush=True)
    subnetworks = analysis.subnetwork_accuracies(
        model, x_test, y_test, samples=args.subnetwork_samples,
        rate=args.subnetwork_rate, delta=train_args.delta,
        iterations=args.search_iterations, from_logits=True, seed=seed,
        verbose=verbose,
    )
    x_land = _subset(train_data[0], args.landscape_examples)
    y_land = _subset(train_data[1], args.landscape_examples)
    # Every model is scanned along its own directions drawn with the same
    # seed (filter normalization makes their scales comparable).
    print("  loss landscape 1-D ...", flush=True)
    line = analysis.loss_landscape(
        model, x_land, y_land, dimensions=1, resolution=args.resolution_1d,
        span=args.span, seed=seed, verbose=verbose,
    )
    print("  loss landscape 2-D ...", flush=True)
    plane = analysis.loss_landscape(
        model, x_land, y_land, dimensions=2, resolution=args.resolution_2d,
        span=args.span, seed=seed, verbose=verbose,
    )
    print("  Monte Carlo dropout ...", flush=True)
    mc = analysis.mc_dropout_predict(
        model, x_test, samples=args.mc_samples, rate=args.mc_rate,
        from_logits=True, seed=seed, verbose=verbose,
    )
    deterministic = model.predict(x_test, verbose=0)
    summary = {
        "test_accuracy": analysis_accuracy(deterministic, y_test),
        "subnetworks": subnetworks.summary(),
        "loss_landscape_1d": line.to_dict(),
        "loss_landscape_2d": plane.to_dict(),
        "monte_carlo": {
            "samples": args.mc_samples, "rates": mc.rates,
            "accuracy_of_mean": analysis_accuracy(mc.mean, y_test),
            "mean_std_of_predicted_class": float(np.mean(
                np.take_along_axis(mc.std, mc.mean.argmax(-1)[:, None], -1))),
        },
    }
    return {"subnetworks": subnetworks, "line": line, "plane": plane,
            "mc": mc}, summary


def analysis_accuracy(outputs, labels):
    return float(np.mean(np.argmax(outputs, axis=-1) == labels))


def analyze_text(model, texts, labels, output_dir, preprocess=None,
                 from_logits=None, rates=TEXT_RATES, level="character",
                 seed=0, label=""):
    """Corrupted-text robustness of any text classifier; writes corruption.png.

    The plug-in point for text models: `model` is a Keras model or any
    callable on (preprocessed) batches, `texts` the raw test strings.

    Args:
        model: Keras model or callable (see
            `keras_adrop.analysis.corruption_robustness`).
        texts, labels: Raw test strings and their integer labels.
        output_dir: Where `corruption.png` goes.
        preprocess: Optional function from a list of strings to inputs.
        from_logits: For a one-unit output: logits (True) or probabilities.
        rates, level, seed: See `corruption_robustness`.
        label: Legend label of the model.

    Returns:
        The `CorruptionRobustness` result.
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
        import csv

        with open(args.text_csv, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        if not rows or not {"text", "label"} <= set(rows[0]):
            raise ValueError(
                f"--text-csv {args.text_csv}: needs columns 'text' and "
                "'label'."
            )
        texts = [r["text"] for r in rows]
        labels = np.array([int(r["label"]) for r in rows])
        count = args.text_examples
        if count and count < len(texts):
            order = np.random.default_rng(seed).permutation(len(texts))
            texts = [texts[i] for i in order[:count]]
            labels = labels[order[:count]]
        return texts, labels
    from keras_adrop.datasets import imdb

    _, (texts, labels) = imdb.load_data(
        seed=seed, test_size=args.text_examples or None)
    return list(texts), np.asarray(labels)


def load_text_model(path):
    """A `.keras` model, or a SavedModel's `serve` endpoint as a function.

    Returns:
        `(model, outputs_are_probabilities)`: a Keras model or a callable
        on a list of strings; the flag is True when a SavedModel returns
        `{"probabilities": ...}` (imdb_sentiment's export), else None.
    """
    if not os.path.isdir(path):
        return keras.saving.load_model(path), None
    import tensorflow as tf

    try:  # registers the ops of a tokenizer built on tensorflow-text
        import tensorflow_text  # noqa: F401
    except ImportError:
        pass
    loaded = tf.saved_model.load(path)
    if not hasattr(loaded, "serve"):
        raise ValueError(
            f"--text-model {path}: a SavedModel directory needs a `serve` "
            "endpoint taking a 1-D string tensor."
        )

    def predict(texts, batch_size=256):
        outputs = []
        for start in range(0, len(texts), batch_size):
            out = loaded.serve(tf.constant(texts[start:start + batch_size]))
            if isinstance(out, dict):
                out = out.get("probabilities", next(iter(out.values())))
            outputs.append(np.asarray(out))
        return np.concatenate(outputs)

    predict.loaded = loaded  # keep the SavedModel's objects alive
    signature = loaded.serve(tf.constant(["probe"]))
    return predict, (isinstance(signature, dict)
                     and "probabilities" in signature) or None


def make_figures(per_model, statistics, output_dir):
    """Writes the comparison figures; returns their paths."""
    join = os.path.join
    paths = {
        "subnetworks": analysis.plot_subnetwork_accuracies(
            {k: v["subnetworks"] for k, v in per_model.items()},
            join(output_dir, "subnetworks.png")),
        "loss_landscape_1d": analysis.plot_loss_landscape(
            {k: v["line"] for k, v in per_model.items()},
            join(output_dir, "loss_landscape_1d.png")),
        "loss_landscape_2d": analysis.plot_loss_landscape(
            {k: v["plane"] for k, v in per_model.items()},
            join(output_dir, "loss_landscape_2d.png")),
    }
    if statistics:
        paths["mask_statistics"] = analysis.plot_mask_statistics(
            statistics, join(output_dir, "mask_statistics.png"))
    return paths


def analyze_digits(args, train_args, summary):
    """Trains (or loads) the digits models and makes their figures.

    Fills `summary["models"]`; returns the figure paths.
    """
    train_data, test_data = load_data(train_args)
    keras_adrop.masks.flip_budget(train_args.delta, train_args.units)
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
        per_model[name], summary["models"][name] = analyze_model(
            model, args, train_args, train_data, test_data, verbose)
        if name in statistics:
            result = statistics[name].result()
            summary["models"][name]["mask_statistics"] = {
                "epochs": result["epochs"].tolist(),
                "effective_units": {k: v.tolist() for k, v
                                    in result["effective_units"].items()},
                "budgets": result["budgets"],
            }
    paths = make_figures(per_model, statistics, args.output_dir)
    paths["mc_uncertainty"] = analysis.plot_mc_uncertainty(
        {k: v["mc"] for k, v in per_model.items()}, test_data[1],
        os.path.join(args.output_dir, "mc_uncertainty.png"))
    print("\n| model | test acc | random subnets | adversarial subnets "
          "| MC mean acc |\n|---|---:|---:|---:|---:|")
    for name, s in summary["models"].items():
        sub = s["subnetworks"]
        print(f"| {name} | {100 * s['test_accuracy']:.2f} "
              f"| {100 * sub['random']['mean']:.2f} "
              f"± {100 * sub['random']['std']:.2f} "
              f"| {100 * sub['adversarial']['mean']:.2f} "
              f"± {100 * sub['adversarial']['std']:.2f} "
              f"| {100 * s['monte_carlo']['accuracy_of_mean']:.2f} |")
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
            text_model, probabilities = load_text_model(path)
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
        summary["docs_figures"] = write_docs_figures(paths, args.docs_figures)
    json_path = os.path.join(args.output_dir, "analysis.json")
    with open(json_path, "w") as f:
        json.dump(summary, f, indent=1, default=_json_default)
    print(f"\nWrote {json_path} and the figures {', '.join(sorted(paths))}.")
    return summary


def write_docs_figures(paths, directory):
    """Small copies of the figures for a repository: a 256-colour palette."""
    from PIL import Image

    os.makedirs(directory, exist_ok=True)
    copies = {}
    for name, path in paths.items():
        target = os.path.join(directory, f"analysis_{name}.png")
        with Image.open(path) as image:
            image.convert("RGB").quantize(
                256, method=Image.Quantize.FASTOCTREE
            ).save(target, optimize=True)
        copies[name] = target
    return copies


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


if __name__ == "__main__":
    main()
