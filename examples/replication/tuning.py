"""The tuning stage: the same number of trials for every method.

Every method of a part gets `--trials` trials of a random search over its
own knobs only (`method_knobs`, read from the registry of
`keras_adrop.tasks.methods`; ranges in `RANGES`); every other option is
the part's frozen one (`parts.part_options(..., trial=True)`):

| method | knobs searched |
|---|---|
| unregularized | none: no trial (its tuned file says so) |
| variational | recurrent dropout p 0.05-0.5 |
| fraternal, expectation_linearization | kappa 0.01-1 |
| adversarial_k1, adversarial_k2 | flips (delta 0.01-0.1), lambda 0.1-10 |
| adversarial_k1_vat, adversarial_k2_vat | the above and epsilon 0.01-1 |
| adversarial_dropconnect | delta 0.01-0.2, lambda 0.1-10 |
| virtual_adversarial, adversarial_training | epsilon 0.01-1 |

(all but p and flips sampled on a log scale). Adversarial dropout's budget is
searched as a whole number of flipped units, `delta = flips / units`, with
K fixed by the method's name: the search space that
`keras_adrop.tuners.AdversarialDropoutHyperModel` declares for a model of
the part's LSTM width. The values are KerasTuner's `RandomSearchOracle`
seeded with `TUNE_SEED` (the same for every method), so the plan of trials
is the same on every machine.

A trial is one run of the example with `--no-test` (a trial that writes a
test metric is refused) at `TRIAL_SEED`, none of the compared seeds,
scored on the part's validation metric (`PARTS[part]["objective"]`). Each
finished trial is saved as `<results-dir>/<part>/tuning/<method>/
trial<NN>.json` (`trial_path`); a resumed tune skips them, and a larger
`--trials` extends the same sequence. When a method's trials are done, the
best is frozen into `<results-dir>/<part>/tuned/<method>.json`: its
settings, the search space, every trial's objective and the commands.
"""

import json
import pathlib
import tempfile
import time

from examples.replication.parts import PARTS
from examples.replication.parts import example_command
from examples.replication.parts import part_flags
from examples.replication.parts import part_options
from examples.replication.parts import part_units
from examples.replication.parts import with_settings
from examples.replication.seed_runs import method_entry
from examples.replication.seed_runs import run_example
from examples.replication.seed_runs import shown
from examples.replication.seed_runs import training_minutes
from examples.replication.seed_runs import tuned_path
from examples.replication.seed_runs import write_json
from keras_adrop.tasks.methods import get_method

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


def tuning_dir(results_dir, part, method):
    """The folder of a method's trials."""
    return pathlib.Path(results_dir, part, "tuning", method).resolve()


def trial_path(results_dir, part, method, index):
    return tuning_dir(results_dir, part, method) / f"trial{index:02d}.json"


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
    started = time.time()
    with tempfile.TemporaryDirectory() as output_dir:
        command = example_command(part, method, TRIAL_SEED, options,
                                  output_dir)
        print(f"[{time.strftime('%H:%M:%S')}] {part} {method} trial "
              f"{index}: {settings}", flush=True)
        results = run_example(command, path.with_suffix(".log.txt"),
                              pathlib.Path(output_dir, "results.json"),
                              f"{part} {method} trial {index}")
        run = method_entry(results, method)
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
