"""tuning/: the hypermodel, the task registry and the search command.

The fast tests build and fit the hypermodel and run one tiny real search in
this process. The slow ones run `tuning/search.py` as separate processes: a
search killed with SIGKILL and resumed, and a chief with two workers.
"""

import csv
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time
import warnings

import keras
import keras_tuner
import numpy as np
import pytest

# `tuning/` is a top-level directory of the repository, not an installed
# package: importable because pytest.ini puts the repository root on the
# path.
REPO = pathlib.Path(__file__).resolve().parent.parent

import keras_adrop  # noqa: E402
from keras_adrop.regularizers import adversarial_search  # noqa: E402
import tuning  # noqa: E402
from tuning import search  # noqa: E402
from tuning import tasks  # noqa: E402

# The smallest digits configuration: 8 LSTM units, 32 + 20 images (one step
# of 32 per epoch), delta 0.1-0.4 -> 1-3 flips.
TINY = {"units": 8, "train_size": 32, "validation_size": 20, "epochs": 1}
TINY_DELTAS = (0.1, 0.4)
TINY_CLI = ["--quick", "--units", "8", "--delta-range", "0.1,0.4",
            "--task-option", "train_size=32",
            "--task-option", "validation_size=20"]


def tiny_hypermodel(**kwargs):
    kwargs.setdefault("delta_range", TINY_DELTAS)
    return tuning.TaskHyperModel(
        task="digits", quick=True, task_options=dict(TINY), **kwargs)


def fixed_hp(**values):
    hp = keras_tuner.HyperParameters()
    for name, value in values.items():
        hp.Fixed(name, value)
    return hp


def test_the_task_hypermodel_is_the_package_hypermodel():
    # One implementation of the flips / K / lambda sampling: the package's,
    # a module-level class; the task's hypermodel has a name of its own.
    hypermodel = tiny_hypermodel()
    assert isinstance(hypermodel,
                      keras_adrop.tuners.AdversarialDropoutHyperModel)
    names = [cls.__name__ for cls in type(hypermodel).__mro__]
    assert names.count("AdversarialDropoutHyperModel") == 1
    assert type(hypermodel) is tuning.TaskHyperModel
    assert not hasattr(tuning, "AdversarialDropoutHyperModel")
    assert hypermodel.units == 8 and hypermodel.flips_range == (1, 3)
    # The search starts from a random mask only when the rate is tuned.
    assert hypermodel.adversarial_options == {}
    assert tiny_hypermodel(dropout_range=(0.1, 0.3)).adversarial_options == {
        "base_mask": "random"}


def test_flip_range_turns_deltas_into_valid_budgets():
    assert tuning.flip_range((0.01, 0.1), 64) == (1, 6)  # paper range
    assert tuning.flip_range((0.01, 0.1), 32) == (1, 3)  # --quick
    assert tuning.flip_range((0.03, 0.03), 100) == (3, 3)
    assert tuning.flip_range((0.29, 0.3), 100) == (29, 30)  # float rounding
    for low, high in [(1, 1), (1, 6)]:
        for flips in range(low, high + 1):
            assert adversarial_search.flip_budget(flips / 64, 64) == flips
    with pytest.raises(ValueError, match="delta_range.*0 flips of 8 units"):
        tuning.flip_range((0.01, 0.1), 8)
    with pytest.raises(ValueError, match="no whole number of flips"):
        tuning.flip_range((0.26, 0.36), 8)
    with pytest.raises(ValueError, match="0 < low <= high < 1"):
        tuning.flip_range((0.2, 0.1), 64)
    with pytest.raises(ValueError, match="pair"):
        tuning.flip_range(0.1, 64)


