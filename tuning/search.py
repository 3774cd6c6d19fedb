"""KerasTuner search over adversarial dropout's delta and K.

Runs one of KerasTuner's tuners (random search, Bayesian optimization,
Hyperband) on `tuning.TaskHyperModel` and writes, next to the
trials in `DIRECTORY/PROJECT/`:

- `summary.md`: the best hyperparameters and score, then one row per trial
  (flips, delta, K, K_eff, the other sampled values, score, epochs, who ran
  it and how long it took);
- `summary.csv`: the same rows;
- `scores.png`: the objective against delta (one line per K_eff) and a
  flips x K_eff grid of the best score.

K_eff = min(K, flips - 1) is the number of greedy steps that can flip a
unit: the random start flip spends one of the `flips`, the K steps share
the rest (so with 1 flip, K does not matter).

Run it from the repository root, e.g.

    python tuning/search.py --tuner random --task digits --max-trials 12
    python tuning/search.py --tuner bayesian --task digits --max-trials 12
    python tuning/search.py --tuner hyperband --task digits --max-epochs 9

(`python -m tuning.search ...` works too). On a shared 2-core CPU a
full-size `digits` epoch (LSTM 64, 800 images + 200 validation) took 1.9 s
with one flip and 3.3 s with 6 flips and K = 3, plus 5-10 s of tracing per
trial: a 30-epoch trial takes 1-2 minutes, the default 12 trials 15-25
minutes, the default Hyperband (23 trials, 75 epochs) about 8 minutes.
`--quick` (LSTM 32, 256 + 64 images, 3 epochs, 3 trials; Hyperband: 3
epochs at most, 6 trials) takes about a minute.

Resuming: the search state lives in `DIRECTORY/PROJECT/`. Running the same
command again continues where it stopped (a killed run too): finished
trials are kept, the interrupted one runs again, and a larger
`--max-trials` extends a finished search. `--overwrite` starts afresh. The
options that define the search are saved in `search_config.json`; a resumed
search with different ones is refused.

Distributed: start the same command several times with KerasTuner's
environment variables, e.g. on one machine

    KERASTUNER_TUNER_ID=chief KERASTUNER_ORACLE_IP=127.0.0.1 \
        KERASTUNER_ORACLE_PORT=8000 python tuning/search.py ... &
    KERASTUNER_TUNER_ID=tuner0 KERASTUNER_ORACLE_IP=127.0.0.1 \
        KERASTUNER_ORACLE_PORT=8000 python tuning/search.py ... &
    KERASTUNER_TUNER_ID=tuner1 KERASTUNER_ORACLE_IP=127.0.0.1 \
        KERASTUNER_ORACLE_PORT=8000 python tuning/search.py ...

The chief holds the oracle and runs no trial; the workers run trials and
must see the same `--directory` (a shared file system across machines). The
chief writes the summary when all trials are done. Each process trains on
its own Keras backend (`KERAS_BACKEND=jax` in every process: the workers
train on JAX).
"""

import argparse
import csv
import json
import os
import pathlib
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

if __package__ in (None, ""):  # `python tuning/search.py`
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import keras  # noqa: E402
import keras_tuner  # noqa: E402

from keras_adrop.tuners import DEFAULT_ITERATIONS_RANGE  # noqa: E402
from keras_adrop.tuners import PAPER_DELTA_RANGE  # noqa: E402
from keras_adrop.tuners import effective_iterations  # noqa: E402
from tuning.hypermodels import TaskHyperModel  # noqa: E402
from tuning.tasks import available_tasks  # noqa: E402

TUNERS = ("random", "bayesian", "hyperband")
RUNS_FILE = "runs.json"  # per trial directory, written by the tuner
CONFIG_FILE = "search_config.json"
QUICK = {"max_trials": 3, "max_epochs": 3, "factor": 3}
# Hyperband with max_epochs 9 and factor 3 runs 23 trials (17 random
# configurations, 75 epochs in all); 27 would ask for 27 configurations in
# its first bracket, more than the 18 (flips, K) pairs of the paper's delta
# range on 64 units, and KerasTuner stops a search whose space is used up.
FULL = {"max_trials": 12, "max_epochs": 9, "factor": 3}


def distributed_role():
    """`"chief"`, `"worker"` or `None`, from KerasTuner's variables."""
    if "KERASTUNER_ORACLE_IP" not in os.environ:
        return None
    tuner_id = os.environ.get("KERASTUNER_TUNER_ID", "")
    return "chief" if "chief" in tuner_id else "worker"


