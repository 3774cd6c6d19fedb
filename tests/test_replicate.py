"""examples/replicate.py: which runs a sitting makes, and its report."""

import importlib
import json

import pytest


@pytest.fixture
def replicate(monkeypatch):
    """The module, with `run_one` recording calls instead of training."""
    module = importlib.import_module("examples.replicate")
    calls = []

    def fake_run(part, method, seed, args):
        calls.append((part, method, seed))
        path = module.run_path(args.results_dir, part, method, seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        run = {"test_perplexity": 100.0 + seed + len(method),
               "train_seconds_per_epoch": 60.0,
               "epoch_seconds": [60.0, 60.0],
               "history": {"val_perplexity": [200.0, 150.0],
                           "loss": [5.0, 4.5]}}
        path.write_text(json.dumps({"methods": {method: run}}))
        return run

    monkeypatch.setattr(module, "run_one", fake_run)
    module.calls = calls
    return module


def test_a_sitting_runs_only_the_chosen_methods_and_seeds(replicate,
                                                          tmp_path):
    args = replicate.parse_args([
        "--parts", "ptb", "--seeds", "5", "--methods",
        "variational,adversarial_dropconnect", "--results-dir",
        str(tmp_path), "--report", str(tmp_path / "report.md")])
    runs = replicate.collect("ptb", range(args.seeds), args)
    # PTB caps every method at 2 seeds; the others are not run.
    assert replicate.calls == [
        ("ptb", "variational", 0), ("ptb", "adversarial_dropconnect", 0),
        ("ptb", "variational", 1), ("ptb", "adversarial_dropconnect", 1)]
    assert sorted(runs) == ["adversarial_dropconnect", "variational"]

    # A later sitting runs the rest and reads back what was saved.
    replicate.calls.clear()
    args = replicate.parse_args(["--parts", "ptb", "--results-dir",
                                 str(tmp_path)])
    runs = replicate.collect("ptb", range(args.seeds), args)
    assert {m for _, m, _ in replicate.calls} == {"fraternal",
                                                  "adversarial_k1"}
    assert all(len(by_seed) == 2 for by_seed in runs.values())

    lines = replicate.part_section("ptb", runs, args, "figure.png")
    text = "\n".join(lines)
    assert "| adversarial_dropconnect vs variational |" in text
    assert "The paper's order (Table 3): adversarial_dropconnect < " \
        "fraternal < variational." in text
    assert "Training time of the saved runs: 0.3 hours" in text  # 8 x 2 min


def test_unknown_methods_are_named(replicate, capsys):
    with pytest.raises(SystemExit):
        replicate.parse_args(["--parts", "imdb", "--methods", "dropconnect"])
    assert "dropconnect" in capsys.readouterr().err


def test_a_part_without_saved_runs_keeps_its_section(replicate, tmp_path):
    report = tmp_path / "report.md"
    mnist = f"## {replicate.PARTS['mnist']['title']}"
    report.write_text("\n".join([
        "# Results", "", replicate.NOTES_BEGIN, "my reading",
        replicate.NOTES_END, mnist, "", "| old table |", "",
        "## Some retired part", "", "| gone |", ""]))
    replicate.main(["--report-only", "--results-dir", str(tmp_path / "runs"),
                    "--report", str(report)])
    text = report.read_text()
    assert "my reading" in text
    assert f"{mnist}\n\n| old table |\n" in text
    # Only a current part's section is kept; nothing ran.
    assert "retired" not in text and replicate.calls == []
