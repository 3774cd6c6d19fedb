"""The seed runs, and how every run of an example is started and saved.

Every run (a seed run here, a trial in `tuning`) is a separate process of
the part's example, started from the repository root by `run_example`. A
seed run's results.json is saved under
`<results-dir>/<part>/<method>/seed<k>/` (committed: a few KB each); runs
at tuned settings under `--tuned-results-dir`, recording the settings and
the file they came from (`tuned_path`). A run whose file exists is read,
not rerun, so a replication resumes where it stopped, on any machine:
commit the JSON as it comes. A saved run at tuned settings is read only
if the command it recorded is the one the protocol runs now: after a
method is tuned again, its old runs are refused, not reported as runs of
the new settings.
"""

import json
import os
import pathlib
import subprocess
import time

import numpy as np

from examples.replication.parts import PARTS
from examples.replication.parts import REPO
from examples.replication.parts import example_command
from examples.replication.parts import part_flags
from examples.replication.parts import part_options
from examples.replication.parts import with_settings


def run_path(results_dir, part, method, seed):
    return pathlib.Path(results_dir, part, method, f"seed{seed}",
                        "results.json").resolve()


def tuned_dir(results_dir, part):
    """The folder of a part's tuned settings, one `<method>.json` each."""
    return pathlib.Path(results_dir, part, "tuned").resolve()


def tuned_path(results_dir, part, method):
    return tuned_dir(results_dir, part) / f"{method}.json"


def write_json(path, value):
    """Writes atomically: an interrupted write leaves no half file."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(value, indent=1) + "\n")
    os.replace(tmp, path)


def method_entry(results, method):
    """The metrics of one run of `method` in an example's results.json.

    `examples/forecasting.py` saves a summary over its seeds with the
    runs in `runs`; a run of one seed is that run.
    """
    entry = results["methods"][method]
    if "runs" in entry and len(entry["runs"]) == 1:
        return entry["runs"][0]
    return entry


def saved_run(results_dir, part, method, seed, command=None):
    """The saved metrics of a run (the example's entry for `method`), or
    None.

    Args:
        results_dir, part, method, seed: The run.
        command: For a run at tuned settings, the command the protocol
            runs now (`run_command`): a saved run made by another command
            (its tuned settings or the part's options changed since) is
            refused, never read as if it were this one.

    Raises:
        ValueError: naming the file, the command it recorded and the one
            expected.
    """
    path = run_path(results_dir, part, method, seed)
    if not path.exists():
        return None
    results = json.loads(path.read_text())
    if command is not None:
        recorded = results.get("replicate", {}).get("command")
        expected = shown(command)
        if recorded != expected:
            raise ValueError(
                f"{os.path.relpath(path, REPO)} is not a run of the current "
                f"protocol: it was made by `{recorded}`, and the protocol "
                f"now runs `{expected}` (its tuned settings or the "
                "part's options changed). Delete the run to run it again, "
                "or restore the settings it was made with.")
    return method_entry(results, method)


def training_minutes(run):
    """Wall-clock minutes a run spent in its training epochs."""
    seconds = run.get("epoch_seconds") or run["history"].get("epoch_seconds")
    if seconds is None:  # older runs: the median epoch times the epochs
        seconds = [run["train_seconds_per_epoch"]] * len(
            run["history"]["loss"])
    return float(np.sum(seconds)) / 60.0


def shown(command):
    """A command as the report and the JSON show it: from the repository
    root, without the interpreter's path."""
    words = ["python"] + [
        os.path.relpath(word, REPO) if os.path.isabs(word) else word
        for word in command[1:]]
    return " ".join(words)


def run_example(command, log_path, saved, what):
    """Runs an example's command in a fresh process and reads what it saved.

    Args:
        command: The command line (`parts.example_command`).
        log_path: Where its output goes.
        saved: The results.json the run writes.
        what: The run as an error names it, e.g. "ptb variational seed 0".

    Returns:
        The saved results.json, parsed.

    Raises:
        RuntimeError: if the run fails or saves nothing.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log:
        completed = subprocess.run(command, stdout=log,
                                   stderr=subprocess.STDOUT, cwd=REPO)
    if completed.returncode != 0 or not saved.exists():
        raise RuntimeError(f"{what} failed (exit {completed.returncode}); "
                           f"see {log_path}.")
    return json.loads(saved.read_text())


def run_command(part, method, seed, args, tuned_record=None):
    """The example's command for a run, and the path of its results.json.

    Args: as `run_one`'s.
    """
    tuned = tuned_record is not None
    results_dir = args.tuned_results_dir if tuned else args.results_dir
    path = run_path(results_dir, part, method, seed)
    options = part_options(part, args.quick, tuned=tuned)
    if tuned:
        options = with_settings(options, tuned_record["settings"],
                                part_flags(part, method))
    return example_command(part, method, seed, options, path.parent), path


def run_one(part, method, seed, args, tuned_record=None):
    """Runs one (part, method, seed) in a fresh process and saves it.

    Args:
        part, method, seed: The run.
        args: The parsed command line.
        tuned_record: The method's tuned record (`tuning.tune_method`):
            the run passes its settings to the example and is saved under
            `--tuned-results-dir`, its results.json recording them under
            `"replicate"`. None: the part's frozen options, saved under
            `--results-dir`.

    Returns:
        The run's metrics dict (the example's entry for `method`).
    """
    tuned = tuned_record is not None
    command, path = run_command(part, method, seed, args, tuned_record)
    print(f"[{time.strftime('%H:%M:%S')}] {part} {method} seed {seed}: "
          + " ".join(command[1:]), flush=True)
    results = run_example(command, path.parent / "log.txt", path,
                          f"{part} {method} seed {seed}")
    if tuned:
        results["replicate"] = {
            "tuned_settings": tuned_record["settings"],
            "tuned_file": os.path.relpath(
                tuned_path(args.results_dir, part, method), REPO),
            "command": shown(command),
        }
        write_json(path, results)
    return method_entry(results, method)


def collect(part, seeds, args, tuned=None, run_missing=None):
    """Reads every saved run of a part and runs the missing ones.

    With `--report-only` (or `run_missing=False`) the missing runs are
    left out instead.

    Args:
        part: The part.
        seeds: The seeds to read (and run).
        args: The parsed command line.
        tuned: None for the runs at the part's frozen options, or
            `{method: tuned record}` (`tuning.tuned_records`) for the runs at
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
            tuned_record = None if tuned is None else tuned[method]
            command = None if tuned is None else run_command(
                part, method, seed, args, tuned_record)[0]
            run = saved_run(results_dir, part, method, seed, command)
            wanted = not args.methods or method in args.methods
            if run is None and wanted and run_missing:
                run = run_one(part, method, seed, args,
                              tuned_record=tuned_record)
            if run is not None:
                runs[method][seed] = run
    return {method: by_seed for method, by_seed in runs.items() if by_seed}
