"""examples/replicate.py (and examples/replication/): which runs a sitting
makes, the tuning stage, and the report."""

import json
import pathlib
import subprocess

import pytest

from examples import replicate
from examples.replication import parts
from examples.replication import report
from examples.replication import seed_runs
from examples.replication import tuning


@pytest.fixture
def calls(monkeypatch):
    """The (part, method, seed) of every run, `seed_runs.run_one` recording
    them instead of training."""
    calls = []

    def fake_run(part, method, seed, args, tuned_record=None):
        calls.append((part, method, seed))
        path = seed_runs.run_path(args.results_dir, part, method, seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        run = {"test_perplexity": 100.0 + seed + len(method),
               "train_seconds_per_epoch": 60.0,
               "epoch_seconds": [60.0, 60.0],
               "history": {"val_perplexity": [200.0, 150.0],
                           "loss": [5.0, 4.5]}}
        path.write_text(json.dumps({"methods": {method: run}}))
        return run

    monkeypatch.setattr(seed_runs, "run_one", fake_run)
    return calls


def test_a_sitting_runs_only_the_chosen_methods_and_seeds(calls,
                                                          tmp_path):
    args = replicate.parse_args([
        "--parts", "ptb", "--seeds", "5", "--methods",
        "variational,adversarial_dropconnect", "--results-dir",
        str(tmp_path), "--report", str(tmp_path / "report.md")])
    saved = seed_runs.collect("ptb", range(args.seeds), args)
    # PTB caps these methods at 3 seeds; the others are not run.
    assert calls == [("ptb", method, seed) for seed in range(3)
                     for method in ("variational", "adversarial_dropconnect")]
    assert sorted(saved) == ["adversarial_dropconnect", "variational"]

    # A later sitting runs the rest and reads back what was saved.
    calls.clear()
    args = replicate.parse_args(["--parts", "ptb", "--results-dir",
                                 str(tmp_path)])
    saved = seed_runs.collect("ptb", range(args.seeds), args)
    assert {m for _, m, _ in calls} == {"unregularized", "fraternal",
                                        "adversarial_k1"}
    assert {method: len(by_seed) for method, by_seed in saved.items()} == {
        "unregularized": 3, "variational": 3, "fraternal": 2,
        "adversarial_k1": 3, "adversarial_dropconnect": 3}

    lines = report.protocol_section("ptb", saved, args, "figure.png")
    text = "\n".join(lines)
    assert "| adversarial_dropconnect vs variational |" in text
    assert "The paper's order (Table 3): adversarial_dropconnect < " \
        "fraternal < variational." in text
    assert "Training time of the saved runs: 0.5 hours" in text  # 14 x 2 min


def test_unknown_methods_are_named(capsys):
    with pytest.raises(SystemExit):
        replicate.parse_args(["--parts", "imdb", "--methods", "dropconnect"])
    assert "dropconnect" in capsys.readouterr().err


def test_a_part_without_saved_runs_keeps_its_section(calls, tmp_path):
    report_path = tmp_path / "report.md"
    mnist = f"## {parts.PARTS['mnist']['title']}"
    report_path.write_text("\n".join([
        "# Results", "", report.NOTES_BEGIN, "my reading",
        report.NOTES_END, mnist, "", "| old table |", "",
        "## Some retired part", "", "| gone |", ""]))
    replicate.main(["--report-only", "--results-dir", str(tmp_path / "runs"),
                    "--report", str(report_path)])
    text = report_path.read_text()
    assert "my reading" in text
    assert f"{mnist}\n\n| old table |\n" in text
    # Only a current part's section is kept; nothing ran.
    assert "retired" not in text and calls == []


# ------------------------------------------------------- tuned protocol


@pytest.fixture
def commands(monkeypatch):
    """The command of every example run, `subprocess.run` (which
    `seed_runs.run_example` calls for every run and trial) replaced by a
    fake example that writes the results.json a run of it would
    (validation metrics always, test metrics without --no-test)."""
    commands = []

    def option(command, flag, default=None):
        return command[command.index(flag) + 1] if flag in command \
            else default

    def fake_run(command, stdout=None, stderr=None, cwd=None):
        commands.append(list(command))
        method = option(command, "--methods")
        score = float(option(command, "--delta", 0.0)) + float(
            option(command, "--recurrent-dropout", 0.0))
        run = {"validation_error_percent": 10.0 - score,
               "validation_mae": 3.0 - score, "best_epoch": 1,
               "train_seconds_per_epoch": 1.0, "epoch_seconds": [1.0],
               "history": {"loss": [1.0], "val_accuracy": [0.9],
                           "val_mae": [3.0]}}
        if "--no-test" not in command:
            run.update(test_error_percent=5.0 - score, test_mae=2.0 - score)
        output = pathlib.Path(option(command, "--output-dir"))
        output.mkdir(parents=True, exist_ok=True)
        (output / "results.json").write_text(json.dumps(
            {"config": {}, "methods": {method: run}}))
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(seed_runs.subprocess, "run", fake_run)
    return commands


def _option(command, flag):
    assert command.count(flag) == 1, (flag, command)
    return command[command.index(flag) + 1]


def test_a_resumed_tune_runs_only_the_missing_trials(commands,
                                                      tmp_path):
    tune = ["--tune", "--parts", "mnist", "--methods",
            "unregularized,variational,adversarial_k2", "--results-dir",
            str(tmp_path)]
    replicate.main(tune + ["--trials", "2"])
    assert len(commands) == 4  # 2 per tuned method, 0 for none
    for command in commands:
        # A trial selects on validation data: it never reads the test set,
        # and it uses none of the compared seeds.
        assert "--no-test" in command
        assert _option(command, "--seed") == str(tuning.TRIAL_SEED)
    first = json.loads(
        (tmp_path / "mnist/tuning/adversarial_k2/trial00.json").read_text())

    # Resumed with more trials: only the new ones run, the same sequence.
    commands.clear()
    replicate.main(tune + ["--trials", "3"])
    assert [_option(c, "--methods") for c in commands] == [
        "variational", "adversarial_k2"]
    assert json.loads((tmp_path / "mnist/tuning/adversarial_k2/"
                       "trial00.json").read_text()) == first
    commands.clear()
    replicate.main(tune + ["--trials", "3"])
    assert commands == []

    tuned = json.loads(
        (tmp_path / "mnist/tuned/adversarial_k2.json").read_text())
    assert len(tuned["trials"]) == 3
    objectives = [t["objective"] for t in tuned["trials"]]
    assert tuned["objective"]["value"] == min(objectives)
    assert tuned["settings"] == tuned["trials"][
        objectives.index(min(objectives))]["settings"]
    # Flips of the model's 100 units (delta = flips / 100), lambda, K = 2.
    flips = tuned["values"]["flips"]
    assert tuned["settings"]["delta"] == flips / 100
    assert 0.1 <= tuned["settings"]["penalty_weight"] <= 10.0
    space = {item["name"]: item for item in tuned["search_space"]}
    assert (space["flips"]["min"], space["flips"]["max"]) == (1, 10)
    assert (space["iterations"]["min"], space["iterations"]["max"]) == (2, 2)
    assert space["penalty_weight"]["sampling"] == "log"
    assert set(json.loads((tmp_path / "mnist/tuned/variational.json")
                          .read_text())["settings"]) == {"recurrent_dropout"}
    unregularized = json.loads(
        (tmp_path / "mnist/tuned/unregularized.json").read_text())
    assert unregularized["settings"] == {} and unregularized["trials"] == []

    # A saved trial from another search is refused, not silently reused.
    path = tmp_path / "mnist/tuning/variational/trial01.json"
    trial = json.loads(path.read_text())
    trial["values"]["recurrent_dropout"] = 0.123
    path.write_text(json.dumps(trial))
    with pytest.raises(RuntimeError, match="search space or its seed"):
        replicate.main(tune + ["--trials", "3"])


def test_a_trial_that_writes_a_test_metric_is_refused(commands,
                                                      tmp_path, monkeypatch):
    run = seed_runs.subprocess.run

    def without_no_test(command, **kwargs):  # an example ignoring it
        return run([word for word in command if word != "--no-test"],
                   **kwargs)

    monkeypatch.setattr(seed_runs.subprocess, "run", without_no_test)
    args = replicate.parse_args(["--tune", "--parts", "seattle",
                                 "--results-dir", str(tmp_path)])
    with pytest.raises(RuntimeError, match="must not read the test set"):
        tuning.run_trial("seattle", "variational", 0,
                            {"recurrent_dropout": 0.2}, 64, args)
    assert not tuning.trial_path(tmp_path, "seattle", "variational",
                                    0).exists()


def test_tuned_settings_reach_the_example_and_the_report(commands,
                                                         tmp_path):
    results = tmp_path / "runs"
    for method, settings in [("unregularized", {}),
                             ("adversarial_k1", {"delta": 0.05,
                                                 "penalty_weight": 0.5}),
                             ("variational", {"recurrent_dropout": 0.3})]:
        path = seed_runs.tuned_path(results, "mnist", method)
        path.parent.mkdir(parents=True, exist_ok=True)
        knobs = tuning.method_knobs(method)
        path.write_text(json.dumps({
            "settings": settings, "trials_planned": 8,
            "frozen_options": parts.part_options(
                "mnist", quick=False, trial=True),
            "values": ({"flips": 5, "iterations": 1, "penalty_weight": 0.5}
                       if "flips" in knobs else settings),
            "units": 100,
            "objective": {"name": "validation_error_percent",
                          "direction": "min", "value": 1.5},
            "search_space": [{"name": "recurrent_dropout", "type": "Float",
                              "min": 0.05, "max": 0.5, "sampling": "linear"}]
            if settings else [],
            "trials": [{"trial": 0, "objective": 1.5}] if settings else [],
            "tune_command": "python examples/replicate.py --tune"}))
    report_path = tmp_path / "report.md"
    replicate.main(["--parts", "mnist", "--seeds", "2", "--results-dir",
                    str(results), "--report", str(report_path)])
    # Only the tuned methods ran, at their tuned settings, seed-paired.
    ran = [(_option(c, "--methods"), _option(c, "--seed"))
           for c in commands]
    assert ran == [(m, s) for s in "01" for m in (
        "unregularized", "variational", "adversarial_k1")]
    by_method = {_option(c, "--methods"): c for c in commands}
    assert _option(by_method["adversarial_k1"], "--delta") == "0.05"
    assert _option(by_method["adversarial_k1"], "--penalty-weight") == "0.5"
    assert _option(by_method["variational"], "--recurrent-dropout") == "0.3"
    # The frozen options stay: only the method's own knobs change.
    assert _option(by_method["unregularized"], "--delta") == "0.03"
    saved = json.loads(seed_runs.run_path(
        str(results) + "_tuned", "mnist", "adversarial_k1", 1).read_text())
    assert saved["replicate"]["tuned_settings"] == {
        "delta": 0.05, "penalty_weight": 0.5}
    assert not (results / "mnist" / "adversarial_k1").exists()

    text = report_path.read_text()
    assert "## MNIST row by row (28 steps), 5,000 training images, at " \
        "tuned settings" in text
    assert "| adversarial_k1 vs variational |" in text
    assert "| adversarial_k1 | delta 0.05 (5 of 100 units), lambda 0.5 |" \
        in text
    assert "| variational | p 0.3 | p 0.05-0.5 | 1 | 1.5 | 1.5 |" in text
    assert "| unregularized | none (no knob of its own) | - | 0 |" in text

    # --untuned runs the frozen options, saved apart from the tuned runs.
    commands.clear()
    replicate.main(["--parts", "mnist", "--seeds", "1", "--untuned",
                    "--methods", "adversarial_k1", "--results-dir",
                    str(results), "--report", str(report_path)])
    assert [_option(c, "--delta") for c in commands] == ["0.03"]
    assert "--penalty-weight" not in commands[0]
    assert seed_runs.run_path(results, "mnist", "adversarial_k1", 0).exists()
    text = report_path.read_text()
    assert text.count("## MNIST row by row (28 steps), 5,000 training "
                      "images") == 2  # untuned and tuned sections

    # Tuned again to other settings: the saved runs of the old ones are
    # refused, by a sitting and by the report, never read as new ones.
    path = seed_runs.tuned_path(results, "mnist", "variational")
    record = json.loads(path.read_text())
    record["settings"] = {"recurrent_dropout": 0.2}
    path.write_text(json.dumps(record))
    commands.clear()
    for extra in ([], ["--report-only"]):
        with pytest.raises(ValueError, match=(
                r"variational/seed0/results\.json is not a run of the "
                r"current protocol: it was made by `python .*"
                r"--recurrent-dropout 0\.3 .*`, and the protocol now runs "
                r"`python .*--recurrent-dropout 0\.2 ")):
            replicate.main(["--parts", "mnist", "--seeds", "2",
                            "--results-dir", str(results), "--report",
                            str(report_path)] + extra)
    assert commands == []


def test_ptb_tunes_at_the_frozen_recipe_with_the_example_s_option_names():
    options = parts.part_options("ptb", quick=False, tuned=True)
    assert _option(options, "--optimizer") == "sgd"
    assert _option(options, "--learning-rate") == "30"
    assert _option(
        parts.part_options("ptb", quick=False), "--learning-rate") \
        == "3e-3"  # the issue-15 runs keep their command
    # Trials run the same recipe on a shorter schedule, and the report says so.
    trial = parts.part_options("ptb", quick=False, trial=True)
    assert _option(trial, "--epochs") == "3"
    assert _option(options, "--epochs") == "8"
    assert parts.with_options(trial, {"--epochs": "8"}) == options
    def records(part):  # as tune_method saves them
        return {"variational": {"frozen_options": parts.part_options(
            part, quick=False, trial=True)}}
    assert report.trial_schedule("ptb", records("ptb")) == (
        " Trials ran `--epochs 3` where the seed runs ran `--epochs 8`.")
    # The overfitting regime runs the same recipe on fewer tokens, longer,
    # and tunes on the schedule of its seed runs.
    small = parts.part_options("ptb_100k", quick=False, tuned=True)
    assert parts.with_options(options, {"--train-tokens": "100000",
                                        "--epochs": "32"}) == small
    assert parts.part_options("ptb_100k", quick=False, trial=True) == small
    for part in parts.PARTS:  # seattle's options end with --verbose
        if part != "ptb":
            assert report.trial_schedule(part, records(part)) == ""
    assert parts.option_values(["--epochs", "3", "--verbose"]) == {
        "--epochs": "3", "--verbose": None}
    with pytest.raises(ValueError, match="--verbose takes no value"):
        parts.with_options(["--verbose", "--epochs", "3"], {"--verbose": "1"})
    for method, settings, expected in [
            ("fraternal", {"kappa": 0.2}, {"--fraternal-weight": "0.2"}),
            ("expectation_linearization", {"kappa": 0.3},
             {"--el-weight": "0.3"}),
            ("adversarial_dropconnect", {"delta": 0.05, "penalty_weight": 2.0},
             {"--dropconnect-delta": "0.05", "--dropconnect-weight": "2.0"}),
            ("adversarial_k1", {"delta": 0.05, "penalty_weight": 2.0},
             {"--delta": "0.05", "--penalty-weight": "2.0"})]:
        changed = parts.with_settings(
            options, settings, parts.part_flags("ptb", method))
        # The method's own flags are set; every other option is untouched.
        assert parts.option_values(changed) == {
            **parts.option_values(options), **expected}


def test_a_failed_run_names_its_log(commands, tmp_path, monkeypatch):
    def failing(command, stdout=None, stderr=None, cwd=None):
        print("Traceback: the example failed", file=stdout)
        return subprocess.CompletedProcess(command, 1)

    monkeypatch.setattr(seed_runs.subprocess, "run", failing)
    args = replicate.parse_args(["--parts", "seattle", "--results-dir",
                                 str(tmp_path)])
    with pytest.raises(RuntimeError, match=r"seattle variational seed 0 "
                       r"failed \(exit 1\); see .*seed0/log.txt"):
        seed_runs.run_one("seattle", "variational", 0, args)
    log = seed_runs.run_path(tmp_path, "seattle", "variational",
                             0).parent / "log.txt"
    assert "the example failed" in log.read_text()
    # An example that exits 0 but saves nothing fails too.
    monkeypatch.setattr(seed_runs.subprocess, "run", lambda command, **_:
                        subprocess.CompletedProcess(command, 0))
    with pytest.raises(RuntimeError, match="trial 0 failed .exit 0."):
        tuning.run_trial("seattle", "variational", 0,
                         {"recurrent_dropout": 0.2}, 64, args)


def test_the_lstm_width_of_every_part_is_known(monkeypatch):
    assert {part: parts.part_units(part, quick=False)
            for part in parts.PARTS} == {"mnist": 100, "imdb": 64,
                                         "ptb": 128, "ptb_100k": 128,
                                         "seattle": 64}
    monkeypatch.setitem(parts.PARTS, "new", {"script": "new_example.py",
                                             "args": ["--epochs", "1"]})
    with pytest.raises(ValueError, match="new_example.py is not known "
                       "here: add --units"):
        parts.part_units("new", quick=False)


def test_tuning_errors_name_the_argument(capsys):
    with pytest.raises(SystemExit):
        replicate.parse_args(["--tune", "--trials", "0"])
    assert "--trials must be >= 1; got 0" in capsys.readouterr().err
    with pytest.raises(ValueError, match="dropconnect2"):
        tuning.method_knobs("dropconnect2")


def test_the_searched_knobs_come_from_the_registry():
    """Each method's searched knobs, read from `Method.knobs`: the search
    spaces of the committed trials."""
    assert {method: tuning.method_knobs(method) for method in (
        "unregularized", "variational", "fraternal",
        "expectation_linearization", "adversarial_k1", "adversarial_k2",
        "adversarial_k1_vat", "adversarial_k2_vat", "adversarial_dropconnect",
        "virtual_adversarial", "adversarial_training")} == {
        "unregularized": (),
        "variational": ("recurrent_dropout",),
        "fraternal": ("kappa",),
        "expectation_linearization": ("kappa",),
        "adversarial_k1": ("flips", "penalty_weight"),
        "adversarial_k2": ("flips", "penalty_weight"),
        "adversarial_k1_vat": ("flips", "penalty_weight", "epsilon"),
        "adversarial_k2_vat": ("flips", "penalty_weight", "epsilon"),
        "adversarial_dropconnect": ("delta", "penalty_weight"),
        "virtual_adversarial": ("epsilon",),
        "adversarial_training": ("epsilon",)}
    hp, _ = tuning.search_space("imdb", "adversarial_k2_vat")
    assert [item.name for item in hp.space] == [
        "flips", "iterations", "penalty_weight", "epsilon"]
    assert hp.get("iterations") == 2  # K of the method


@pytest.mark.slow  # ~2 minutes: 4 trials and 3 runs of the real example
def test_quick_tune_then_tuned_seed_runs_end_to_end(tmp_path):
    results = tmp_path / "runs"
    common = ["--quick", "--parts", "mnist", "--methods",
              "unregularized,variational,adversarial_k2", "--results-dir",
              str(results)]
    replicate.main(common + ["--tune", "--trials", "2"])
    trials = sorted(p.relative_to(results).as_posix()
                    for p in results.glob("mnist/tuning/*/trial*.json"))
    assert trials == [f"mnist/tuning/{m}/trial0{i}.json"
                      for m in ("adversarial_k2", "variational")
                      for i in (0, 1)]
    for path in results.glob("mnist/tuning/*/trial*.json"):
        trial = json.loads(path.read_text())
        assert trial["objective"]["name"] == "validation_error_percent"
        assert "--no-test" in trial["command"]
    tuned = json.loads(
        (results / "mnist/tuned/adversarial_k2.json").read_text())
    report_path = tmp_path / "report.md"
    replicate.main(common + ["--seeds", "1", "--report", str(report_path)])
    saved = json.loads(seed_runs.run_path(
        str(results) + "_tuned", "mnist", "adversarial_k2", 0).read_text())
    assert saved["config"]["delta"] == tuned["settings"]["delta"]
    assert saved["config"]["penalty_weight"] == \
        tuned["settings"]["penalty_weight"]
    # The report's tuned table shows the error this run saved.
    error = saved["methods"]["adversarial_k2"]["test_error_percent"]
    text = report_path.read_text()
    assert "Smoke run (--quick): mnist, at tuned settings" in text
    assert f"| adversarial_k2 | 1 | {error:.2f} |" in text


def test_the_report_says_whether_the_unregularized_loss_turned_up():
    def run(losses):
        return {"history": {"val_loss": losses}}

    turned = {"unregularized": {0: run([3.0, 2.0, 2.5]),
                                1: run([3.0, 1.0, 1.5])}}
    line, = report.validation_turn(turned)
    assert "lowest at epoch 2 of 3" in line
    assert "1.38x the lowest: it turned up in every run" in line
    falling = {"unregularized": {0: run([3.0, 2.0, 1.0]),
                                 1: run([3.0, 1.0, 1.5])}}
    assert "it turned up in 1 of 2 runs" in report.validation_turn(
        falling)[0]
    assert report.validation_turn({"variational": {}}) == []
    # A language model logs perplexity, exp of its loss: the same check.
    still_falling = {"unregularized": {0: {"history": {
        "val_perplexity": [240.0, 116.5, 114.0, 113.6]}}}}
    line, = report.validation_turn(still_falling)
    assert "validation perplexity was lowest at epoch 4 of 4" in line
    assert "it turned up in 0 of 1 runs" in line


@pytest.mark.parametrize("argv, message", [
    (["--parts", "mnist,mnist"], "`--parts` must be a comma-separated list "
     "of names from ['mnist', 'imdb', 'ptb', 'ptb_100k', 'seattle'], "
     "each once; ['mnist'] listed twice. Received: 'mnist,mnist'"),
    (["--parts", "cifar"], "unknown ['cifar']. Received: 'cifar'"),
    (["--parts", " , "], "no name. Received: ' , '"),
    (["--parts", "seattle", "--methods", "fraternal,adversarial_dropconnect"],
     "`--methods` must be a comma-separated list of names from "
     "['unregularized', 'variational', 'fraternal', 'adversarial_k1', "
     "'adversarial_k2'], each once; unknown ['adversarial_dropconnect']"),
])
def test_a_list_option_names_what_it_refuses(capsys, argv,
                                             message):
    with pytest.raises(SystemExit):
        replicate.parse_args(argv)
    assert message in capsys.readouterr().err


def test_a_list_option_keeps_its_order():
    args = replicate.parse_args(["--parts", "seattle, mnist", "--methods",
                                 "adversarial_k1,variational"])
    assert args.parts == ["seattle", "mnist"]
    assert args.methods == ["adversarial_k1", "variational"]