class _RecordsRuns:
    """Tuner mixin: saves each trial run's tuner id, pid and duration.

    KerasTuner keeps no trial timings nor which worker ran a trial; this
    appends `{tuner_id, pid, backend, status, start, end, seconds}` to
    `trial_<id>/runs.json` when a run ends (a run killed midway leaves no
    record, and its retry adds one). It also saves the tuner state when the
    search begins, so that a search killed during its first trial reloads
    instead of starting a new project over the old one.
    """

    def on_search_begin(self):
        super().on_search_begin()
        self.save()

    def on_trial_begin(self, trial):
        self._run_start = time.time()
        super().on_trial_begin(trial)

    def on_trial_end(self, trial):
        end = time.time()
        path = os.path.join(self.get_trial_dir(trial.trial_id), RUNS_FILE)
        runs = _read_json(path, default=[])
        runs.append({
            "tuner_id": self.tuner_id,
            "pid": os.getpid(),
            "backend": keras.backend.backend(),
            "status": str(trial.status),
            "start": self._run_start,
            "end": end,
            "seconds": end - self._run_start,
        })
        _write_json(path, runs)
        super().on_trial_end(trial)


class RandomSearch(_RecordsRuns, keras_tuner.RandomSearch):
    """`keras_tuner.RandomSearch` that records each trial's run time."""


class BayesianOptimization(_RecordsRuns, keras_tuner.BayesianOptimization):
    """`keras_tuner.BayesianOptimization` that records each run's time."""


class Hyperband(_RecordsRuns, keras_tuner.Hyperband):
    """`keras_tuner.Hyperband` that records each trial's run time."""


def _read_json(path, default=None):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return default


