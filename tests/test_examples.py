"""The examples run end to end (quick smoke mode; the full run is slow)."""

import importlib
import json
import pathlib
import subprocess
import sys

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def _load(name):
    """`examples/<name>.py` (or a module of an examples/ package), imported
    by name."""
    return importlib.import_module(f"examples.{name}")


def test_sequential_mnist_quick_writes_results(tmp_path):
    example = _load("sequential_mnist")
    results = example.main(["--quick", "--output-dir", str(tmp_path)])
    assert set(results["methods"]) == {
        "variational", "adversarial_k1", "adversarial_k2"}
    for method, metrics in results["methods"].items():
        assert 0.0 <= metrics["test_error_percent"] <= 100.0, method
        assert metrics["train_seconds_per_epoch"] > 0
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["config"]["quick"] is True
    assert (tmp_path / "learning_curves.png").stat().st_size > 10_000
    adversarial = saved["methods"]["adversarial_k2"]["history"]
    assert min(adversarial["adversarial_dropout_penalty"]) > 0


def test_sequential_mnist_every_method_by_name(tmp_path):
    example = _load("sequential_mnist")
    methods = ["unregularized", "fraternal", "expectation_linearization"]
    results = example.main(["--quick", "--epochs", "1", "--train-size", "64",
                            "--methods", ",".join(methods),
                            "--output-dir", str(tmp_path)])
    assert list(results["methods"]) == methods
    history = results["methods"]["fraternal"]["history"]
    assert history["fraternal_dropout_penalty"][0] > 0
    with pytest.raises(SystemExit):
        example.main(["--quick", "--methods", "dropconnect"])


def test_sequential_mnist_bad_delta_is_a_clear_error(tmp_path):
    example = _load("sequential_mnist")
    with pytest.raises(ValueError, match="delta"):
        example.main(["--quick", "--delta", "0.01", "--output-dir",
                      str(tmp_path)])


def test_sequential_mnist_tensorboard_logs_the_adversarial_masks(tmp_path):
    example = _load("sequential_mnist")
    example.main(["--quick", "--epochs", "1", "--train-size", "64",
                  "--methods", "variational,adversarial_k1",
                  "--tensorboard", str(tmp_path / "tb"),
                  "--output-dir", str(tmp_path)])
    assert list((tmp_path / "tb" / "variational").glob("train/events.*"))
    assert not (tmp_path / "tb" / "variational" / "masks").exists()
    assert list((tmp_path / "tb" / "adversarial_k1").glob("masks/events.*"))


@pytest.mark.slow  # ~20 s: every method on two seeds
def test_forecasting_quick_compares_every_method_in_degrees(tmp_path):
    example = _load("forecasting")
    results = example.main(["--quick", "--seeds", "0,1",
                             "--output-dir", str(tmp_path),
                             "--tensorboard", str(tmp_path / "tb")])
    assert list(results["methods"]) == list(example.METHODS)
    # Persistence on 2015: a real-data anchor, in degrees C.
    assert 2.0 < results["persistence_test_mae"] < 2.5
    for method, m in results["methods"].items():
        assert len(m["runs"]) == 2, method
        maes = [run["test_mae"] for run in m["runs"]]
        assert m["test_mae"] == pytest.approx(sum(maes) / 2)
        assert 0.0 < m["test_mae"] <= m["test_rmse"] < 20.0, method
        assert len(m["runs"][0]["history"]["val_mae"]) == 2
    adversarial = results["methods"]["adversarial_k2"]["runs"][0]["history"]
    assert min(adversarial["adversarial_dropout_penalty"]) > 0
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["config"]["quick"] is True
    assert (tmp_path / "learning_curves.png").stat().st_size > 10_000
    assert list((tmp_path / "tb" / "adversarial_k1_seed1").glob(
        "masks/events.*"))
    with pytest.raises(SystemExit):
        example.main(["--quick", "--methods", "dropconnect"])


@pytest.mark.slow
def test_readme_main_example_runs_in_full(tmp_path):
    """The README's first command, as a user runs it (about 5 minutes)."""
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "sequential_mnist.py"),
         "--output-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    for metrics in results["methods"].values():
        assert metrics["final_train_accuracy"] > 0.95
        assert metrics["test_error_percent"] < 10.0


@pytest.mark.slow
def test_replicate_quick_resumes_and_keeps_smoke_runs_apart(tmp_path):
    """Six tiny trainings in subprocesses, about a minute."""
    replicate = _load("replicate")
    results = tmp_path / "runs"
    args = ["--quick", "--parts", "mnist", "--seeds", "1",
            "--results-dir", str(results)]
    quick = replicate.parse_args(["--quick"])
    assert quick.results_dir.endswith("replicate_quick")
    assert not quick.report.endswith("docs/results.md")
    replicate.main(args)
    saved = sorted(results.glob("mnist/*/seed0/results.json"))
    assert len(saved) == len(_load("replication.parts").PARTS["mnist"][
        "methods"])
    report = (results / "results.md").read_text()
    assert "| adversarial_k2 vs variational |" in report
    stamps = [path.stat().st_mtime for path in saved]
    replicate.main(args)  # everything saved: nothing reruns
    assert [path.stat().st_mtime for path in saved] == stamps


