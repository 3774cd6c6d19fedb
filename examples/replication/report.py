"""docs/results.md, written from the saved runs.

One section per part and protocol (the runs at the part's frozen options,
then those at tuned settings): the table of the compared metric, the
observed order against the paper's, the paired tests by seed, whether the
unregularized model overfitted, the learning curves, the command of every
run and, for tuned runs, the table of tuned settings and their search
spaces. A part with no saved run keeps its section of the existing report;
the hand-written reading between `NOTES_BEGIN` and `NOTES_END` is kept.
"""

import datetime
import os
import pathlib
import platform
import time

import numpy as np

from examples.replication.parts import PARTS
from examples.replication.parts import REPO
from examples.replication.parts import option_values
from examples.replication.parts import part_options
from examples.replication.seed_runs import training_minutes
from examples.replication.seed_runs import tuned_dir
from examples.replication.tuning import TRIAL_SEED
from examples.replication.tuning import TUNE_SEED
from keras_adrop import reporting
from keras_adrop.reporting import paired_comparison
from keras_adrop.reporting import summary_rows

# How the report names the tuned settings.
SYMBOLS = {"recurrent_dropout": "p", "kappa": "kappa",
           "penalty_weight": "lambda", "epsilon": "epsilon",
           "delta": "delta", "flips": "flips", "iterations": "K"}
NOTES_BEGIN = "<!-- notes: kept when the report is rewritten -->"
NOTES_END = "<!-- end of notes -->"


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


def section_title(part, args, tuned=False):
    """The heading of a part's section (without `## `)."""
    title = (f"Smoke run (--quick): {part}" if args.quick
             else PARTS[part]["title"])
    return title + (", at tuned settings" if tuned else "")


def protocol_section(part, runs, args, figure, tuned=None):
    """One section of a part: its table, the order against the paper's,
    the paired tests, the overfitting check, the figure and the command.

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
    runs are long enough for regularization to matter) or still fell.

    Read from each run's `val_loss`, or from its `val_perplexity` (the
    language model's, `exp` of its loss: the same turn) where it logs no
    loss."""
    histories = [run["history"] for run in runs.get(method, {}).values()]
    key = next((key for key in ("val_loss", "val_perplexity")
                if histories and all(key in h for h in histories)), None)
    if key is None:
        return []
    best, last, epochs = [], [], []
    for history in histories:
        losses = np.asarray(history[key], dtype="float64")
        best.append(int(np.argmin(losses)) + 1)
        last.append(float(losses[-1] / np.min(losses)))
        epochs.append(len(losses))
    turned = sum(b < e for b, e in zip(best, epochs))
    verdict = ("it turned up in every run" if turned == len(best)
               else f"it turned up in {turned} of {len(best)} runs")
    name = "loss" if key == "val_loss" else "perplexity"
    return [f"Overfitting check: the {method} model's validation {name} "
            f"was lowest at epoch {int(np.median(best))} of "
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
    folder = os.path.relpath(tuned_dir(args.results_dir, part), REPO)
    lines = [f"Tuned settings: {planned} random-search trials per method "
             f"(KerasTuner's `RandomSearchOracle`, seed "
             f"{TUNE_SEED}) for every method, over its own knobs only, each "
             f"trial one run at seed {TRIAL_SEED} with `--no-test`, "
             f"selected on `{key}` ({direction}); saved in "
             f"`{folder}/<method>.json` with every trial."
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


def part_sections(part, runs, tuned_runs, tuned, args):
    """The part's sections: its runs at the frozen options, then at tuned
    settings, each with its figure (drawn beside the report).

    Args:
        part: The part.
        runs, tuned_runs: `{method: {seed: metrics}}`
            (`seed_runs.collect`) at the part's frozen options and at
            tuned settings.
        tuned: `{method: tuned record}` (`tuning.tuned_records`).
        args: The parsed command line.

    Returns:
        The lines. A section without runs keeps the existing report's, or
        for tuned settings without runs yet, says so with their table.
    """
    spec = PARTS[part]
    report = pathlib.Path(args.report)
    lines = []
    for is_tuned, part_runs in ((False, runs), (True, tuned_runs)):
        title = section_title(part, args, is_tuned)
        if not part_runs:
            if is_tuned and tuned:
                lines += [f"## {title}", "", "No run at the tuned settings "
                          "yet.", "", *tuned_table(part, tuned, args)]
            else:
                lines += kept_section(report, title)
            continue
        figure = report.parent / "figures" / (
            f"replication_{part}" + ("_tuned" if is_tuned else "") + ".png")
        figure.parent.mkdir(parents=True, exist_ok=True)
        curve = spec["curve"]
        if is_tuned:
            curve = spec.get("tuned_curve", curve)
        plot_curves(part_runs, figure, spec["title"].split(",")[0], curve,
                    spec.get("loss_name", "training cross-entropy"))
        lines += protocol_section(part, part_runs, args,
                              os.path.relpath(figure, report.parent),
                              tuned=tuned if is_tuned else None)
    return lines


def write_report(sections, args, started):
    """Writes `--report`: a header saying how it was made, the kept
    reading (`kept_notes`), then `sections`."""
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
