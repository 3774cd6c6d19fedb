"""The paper's comparison at CPU scale, resumable, written to docs/results.md.

Park et al. (AAAI 2019) claim an ordering of test errors: unregularized >
variational dropout > fraternal dropout > adversarial dropout K=1 > K=2
(Table 1, sequential MNIST), and similar orderings on IMDB (Table 2) and
Penn Treebank (Table 3). This script reruns that comparison with the
examples of this repository and writes what came out, whatever it is.

Parts (`--parts`, default all), each seed-paired: seed k draws the data
subset and initial weights that every method of the part shares, so methods
are compared in pairs (paired t-test and Wilcoxon signed-rank test):

- `mnist`: the six methods of `examples/sequential_mnist.py` on real MNIST
  read row by row (28 steps of 28 pixels) with 5,000 training images, 5
  seeds. The 784-step task of the paper costs ~3 min per plain epoch and
  ~9 min per adversarial epoch here; rows converge in minutes, and 5,000
  images overfit enough for regularization to matter. ~1.5 CPU-hours.
- `imdb`: `examples/imdb_sentiment.py` on 10,000 training and 10,000 test
  reviews (the seeded split of the wheel's copy), 6 epochs: unregularized,
  variational, fraternal, adversarial K=1 and K=2 on 5 seeds, VAT and
  adversarial K=2 + VAT on 3. About 50 min per seed of the first five
  methods (measured 2026-11-26, one process at a time).
- `ptb`: `examples/ptb_language_model.py` on the full PTB training set with
  a 2 x 128 AWD-style LSTM for 8 epochs (XLA-compiled steps): variational,
  fraternal, adversarial dropout on `h_{t-1}` (K=1) and adversarial
  DropConnect (the authors' recipe), 2 seeds. About 2 hours of training
  epochs per seed of the four methods on the two cores (measured on seed
  0 of the Adam runs: 14, 25, 33-42 and 32 minutes), nearer 2.5 hours
  with evaluation; one sitting per seed.
- `seattle`: `examples/forecasting.py`, the next day's maximum temperature
  in Seattle (regression, squared-error loss and penalties): an LSTM 64
  reads 28 days, trained on 2012-2013, validated on 2014 (best epoch),
  test MAE in degrees C on 2015; unregularized, variational, fraternal,
  adversarial K=1 and K=2, 5 seeds. About 30 s per run.

Tuned protocol (issue 24). `--tune` gives every method of a part the same
number of trials (`--trials`, default 8) of a random search over its own
knobs only; every other option is the part's frozen one:

| method | knobs searched |
|---|---|
| unregularized | none: no trial (its tuned file says so) |
| variational | recurrent dropout p, 0.05-0.5 |
| fraternal, expectation_linearization | kappa, 0.01-1 (log) |
| adversarial_k1, adversarial_k2 | flips and lambda 0.1-10 (log) |
| adversarial_k1_vat, adversarial_k2_vat | the above and epsilon 0.01-1 (log) |
| adversarial_dropconnect | delta 0.01-0.2 and lambda 0.1-10 (log) |
| virtual_adversarial, adversarial_training | epsilon 0.01-1 (log) |

Adversarial dropout's budget is searched as a whole number of flipped
units, `delta = flips / units`, with `flips` from delta 0.01-0.1 (the
paper's range) and K fixed by the method's name: the search space that
`keras_adrop.tuners.AdversarialDropoutHyperModel` declares when it builds
a model of the part's LSTM width. The values are KerasTuner's
`RandomSearchOracle` with seed `TUNE_SEED`
(the same for every method), so the plan of trials is the same on every
machine. A trial is one run of the example with `--no-test` (it never
reads the test set; a trial that writes a test metric is refused) at seed
`TRIAL_SEED` = 1000, none of the compared seeds, scored on the part's
validation metric (`PARTS[part]["objective"]`: the best epoch's
validation error, or validation MAE). Each finished trial is saved as
`<results-dir>/<part>/tuning/<method>/trial<NN>.json`; a resumed tune
skips them (on any machine: commit them), and a larger `--trials`
extends the same sequence. When a method's trials are done, the best is
frozen into `<results-dir>/<part>/tuned/<method>.json` (settings, search
space, every trial's objective, the commands). From then on a sitting of
that part runs its tuned methods at their settings, saved apart in
`results/replicate_tuned/<part>/<method>/seed<k>/results.json` (each
recording its settings under `"replicate"`); `--untuned` runs the frozen
options as before. The report shows the untuned and the tuned runs in
separate sections, the latter with a table of the tuned settings and
their search spaces. PTB's trials run its recipe on a shorter schedule
(3 of the 8 epochs, `PARTS["ptb"]["trial_args"]`); the report says so.

Every run is a separate process whose result is saved under
`--results-dir/<part>/<method>/seed<k>/results.json` (committed: a few KB
each); a run whose file exists is skipped, so the replication resumes where
it stopped, on any machine. Spread a part over sittings of at most ~3
CPU-hours with `--seeds` and `--methods` (the report says what each saved
run cost). `--report-only` rewrites the report from the saved runs; a
part with no saved run keeps its section of the existing report. Do not
pin a run to one core (`taskset -c 1`): Keras' `fit` input pipeline then
stalls (measured on the PTB model: 1.03 s per step in `fit` against 0.59 s
of work); the two cores are for one run at a time.

    python examples/replicate.py --parts imdb --seeds 3   # seeds 0-2
    python examples/replicate.py --parts ptb --seeds 1 --methods variational
    python examples/replicate.py --report-only            # docs/results.md
    python examples/replicate.py --quick                  # smoke run
    python examples/replicate.py --quick --tune --parts mnist  # smoke tune

Planned commands for issue 24, one at a time, each resumable, committing
`results/replicate*/` JSON after each (CPU-hours on the 2 shared cores;
trial time measured as below, run times from the saved runs):

    nice -n 15 python examples/replicate.py --tune --parts seattle
    nice -n 15 python examples/replicate.py --parts seattle --seeds 5
    nice -n 15 python examples/replicate.py --tune --parts mnist
    nice -n 15 python examples/replicate.py --parts mnist --seeds 5
    nice -n 15 python examples/replicate.py --tune --parts imdb --trials 4
    nice -n 15 python examples/replicate.py --parts imdb --seeds 5
    python examples/replicate.py --report-only

Measured on 2026-12-06 (one trial each, `nice -n 15`, load average ~5
on the 2 cores from another training): an mnist trial took 73 s wall
(0.73 min of training epochs) for variational and 171 s (2.3 min) for
adversarial K=2 with 8 flips; a seattle adversarial K=2 trial 62 s (0.73
min). Estimates, in hours of the 2-core machine, the seed runs costing
what a trial costs:

- seattle: 32 trials (~0.4 h) + 25 seed runs (~0.3 h): ~0.7 h.
- mnist: 40 trials (8 x ~9.5 min for variational, fraternal, EL, K=1 and
  K=2: ~1.3 h) + 30 seed runs (~0.9 h): ~2.2 h.
- imdb: from its saved runs (3-14 min of training each plus ~3-4 min of
  data and evaluation), 4 trials per method ~4.4 h (8: ~8.8 h), and 31
  seed runs ~5.7 h: ~10 h with `--trials 4`. Spread it over sittings with
  `--methods`; every trial and run is saved as it finishes.
- ptb: trials on the 3-epoch schedule, 4 per method: ~6 min
  (variational) to ~15 min (adversarial K=1) each alone on the 2 cores,
  ~2.5 h with `--trials 4`; seed runs on the 8-epoch schedule ~2.5 h
  per seed of the four methods (above). Spread it over sittings with
  `--methods` and `--seeds`.
"""

