"""The benchmark runs (smoke mode); it reports ratios, never asserts times."""

import importlib.util
import json
import pathlib

BENCHMARK = (pathlib.Path(__file__).resolve().parent.parent / "benchmarks"
             / "run.py")


def test_quick_benchmark_reports_every_ratio(tmp_path):
    spec = importlib.util.spec_from_file_location("benchmark", BENCHMARK)
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
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


def test_memory_probe_sees_a_step_allocate(tmp_path):
    """The probe runs in this process here; the benchmark runs it fresh."""
    spec = importlib.util.spec_from_file_location("benchmark", BENCHMARK)
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    config = dict(benchmark.QUICK_CONFIGS["row_mnist"], batch=256)
    peak, added = benchmark.probe_memory(config, "variational", steps=1)
    assert peak > 100 * 2**20  # TensorFlow and a model are resident


def test_step_breakdown_quick_runs(tmp_path):
    path = BENCHMARK.parent / "step_breakdown.py"
    spec = importlib.util.spec_from_file_location("step_breakdown", path)
    breakdown = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(breakdown)
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
        # A backward pass is measured on top of the forward pass.
        assert seconds["forward"] < seconds["forward_backward_weights"]
        assert seconds["forward"] < seconds["forward_backward_mask"]
