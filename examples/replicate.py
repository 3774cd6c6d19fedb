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
  DropConnect (the authors' recipe), 2 seeds. About 2 hours per seed on
  the two cores (measured on seed 0: 14, 25, 33-42 and 32 minutes of
  training epochs); one sitting per seed.

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
"""

import argparse
import datetime
import json
import os
import pathlib
import platform
import subprocess
import sys
import time

import numpy as np

from keras_adrop import reporting
from keras_adrop.reporting import paired_comparison
from keras_adrop.reporting import summary_rows

EXAMPLES = pathlib.Path(__file__).resolve().parent
REPO = EXAMPLES.parent

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
        "args": ["--train-size", "10000", "--test-size", "10000",
                 "--unlabeled-size", "10000", "--epochs", "6"],
        "quick_args": ["--quick", "--data", "synthetic"],
        "metric": "test_error_percent",
        "metric_name": "test error %",
        "curve": ("val_accuracy", "test error (%)"),
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
        "args": ["--embedding-dim", "128", "--units", "128",
                 "--batch-size", "32", "--train-tokens", "0",
                 "--eval-tokens", "0", "--epochs", "8",
                 "--learning-rate", "3e-3", "--jit-compile", "true",
                 "--embedding-dropout", "0", "--input-dropout", "0.1",
                 "--hidden-dropout", "0.1", "--output-dropout", "0.1",
                 "--weight-dropout", "0.1"],
        "quick_args": ["--quick"],
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
}


def run_path(results_dir, part, method, seed):
    return pathlib.Path(results_dir, part, method, f"seed{seed}",
                        "results.json").resolve()


def saved_run(results_dir, part, method, seed):
    """The saved metrics of a run (the example's entry for `method`), or None."""
    path = run_path(results_dir, part, method, seed)
    if not path.exists():
        return None
    return json.loads(path.read_text())["methods"][method]


def run_one(part, method, seed, args):
    """Runs one (part, method, seed) in a fresh process and saves it.

    Returns:
        The run's metrics dict (the example's entry for `method`).
    """
    path = run_path(args.results_dir, part, method, seed)
    spec = PARTS[part]
    options = spec["quick_args"] if args.quick else spec["args"]
    command = [sys.executable, str(EXAMPLES / spec["script"]),
               *options, "--methods", method, "--seed", str(seed),
               "--output-dir", str(path.parent)]
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
    return saved_run(args.results_dir, part, method, seed)


def collect(part, seeds, args):
    """Reads every saved run of a part and runs the missing ones.

    With `--report-only` the missing runs are left out instead.

    Returns:
        `{method: {seed: metrics}}`, methods in the part's order (the
        paper's), without methods that have no run.
    """
    spec = PARTS[part]
    runs = {method: {} for method in spec["methods"]}
    # Seed-major order: after each seed, all methods have a paired result,
    # so an interrupted replication is still a balanced comparison.
    for seed in seeds:
        for method in spec["methods"]:
            if seed >= spec.get("seeds", {}).get(method, len(seeds)):
                continue
            run = saved_run(args.results_dir, part, method, seed)
            wanted = not args.methods or method in args.methods
            if run is None and wanted and not args.report_only:
                run = run_one(part, method, seed, args)
            if run is not None:
                runs[method][seed] = run
    return {method: by_seed for method, by_seed in runs.items() if by_seed}


def plot_curves(runs, path, title, curve):
    """Mean validation and training curves per epoch (band: the seeds'
    range); `curve` is `(history key, axis label)`, an accuracy drawn as an
    error in percent."""
    key, label = curve
    panels = [
        reporting.Panel(key, label, title, transform=(
            reporting.error_percent if "accuracy" in key else None)),
        reporting.Panel(reporting.supervised_loss, "training cross-entropy",
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


def part_section(part, runs, args, figure):
    """The part's table, its order against the paper's, the paired tests."""
    spec = PARTS[part]
    metric, name = spec["metric"], spec["metric_name"]
    options = spec["quick_args"] if args.quick else spec["args"]
    title = f"Smoke run (--quick): {part}" if args.quick else spec["title"]
    lines = [f"## {title}", "",
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
              + f". The paper's order ({spec['paper_table']}): "
              + " < ".join(paper_order) + ".",
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
    lines += ["", f"![learning curves]({figure})", "",
              "Command of every run (the seed varies): `python "
              f"examples/{spec['script']} {' '.join(options)} "
              "--methods <method> --seed <seed>`.", ""]
    return lines


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
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    args.parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = sorted(set(args.parts) - set(PARTS))
    if unknown or not args.parts:
        parser.error(f"--parts: unknown {unknown}; choose from {list(PARTS)}.")
    args.methods = [m.strip() for m in (args.methods or "").split(",")
                    if m.strip()]
    known = {m for part in args.parts for m in PARTS[part]["methods"]}
    if sorted(set(args.methods) - known):
        parser.error(f"--methods: unknown "
                     f"{sorted(set(args.methods) - known)}; the parts "
                     f"{args.parts} have {sorted(known)}.")
    if args.seeds < 1:
        parser.error(f"--seeds must be >= 1; got {args.seeds}.")
    if args.quick:
        args.seeds = min(args.seeds, 2)
    if args.results_dir is None:
        args.results_dir = str(
            REPO / "results" / ("replicate_quick" if args.quick
                                else "replicate"))
    if args.report is None:
        args.report = (os.path.join(args.results_dir, "results.md")
                       if args.quick else str(REPO / "docs" / "results.md"))
    return args


def main(argv=None):
    args = parse_args(argv)
    started = time.time()
    sections = []
    figures = pathlib.Path(args.report).parent / "figures"
    for part in args.parts:
        runs = collect(part, range(args.seeds), args)
        figures.mkdir(parents=True, exist_ok=True)
        figure = figures / f"replication_{part}.png"
        if not runs:
            sections += kept_section(pathlib.Path(args.report),
                                     PARTS[part]["title"])
            continue
        plot_curves(runs, figure, PARTS[part]["title"].split(",")[0],
                    PARTS[part]["curve"])
        relative = os.path.relpath(figure, pathlib.Path(args.report).parent)
        sections += part_section(part, runs, args, relative)
    write_report(sections, args, started)


if __name__ == "__main__":
    main()