import argparse
import datetime
import json
import os
import pathlib
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np

from keras_adrop import reporting
from keras_adrop.arguments import check_choices
from keras_adrop.reporting import paired_comparison
from keras_adrop.reporting import summary_rows
from keras_adrop.tasks import presets
from keras_adrop.tasks.methods import get_method

EXAMPLES = pathlib.Path(__file__).resolve().parent
REPO = EXAMPLES.parent


def with_options(options, values):
    """`options` with each `{flag: value}` set: replaced where `options`
    holds the flag, else appended."""
    options = list(options)
    for flag, value in values.items():
        if flag in options:
            options[options.index(flag) + 1] = value
        else:
            options += [flag, value]
    return options


# The issue-15 PTB runs' options (Adam 3e-3); the tuned protocol swaps
# the optimizer for the recipe frozen after the diagnosis of docs/ptb.md.
PTB_ARGS = ["--embedding-dim", "128", "--units", "128",
            "--batch-size", "32", "--train-tokens", "0",
            "--eval-tokens", "0", "--epochs", "8",
            "--learning-rate", "3e-3", "--jit-compile", "true",
            "--embedding-dropout", "0", "--input-dropout", "0.1",
            "--hidden-dropout", "0.1", "--output-dropout", "0.1",
            "--weight-dropout", "0.1"]
# The recipe frozen on the variational baseline after the diagnosis of
# docs/ptb.md, the same for every tuned method.
PTB_TUNED_ARGS = with_options(PTB_ARGS, {
    "--optimizer": "sgd", "--learning-rate": "30", "--clipnorm": "0.25"})

