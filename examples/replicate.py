"""The paper's comparison at CPU scale, resumable, written to docs/results.md.

Park et al. (AAAI 2019) claim an ordering of test errors: unregularized >
variational dropout > fraternal dropout > adversarial dropout K=1 > K=2
(Table 1, sequential MNIST), and similar orderings on IMDB (Table 2) and
Penn Treebank (Table 3). This script reruns that comparison with the
examples of this repository and writes what came out, whatever it is.

Parts (`--parts`, default all; `examples/replication/parts.py` holds each
one's options), each seed-paired: seed k draws the data subset and initial
weights that every method of the part shares, so methods are compared in
pairs (paired t-test and Wilcoxon signed-rank test):

- `mnist`: the six methods of `examples/sequential_mnist.py` on real MNIST
  read row by row (28 steps of 28 pixels) with 5,000 training images, 5
  seeds. The 784-step task of the paper costs ~3 min per plain epoch and
  ~9 min per adversarial epoch here; rows converge in minutes, and 5,000
  images overfit enough for regularization to matter.
- `imdb`: `examples/imdb_sentiment.py` on 10,000 training and 10,000 test
  reviews (the seeded split of the wheel's copy), 6 epochs: unregularized,
  variational, fraternal, adversarial K=1 and K=2 on 5 seeds, VAT and
  adversarial K=2 + VAT on 3.
- `ptb`: `examples/ptb_language_model.py` on the full PTB training set with
  a 2 x 128 AWD-style LSTM for 8 epochs (XLA-compiled steps): variational,
  fraternal, adversarial dropout on `h_{t-1}` (K=1) and adversarial
  DropConnect (the authors' recipe), 2 seeds; at tuned settings also
  unregularized (AWD's dropouts only), and a third seed for every method
  but fraternal. No model overfits there in 8 epochs.
- `ptb_100k`: the same model and tuned recipe on the first 100,000
  training tokens for 32 epochs, where the unregularized model overfits
  (docs/ptb.md, "How long to train"); tuned protocol only, its trials on
  the seed runs' schedule.
- `seattle`: `examples/forecasting.py`, the next day's maximum temperature
  in Seattle (regression, squared-error loss and penalties): an LSTM 64
  reads 28 days, trained on 2012-2013, validated on 2014 (best epoch),
  test MAE in degrees C on 2015; unregularized, variational, fraternal,
  adversarial K=1 and K=2, 5 seeds.

Two protocols. Before tuning, every method ran the part's frozen options
(`--untuned`, saved under `results/replicate/`). The tuned protocol of
issue 24 first gives every method the same number of trials (`--tune
--trials N`) of a random search over its own knobs only, on validation
data (`examples/replication/tuning.py` lists them), and freezes each
method's best setting; a sitting of that part then runs the tuned methods
at their settings, saved under `results/replicate_tuned/`. Part `ptb`'s
trials run its recipe on a shorter schedule (3 of the 8 epochs); the
report says so.

Every run and trial is saved as it finishes and skipped when saved, so a
replication resumes where it stopped, on any machine (commit the JSON).
Spread a part over sittings of at most ~3 CPU-hours with `--seeds` and
`--methods`; the report says what each saved run cost (in all, on 2 cores:
seattle under 1 hour, mnist ~2, imdb ~10 with `--trials 4`, ptb ~1.6 of
trials with `--trials 4` plus ~1.2 per seed of its five methods, ptb_100k
~2 of trials plus ~0.6 per seed).
`--report-only` rewrites the report from the saved runs. Do not pin a run
to one core (`taskset -c 1`): Keras' `fit` input pipeline then stalls; the
two cores are for one run at a time.

    python examples/replicate.py --tune --parts imdb --trials 4
    python examples/replicate.py --parts imdb --seeds 5
    python examples/replicate.py --parts ptb --seeds 1 --methods variational
    python examples/replicate.py --report-only            # docs/results.md
    python examples/replicate.py --quick                  # smoke run
    python examples/replicate.py --quick --tune --parts mnist  # smoke tune
"""

import argparse
import os
import pathlib
import sys
import time

# `python examples/replicate.py` puts examples/ on the path, not the
# repository root that `examples.replication` lives under.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from examples.replication import report  # noqa: E402
from examples.replication import seed_runs  # noqa: E402
from examples.replication import tuning  # noqa: E402
from examples.replication.parts import PARTS  # noqa: E402
from examples.replication.parts import REPO  # noqa: E402
from keras_adrop.arguments import check_choices  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=(
            "Rerun the paper's comparison at CPU scale (resumable; saved "
            "runs are skipped) and write the report."))
    parser.add_argument("--parts", default=",".join(PARTS),
                        help=f"Comma-separated parts from {list(PARTS)}.")
    parser.add_argument("--seeds", type=int, default=5,
                        help="Seeds 0..n-1 of every method (default 5; a "
                        "part may cap a method at fewer: its 'seeds' in "
                        "examples/replication/parts.py).")
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
    parser.add_argument("--trials", type=int, default=tuning.DEFAULT_TRIALS,
                        help="Trials per method with --tune, the same for "
                        f"every method (default {tuning.DEFAULT_TRIALS}; at "
                        f"most {tuning.QUICK_TRIALS} with --quick).")
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
        args.trials = min(args.trials, tuning.QUICK_TRIALS)
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
            tuning.tune(part, args)
        return
    started = time.time()
    running = not args.report_only
    sections = []
    for part in args.parts:
        tuned = tuning.tuned_records(args.results_dir, part)
        # A part with tuned settings runs them (its methods without any are
        # left out until tuned); --untuned runs the frozen options.
        use_tuned = bool(tuned) and not args.untuned
        if use_tuned and running:
            missing = [m for m in PARTS[part]["methods"] if m not in tuned
                       and (not args.methods or m in args.methods)]
            if missing:
                print(f"{part}: no tuned settings for {missing}: not run "
                      "(run --tune first, or --untuned).", flush=True)
        seeds = range(args.seeds)
        untuned_runs = seed_runs.collect(part, seeds, args,
                                    run_missing=running and not use_tuned)
        tuned_runs = (seed_runs.collect(part, seeds, args, tuned=tuned,
                                   run_missing=running and use_tuned)
                      if tuned else {})
        sections += report.part_sections(part, untuned_runs, tuned_runs,
                                         tuned, args)
    report.write_report(sections, args, started)


if __name__ == "__main__":
    main()