def test_build_with_fixed_hp_gives_the_chosen_delta_and_k():
    hypermodel = tiny_hypermodel()
    assert hypermodel.units == 8 and hypermodel.flips_range == (1, 3)
    model = hypermodel.build(fixed_hp(flips=3, iterations=2))
    assert isinstance(model, keras_adrop.AdversarialDropoutModel)
    regularizer = model.adversarial_dropout
    assert regularizer.delta == pytest.approx(0.375)
    assert adversarial_search.flip_budget(regularizer.delta, 8) == 3
    assert regularizer.iterations == 2
    assert regularizer.penalty_weight == 1.0
    assert regularizer.base_mask == "expectation"
    # Compiled like the example's model: Adam on a cosine schedule,
    # cross-entropy from logits, accuracy.
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    assert model.get_compile_config()["metrics"] == ["accuracy"]
    # Every trial starts from the same weights (the task's seed).
    keras.backend.clear_session()
    again = hypermodel.build(fixed_hp(flips=1, iterations=1))
    for a, b in zip(model.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert again.adversarial_dropout.delta == pytest.approx(0.125)


def test_k_beyond_the_flips_left_is_built_as_the_steps_that_run():
    hypermodel = tiny_hypermodel()
    assert [tuning.effective_iterations(f, 3) for f in (1, 2, 3, 4, 5)] == [
        0, 1, 2, 3, 3]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "steps without a flip" warning
        model = hypermodel.build(fixed_hp(flips=2, iterations=3))
        assert model.adversarial_dropout.iterations == 1
        keras.backend.clear_session()
        model = hypermodel.build(fixed_hp(flips=1, iterations=2))
        assert model.adversarial_dropout.iterations == 1
    # What the library runs for K = 3 and 2 flips: one step with a flip.
    assert adversarial_search.flip_schedule(2, 3).count(0) == 2


def test_build_registers_the_search_space():
    hypermodel = tiny_hypermodel(penalty_weight_range=(0.1, 10.0),
                                 dropout_range=(0.05, 0.3))
    hp = keras_tuner.HyperParameters()
    hypermodel.build(hp)
    space = {p.name: p for p in hp.space}
    assert set(space) == {"flips", "iterations", "penalty_weight", "dropout"}
    assert (space["flips"].min_value, space["flips"].max_value) == (1, 3)
    assert (space["iterations"].min_value,
            space["iterations"].max_value) == (1, 3)
    assert space["penalty_weight"].sampling == "log"


def test_penalty_weight_and_dropout_reach_the_model():
    hypermodel = tiny_hypermodel(penalty_weight_range=(0.1, 10.0),
                                 dropout_range=(0.05, 0.3))
    model = hypermodel.build(fixed_hp(flips=1, iterations=2,
                                      penalty_weight=0.5, dropout=0.2))
    assert model.adversarial_dropout.penalty_weight == 0.5
    # Tuned recurrent dropout: the search starts from a random mask.
    assert model.adversarial_dropout.base_mask == "random"
    assert model.get_layer("lstm").recurrent_dropout == pytest.approx(0.2)


def test_build_gives_the_layers_the_policy_and_leaves_the_global_one():
    hypermodel = tiny_hypermodel(dtype_policy="mixed_float16")
    keras.backend.clear_session()  # what the tuner does before a trial
    model = hypermodel.build(fixed_hp(flips=1, iterations=1))
    assert keras.config.dtype_policy().name == "float32"
    assert model.get_layer("lstm").compute_dtype == "float16"
    assert model.get_layer("lstm").variable_dtype == "float32"
    # Mixed float16 trains with a scaled loss, as under a global policy.
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    x = np.zeros((2,) + tuple(model.inputs[0].shape[1:]), "float32")
    assert keras.ops.convert_to_numpy(model(x)).dtype == np.float16
    default = tiny_hypermodel().build(fixed_hp(flips=1, iterations=1))
    assert default.get_layer("lstm").compute_dtype == "float32"
    with pytest.raises(ValueError):
        tiny_hypermodel(dtype_policy="float13")


def test_fit_passes_every_keyword_through():
    hypermodel = tiny_hypermodel()
    model = hypermodel.build(fixed_hp(flips=3, iterations=1))
    (x, y), kwargs = hypermodel.task.load_data()
    seen = []
    callback = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: seen.append(epoch))
    # Hyperband injects epochs and initial_epoch.
    history = hypermodel.fit(
        fixed_hp(), model, x, y, epochs=3, initial_epoch=1,
        callbacks=[callback], verbose=0, **kwargs)
    assert history.epoch == [1, 2] and seen == [1, 2]
    assert len(history.history["val_accuracy"]) == 2
    assert min(history.history["adversarial_dropout_penalty"]) > 0
    # Mean units flipped per example: the start flip, at most the budget.
    for flips in history.history["adversarial_dropout_flips_lstm"]:
        assert 1.0 <= flips <= 3.0