# What each part runs: the example script, the methods, the options shared by
# all of its runs (the seed is appended per run), and the metric compared
# (lower is better).
PARTS = {
    "mnist": {
        "script": "sequential_mnist.py",
        "title": "MNIST row by row (28 steps), 5,000 training images",
        "methods": ["unregularized", "variational", "fraternal",
                    "expectation_linearization", "adversarial_k1",
                    "adversarial_k2"],
        "args": ["--dataset", "rows", "--train-size", "5000",
                 "--validation-size", "5000", "--units", "100",
                 "--epochs", "30", "--batch-size", "64",
                 "--learning-rate", "3e-3", "--recurrent-dropout", "0.1",
                 "--delta", "0.03"],
        "quick_args": ["--dataset", "rows", "--train-size", "300",
                       "--validation-size", "100", "--units", "16",
                       "--epochs", "1", "--delta", "0.2"],
        "metric": "test_error_percent",
        "metric_name": "test error %",
        "curve": ("val_accuracy", "validation error (%)"),
        # Trials select on the best epoch's validation error.
        "objective": ("validation_error_percent", "min"),
        # Table 1, 784-pixel sequential MNIST (ours reads rows).
        "paper": {"unregularized": 1.018, "variational": 0.721,
                  "fraternal": 0.720, "adversarial_k1": 0.705,
                  "adversarial_k2": 0.644},
        "paper_table": "Table 1",
        "comparisons": [("adversarial_k1", "variational"),
                        ("adversarial_k2", "variational"),
                        ("adversarial_k2", "adversarial_k1"),
                        ("fraternal", "variational"),
                        ("variational", "unregularized")],
    },
    "imdb": {
        "script": "imdb_sentiment.py",
        "title": "IMDB sentiment, 10,000 training reviews",
        # Seed-paired like mnist; the embedding-perturbation methods are the
        # most expensive and run on the first 3 seeds only.
        "methods": ["unregularized", "variational", "fraternal",
                    "adversarial_k1", "adversarial_k2",
                    "virtual_adversarial", "adversarial_k2_vat"],
        "seeds": {"virtual_adversarial": 3, "adversarial_k2_vat": 3},
        # The untuned runs (saved) validated on the test reviews and kept
        # the last epoch's weights: --validation-fraction 0 repeats that.
        # The tuning protocol holds 10% of the training reviews out.
        "args": ["--train-size", "10000", "--test-size", "10000",
                 "--unlabeled-size", "10000", "--epochs", "6",
                 "--validation-fraction", "0"],
        "tuned_args": ["--train-size", "10000", "--test-size", "10000",
                       "--unlabeled-size", "10000", "--epochs", "6",
                       "--validation-fraction", "0.1"],
        "quick_args": ["--quick", "--data", "synthetic"],
        "metric": "test_error_percent",
        "metric_name": "test error %",
        "curve": ("val_accuracy", "test error (%)"),
        "tuned_curve": ("val_accuracy", "validation error (%)"),
        "objective": ("validation_error_percent", "min"),
        # Table 2, the official split with LM pretraining.
        "paper": {"unregularized": 7.164, "variational": 7.042,
                  "fraternal": 6.349, "adversarial_k1": 6.155,
                  "adversarial_k2": 6.005, "virtual_adversarial": 5.91,
                  "adversarial_k2_vat": 5.687},
        "paper_table": "Table 2",
        "comparisons": [("adversarial_k1", "variational"),
                        ("adversarial_k2", "variational"),
                        ("adversarial_k2", "adversarial_k1"),
                        ("adversarial_k1", "fraternal"),
                        ("fraternal", "variational"),
                        ("variational", "unregularized"),
                        ("adversarial_k1", "unregularized"),
                        ("adversarial_k2", "unregularized"),
                        ("adversarial_k2_vat", "virtual_adversarial")],
    },
    "ptb": {
        "script": "ptb_language_model.py",
        "title": "Penn Treebank language model, full training set",
        # The four methods of issue 15, 2 seeds each. A 2 x 128 AWD-style
        # LSTM (tied 128-d embedding) on all 929k training tokens, batch
        # 32 x bptt 35 (830 windows per epoch), Adam 3e-3 cosine-decayed
        # over 8 epochs, the training step XLA-compiled. The full softmax
        # is kept for every method: every penalty compares whole
        # next-token distributions, so a sampled softmax would only make
        # the variational baseline cheaper, with another loss.
        # Chosen from two pilots of the variational run (seed 0, batch 64,
        # Adam 2e-3, in results/replicate/ptb_pilot_*): both under-fitted
        # in 8 epochs, validation perplexity 238 with AWD's dropouts
        # (0.1/0.2/0.2/0.2/0.2) and 220 with half of them (embedding 0,
        # the rest 0.1, kept here). Batch 32 costs about the same per epoch
        # as 64 with twice the updates (benchmarks/ptb_steps.py, XLA, one
        # core, another training beside it: 0.15 s per variational step
        # against 0.31-0.39, adversarial K=1 0.46-0.59 against 0.88).
        "methods": ["variational", "fraternal", "adversarial_k1",
                    "adversarial_dropconnect"],
        "seeds": {"variational": 2, "fraternal": 2, "adversarial_k1": 2,
                  "adversarial_dropconnect": 2},
        "args": PTB_ARGS,
        # The tuned protocol (issue 24): the recipe frozen on the
        # variational baseline after the diagnosis of docs/ptb.md (SGD 30,
        # healthy carried states; Adam 3e-3 let them grow into the
        # thousands), the same for every method; the adversarial methods
        # ramp lambda up over 20 % of the steps (the example's default).
        "tuned_args": PTB_TUNED_ARGS,
        # Tuning trials run the same recipe on a shorter schedule: 3 of
        # the 8 epochs (the learning rate cosine-decayed and lambda ramped
        # over those 3), about 40 % of a seed run's cost.
        "trial_args": with_options(PTB_TUNED_ARGS, {"--epochs": "3"}),
        "quick_args": ["--quick"],
        # The example's names of the methods' knobs.
        "flags": {
            "fraternal": {"kappa": "--fraternal-weight"},
            "expectation_linearization": {"kappa": "--el-weight"},
            "adversarial_dropconnect": {
                "delta": "--dropconnect-delta",
                "penalty_weight": "--dropconnect-weight"},
        },
        "objective": ("val_perplexity", "min"),
        "metric": "test_perplexity",
        "metric_name": "test perplexity",
        "curve": ("val_perplexity", "validation perplexity"),
        # Table 3, AWD-LSTM 24M; the paper's AdD is the authors' code's
        # adversarial DropConnect (adversarial_k1 here is not in it).
        "paper": {"variational": 58.3, "fraternal": 56.8,
                  "adversarial_dropconnect": 56.4},
        "paper_table": "Table 3",
        "comparisons": [("adversarial_dropconnect", "variational"),
                        ("adversarial_k1", "variational"),
                        ("fraternal", "variational"),
                        ("adversarial_dropconnect", "fraternal"),
                        ("adversarial_dropconnect", "adversarial_k1")],
    },
    "seattle": {
        "script": "forecasting.py",
        "title": "Seattle temperature, next-day maximum (regression)",
        # examples/forecasting.py: an LSTM 64 reads 28 days of weather and
        # forecasts the next day's maximum temperature; trained on
        # 2012-2013, validated (best epoch, tuning) on 2014, tested on 2015.
        "methods": ["unregularized", "variational", "fraternal",
                    "adversarial_k1", "adversarial_k2"],
        "seed_option": "--seeds",  # the example runs a list of seeds
        "args": ["--units", "64", "--epochs", "40", "--batch-size", "32",
                 "--learning-rate", "3e-3", "--recurrent-dropout", "0.25",
                 "--delta", "0.1", "--window", "28", "--verbose"],
        "quick_args": ["--quick", "--verbose"],
        "metric": "test_mae",
        "metric_name": "test MAE (C)",
        "curve": ("val_mae", "validation (2014) MAE (C)"),
        "loss_name": "training mean squared error (C^2)",
        "objective": ("validation_mae", "min"),
        "paper": {},  # not in the paper
        "paper_table": None,
        "comparisons": [("adversarial_k1", "variational"),
                        ("adversarial_k2", "variational"),
                        ("adversarial_k2", "adversarial_k1"),
                        ("fraternal", "variational"),
                        ("variational", "unregularized"),
                        ("adversarial_k1", "unregularized")],
    },
}


def run_path(results_dir, part, method, seed):
    return pathlib.Path(results_dir, part, method, f"seed{seed}",
                        "results.json").resolve()


def method_entry(results, method):
    """The metrics of one run of `method` in an example's results.json.

    `examples/forecasting.py` saves a summary over its seeds with the
    runs in `runs`; a run of one seed is that run.
    """
    entry = results["methods"][method]
    if "runs" in entry and len(entry["runs"]) == 1:
        return entry["runs"][0]
    return entry


def saved_run(results_dir, part, method, seed):
    """The saved metrics of a run (the example's entry for `method`), or None."""
    path = run_path(results_dir, part, method, seed)
    if not path.exists():
        return None
    return method_entry(json.loads(path.read_text()), method)


def part_options(part, quick, tuned=False, trial=False):
    """The frozen options of a part's runs: quick, tuned protocol or not.

    `trial`: the options of a tuning trial, the tuned protocol's unless
    the part tunes on a shorter schedule (`PARTS[part]["trial_args"]`).
    """
    spec = PARTS[part]
    if quick:
        return list(spec["quick_args"])
    if trial and "trial_args" in spec:
        return list(spec["trial_args"])
    if tuned or trial:
        return list(spec.get("tuned_args", spec["args"]))
    return list(spec["args"])


def example_command(part, method, seed, options, output_dir):
    """The command line of one run of the part's example."""
    spec = PARTS[part]
    return [sys.executable, str(EXAMPLES / spec["script"]), *options,
            "--methods", method, spec.get("seed_option", "--seed"),
            str(seed), "--output-dir", str(output_dir)]


def shown(command):
    """A command as the report and the JSON show it: from the repository
    root, without the interpreter's path."""
    words = ["python"] + [
        os.path.relpath(word, REPO) if os.path.isabs(word) else word
        for word in command[1:]]
    return " ".join(words)