def _write_json(path, value):
    """Writes atomically: a reader never sees half a file."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(value, f, indent=2)
    os.replace(tmp, path)


def make_tuner(kind, hypermodel, directory, project_name, max_trials=None,
               max_epochs=None, factor=3, objective=None, seed=0,
               overwrite=False):
    """Creates a KerasTuner tuner of `kind` for `hypermodel`.

    Args:
        kind: `"random"`, `"bayesian"` or `"hyperband"`.
        hypermodel: A `TaskHyperModel`.
        directory: Where the project directory is created.
        project_name: Name of the project directory.
        max_trials: Number of trials (random, bayesian: required). For
            Hyperband, an optional cap on the trials of its schedule.
        max_epochs: Hyperband's most epochs of one model (required for
            Hyperband, unused otherwise).
        factor: Hyperband's reduction factor (>= 2).
        objective: A `keras_tuner.Objective`; default the task's.
        seed: Seed of the tuner's sampling.
        overwrite: Start afresh instead of reloading the project.

    Returns:
        The tuner (subclasses of KerasTuner's that record run times in
        `trial_<id>/runs.json`).

    Example:

    ```python
    tuner = make_tuner("random", hypermodel, "results/tuning", "digits",
                       max_trials=5)
    ```
    """
    objective = objective or hypermodel.task.objective
    common = dict(hypermodel=hypermodel, objective=objective, seed=seed,
                  directory=str(directory), project_name=project_name,
                  overwrite=overwrite)
    if kind not in TUNERS:
        raise ValueError(f"`kind` must be one of {TUNERS}. Received: {kind!r}")
    if max_trials is not None and (int(max_trials) != max_trials
                                   or max_trials < 1):
        raise ValueError(
            "`max_trials` must be a positive integer. "
            f"Received: {max_trials!r}"
        )
    if kind == "hyperband":
        if (max_epochs is None or int(max_epochs) != max_epochs
                or max_epochs < 1):
            raise ValueError(
                "Hyperband needs `max_epochs`, a positive integer. "
                f"Received: {max_epochs!r}"
            )
        if int(factor) != factor or factor < 2:
            raise ValueError(
                f"`factor` must be an integer >= 2. Received: {factor!r}")
        tuner = Hyperband(max_epochs=int(max_epochs), factor=int(factor),
                          **common)
        # A documented Oracle attribute: create_trial stops at this many.
        tuner.oracle.max_trials = max_trials
        return tuner
    if max_trials is None:
        raise ValueError(f"The {kind} tuner needs `max_trials`.")
    if kind == "random":
        return RandomSearch(max_trials=max_trials, **common)
    return BayesianOptimization(max_trials=max_trials, **common)


def trial_rows(tuner, units):
    """One dict per trial of `tuner`'s oracle, best score first.

    Keys: `trial`, `status`, the sampled hyperparameters (`flips`,
    `iterations`, ...), `delta` (= flips / units), `K_eff` (greedy steps
    that ran, `min(K, flips - 1)`), `epochs` (Hyperband's
    `tuner/epochs`), `score`, `best_epoch`, `seconds` (of the run that
    finished the trial), `tuner_id` and `runs` (runs recorded, > 1 after a
    retry).

    Example:

    ```python
    rows = trial_rows(tuner, hypermodel.units)
    rows[0]["delta"], rows[0]["iterations"], rows[0]["score"]
    ```
    """
    oracle = tuner.oracle
    rows = []
    for trial_id, trial in sorted(oracle.trials.items()):
        values = dict(trial.hyperparameters.values)
        row = {"trial": trial_id, "status": str(trial.status)}
        if "flips" in values:
            row["flips"] = values["flips"]
            row["delta"] = values["flips"] / units
        for key in ("iterations", "penalty_weight", "dropout"):
            if key in values:
                row[key] = values[key]
        if "flips" in values and "iterations" in values:
            row["K_eff"] = effective_iterations(values["flips"],
                                                values["iterations"])
        if "tuner/epochs" in values:
            row["epochs"] = values["tuner/epochs"]
            row["continues"] = values.get("tuner/trial_id", "")
        row["score"] = trial.score
        # Counted from the first epoch of the model: a Hyperband trial that
        # continues another starts at its `tuner/initial_epoch`.
        first = values.get("tuner/initial_epoch", 0)
        row["best_epoch"] = (None if trial.best_step is None
                             else int(trial.best_step) + 1 + first)
        runs = _read_json(os.path.join(tuner.project_dir,
                                       f"trial_{trial_id}", RUNS_FILE),
                          default=[])
        row["seconds"] = runs[-1]["seconds"] if runs else None
        row["tuner_id"] = runs[-1]["tuner_id"] if runs else None
        row["runs"] = len(runs)
        rows.append(row)
    # KerasTuner's own ranking (so that the first row is what
    # `get_best_hyperparameters` returns, ties included), then the trials
    # without a score.
    ranked = [t.trial_id for t in oracle.get_best_trials(len(oracle.trials))]
    order = {trial_id: n for n, trial_id in enumerate(ranked)}
    return sorted(rows, key=lambda r: (order.get(r["trial"], len(order)),
                                       r["trial"]))


def _format(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def markdown_summary(rows, objective, title):
    """The best trial and a table of all trials, as markdown text."""
    lines = [f"# {title}", ""]
    done = [r for r in rows if r["status"] == "COMPLETED"
            and r["score"] is not None]
    if done:
        best = done[0]
        params = ", ".join(
            f"{k} = {_format(best[k])}" for k in (
                "flips", "delta", "iterations", "K_eff", "penalty_weight",
                "dropout", "epochs") if k in best)
        lines += [f"Best: trial {best['trial']}, {objective.name} "
                  f"({objective.direction}) = {_format(best['score'])}; "
                  f"{params}.", ""]
    else:
        lines += ["No trial completed.", ""]
    columns = [c for c in ("trial", "status", "flips", "delta", "iterations",
                           "K_eff", "penalty_weight", "dropout", "epochs",
                           "continues",
                           "score", "best_epoch", "seconds", "tuner_id",
                           "runs")
               if any(c in r for r in rows)]
    header = {"iterations": "K", "score": objective.name,
              "seconds": "trial s", "best_epoch": "best epoch"}
    lines.append("| " + " | ".join(header.get(c, c) for c in columns) + " |")
    numeric = {"flips", "delta", "iterations", "K_eff", "penalty_weight",
               "dropout",
               "epochs", "score", "best_epoch", "seconds", "runs"}
    lines.append("|" + "|".join("---:" if c in numeric else "---"
                                for c in columns) + "|")
    for row in rows:
        lines.append("| " + " | ".join(_format(row.get(c)) for c in columns)
                     + " |")
    return "\n".join(lines) + "\n"


def write_csv(rows, path):
    columns = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def plot_scores(rows, objective, path, units):
    """Score against delta (one line per K_eff) and a flips x K_eff grid.

    With Hyperband only the trials trained for the most epochs are drawn.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    done = [r for r in rows if r["score"] is not None
            and r["status"] == "COMPLETED" and "flips" in r]
    # Hyperband's trials differ in epochs: compare only the longest ones.
    epochs = max((r.get("epochs", 0) for r in done), default=0)
    done = [r for r in done if r.get("epochs", 0) == epochs]
    trained = f" ({epochs}-epoch trials)" if epochs else ""
    fig, (ax_line, ax_grid) = plt.subplots(1, 2, figsize=(11, 4.2))
    best = max if objective.direction == "max" else min
    # The steps that ran: K beyond flips - 1 changes nothing (K_eff).
    ks = sorted({r["K_eff"] for r in done})
    flips = sorted({r["flips"] for r in done})
    for n, k in enumerate(ks):
        color = f"C{n}"
        points = [(r["delta"], r["score"]) for r in done
                  if r["K_eff"] == k]
        # Every trial as a faint dot, the best per delta joined by a line.
        ax_line.scatter(*zip(*points), alpha=0.35, color=color)
        line = sorted({d: best(s for dd, s in points if dd == d)
                       for d, _ in points}.items())
        ax_line.plot(*zip(*line), marker="o", color=color,
                     label=f"K_eff = {k} (best per delta)")
    ax_line.set(xlabel=f"delta (flips / {units} units)",
                ylabel=objective.name,
                title=f"{objective.name} against delta{trained}")
    ax_line.grid(alpha=0.3)
    if ks:
        ax_line.legend()
    grid = np.full((len(ks), len(flips)), np.nan)
    for r in done:
        i, j = ks.index(r["K_eff"]), flips.index(r["flips"])
        grid[i, j] = (r["score"] if np.isnan(grid[i, j])
                      else best(grid[i, j], r["score"]))
    if done:
        image = ax_grid.imshow(grid, origin="lower", aspect="auto",
                               cmap="viridis" if objective.direction == "max"
                               else "viridis_r")
        fig.colorbar(image, ax=ax_grid, label=f"best {objective.name}")
        for i in range(len(ks)):
            for j in range(len(flips)):
                if not np.isnan(grid[i, j]):
                    ax_grid.text(j, i, f"{grid[i, j]:.3g}", ha="center",
                                 va="center", fontsize=8,
                                 bbox={"facecolor": "white", "alpha": 0.7,
                                       "linewidth": 0})
    ax_grid.set_xticks(range(len(flips)),
                       [f"{f}\n({f / units:.3g})" for f in flips])
    ax_grid.set_yticks(range(len(ks)), [str(k) for k in ks])
    ax_grid.set(xlabel="flips (delta)",
                ylabel="K_eff (greedy steps run, min(K, flips - 1))",
                title=f"best {objective.name} per (delta, K_eff)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_summary(tuner, units, title):
    """Writes summary.md, summary.csv and scores.png; returns the rows."""
    rows = trial_rows(tuner, units)
    objective = tuner.oracle.objective
    project_dir = pathlib.Path(tuner.project_dir)
    text = markdown_summary(rows, objective, title)
    (project_dir / "summary.md").write_text(text)
    write_csv(rows, project_dir / "summary.csv")
    plot_scores(rows, objective, project_dir / "scores.png", units)
    return rows, text


def _pair(kind):
    def parse(text):
        parts = text.replace(",", " ").split()
        if len(parts) != 2:
            raise argparse.ArgumentTypeError(
                f"expected two numbers 'LOW,HIGH', got {text!r}")
        try:
            return tuple(kind(p) for p in parts)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected two {kind.__name__}s 'LOW,HIGH', got {text!r}"
            ) from None
    return parse


