"""The benchmark runs (smoke mode); it reports ratios, never asserts times."""

import importlib
import json

import keras
import numpy as np
import pytest

from reference_step import StraightforwardAdversarialModel


def _load(name):
    """`benchmarks/<name>` imported as the module `benchmarks.<name>`
    (pytest.ini puts the repository root on the path)."""
    return importlib.import_module("benchmarks." + name.removesuffix(".py"))


@pytest.mark.slow  # ~15 s: every variant of benchmarks/run.py, timed
def test_quick_benchmark_reports_every_ratio(tmp_path):
    benchmark = _load("run.py")
    output = tmp_path / "benchmark.json"
    benchmark.main(["--quick", "--configs", "row_mnist", "--no-scaling",
                    "--no-memory", "--rounds", "1", "--steps", "1", "--output", str(output)])
    result = json.loads(output.read_text())["configurations"]["row_mnist"]
    assert set(result["median_step_seconds"]) == set(benchmark.VARIANTS)
    assert set(result["ratios"]) == {
        "layer_over_keras", "variational_over_keras_recurrent_dropout",
        "adversarial_k1_over_variational", "adversarial_k2_over_variational",
        "fraternal_over_variational", "xla_over_plain"}
    assert all(value > 0 for value in result["ratios"].values())
    assert result["bidirectional"]["outputs_agree"] is True


@pytest.mark.slow  # ~100 s: a JAX subprocess compiles every variant
def test_quick_benchmark_runs_on_jax_in_a_subprocess(tmp_path):
    benchmark = _load("run.py")
    output = tmp_path / "benchmark.json"
    results = benchmark.main([
        "--quick", "--backend", "jax", "--configs", "row_mnist",
        "--no-scaling", "--no-memory", "--rounds", "1", "--steps", "1",
        "--output", str(output)])
    run = results["jax"]
    assert run["machine"]["backend"] == "jax" and "jax" in run["machine"]
    result = run["configurations"]["row_mnist"]
    # Every JAX step is compiled: no separate XLA variant.
    assert "adversarial_xla" not in result["median_step_seconds"]
    assert {"adversarial_k1_over_variational",
            "adversarial_k2_over_variational"} <= set(result["ratios"])
    assert set(result["fused"]["ratios"]) == {
        "predict_over_keras", "dropconnect_over_keras_plain"}
    assert set(result["bidirectional"]["ratios"]) == {
        "bidirectional_predict_over_keras", "bidirectional_step_over_keras"}
    assert result["bidirectional"]["outputs_agree"] is True
    assert json.loads((tmp_path / "benchmark.json.jax.json").read_text())


def test_quick_benchmark_reports_bidirectional_against_keras(tmp_path):
    """`Bidirectional` over our LSTM against Keras' own: ratios reported,
    outputs equal to float32 rounding (same weights copied over)."""
    benchmark = _load("run.py")
    output = tmp_path / "benchmark.json"
    results = benchmark.main([
        "--quick", "--configs", "row_mnist", "--bidirectional-only",
        "--rounds", "1", "--steps", "1", "--output", str(output)])
    saved = json.loads(output.read_text())["configurations"]["row_mnist"]
    assert set(saved) == {"config", "bidirectional"}  # nothing else timed
    result = saved["bidirectional"]
    assert set(result["ratios"]) == {"bidirectional_predict_over_keras",
                                     "bidirectional_step_over_keras"}
    assert all(value > 0 for value in result["ratios"].values())
    assert result["outputs_agree"] is True
    assert result["max_abs_output_difference"] <= (
        1e-5 * result["max_abs_output"])
    # The same training steps from the same weights: still the same model.
    assert result["max_abs_output_difference_after_training"] <= (
        1e-4 * result["max_abs_output"])
    assert results["configurations"]["row_mnist"]["bidirectional"] == result


def test_benchmark_refuses_an_unknown_backend():
    benchmark = _load("run.py")
    with pytest.raises(SystemExit):
        benchmark.main(["--backend", "torch", "--quick"])