def run_one(part, method, seed, args, tuned=None):
    """Runs one (part, method, seed) in a fresh process and saves it.

    Args:
        part, method, seed: The run.
        args: The parsed command line.
        tuned: The method's tuned record (`tuned_record`): the run passes
            its settings to the example and is saved under
            `--tuned-results-dir`, its results.json recording them under
            `"replicate"`. None: the part's frozen options, saved under
            `--results-dir`.

    Returns:
        The run's metrics dict (the example's entry for `method`).
    """
    results_dir = args.tuned_results_dir if tuned else args.results_dir
    path = run_path(results_dir, part, method, seed)
    options = part_options(part, args.quick, tuned=tuned is not None)
    if tuned is not None:
        options = with_settings(options, tuned["settings"],
                                part_flags(part, method))
    command = example_command(part, method, seed, options, path.parent)
    print(f"[{time.strftime('%H:%M:%S')}] {part} {method} seed {seed}: "
          + " ".join(command[1:]), flush=True)
    log_path = path.parent / "log.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log:
        completed = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT,
                                   cwd=REPO)
    if completed.returncode != 0 or not path.exists():
        raise RuntimeError(
            f"{part} {method} seed {seed} failed (exit "
            f"{completed.returncode}); see {log_path}.")
    if tuned is not None:
        results = json.loads(path.read_text())
        results["replicate"] = {
            "tuned_settings": tuned["settings"],
            "tuned_file": os.path.relpath(
                tuned_path(args.results_dir, part, method), REPO),
            "command": shown(command),
        }
        write_json(path, results)
    return saved_run(results_dir, part, method, seed)


def collect(part, seeds, args, tuned=None, run_missing=None):
    """Reads every saved run of a part and runs the missing ones.

    With `--report-only` (or `run_missing=False`) the missing runs are
    left out instead.

    Args:
        part: The part.
        seeds: The seeds to read (and run).
        args: The parsed command line.
        tuned: None for the runs at the part's frozen options, or
            `{method: tuned record}` (`tuned_records`) for the runs at
            tuned settings: only those methods, saved under
            `--tuned-results-dir`.
        run_missing: Whether to run the missing runs (default: not
            `--report-only`).

    Returns:
        `{method: {seed: metrics}}`, methods in the part's order (the
        paper's), without methods that have no run.
    """
    spec = PARTS[part]
    if run_missing is None:
        run_missing = not args.report_only
    results_dir = args.results_dir if tuned is None else args.tuned_results_dir
    methods = [m for m in spec["methods"] if tuned is None or m in tuned]
    runs = {method: {} for method in methods}
    # Seed-major order: after each seed, all methods have a paired result,
    # so an interrupted replication is still a balanced comparison.
    for seed in seeds:
        for method in methods:
            if seed >= spec.get("seeds", {}).get(method, len(seeds)):
                continue
            run = saved_run(results_dir, part, method, seed)
            wanted = not args.methods or method in args.methods
            if run is None and wanted and run_missing:
                if tuned is None:
                    run = run_one(part, method, seed, args)
                else:
                    run = run_one(part, method, seed, args,
                                  tuned=tuned[method])
            if run is not None:
                runs[method][seed] = run
    return {method: by_seed for method, by_seed in runs.items() if by_seed}


# ------------------------------------------------------------------ tuning
#
# Every method of a part gets the same number of trials of a KerasTuner
# random search over its own knobs; everything else is the part's frozen
# options. A trial is a run of the example with --no-test (it never reads
# the test set) at TRIAL_SEED, scored on the validation metric of
# `PARTS[part]["objective"]`.

TUNE_SEED = 24  # seed of every method's oracle (issue 24)
TRIAL_SEED = 1000  # data subset and initial weights of every trial
DEFAULT_TRIALS = 8
QUICK_TRIALS = 2  # at most, with --quick
# Adversarial dropout's budget, as whole numbers of flipped units
# (keras_adrop.tuners): the paper's validated range; with --quick's narrow
# LSTMs a wider one, so that it holds a flip.
DELTA_RANGE = (0.01, 0.1)
QUICK_DELTA_RANGE = (0.1, 0.4)
RANGES = {
    "recurrent_dropout": (0.05, 0.5, "linear"),  # variational p
    "kappa": (0.01, 1.0, "log"),  # defaults 0.15 (fraternal), 0.25 (EL)
    "penalty_weight": (0.1, 10.0, "log"),  # lambda, default 1
    "epsilon": (0.01, 1.0, "log"),  # VAT / adversarial training
    "delta": (0.01, 0.2, "log"),  # adversarial DropConnect's budget
}
# The example option of each setting.
FLAGS = {"recurrent_dropout": "--recurrent-dropout", "kappa": "--kappa",
         "penalty_weight": "--penalty-weight", "epsilon": "--epsilon",
         "delta": "--delta"}
# How the report names them.
SYMBOLS = {"recurrent_dropout": "p", "kappa": "kappa",
           "penalty_weight": "lambda", "epsilon": "epsilon",
           "delta": "delta", "flips": "flips", "iterations": "K"}


def method_knobs(method):
    """The method's own knobs, as they are searched, from its knobs in the
    registry (`keras_adrop.tasks.methods`, `Method.knobs`):

    - `recurrent_dropout`, the rate p, of a method whose only regularizer
      is its random masks (the penalty methods keep the baseline's p);
    - `kappa`, the weight of a penalty between two random-mask passes;
    - adversarial dropout's budget with its lambda (`penalty_weight`):
      `flips`, a whole number of units with K fixed by the method
      (`delta = flips / units`, the search space of
      `keras_adrop.tuners.AdversarialDropoutHyperModel`), or
      DropConnect's `delta`;
    - `epsilon` of an embedding perturbation (its lambda is searched only
      beside a dropout budget).

    Raises:
        ValueError: for a method the registry does not know.
    """
    knobs = get_method(method).knobs
    searched = []
    if knobs.recurrent_dropout and knobs.penalty_weight is None:
        searched.append("recurrent_dropout")
    if knobs.penalty_weight == "kappa":
        searched.append("kappa")
    if knobs.delta == "flips":
        searched += ["flips", "penalty_weight"]
    elif knobs.delta == "dropconnect":
        searched += ["delta", "penalty_weight"]
    if knobs.epsilon:
        searched.append("epsilon")
    return tuple(searched)


def part_units(part, quick):
    """The LSTM width of the part's runs (its `--units`, else the
    example's default)."""
    options = part_options(part, quick, tuned=True)
    if "--units" in options:
        return int(options[options.index("--units") + 1])
    script = PARTS[part]["script"]
    if script == "imdb_sentiment.py":
        from keras_adrop.tasks import text_classification

        return presets.TEXT_CLASSIFICATION[
            "quick" if quick else "default"]["units"]
    if script == "forecasting.py":
        return 8 if quick else 64
    from keras_adrop.tasks import sequence_classification

    return presets.SEQUENCE_CLASSIFICATION[
        "quick" if quick else "default"]["units"]