def _task_option(text):
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    for kind in (int, float):
        try:
            return key.strip(), kind(value)
        except ValueError:
            pass
    return key.strip(), value


def _objective(args, task):
    if args.objective is None:
        return task.objective
    direction = args.direction
    if direction is None:
        name = args.objective.lower()
        direction = ("min" if any(w in name for w in
                                  ("loss", "error", "perplexity"))
                     else "max")
    return keras_tuner.Objective(args.objective, direction)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=(
            "KerasTuner search over adversarial dropout's budget delta "
            "(sampled as a whole number of flipped units, delta = flips / "
            "units) and K (iterations), optionally the penalty weight and a "
            "dropout rate. Writes summary.md, summary.csv and scores.png in "
            "DIRECTORY/PROJECT. Rerun the same command to resume."
        ),
    )
    parser.add_argument("--tuner", choices=TUNERS, default="random",
                        help="KerasTuner tuner (default random).")
    parser.add_argument(
        "--task", default="digits",
        help=f"Model and data, from {available_tasks()} (default digits; "
        "imdb: examples/imdb_sentiment.py, val_accuracy; ptb: "
        "examples/ptb_language_model.py, val_perplexity).")
    parser.add_argument(
        "--max-trials", type=int,
        help=f"Trials (default {FULL['max_trials']}, --quick "
        f"{QUICK['max_trials']}). Hyperband: an optional cap on its "
        "schedule, whose size follows from --max-epochs and --factor.")
    parser.add_argument(
        "--epochs", type=int,
        help="Epochs per trial for random and bayesian (default the task's: "
        "digits 30, --quick 3); also the length of the task's learning-rate "
        "schedule.")
    parser.add_argument(
        "--max-epochs", type=int,
        help=f"Hyperband: most epochs of one model (default "
        f"{FULL['max_epochs']}, --quick {QUICK['max_epochs']}). Its first "
        "bracket needs about this many distinct configurations; KerasTuner "
        "stops when the (flips, K) pairs run out (widen --delta-range or "
        "add --penalty-weight-range).")
    parser.add_argument(
        "--factor", type=int,
        help=f"Hyperband: reduction factor (default {FULL['factor']}, "
        f"--quick {QUICK['factor']}).")
    parser.add_argument(
        "--delta-range", type=_pair(float), default=PAPER_DELTA_RANGE,
        metavar="LOW,HIGH",
        help="Range of delta, fractions of the adversarial layer's units "
        "(default 0.01,0.1, the paper's); must contain a whole number of "
        "flips >= 1.")
    parser.add_argument(
        "--iterations-range", type=_pair(int),
        default=DEFAULT_ITERATIONS_RANGE, metavar="LOW,HIGH",
        help="Range of K (default 1,3).")
    parser.add_argument(
        "--penalty-weight-range", type=_pair(float), metavar="LOW,HIGH",
        help="Also tune the penalty weight lambda in this range (log "
        "scale); default: fixed 1.0.")
    parser.add_argument(
        "--dropout-range", type=_pair(float), metavar="LOW,HIGH",
        help="Also tune the task's dropout rate (digits: the LSTM's "
        "recurrent dropout, the adversarial search then starts from a "
        "random mask); default: not tuned.")
    parser.add_argument(
        "--units", type=int,
        help="Units of the task's recurrent layer (digits: 64, --quick 32); "
        "short for --task-option units=N.")
    parser.add_argument(
        "--task-option", action="append", default=[], type=_task_option,
        metavar="KEY=VALUE",
        help="A task setting, repeatable (digits: units, train_size, "
        "validation_size, batch_size, learning_rate; imdb and ptb: their "
        "example's options with underscores, e.g. train_size=2000, "
        "data=synthetic for imdb, train_tokens=100000 for ptb; imdb also "
        "validation_fraction).")
    parser.add_argument(
        "--objective",
        help="Metric to optimize (default the task's: digits val_accuracy).")
    parser.add_argument(
        "--direction", choices=("min", "max"),
        help="Direction of --objective (default: min for names with loss, "
        "error or perplexity, else max).")
    parser.add_argument("--seed", type=int, default=0,
                        help="Seed of data split, weights, masks and tuner.")
    parser.add_argument(
        "--dtype-policy", default=None,
        help="Keras dtype policy of the models' layers, e.g. mixed_float16 "
        "(default: Keras' global policy, float32).")
    parser.add_argument(
        "--directory", default=os.path.join("results", "tuning"),
        help="Where the project directory goes (default results/tuning).")
    parser.add_argument(
        "--project-name",
        help="Project directory name (default <task>_<tuner>[_quick]).")
    parser.add_argument("--overwrite", action="store_true",
                        help="Start afresh instead of resuming.")
    parser.add_argument(
        "--quick", action="store_true",
        help="Smoke run (~1 min): the task's quick configuration, 3 trials "
        "(Hyperband: max 3 epochs, factor 3, 6 trials).")
    args = parser.parse_args(argv)
    if args.tuner == "hyperband" and args.epochs is not None:
        parser.error("--epochs: Hyperband sets the epochs of each trial; "
                     "use --max-epochs and --factor.")
    defaults = QUICK if args.quick else FULL
    for key in ("max_epochs", "factor"):
        if getattr(args, key) is None:
            setattr(args, key, defaults[key])
    if args.max_trials is None and args.tuner != "hyperband":
        args.max_trials = defaults["max_trials"]
    if args.project_name is None:
        args.project_name = (f"{args.task}_{args.tuner}"
                             + ("_quick" if args.quick else ""))
    return args