def test_digits_task_uses_the_package_data_without_its_test_images():
    task = tasks.get_task("digits", quick=True, seed=3, **TINY)
    (x, y), kwargs = task.load_data()
    x_val, y_val = kwargs["validation_data"]
    assert x.shape == (32, 64, 1) and x_val.shape == (20, 64, 1)
    assert kwargs["batch_size"] == 32
    assert task.config == tasks.DigitsConfig(
        units=8, train_size=32, validation_size=20, epochs=1)
    (x_all, _), (x_test, _) = keras_adrop.datasets.digits.load(52, seed=3)
    rows = {r.tobytes() for r in x_all}
    assert {r.tobytes() for r in np.concatenate([x, x_val])} == rows
    assert not rows & {r.tobytes() for r in x_test}


def test_bad_arguments_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="Unknown task 'mnist'.*digits"):
        tuning.TaskHyperModel(task="mnist")
    with pytest.raises(ValueError, match="iterations_range"):
        tiny_hypermodel(iterations_range=(0, 2))
    with pytest.raises(ValueError, match="dropout_range"):
        tiny_hypermodel(dropout_range=(0.0, 0.5))
    with pytest.raises(ValueError, match="penalty_weight_range"):
        tiny_hypermodel(penalty_weight_range=(1.0,))
    with pytest.raises(ValueError, match="delta_range"):
        tuning.TaskHyperModel(task="digits", quick=True,
                                            task_options={"units": 8})
    with pytest.raises(ValueError, match="Unknown option.*'unit'"):
        tasks.get_task("digits", unit=8)
    with pytest.raises(ValueError, match="kind"):
        search.make_tuner("grid", tiny_hypermodel(), "/tmp", "x",
                          max_trials=1)
    with pytest.raises(ValueError, match="max_epochs"):
        search.make_tuner("hyperband", tiny_hypermodel(), "/tmp", "x")
    # The command line prints the message (no traceback) before any work.
    with pytest.raises(SystemExit, match="error: `delta_range`.*16 units"):
        search.main(["--units", "16", "--delta-range", "0.01,0.05",
                     "--directory", str(tmp_path)])
    assert not any(tmp_path.iterdir())


class _TinyGRUTask(tuning.Task):
    """A registered task with no dropout to tune (and a custom objective)."""

    name = "tiny_gru"
    objective = keras_tuner.Objective("val_loss", "min")

    @property
    def units(self):
        return 4

    def load_data(self):
        rng = np.random.default_rng(0)
        x = rng.normal(size=(16, 5, 2)).astype("float32")
        y = (x[:, :, 0].sum(axis=1) > 0).astype("int32")
        return (x, y), {"validation_data": (x, y), "batch_size": 8}

    def build(self, dropout=None):
        inputs = keras.Input((5, 2))
        hidden = keras_adrop.layers.GRU(
            4, name="gru", seed=self.seed,
            kernel_initializer=keras.initializers.GlorotUniform(self.seed),
            recurrent_initializer=keras.initializers.Orthogonal(
                self.seed + 1))(inputs)
        model = keras.Model(inputs, keras.layers.Dense(
            2, kernel_initializer=keras.initializers.GlorotUniform(
                self.seed + 2))(hidden))
        model.compile("adam", keras.losses.SparseCategoricalCrossentropy(
            from_logits=True))
        return model


def test_registered_task_plugs_in(monkeypatch):
    monkeypatch.setitem(tasks._REGISTRY, "tiny_gru", _TinyGRUTask)
    assert "tiny_gru" in tuning.available_tasks()
    hypermodel = tuning.TaskHyperModel(
        task="tiny_gru", delta_range=(0.25, 0.5), iterations_range=(2, 2))
    model = hypermodel.build(fixed_hp(flips=2, iterations=2))
    assert model.adversarial_dropout.delta == 0.5
    assert model.adversarial_dropout.layer_names in (None, ["gru"])
    with pytest.raises(ValueError, match="no dropout rate to tune"):
        tuning.TaskHyperModel(
            task="tiny_gru", delta_range=(0.25, 0.5), dropout_range=(0.1, 0.2))
    with pytest.raises(ValueError, match="must be a Task subclass"):
        tuning.register_task("bad", 42)