def _width_model(units):
    """A compiled model whose one keras_adrop LSTM has the part's width:
    what the hypermodel reads the units of."""
    import keras

    from keras_adrop import layers

    inputs = keras.Input((2, 1))
    outputs = keras.layers.Dense(1)(layers.LSTM(units)(inputs))
    model = keras.Model(inputs, outputs)
    model.compile("adam", "mse")
    return model


def search_space(part, method, quick=False):
    """The method's search space: `(keras_tuner.HyperParameters, units)`.

    Adversarial dropout's `flips` and lambda are declared by
    `keras_adrop.tuners.AdversarialDropoutHyperModel` (`build` on a model
    with the part's LSTM width; K fixed by the method).
    """
    import keras_tuner

    hp = keras_tuner.HyperParameters()
    units = part_units(part, quick)
    knobs = method_knobs(method)
    if "flips" in knobs:
        from keras_adrop import regularizers, tuners

        k, = {r.iterations for r in get_method(method).regularizers
              if isinstance(r, regularizers.AdversarialDropout)}
        low, high, _ = RANGES["penalty_weight"]
        tuners.AdversarialDropoutHyperModel(
            lambda hp: _width_model(units),
            delta_range=QUICK_DELTA_RANGE if quick else DELTA_RANGE,
            iterations_range=(k, k), penalty_weight_range=(low, high),
            seed=TUNE_SEED).build(hp)
    for name in knobs:
        if name in ("flips", "penalty_weight") and "flips" in knobs:
            continue  # declared by the hypermodel
        low, high, sampling = RANGES[name]
        hp.Float(name, low, high, sampling=sampling)
    return hp, units


def describe_space(hp, units):
    """The search space as JSON: one dict per hyperparameter."""
    space = []
    for item in hp.space:
        config = item.get_config()
        entry = {"name": config["name"], "type": type(item).__name__,
                 "min": config["min_value"], "max": config["max_value"],
                 "sampling": config.get("sampling") or "linear"}
        if entry["name"] == "flips":
            entry.update(units=units, delta=[entry["min"] / units,
                                              entry["max"] / units])
        space.append(entry)
    return space


def trial_plan(hp, trials):
    """The values of the first `trials` trials of the method's random
    search: KerasTuner's `RandomSearchOracle`, seeded with `TUNE_SEED`.

    The same values in the same order on every call (and machine), so a
    resumed tune runs exactly the trials that are missing, and a larger
    `--trials` extends the same sequence. Fewer when the space has fewer
    distinct points.
    """
    import keras_tuner

    oracle = keras_tuner.oracles.RandomSearchOracle(
        objective=keras_tuner.Objective("objective", "min"),
        max_trials=trials, seed=TUNE_SEED, hyperparameters=hp)
    plan = []
    for index in range(trials):
        proposal = oracle.populate_space(f"{index:02d}")
        if proposal["status"] != "RUNNING":  # the space is used up
            break
        plan.append({k: (int(v) if isinstance(v, int) else float(v))
                     for k, v in proposal["values"].items()})
    return plan


def settings_of(values, units):
    """Example settings of sampled values: `{setting: value}`.

    `flips` becomes `delta = flips / units`; `iterations` (K) is fixed by
    the method's name and not passed; floats keep 4 significant digits.
    """
    settings = {}
    for name, value in values.items():
        if name == "iterations":
            continue
        if name == "flips":
            settings["delta"] = value / units
        else:
            settings[name] = float(f"{value:.4g}")
    return settings


def part_flags(part, method):
    """The example option of each setting for `method` in `part`: `FLAGS`,
    unless the part's example names it otherwise (`PARTS[part]["flags"]`,
    e.g. PTB's `--fraternal-weight`)."""
    return {**FLAGS, **PARTS[part].get("flags", {}).get(method, {})}


def with_settings(options, settings, flags=None):
    """`options` with each setting's example option set to its value:
    replaced where the frozen options hold it, else appended. `flags`:
    setting -> option (default `FLAGS`)."""
    flags = FLAGS if flags is None else flags
    return with_options(options, {flags[name]: repr(float(value))
                                  for name, value in settings.items()})


def tuning_dir(results_dir, part, method):
    return pathlib.Path(results_dir, part, "tuning", method).resolve()


def trial_path(results_dir, part, method, index):
    return tuning_dir(results_dir, part, method) / f"trial{index:02d}.json"


def tuned_path(results_dir, part, method):
    return pathlib.Path(results_dir, part, "tuned", f"{method}.json").resolve()