# Options that may change when a search is resumed.
_RESUMABLE_CHANGES = ("max_trials", "overwrite", "directory")


def _check_config(args, project_dir):
    """Saves the search-defining options; refuses a resumed mismatch."""
    path = os.path.join(project_dir, CONFIG_FILE)
    # Through JSON, so that tuples compare equal to the saved lists.
    config = json.loads(json.dumps(
        {k: v for k, v in vars(args).items() if k not in _RESUMABLE_CHANGES}))
    saved = None if args.overwrite else _read_json(path)
    if saved is not None:
        changed = sorted(k for k in set(saved) | set(config)
                         if saved.get(k) != config.get(k))
        if changed:
            differences = ", ".join(
                f"{k}: {saved.get(k)!r} -> {config.get(k)!r}" for k in changed)
            raise SystemExit(
                f"{project_dir} holds a search with other options "
                f"({differences}). Use the same options to resume, "
                "--overwrite to restart, or another --project-name."
            )
    elif distributed_role() != "worker":
        os.makedirs(project_dir, exist_ok=True)
        _write_json(path, config)


def main(argv=None):
    """Runs the search; returns `(rows, summary_text)` (None on a worker)."""
    args = parse_args(argv)
    task_options = dict(args.task_option)
    if args.units is not None:
        task_options["units"] = args.units
    # The epochs a learning-rate schedule must span: a trial's, or
    # Hyperband's longest.
    task_options["epochs"] = (args.max_epochs if args.tuner == "hyperband"
                              else args.epochs)
    try:
        hypermodel = TaskHyperModel(
            task=args.task,
            quick=args.quick,
            seed=args.seed,
            delta_range=args.delta_range,
            iterations_range=args.iterations_range,
            penalty_weight_range=args.penalty_weight_range,
            dropout_range=args.dropout_range,
            dtype_policy=args.dtype_policy,
            task_options=task_options,
        )
    except ValueError as error:  # a bad option: its message, no traceback
        raise SystemExit(f"tuning/search.py: error: {error}") from None
    task = hypermodel.task
    project_dir = os.path.join(args.directory, args.project_name)
    # KerasTuner's own `overwrite` would let every worker delete the
    # project; only a single process or the chief removes it.
    if args.overwrite and distributed_role() != "worker":
        import shutil

        shutil.rmtree(project_dir, ignore_errors=True)
    _check_config(args, project_dir)
    role = distributed_role()
    tuner = make_tuner(
        args.tuner, hypermodel, args.directory, args.project_name,
        max_trials=args.max_trials, max_epochs=args.max_epochs,
        factor=args.factor, objective=_objective(args, task), seed=args.seed,
        overwrite=False,  # the project was removed above with --overwrite
    )
    low, high = hypermodel.flips_range
    print(
        f"Task {task.name}: {hypermodel.units} units; flips {low}-{high} "
        f"(delta {low / hypermodel.units:.3g}-{high / hypermodel.units:.3g}),"
        f" K {hypermodel.iterations_range[0]}-"
        f"{hypermodel.iterations_range[1]}; tuner {args.tuner}, objective "
        f"{tuner.oracle.objective.name} ({tuner.oracle.objective.direction})"
        + (f"; distributed: {role} {os.environ['KERASTUNER_TUNER_ID']}"
           if role else "")
        + f"; project {project_dir}",
        flush=True,
    )
    fit_args, fit_kwargs = task.load_data()
    if args.tuner != "hyperband":
        fit_kwargs["epochs"] = task.default_epochs
    tuner.search(*fit_args, verbose=1 if sys.stdout.isatty() else 2,
                 **fit_kwargs)
    if role == "worker":
        return None
    title = (f"{args.tuner} search on {task.name}"
             + (" (--quick)" if args.quick else ""))
    rows, text = write_summary(tuner, hypermodel.units, title)
    print("\n" + text)
    print(f"Wrote summary.md, summary.csv and scores.png in {project_dir}")
    return rows, text


if __name__ == "__main__":
    main()