@pytest.mark.parametrize("config_name", ["row_mnist", "ptb"])
@pytest.mark.parametrize("iterations", [1, 2])
def test_straightforward_step_is_the_same_algorithm(config_name, iterations):
    """The textbook baseline makes the same update as AdversarialDropoutModel.

    Same initial weights and the same seed for the start flips (drawn the
    same way); with plain SGD at learning rate 1 the update is minus the
    gradient, so the search must find the same masks and both steps the
    same penalty and gradients; otherwise the benchmark would compare
    against another algorithm. A third model trained without the penalty
    gives what the penalty adds to the update, which is what is compared
    (at initialization it is small next to the supervised part).
    """
    benchmark = _load("run.py")
    config = benchmark.QUICK_CONFIGS[config_name]
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    models = {}
    for variant in (f"adversarial_k{iterations}", "textbook", "plain"):
        if variant == "textbook":
            # The same layers and weights as the benchmark's plain model.
            plain = benchmark.build("plain", config)
            models[variant] = StraightforwardAdversarialModel(
                plain.inputs, plain.outputs, iterations=iterations,
                delta=max(benchmark.DELTA, 3.0 / config["units"]))
        else:
            models[variant] = benchmark.build(variant, config)
        models[variant].compile(keras.optimizers.SGD(1.0), loss)
    before = models["plain"].get_weights()
    for model in models.values():
        for a, b in zip(model.get_weights(), before):
            np.testing.assert_array_equal(a, b)
    x, y = benchmark.batch_for(config)
    updates = {}
    for variant, model in models.items():
        model.train_on_batch(x, y)
        updates[variant] = [a - b for a, b in zip(model.get_weights(),
                                                  before)]
    ours, textbook, plain = updates.values()
    # What the penalty adds to the update (minus its gradient), in each.
    ours = [a - b for a, b in zip(ours, plain)]
    textbook = [a - b for a, b in zip(textbook, plain)]
    scale = max(np.abs(a).max() for a in ours)
    assert scale > 1e-7
    for a, b in zip(ours, textbook):
        np.testing.assert_allclose(a, b, rtol=1e-2, atol=1e-2 * scale)


def test_memory_probe_sees_a_step_allocate(tmp_path):
    """The probe runs in this process here; the benchmark runs it fresh."""
    benchmark = _load("run.py")
    config = dict(benchmark.QUICK_CONFIGS["row_mnist"], batch=256)
    peak, added = benchmark.probe_memory(config, "variational", steps=1)
    assert peak > 100 * 2**20  # TensorFlow and a model are resident


def test_timeline_orders_the_passes_of_a_step():
    """Loops that wait for another pass's result start after it ends."""
    breakdown = _load("step_breakdown.py")
    config = breakdown.run.QUICK_CONFIGS["row_mnist"]
    intervals, chart = breakdown.timeline(
        {"row_mnist": config}, variants=("variational", "adversarial_k1"))
    spans = {
        variant: {(row["pass"], row["loops"]): (row["start_ms"], row["end_ms"])
                  for row in rows}
        for variant, rows in intervals.items()}
    plain = spans["row_mnist/variational"]
    assert set(plain) == {("pass", "forward"), ("pass", "backward")}
    assert plain[("pass", "forward")][1] <= plain[("pass", "backward")][0]
    adversarial = spans["row_mnist/adversarial_k1"]
    assert set(adversarial) == {
        (name, loops) for name in ("base", "influence 1", "adversarial")
        for loops in ("forward", "backward")}
    # The adversarial mask comes from the influence map, which comes from
    # the influence pass's backward loop.
    assert (adversarial[("influence 1", "backward")][1]
            <= adversarial[("adversarial", "forward")][0])
    assert (adversarial[("adversarial", "forward")][1]
            <= adversarial[("adversarial", "backward")][0])
    assert "adversarial backward" in chart


def test_step_breakdown_quick_runs(tmp_path):
    breakdown = _load("step_breakdown.py")
    output = tmp_path / "step_breakdown.json"
    results = breakdown.main(["--quick", "--rounds", "1", "--output",
                              str(output)])
    assert set(results) == set(breakdown.QUICK_CONFIGS)
    saved = json.loads(output.read_text())
    for result in saved.values():
        seconds = result["median_seconds"]
        assert set(seconds) == {"forward", "forward_backward_weights",
                                "forward_backward_mask",
                                "doubled_forward_backward_weights"}
        assert all(value > 0 for value in seconds.values())
    # What is timed (times themselves are never asserted): the weight pass
    # returns a gradient for every weight, the mask pass one for the mask.
    config = breakdown.QUICK_CONFIGS["row_mnist"]
    pieces = breakdown.pieces(config)
    fn, args = pieces["forward_backward_weights"]
    assert [g.shape for g in fn(*args)] == [(28, 4 * 32), (32, 4 * 32),
                                            (4 * 32,)]
    fn, args = pieces["forward_backward_mask"]
    assert fn(*args).shape == (config["batch"], config["units"])
    fn, args = pieces["doubled_forward_backward_weights"]
    assert args[0].shape[0] == 2 * config["batch"]