def test_imdb_task_builds_the_example_classifier():
    task = tasks.get_task("imdb", quick=True, data="synthetic",
                          train_size=40, validation_fraction=0.25)
    hypermodel = tuning.TaskHyperModel(
        task=task, delta_range=(0.1, 0.2), dropout_range=(0.1, 0.3))
    assert hypermodel.units == 16 and hypermodel.flips_range == (2, 3)
    (train,), kwargs = task.load_data()
    assert kwargs["shuffle"] is False and "validation_data" in kwargs
    tokens, labels = next(iter(kwargs["validation_data"]))
    assert tokens.shape == (10, task.config.sequence_length)  # 40 * 0.25
    assert sorted(np.unique(labels.numpy())) == [0, 1]
    model = hypermodel.build(fixed_hp(flips=3, iterations=2, dropout=0.2))
    assert model.adversarial_dropout.delta == pytest.approx(3 / 16)
    assert model.adversarial_dropout.iterations == 2
    assert model.adversarial_dropout.base_mask == "random"
    assert model.get_layer("lstm").recurrent_dropout == pytest.approx(0.2)
    assert model.get_layer("embedding") is not None
    with pytest.raises(ValueError, match="Unknown option.*'unit'"):
        tasks.get_task("imdb", quick=True, unit=8)
    with pytest.raises(ValueError, match="validation_fraction"):
        tasks.get_task("imdb", quick=True, validation_fraction=1.5)


def test_ptb_task_builds_the_example_language_model():
    task = tasks.get_task("ptb", quick=True, train_tokens=500,
                          eval_tokens=200)
    assert task.objective.name == "val_perplexity"
    assert task.objective.direction == "min"
    hypermodel = tuning.TaskHyperModel(
        task=task, delta_range=(0.1, 0.2))
    assert hypermodel.units == 16
    (inputs, targets), kwargs = task.load_data()
    assert inputs.shape == targets.shape and inputs.shape[1] == 10  # bptt
    assert kwargs == {"batch_size": 8, "shuffle": False}
    model = hypermodel.build(fixed_hp(flips=2, iterations=1))
    regularizer = model.adversarial_dropout
    assert regularizer.delta == pytest.approx(2 / 16)
    assert sorted(layer.name for layer in regularizer.layers) == [
        "lstm_1", "lstm_2"]
    assert model.get_layer("lstm_1").stateful
    # The callback that puts `val_perplexity` in the epoch logs.
    callbacks = task.callbacks(model)
    assert len(callbacks) == 1
    with pytest.raises(ValueError, match="`bptt` must be a positive"):
        tasks.get_task("ptb", quick=True, bptt=0)
    with pytest.raises(ValueError, match="`units` must be of type int"):
        tasks.get_task("ptb", quick=True, units="many")


def test_resumed_search_with_other_options_is_refused(tmp_path):
    args = search.parse_args(TINY_CLI + ["--directory", str(tmp_path)])
    # Saved and compared through JSON (the task options are tuples).
    assert args.task_option == [("train_size", 32), ("validation_size", 20)]
    project = tmp_path / args.project_name
    search._check_config(args, str(project))
    assert (project / search.CONFIG_FILE).exists()
    more = search.parse_args(TINY_CLI + ["--directory", str(tmp_path),
                                         "--max-trials", "9"])
    search._check_config(more, str(project))  # extending is allowed
    search._check_config(args, str(project))  # the same options resume
    other = search.parse_args(
        [a if a != "0.1,0.4" else "0.2,0.4" for a in TINY_CLI]
        + ["--directory", str(tmp_path)])
    with pytest.raises(SystemExit, match="delta_range"):
        search._check_config(other, str(project))
    with pytest.raises(SystemExit):
        search.parse_args(["--tuner", "hyperband", "--epochs", "3"])
    with pytest.raises(SystemExit):
        search.parse_args(["--task-option", "units"])  # not KEY=VALUE