def write_json(path, value):
    """Writes atomically: an interrupted write leaves no half file."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(value, indent=1) + "\n")
    os.replace(tmp, path)


def run_trial(part, method, index, values, units, args):
    """Runs one trial (the example with --no-test) and saves its JSON.

    Returns:
        The trial's record: values, settings, objective, best epoch,
        validation curve, time and command.
    """
    spec = PARTS[part]
    key, direction = spec["objective"]
    settings = settings_of(values, units)
    options = with_settings(part_options(part, args.quick, trial=True),
                            settings, part_flags(part, method)) + [
                                "--no-test"]
    path = trial_path(args.results_dir, part, method, index)
    path.parent.mkdir(parents=True, exist_ok=True)
    log_path = path.with_suffix(".log.txt")
    started = time.time()
    with tempfile.TemporaryDirectory() as output_dir:
        command = example_command(part, method, TRIAL_SEED, options,
                                  output_dir)
        print(f"[{time.strftime('%H:%M:%S')}] {part} {method} trial "
              f"{index}: {settings}", flush=True)
        with open(log_path, "w") as log:
            completed = subprocess.run(command, stdout=log,
                                       stderr=subprocess.STDOUT, cwd=REPO)
        saved = pathlib.Path(output_dir, "results.json")
        if completed.returncode != 0 or not saved.exists():
            raise RuntimeError(
                f"{part} {method} trial {index} failed (exit "
                f"{completed.returncode}); see {log_path}.")
        run = method_entry(json.loads(saved.read_text()), method)
    tested = sorted(k for k in run if k.startswith("test"))
    if tested:
        raise RuntimeError(f"{part} {method} trial {index} wrote test "
                           f"metrics {tested}: a trial must not read the "
                           "test set (--no-test).")
    curve = spec.get("tuned_curve", spec["curve"])[0]
    trial = {
        "part": part, "method": method, "trial": index, "values": values,
        "settings": settings,
        "objective": {"name": key, "direction": direction,
                      "value": float(run[key])},
        "best_epoch": run.get("best_epoch"),
        "epochs": len(run["history"]["loss"]),
        "validation_curve": {curve: run["history"].get(curve)},
        "seconds": time.time() - started,
        "training_minutes": training_minutes(run),
        "seed": TRIAL_SEED,
        "command": shown(command[:-2]),  # without the temporary directory
    }
    write_json(path, trial)
    return trial


def tune_method(part, method, args):
    """Runs the missing trials of one method and freezes the best setting.

    Finished trials (saved JSON) are read, not rerun; a saved trial whose
    values differ from the search's plan (another space or seed) is an
    error. The best trial's settings, the search space and every trial's
    objective go to `<results-dir>/<part>/tuned/<method>.json`.

    Returns:
        The tuned record.
    """
    spec = PARTS[part]
    key, direction = spec["objective"]
    frozen = part_options(part, args.quick, trial=True)
    record = {
        "part": part, "method": method, "objective": {
            "name": key, "direction": direction},
        "search": f"keras_tuner RandomSearchOracle, seed {TUNE_SEED}, "
                  f"{args.trials} trials per method",
        "trials_planned": args.trials,
        "trial_seed": TRIAL_SEED, "frozen_options": frozen,
        "tune_command": "python examples/replicate.py --tune --parts "
                        f"{part} --trials {args.trials}"
                        + (" --quick" if args.quick else ""),
    }
    if not method_knobs(method):
        record.update(settings={}, search_space=[], trials=[],
                      note="no knob of its own: no trial")
        write_json(tuned_path(args.results_dir, part, method), record)
        print(f"{part} {method}: no knob of its own, no trial.", flush=True)
        return record
    hp, units = search_space(part, method, args.quick)
    trials = []
    for index, values in enumerate(trial_plan(hp, args.trials)):
        path = trial_path(args.results_dir, part, method, index)
        if path.exists():
            trial = json.loads(path.read_text())
            if trial["values"] != values:
                raise RuntimeError(
                    f"{path} holds values {trial['values']}, but trial "
                    f"{index} of this search is {values}: the search space "
                    "or its seed changed. Move the old trials away.")
        else:
            trial = run_trial(part, method, index, values, units, args)
        trials.append(trial)
    sign = 1.0 if direction == "min" else -1.0
    best = min(trials, key=lambda t: (sign * t["objective"]["value"],
                                      t["trial"]))
    record["objective"]["value"] = best["objective"]["value"]
    record.update(
        settings=best["settings"], values=best["values"],
        best_trial=best["trial"], units=units,
        search_space=describe_space(hp, units),
        trials=[{"trial": t["trial"], "settings": t["settings"],
                 "objective": t["objective"]["value"],
                 "best_epoch": t["best_epoch"]} for t in trials],
        command=best["command"])
    write_json(tuned_path(args.results_dir, part, method), record)
    print(f"{part} {method}: tuned {best['settings']} ({key} "
          f"{best['objective']['value']:.4g}, trial {best['trial']} of "
          f"{len(trials)}).", flush=True)
    return record


def tune(part, args):
    """The tuning stage of a part: every (chosen) method's trials."""
    return {method: tune_method(part, method, args)
            for method in PARTS[part]["methods"]
            if not args.methods or method in args.methods}


def tuned_records(results_dir, part):
    """`{method: tuned record}` of the part's frozen settings (part order)."""
    records = {}
    for method in PARTS[part]["methods"]:
        path = tuned_path(results_dir, part, method)
        if path.exists():
            records[method] = json.loads(path.read_text())
    return records


def plot_curves(runs, path, title, curve,
                loss_name="training cross-entropy"):
    """Mean validation and training curves per epoch (band: the seeds'
    range); `curve` is `(history key, axis label)`, an accuracy drawn as an
    error in percent; `loss_name` labels the training loss."""
    key, label = curve
    panels = [
        reporting.Panel(key, label, title, transform=(
            reporting.error_percent if "accuracy" in key else None)),
        reporting.Panel(reporting.supervised_loss, loss_name,
                        "Training loss (supervised part)"),
    ]
    reporting.plot_curves(
        {method: [run["history"] for run in by_seed.values()]
         for method, by_seed in runs.items()}, path, panels, dpi=100)


def training_minutes(run):
    """Wall-clock minutes a run spent in its training epochs."""
    seconds = run.get("epoch_seconds") or run["history"].get("epoch_seconds")
    if seconds is None:  # older runs: the median epoch times the epochs
        seconds = [run["train_seconds_per_epoch"]] * len(
            run["history"]["loss"])
    return float(np.sum(seconds)) / 60.0


def section_title(part, args, tuned=False):
    """The heading of a part's section (without `## `)."""
    title = (f"Smoke run (--quick): {part}" if args.quick
             else PARTS[part]["title"])
    return title + (", at tuned settings" if tuned else "")