class _UnreadableTestSet:
    """Stands for a test split that a run must never read."""

    def _fail(self, *args):
        raise AssertionError("the test set was read")

    __getitem__ = __iter__ = __len__ = _fail


def _penalty_weight(model):
    return model.regularizers[0].get_config()["penalty_weight"]


def test_sequential_mnist_no_test_never_reads_the_test_set(tmp_path,
                                                          monkeypatch):
    example = _load("sequential_mnist")
    load = example.sequence_classification.load_data
    monkeypatch.setattr(
        example.sequence_classification, "load_data",
        lambda *a, **k: (*load(*a, **k)[:2], _UnreadableTestSet()))
    results = example.main(["--quick", "--epochs", "1", "--train-size", "64",
                            "--methods", "variational", "--no-test",
                            "--output-dir", str(tmp_path)])
    metrics = results["methods"]["variational"]
    assert not [key for key in metrics if key.startswith("test")]
    assert 0.0 <= metrics["validation_error_percent"] <= 100.0
    assert results["config"]["test_examples"] == 0
    with pytest.raises(SystemExit):  # nothing to select on
        example.parse_args(["--no-test", "--validation-size", "0"])


def test_sequential_mnist_penalty_weights_reach_the_models():
    example = _load("sequential_mnist")
    args = example.parse_args(["--quick", "--penalty-weight", "0.5",
                               "--kappa", "0.3"])
    args.input_shape, args.train_size = (8, 1), 64
    assert _penalty_weight(example.build_model("adversarial_k1", args)) \
        == 0.5
    assert _penalty_weight(example.build_model("fraternal", args)) == 0.3
    assert _penalty_weight(
        example.build_model("expectation_linearization", args)) == 0.3
    # Without the options, each regularizer keeps its own default.
    args = example.parse_args(["--quick"])
    args.input_shape, args.train_size = (8, 1), 64
    assert _penalty_weight(example.build_model("fraternal", args)) == 0.15
    with pytest.raises(SystemExit):
        example.parse_args(["--kappa", "-1"])


def test_forecasting_keeps_the_best_validation_weights_and_no_test(
        tmp_path, monkeypatch):
    example = _load("forecasting")
    load = example.seattle_weather.load

    def load_without_test(**kwargs):
        data = load(**kwargs)
        data["test"] = _UnreadableTestSet()
        return data

    monkeypatch.setattr(example.seattle_weather, "load", load_without_test)
    results = example.main(["--quick", "--epochs", "3", "--methods",
                            "fraternal", "--kappa", "0.3", "--no-test",
                            "--output-dir", str(tmp_path)])
    summary = results["methods"]["fraternal"]
    assert not [key for key in summary if key.startswith("test")]
    assert results["persistence_test_mae"] is None
    run = summary["runs"][0]
    best = min(run["history"]["val_loss"])
    assert run["validation_loss"] == best
    assert run["best_epoch"] == run["history"]["val_loss"].index(best) + 1
    assert "fraternal_dropout_penalty" in run["history"]


def test_forecasting_penalty_weights_reach_the_models():
    example = _load("forecasting")
    args = example.parse_args(["--quick", "--penalty-weight", "0.5",
                               "--kappa", "0.3"])
    data = example.seattle_weather.load(window=args.window, horizon=1)
    model = example.build_model("adversarial_k2", args, 0, data["train"])
    assert _penalty_weight(model) == 0.5
    model = example.build_model("fraternal", args, 0, data["train"])
    assert _penalty_weight(model) == 0.3
    assert model.get_layer("lstm").recurrent_dropout == 0.25


def _keeps_best_validation_weights(callbacks, epochs):
    """Whether `callbacks` restore the best-val_loss weights, never
    stopping early."""
    import keras

    return any(isinstance(c, keras.callbacks.EarlyStopping)
               and c.monitor == "val_loss" and c.restore_best_weights
               and c.patience >= epochs for c in callbacks)


def test_forecasting_runs_keep_their_best_validation_weights():
    example = _load("forecasting")
    args = example.parse_args(["--quick", "--epochs", "7"])
    _, callbacks = example.callbacks_for("variational", args, 0, None)
    assert _keeps_best_validation_weights(callbacks, 7)


@pytest.mark.parametrize("name", ["sequential_mnist", "forecasting",
                                  "imdb_sentiment", "ptb_language_model",
                                  "analyze"])
def test_every_example_refuses_a_method_listed_twice(name, capsys):
    # A second run of the same name would overwrite the first's results.
    with pytest.raises(SystemExit):
        _load(name).parse_args(["--methods", "variational,variational"])
    error = capsys.readouterr().err
    assert "`--methods` must be a comma-separated list of names from " in error
    assert "['variational'] listed twice" in error