def _summary_rows(project):
    with open(project / "summary.csv") as f:
        return list(csv.DictReader(f))


def test_tiny_random_search_writes_the_summary(tmp_path):
    rows, text = search.main(TINY_CLI + [
        "--tuner", "random", "--max-trials", "2", "--epochs", "1",
        "--directory",
        str(tmp_path), "--project-name", "tiny"])
    project = tmp_path / "tiny"
    assert len(rows) == 2
    assert all(r["status"] == "COMPLETED" for r in rows)
    assert all(0.0 <= r["score"] <= 1.0 for r in rows)
    assert all(r["seconds"] > 0 and r["tuner_id"] == "tuner0" for r in rows)
    assert len({(r["flips"], r["iterations"]) for r in rows}) == 2
    for r in rows:
        assert r["delta"] == pytest.approx(r["flips"] / 8)
        assert r["K_eff"] == min(r["iterations"], r["flips"] - 1)
        assert 1 <= r["flips"] <= 3 and 1 <= r["iterations"] <= 3
    assert rows[0]["score"] >= rows[1]["score"]  # best first
    assert rows[0]["score"] == max(r["score"] for r in rows)
    saved = _summary_rows(project)
    assert [row["trial"] for row in saved] == [r["trial"] for r in rows]
    assert f"Best: trial {rows[0]['trial']}, val_accuracy" in text
    assert (project / "summary.md").read_text() == text
    assert (project / "scores.png").stat().st_size > 10_000
    # The recorded best is what KerasTuner reports.
    tuner = search.make_tuner("random", tiny_hypermodel(), tmp_path, "tiny",
                              max_trials=2)
    best = tuner.oracle.get_best_trials(1)[0]
    assert best.score == rows[0]["score"]  # (ties may rank either first)
    row = next(r for r in rows if r["trial"] == best.trial_id)
    assert (row["flips"], row["iterations"]) == (
        best.hyperparameters["flips"], best.hyperparameters["iterations"])
    assert tuner.remaining_trials == 0


@pytest.mark.slow
@pytest.mark.parametrize("task, options", [
    ("imdb", ["data=synthetic", "train_size=40"]),
    ("ptb", ["train_tokens=800", "eval_tokens=200"]),
])
def test_tiny_search_on_the_imdb_and_ptb_examples(tmp_path, task, options):
    argv = ["--quick", "--task", task, "--tuner", "random",
            "--max-trials", "1", "--epochs", "1", "--delta-range", "0.1,0.2",
            "--directory", str(tmp_path), "--project-name", task]
    for option in options:
        argv += ["--task-option", option]
    rows, text = search.main(argv)
    assert len(rows) == 1 and rows[0]["status"] == "COMPLETED"
    if task == "ptb":
        assert "val_perplexity (min)" in text
        assert 1.0 < rows[0]["score"] < 20_000  # vocabulary of 10,000
    else:
        assert "val_accuracy (max)" in text
        assert 0.0 <= rows[0]["score"] <= 1.0


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["bayesian", "hyperband"])
def test_tiny_bayesian_and_hyperband_searches(tmp_path, kind):
    argv = TINY_CLI + ["--tuner", kind, "--directory", str(tmp_path),
                       "--project-name", kind]
    argv += (["--max-trials", "3", "--epochs", "1"] if kind == "bayesian"
             else ["--max-epochs", "2", "--factor", "2"])
    rows, _ = search.main(argv)
    assert all(r["status"] == "COMPLETED" for r in rows)
    if kind == "bayesian":
        assert len(rows) == 3
    else:
        # max_epochs 2, factor 2: 2 one-epoch trials, the better continued
        # to 2 epochs, and 2 two-epoch trials.
        assert sorted(r["epochs"] for r in rows) == [1, 1, 2, 2, 2]
        continued = [r for r in rows if r["continues"]]
        assert len(continued) == 1
        assert continued[0]["best_epoch"] == 2  # its model's second epoch
    assert (tmp_path / kind / "scores.png").exists()


def _env(**extra):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **extra)
    for key in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP",
                "KERASTUNER_ORACLE_PORT"):
        if key not in extra:
            env.pop(key, None)
    return env


