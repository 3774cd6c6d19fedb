"""The paper's comparison at CPU scale, resumable, written to docs/results.md.

Park et al. (AAAI 2019) claim an ordering of test errors: unregularized >
variational dropout > fraternal dropout > adversarial dropout K=1 > K=2
(Table 1, sequential MNIST), and similar orderings on IMDB (Table 2) and
Penn Treebank (Table 3). This script reruns that comparison with the
examples of this repository and writes what came out, whatever it is.

Parts (`--parts`, default all):

- `mnist`: the six methods of `examples/sequential_mnist.py` (unregularized,
  variational, fraternal, expectation-linearization, adversarial K=1 and
  K=2) on real MNIST read row by row (28 steps of 28 pixels) with a training
  subset of 5,000 images, `--seeds` seeds each (default 5). Each seed draws
  its own training subset and initial weights, shared by all methods, so
  methods are compared in pairs. The 784-step task of the paper costs ~3 min
  per plain epoch and ~9 min per adversarial epoch here; rows converge in
  minutes and 5,000 images overfit enough for regularization to matter.
- `imdb`, `ptb`: single-seed CPU-scale runs of `examples/imdb_sentiment.py`
  (2,500 training reviews, 5 epochs) and `examples/ptb_language_model.py`
  (its CPU-scale default) for a few methods.

Every run is a separate process whose result is saved under
`--results-dir/<part>/<method>/seed<k>/results.json`; a run whose file
exists is skipped, so an interrupted replication resumes where it stopped.
`--report-only` rewrites the report from the saved runs.

    python examples/replicate.py                 # everything (~2-3 hours)
    python examples/replicate.py --parts mnist   # only sequential MNIST
    python examples/replicate.py --quick         # smoke run, ~1 minute
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
        "multi_seed": True,
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
        "multi_seed": True,
    },
    "ptb": {
        "script": "ptb_language_model.py",
        "title": "Penn Treebank language model, CPU scale (one seed)",
        "methods": ["variational", "fraternal", "adversarial_k1",
                    "adversarial_k2"],
        # The example's CPU-scale default: 2 x 200 LSTM, bptt 35, the first
        # 400k training tokens, 3 epochs (see its docstring).
        "args": [],
        "quick_args": ["--quick"],
        "metric": "test_perplexity",
        "metric_name": "test perplexity",
        "curve": ("val_perplexity", "validation perplexity"),
        "multi_seed": False,
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
            if run is None and not args.report_only:
                run = run_one(part, method, seed, args)
            if run is not None:
                runs[method][seed] = run
    return {method: by_seed for method, by_seed in runs.items() if by_seed}


def plot_curves(runs, path, title, curve):
    """Mean validation curve per epoch (band: min-max over seeds).

    `curve` is `(history key, axis label)`; an accuracy is drawn as an
    error in percent.
    """
    key, label = curve
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_val, ax_train) = plt.subplots(1, 2, figsize=(11, 4))
    for method, by_seed in runs.items():
        val = np.array([np.array(r["history"][key], dtype=float)
                        for r in by_seed.values()])
        if "accuracy" in key:
            val = 100.0 * (1.0 - val)
        train = np.array([r["history"].get("supervised_loss",
                                           r["history"]["loss"])
                          for r in by_seed.values()])
        epochs = np.arange(1, val.shape[1] + 1)
        line, = ax_val.plot(epochs, val.mean(0), label=method)
        ax_val.fill_between(epochs, val.min(0), val.max(0), alpha=0.15,
                            color=line.get_color())
        ax_train.plot(epochs, train.mean(0), label=method)
    ax_val.set(xlabel="epoch", ylabel=label, yscale="log", title=title)
    ax_train.set(xlabel="epoch", ylabel="training cross-entropy",
                 yscale="log", title="Training loss (supervised part)")
    for ax in (ax_val, ax_train):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def mnist_section(runs, args, figure):
    spec = PARTS["mnist"]
    metric = spec["metric"]
    options = spec["quick_args"] if args.quick else spec["args"]
    title = "Smoke run (--quick)" if args.quick else spec["title"]
    lines = [f"## {title}", ""]
    lines.append("| method | seeds | test error % (mean ± std) | min | max "
                 "| s/epoch |")
    lines.append("|---|---:|---:|---:|---:|---:|")
    for method, n, mean, std, low, high, seconds in summary_rows(runs, metric):
        lines.append(f"| {method} | {n} | {mean:.2f} ± {std:.2f} | {low:.2f} "
                     f"| {high:.2f} | {seconds:.1f} |")
    order = [row[0] for row in sorted(summary_rows(runs, metric),
                                      key=lambda row: row[2])]
    lines += ["", "Observed order, best mean first: " + " < ".join(order)
              + ". The paper's order (Table 1): adversarial_k2 < "
              "adversarial_k1 < fraternal < variational < unregularized."]
    lines += ["", "Paired by seed (same training subset and initial "
              "weights); difference = method - baseline in test-error "
              "points, negative favours the method:", "",
              "| method vs baseline | mean diff | std | wins | paired t p "
              "| Wilcoxon p |", "|---|---:|---:|---:|---:|---:|"]
    for method, baseline in [("adversarial_k1", "variational"),
                             ("adversarial_k2", "variational"),
                             ("adversarial_k2", "adversarial_k1"),
                             ("fraternal", "variational"),
                             ("variational", "unregularized")]:
        if method not in runs or baseline not in runs:
            continue
        c = paired_comparison(runs, metric, method, baseline)

        def fmt(value, digits=3):
            return "n/a" if value is None else f"{value:.{digits}f}"

        lines.append(f"| {method} vs {baseline} | {fmt(c['mean'], 2)} "
                     f"| {fmt(c['std'], 2)} | {c['wins']}/{len(c['seeds'])} "
                     f"| {fmt(c['t_p'])} | {fmt(c['wilcoxon_p'])} |")
    lines += ["", f"![learning curves]({figure})", "",
              "Command of every run (the seed varies): `python "
              f"examples/{spec['script']} {' '.join(options)} "
              "--methods <method> --seed <seed>`.", ""]
    return lines


def single_seed_section(part, runs, args, figure):
    """One row per method: the metric of the one seed and the paper's."""
    spec = PARTS[part]
    options = spec["quick_args"] if args.quick else spec["args"]
    title = f"Smoke run (--quick): {part}" if args.quick else spec["title"]
    lines = [f"## {title}", "",
             f"| method | {spec['metric_name']} | paper | s/epoch "
             "| final train accuracy |", "|---|---:|---:|---:|---:|"]
    for method, by_seed in runs.items():
        run = next(iter(by_seed.values()))
        paper = run.get("paper_error_percent")
        lines.append(
            f"| {method} | {run[spec['metric']]:.2f} | "
            + ("-" if paper is None else f"{paper:.2f}")
            + f" | {run['train_seconds_per_epoch']:.1f} | "
            + (f"{run['final_train_accuracy']:.3f}"
               if "final_train_accuracy" in run else "-") + " |")
    lines += ["", f"![learning curves]({figure})", "",
              "Command of every run: `python "
              f"examples/{spec['script']} {' '.join(options)} "
              "--methods <method> --seed 0`.", ""]
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
                        help="Seeds per method for the mnist part "
                        "(default 5; seeds 0..n-1).")
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
        seeds = range(args.seeds if PARTS[part]["multi_seed"] else 1)
        runs = collect(part, seeds, args)
        figures.mkdir(parents=True, exist_ok=True)
        figure = figures / f"replication_{part}.png"
        if not runs:
            continue
        plot_curves(runs, figure, PARTS[part]["title"].split(",")[0],
                    PARTS[part]["curve"])
        relative = os.path.relpath(figure, pathlib.Path(args.report).parent)
        if PARTS[part]["multi_seed"]:
            sections += mnist_section(runs, args, relative)
        else:
            sections += single_seed_section(part, runs, args, relative)
    write_report(sections, args, started)


if __name__ == "__main__":
    main()