def part_section(part, runs, args, figure, tuned=None):
    """The part's table, its order against the paper's, the paired tests.

    With `tuned` (`{method: tuned record}`) the section is the one of the
    runs at tuned settings, with the table of those settings.
    """
    spec = PARTS[part]
    metric, name = spec["metric"], spec["metric_name"]
    options = part_options(part, args.quick, tuned=tuned is not None)
    lines = [f"## {section_title(part, args, tuned is not None)}", "",
             f"| method | seeds | {name} (mean ± std) | min | max | paper "
             "| s/epoch | training min/run |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    rows = summary_rows(runs, metric)
    total = 0.0
    for method, n, mean, std, low, high, seconds in rows:
        minutes = [training_minutes(r) for r in runs[method].values()]
        total += sum(minutes)
        paper = spec["paper"].get(method)
        lines.append(
            f"| {method} | {n} | {mean:.2f}"
            + (f" ± {std:.2f}" if n > 1 else "") + f" | {low:.2f} "
            f"| {high:.2f} | {'-' if paper is None else paper} "
            f"| {seconds:.1f} | {np.mean(minutes):.1f} |")
    order = [row[0] for row in sorted(rows, key=lambda row: row[2])]
    paper_order = sorted(spec["paper"], key=spec["paper"].get)
    lines += ["", "Observed order, best mean first: " + " < ".join(order)
              + (f". The paper's order ({spec['paper_table']}): "
                 + " < ".join(paper_order) if paper_order else "") + ".",
              "", f"Training time of the saved runs: {total / 60:.1f} "
              "hours (wall-clock, one process at a time on the 2-core "
              "machine; evaluation not included).",
              "", "Paired by seed (same data subset and initial weights); "
              "difference = method - baseline, negative favours the "
              "method:", "",
              "| method vs baseline | mean diff | std | wins | paired t p "
              "| Wilcoxon p |", "|---|---:|---:|---:|---:|---:|"]

    def fmt(value, digits=3):
        return "n/a" if value is None else f"{value:.{digits}f}"

    for method, baseline in spec["comparisons"]:
        if method not in runs or baseline not in runs:
            continue
        c = paired_comparison(runs, metric, method, baseline)
        lines.append(f"| {method} vs {baseline} | {fmt(c['mean'], 2)} "
                     f"| {fmt(c['std'], 2)} | {c['wins']}/{len(c['seeds'])} "
                     f"| {fmt(c['t_p'])} | {fmt(c['wilcoxon_p'])} |")
    lines += ["", *validation_turn(runs)]
    seed_option = spec.get("seed_option", "--seed")
    lines += ["", f"![learning curves]({figure})", "",
              "Command of every run (the seed varies"
              + ("; each method adds its tuned options, below" if tuned
                 else "") + "): `python "
              f"examples/{spec['script']} {' '.join(options)} "
              f"--methods <method> {seed_option} <seed>`.", ""]
    if tuned is not None:
        lines += tuned_table(part, tuned, args)
    return lines


def validation_turn(runs, method="unregularized"):
    """A line saying whether `method`'s validation loss turned up (the
    runs are long enough for regularization to matter) or still fell."""
    histories = [run["history"] for run in runs.get(method, {}).values()]
    if not histories or any("val_loss" not in h for h in histories):
        return []
    best, last, epochs = [], [], []
    for history in histories:
        losses = np.asarray(history["val_loss"], dtype="float64")
        best.append(int(np.argmin(losses)) + 1)
        last.append(float(losses[-1] / np.min(losses)))
        epochs.append(len(losses))
    turned = sum(b < e for b, e in zip(best, epochs))
    verdict = ("it turned up in every run" if turned == len(best)
               else f"it turned up in {turned} of {len(best)} runs")
    return [f"Overfitting check: the {method} model's validation loss was "
            f"lowest at epoch {int(np.median(best))} of "
            f"{int(np.median(epochs))} (median over seeds), and the last "
            f"epoch's is {np.median(last):.2f}x the lowest: {verdict}."]


def _number(value):
    return f"{value:.3g}"


def format_settings(record):
    """A tuned record's settings as the report shows them."""
    if not record["settings"]:
        return "none (no knob of its own)"
    parts = []
    for name, value in record["settings"].items():
        text = f"{SYMBOLS[name]} {_number(value)}"
        if name == "delta" and "flips" in record.get("values", {}):
            text += (f" ({record['values']['flips']} of "
                     f"{record['units']} units)")
        parts.append(text)
    return ", ".join(parts)


def format_space(record):
    """A tuned record's search space as the report shows it."""
    if not record["search_space"]:
        return "-"
    parts = []
    for item in record["search_space"]:
        name = SYMBOLS.get(item["name"], item["name"])
        if item["min"] == item["max"]:
            parts.append(f"{name} = {item['min']} (fixed)")
        elif item["name"] == "flips":
            parts.append(f"flips {item['min']}-{item['max']} of "
                         f"{item['units']} units (delta "
                         f"{_number(item['delta'][0])}-"
                         f"{_number(item['delta'][1])})")
        else:
            parts.append(f"{name} {_number(item['min'])}-"
                         f"{_number(item['max'])}"
                         + (" (log)" if item["sampling"] == "log" else ""))
    return "; ".join(parts)


def option_values(options):
    """`{flag: value}` of an example's options; None for a flag without a
    value (e.g. `--verbose`)."""
    values = {}
    for i, word in enumerate(options):
        if word.startswith("--"):
            following = options[i + 1] if i + 1 < len(options) else None
            values[word] = (None if following is None
                            or following.startswith("--") else following)
    return values


def trial_schedule(part, tuned):
    """The sentence saying which options the trials of `tuned` (records
    of `part`) ran otherwise than its seed runs (PTB's shorter schedule),
    or ""; read from the records' `frozen_options`, what the trials ran."""
    trial = option_values(next(iter(tuned.values()))["frozen_options"])
    seeds = option_values(part_options(part, quick=False, tuned=True))
    changed = [flag for flag in trial if trial[flag] != seeds.get(flag)]
    if not changed:
        return ""
    return (" Trials ran "
            + ", ".join(f"`{flag} {trial[flag]}`" for flag in changed)
            + " where the seed runs ran "
            + ", ".join(f"`{flag} {seeds.get(flag)}`" for flag in changed)
            + ".")


def tuned_table(part, tuned, args):
    """The table of a part's tuned settings and their search spaces."""
    key, direction = PARTS[part]["objective"]
    planned = max(r.get("trials_planned", 0) for r in tuned.values())
    tuned_dir = os.path.relpath(
        tuned_path(args.results_dir, part, "method").parent, REPO)
    lines = [f"Tuned settings: {planned} random-search trials per method "
             f"(KerasTuner's `RandomSearchOracle`, seed "
             f"{TUNE_SEED}) for every method, over its own knobs only, each "
             f"trial one run at seed {TRIAL_SEED} with `--no-test`, "
             f"selected on `{key}` ({direction}); saved in "
             f"`{tuned_dir}/<method>.json` with every trial."
             + trial_schedule(part, tuned), "",
             f"| method | tuned setting | search space | trials | best "
             f"{key} | every trial's {key} |",
             "|---|---|---|---:|---:|---|"]
    for method, record in tuned.items():
        values = [t["objective"] for t in record["trials"]]
        best = record["objective"].get("value")
        lines.append(
            f"| {method} | {format_settings(record)} "
            f"| {format_space(record)} | {len(values)} "
            f"| {'-' if best is None else _number(best)} "
            f"| {', '.join(_number(v) for v in values) or '-'} |")
    command = next((r["tune_command"] for r in tuned.values()), None)
    if command:
        lines += ["", f"Tuned by `{command}`."]
    return lines + [""]


NOTES_BEGIN = "<!-- notes: kept when the report is rewritten -->"
NOTES_END = "<!-- end of notes -->"


def kept_notes(report):
    """The hand-written block of an existing report, or a placeholder."""
    if report.exists():
        text = report.read_text()
        if NOTES_BEGIN in text and NOTES_END in text:
            start = text.index(NOTES_BEGIN)
            return text[start:text.index(NOTES_END) + len(NOTES_END)]
    return "\n".join([NOTES_BEGIN, "(No reading of these results yet.)",
                      NOTES_END])


def kept_section(report, title):
    """The section `## <title>` of an existing report (its lines, up to the
    next `## ` heading), or [] when there is none.

    A part whose runs were not saved (the MNIST runs before issue 15) keeps
    the section that an earlier report wrote from them, word for word.
    """
    if not report.exists():
        return []
    lines = report.read_text().splitlines()
    heading = f"## {title}"
    if heading not in lines:
        return []
    start = lines.index(heading)
    end = next((i for i in range(start + 1, len(lines))
                if lines[i].startswith("## ")), len(lines))
    return lines[start:end]


def write_report(sections, args, started):
    header = [
        "# Results: the paper's comparison at CPU scale", "",
        "Made by `python examples/replicate.py "
        + " ".join(args.argv) + "`"
        + (" from the runs that `python examples/replicate.py --parts "
           "<part>` saved" if args.report_only else "")
        + f" on {datetime.date.today().isoformat()}, {platform.machine()} "
        f"with {os.cpu_count()} CPU cores, Python "
        f"{platform.python_version()}; this invocation took "
        f"{(time.time() - started) / 60:.0f} min (runs already saved were "
        "read, not rerun). Seconds per epoch are wall-clock on a shared "
        "machine and only roughly comparable.", "",
    ]
    report = pathlib.Path(args.report)
    report.parent.mkdir(parents=True, exist_ok=True)
    notes = ["## Reading", "", kept_notes(report), ""]
    report.write_text("\n".join(header + notes + sections) + "\n")
    print(f"Wrote {report}")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=(
            "Rerun the paper's comparison at CPU scale (resumable; saved "
            "runs are skipped) and write the report."))
    parser.add_argument("--parts", default=",".join(PARTS),
                        help=f"Comma-separated parts from {list(PARTS)}.")
    parser.add_argument("--seeds", type=int, default=5,
                        help="Seeds 0..n-1 of every method (default 5; a "
                        "part may cap a method at fewer, see PARTS).")
    parser.add_argument("--methods",
                        help="Comma-separated methods to run (default: "
                        "all of each part); the report still shows every "
                        "saved run.")
    parser.add_argument("--results-dir",
                        help="Where runs are saved (default "
                        "results/replicate, or results/replicate_quick with "
                        "--quick).")
    parser.add_argument("--report",
                        help="The report to write (default docs/results.md; "
                        "with --quick, results.md in the results directory).")
    parser.add_argument("--quick", action="store_true",
                        help="Smoke run: tiny runs, at most 2 seeds, saved "
                        "apart from the real runs.")
    parser.add_argument("--report-only", action="store_true",
                        help="Only rewrite the report from saved runs.")
    parser.add_argument("--tune", action="store_true",
                        help="The tuning stage only: run each method's "
                        "missing trials (saved ones are skipped) and freeze "
                        "its best setting in <results-dir>/<part>/tuned/"
                        "<method>.json; no seed run, no report.")
    parser.add_argument("--trials", type=int, default=DEFAULT_TRIALS,
                        help="Trials per method with --tune, the same for "
                        f"every method (default {DEFAULT_TRIALS}; at most "
                        f"{QUICK_TRIALS} with --quick).")
    parser.add_argument("--untuned", action="store_true",
                        help="Run the part's frozen options even where "
                        "tuned settings exist (the protocol before tuning).")
    parser.add_argument("--tuned-results-dir",
                        help="Where the runs at tuned settings are saved "
                        "(default: the results directory's name + "
                        "'_tuned', e.g. results/replicate_tuned).")
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args.parts = check_choices("--parts", args.parts, list(PARTS))
        known = list(dict.fromkeys(
            m for part in args.parts for m in PARTS[part]["methods"]))
        args.methods = (check_choices("--methods", args.methods, known)
                        if args.methods else [])
    except ValueError as error:
        parser.error(str(error))
    if args.seeds < 1:
        parser.error(f"--seeds must be >= 1; got {args.seeds}.")
    if args.trials < 1:
        parser.error(f"--trials must be >= 1; got {args.trials}.")
    if args.tune and (args.report_only or args.untuned):
        parser.error("--tune runs trials only: it excludes --report-only and "
                     "--untuned.")
    if args.quick:
        args.seeds = min(args.seeds, 2)
        args.trials = min(args.trials, QUICK_TRIALS)
    if args.results_dir is None:
        args.results_dir = str(
            REPO / "results" / ("replicate_quick" if args.quick
                                else "replicate"))
    if args.tuned_results_dir is None:
        args.tuned_results_dir = str(args.results_dir).rstrip("/\\") + "_tuned"
    if args.report is None:
        args.report = (os.path.join(args.results_dir, "results.md")
                       if args.quick else str(REPO / "docs" / "results.md"))
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.tune:
        for part in args.parts:
            tune(part, args)
        return
    started = time.time()
    sections = []
    report = pathlib.Path(args.report)
    figures = report.parent / "figures"
    for part in args.parts:
        spec = PARTS[part]
        tuned = tuned_records(args.results_dir, part)
        # A part with tuned settings runs them (its methods without any are
        # left out until tuned); --untuned runs the frozen options.
        use_tuned = bool(tuned) and not args.untuned
        if use_tuned and not args.report_only:
            missing = [m for m in spec["methods"] if m not in tuned
                       and (not args.methods or m in args.methods)]
            if missing:
                print(f"{part}: no tuned settings for {missing}: not run "
                      "(run --tune first, or --untuned).", flush=True)
        runs = collect(part, range(args.seeds), args,
                       run_missing=not args.report_only and not use_tuned)
        tuned_runs = {}
        if tuned:
            tuned_runs = collect(
                part, range(args.seeds), args, tuned=tuned,
                run_missing=not args.report_only and use_tuned)
        for is_tuned, part_runs in ((False, runs), (True, tuned_runs)):
            title = section_title(part, args, is_tuned)
            if not part_runs:
                if is_tuned and tuned:  # settings, no run yet
                    sections += [f"## {title}", "", "No run at the tuned "
                                 "settings yet.", ""]
                    sections += tuned_table(part, tuned, args)
                else:
                    sections += kept_section(report, title)
                continue
            figures.mkdir(parents=True, exist_ok=True)
            figure = figures / (f"replication_{part}"
                                + ("_tuned" if is_tuned else "") + ".png")
            curve = spec["curve"]
            if is_tuned:
                curve = spec.get("tuned_curve", curve)
            plot_curves(part_runs, figure, spec["title"].split(",")[0],
                        curve, spec.get("loss_name",
                                        "training cross-entropy"))
            relative = os.path.relpath(figure, report.parent)
            sections += part_section(part, part_runs, args, relative,
                                     tuned=tuned if is_tuned else None)
    write_report(sections, args, started)


if __name__ == "__main__":
    main()