def _read_json(path):
    """JSON of a file another process may be writing; None until whole."""
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _runs(project, trial_id):
    path = project / f"trial_{trial_id}" / "runs.json"
    return json.loads(path.read_text())


@pytest.mark.multiprocess
@pytest.mark.slow
def test_killed_search_resumes_without_repeating_finished_trials(tmp_path):
    command = [sys.executable, "-m", "tuning.search"] + TINY_CLI + [
        "--max-trials", "3", "--epochs", "1", "--directory", str(tmp_path),
        "--project-name", "resume"]
    project = tmp_path / "resume"
    log = open(tmp_path / "first.log", "w")
    first = subprocess.Popen(command, cwd=REPO, env=_env(), stdout=log,
                             stderr=subprocess.STDOUT)
    try:
        # Wait until one trial is finished and the next one is running.
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            oracle = _read_json(project / "oracle.json")
            if (oracle and oracle["end_order"]
                    and set(oracle["ongoing_trials"].values())
                    - set(oracle["end_order"])):
                break
            assert first.poll() is None, (tmp_path / "first.log").read_text()
            time.sleep(0.2)
        else:
            pytest.fail("no trial finished within 180 s")
        time.sleep(1.0)  # into the running trial's training
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
        log.close()
    oracle = json.loads((project / "oracle.json").read_text())
    finished = list(oracle["end_order"])
    interrupted = list(oracle["ongoing_trials"].values())
    assert 1 <= len(finished) < 3 and len(interrupted) == 1, oracle
    assert interrupted[0] not in finished
    second = subprocess.run(command, cwd=REPO, env=_env(), timeout=240,
                            capture_output=True, text=True)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "Reloading Tuner from" in second.stdout
    rows = _summary_rows(project)
    assert sorted(r["trial"] for r in rows) == ["0", "1", "2"]
    assert all(r["status"] == "COMPLETED" for r in rows)
    first_pid = _runs(project, finished[0])[0]["pid"]
    for trial_id in finished:  # ran once, by the first process only
        assert [run["pid"] for run in _runs(project, trial_id)] == [first_pid]
    second_pids = {run["pid"] for r in rows if r["trial"] not in finished
                   for run in _runs(project, r["trial"])}
    assert len(second_pids) == 1 and first_pid not in second_pids
    # The killed trial left no record; the resumed process reran it.
    assert len(_runs(project, interrupted[0])) == 1


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.multiprocess
@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_chief_and_two_workers_share_the_search(tmp_path, backend):
    """KerasTuner's chief (the oracle, over gRPC) and two workers, each a
    process training on `backend`."""
    port = str(_free_port())
    command = [sys.executable, "tuning/search.py"] + TINY_CLI + [
        "--max-trials", "4", "--epochs", "1", "--directory", str(tmp_path),
        "--project-name", "distributed"]
    processes = {}
    try:
        for tuner_id in ("chief", "tuner0", "tuner1"):
            env = _env(KERASTUNER_TUNER_ID=tuner_id,
                       KERASTUNER_ORACLE_IP="127.0.0.1",
                       KERASTUNER_ORACLE_PORT=port,
                       KERAS_BACKEND=backend)
            processes[tuner_id] = subprocess.Popen(
                command, cwd=REPO, env=env, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, text=True)
        outputs = {k: p.communicate(timeout=240)[0]
                   for k, p in processes.items()}
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
    for tuner_id, process in processes.items():
        assert process.returncode == 0, outputs[tuner_id][-3000:]
    project = tmp_path / "distributed"
    rows = _summary_rows(project)  # written by the chief
    assert "distributed: chief chief" in outputs["chief"]
    assert len(rows) == 4 and all(r["status"] == "COMPLETED" for r in rows)
    runs = [_runs(project, r["trial"]) for r in rows]
    assert all(len(r) == 1 for r in runs)  # each trial ran once
    ran_by = [r[0]["tuner_id"] for r in runs]
    assert set(ran_by) == {"tuner0", "tuner1"}, ran_by
    assert {r[0]["backend"] for r in runs} == {backend}
    assert "summary.md" not in outputs["tuner0"] + outputs["tuner1"]
