"""Train-step cost of keras_adrop, as ratios measured in one process.

Run from the repository root:

    python benchmarks/run.py            # the issue's configurations
    python benchmarks/run.py --quick    # small shapes, a smoke run
    python benchmarks/run.py --backend jax             # on JAX
    python benchmarks/run.py --backend tensorflow,jax  # both, one after
                                                       # the other

Keras picks its backend when it is imported: `--backend` runs each backend
that is not this process's in a subprocess with `KERAS_BACKEND` set (the
same arguments, its results in `<output>.<backend>.json`), and prints a
table per backend. On JAX every variant is jit-compiled, as `fit` compiles
it by default there (`adversarial_xla` and `xla_over_plain` are
TensorFlow's only: there is no other way to run a JAX step fast).

For each configuration (sequential MNIST: batch 128, T=784, LSTM 100; row
MNIST: 128 x 28 x 28; PTB: batch 20, bptt 35, 2 x LSTM 650, vocab 10k) it
times one training step (`train_on_batch` on a fixed batch, after warm-up)
of every variant, in interleaved rounds so that machine drift hits all
variants alike, and reports the median of each variant and these ratios:

- layer_over_keras: keras_adrop LSTM / keras.layers.LSTM, no dropout
- variational_over_keras_recurrent_dropout: both with recurrent_dropout=0.1
- adversarial_k1_over_variational, adversarial_k2_over_variational
- fraternal_over_variational
- xla_over_plain: the adversarial K=1 step with jit_compile=True / without
- fused ratios (issue 14, under "fused"): predict_over_keras, inference
  (`predict_on_batch`) of the keras_adrop LSTM / keras.layers.LSTM, no
  dropout; dropconnect_over_keras_plain, a training step of the keras_adrop
  LSTM with `recurrent_dropconnect=0.5` (AWD-LSTM's rate) / Keras' plain
  LSTM. Both run Keras' fused kernel where the backend has one (cuDNN on a
  GPU), the step loop on a CPU
- bidirectional ratios (issue 28, under "bidirectional"):
  bidirectional_predict_over_keras and bidirectional_step_over_keras,
  inference (`predict_on_batch`) and a plain training step of
  `keras.layers.Bidirectional(keras_adrop.layers.LSTM(units))` over
  `keras.layers.Bidirectional(keras.layers.LSTM(units))` with the same
  weights, no dropout; with the largest difference between the two models'
  outputs and whether they agree to float32 rounding (`outputs_agree`).
  `--bidirectional-only` times this section alone
- adversarial_k1/k2_peak_memory_over_variational: the peak resident memory
  of the process during train steps (sampled every 0.2 ms in a fresh
  process per variant after two warm-up steps, `probe_memory`; the memory
  TensorFlow keeps between steps included), adversarial over variational

and, on the quick shapes, how the adversarial step time grows with T, H and
K (least-squares slope and R^2 of time against each). Writes
`benchmark.json` and prints a markdown table. Times are never asserted:
the ratios are the result.
"""

import argparse
import functools
import json
import os
import platform
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import keras  # noqa: E402

import keras_adrop  # noqa: E402

CONFIGS = {
    "sequential_mnist": dict(batch=128, steps=784, features=1, units=100,
                             layers=1, classes=10),
    "row_mnist": dict(batch=128, steps=28, features=28, units=100, layers=1,
                      classes=10),
    "ptb": dict(batch=20, steps=35, vocab=10_000, units=650, layers=2),
    # 120 steps of one feature, batch 64: the second JAX shape.
    "pixels_120": dict(batch=64, steps=120, features=1, units=100, layers=1,
                       classes=10),
}
QUICK_CONFIGS = {
    "sequential_mnist": dict(batch=32, steps=96, features=1, units=32,
                             layers=1, classes=10),
    "row_mnist": dict(batch=32, steps=28, features=28, units=32, layers=1,
                      classes=10),
    "ptb": dict(batch=8, steps=20, vocab=500, units=64, layers=2),
    "pixels_120": dict(batch=16, steps=40, features=1, units=32, layers=1,
                       classes=10),
}
VARIANTS = ("keras_plain", "plain", "keras_variational", "variational",
            "adversarial_k1", "adversarial_k2", "fraternal", "adversarial_xla",
            "dropconnect")
BACKENDS = ("tensorflow", "jax")


def variants():
    """The variants timed on this process's backend."""
    if keras.backend.backend() == "jax":
        return tuple(v for v in VARIANTS if v != "adversarial_xla")
    return VARIANTS
DELTA = 0.03  # 3 flips of 100 units, as the paper's sMNIST runs


def build(variant, config, bidirectional=False):
    """A compiled model of `variant` for `config`.

    With `bidirectional=True` every recurrent layer is wrapped in
    `keras.layers.Bidirectional` (the "bidirectional" section).
    """
    keras.utils.set_random_seed(0)
    rate = 0.1 if variant in ("keras_variational", "variational",
                              "fraternal") else 0.0
    use_keras = variant.startswith("keras_")
    dropconnect = 0.5 if variant == "dropconnect" else 0.0
    delta = max(DELTA, 3.0 / config["units"])  # at least 3 flips

    def rnn(return_sequences):
        if use_keras:
            layer = keras.layers.LSTM(config["units"], recurrent_dropout=rate,
                                      return_sequences=return_sequences)
        else:
            layer = keras_adrop.layers.LSTM(
                config["units"], recurrent_dropout=rate,
                recurrent_dropconnect=dropconnect,
                return_sequences=return_sequences)
        return keras.layers.Bidirectional(layer) if bidirectional else layer

    if "vocab" in config:  # language model: sequence outputs
        inputs = keras.Input((config["steps"],), dtype="int32")
        h = keras.layers.Embedding(config["vocab"], config["units"])(inputs)
        for _ in range(config["layers"]):
            h = rnn(True)(h)
        outputs = keras.layers.Dense(config["vocab"])(h)
    else:
        inputs = keras.Input((config["steps"], config["features"]))
        h = inputs
        for i in range(config["layers"]):
            h = rnn(i < config["layers"] - 1)(h)
        outputs = keras.layers.Dense(config["classes"])(h)

    # A variant named after a method of the paper's tables trains with it
    # (keras_adrop.tasks.methods); the others are plain models.
    method = "adversarial_k1" if variant == "adversarial_xla" else variant
    if method in keras_adrop.tasks.methods.available_methods():
        model = keras_adrop.tasks.methods.get_method(
            method, delta=delta, seed=0).build_model(inputs, outputs)
    else:
        model = keras.Model(inputs, outputs)
    # JAX steps are always compiled (op by op they would time Python).
    jit = variant == "adversarial_xla" or keras.backend.backend() == "jax"
    model.compile(keras.optimizers.Adam(1e-3),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  jit_compile=jit)
    return model


def batch_for(config):
    rng = np.random.RandomState(0)
    if "vocab" in config:
        tokens = rng.randint(0, config["vocab"],
                             size=(config["batch"], config["steps"] + 1))
        return tokens[:, :-1], tokens[:, 1:]
    x = rng.rand(config["batch"], config["steps"], config["features"])
    y = rng.randint(0, config["classes"], size=config["batch"])
    return x.astype("float32"), y


def interleaved_medians(functions, rounds, repeats=1, warmup=2):
    """Median seconds per call of each function, in interleaved rounds.

    Every function is called `warmup` times first (tracing), then each
    round calls each function `repeats` times in turn, so that machine
    drift hits all of them alike.

    Args:
        functions: dict name -> callable taking no arguments.
    """
    for function in functions.values():
        for _ in range(warmup):
            function()
    samples = {name: [] for name in functions}
    for _ in range(rounds):
        for name, function in functions.items():
            start = time.perf_counter()
            for _ in range(repeats):
                function()
            samples[name].append((time.perf_counter() - start) / repeats)
    return {name: statistics.median(times) for name, times in samples.items()}


def time_steps(models, data, rounds, steps_per_round):
    """Median seconds per train step of each model, interleaved rounds."""
    x, y = data
    return interleaved_medians(
        {name: functools.partial(model.train_on_batch, x, y)
         for name, model in models.items()},
        rounds, steps_per_round)


def _resident_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def probe_memory(config, variant, steps=2):
    """Peak resident memory a train step adds, measured in this process.

    Builds `variant`, runs two warm-up steps (tracing), then samples the
    process's resident set every 0.2 ms during `steps` more steps. Run in a
    fresh process with `MALLOC_MMAP_THRESHOLD_` fixed (see
    `peak_memory`), so that freed tensors leave the resident set.

    Returns:
        `(peak, added)`: the peak resident bytes during the steps, and that
        peak minus the resident bytes before them (the step's temporaries).
    """
    import threading

    model = build(variant, config)
    x, y = batch_for(config)
    for _ in range(2):
        model.train_on_batch(x, y)
    before = _resident_bytes()
    peak = [before]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], _resident_bytes())
            time.sleep(0.0002)

    sampler = threading.Thread(target=sample)
    sampler.start()
    for _ in range(steps):
        model.train_on_batch(x, y)
    done.set()
    sampler.join()
    return peak[0], peak[0] - before


def peak_memory(config_name, quick,
                variants=("variational", "adversarial_k1", "adversarial_k2")):
    """`probe_memory` of each variant, each in a fresh process.

    glibc keeps freed memory for reuse unless its mmap threshold is fixed;
    `MALLOC_MMAP_THRESHOLD_=65536` makes every tensor above 64 KiB its own
    mapping, returned at free, so the resident set follows live tensors.
    """
    import subprocess

    memory = {}
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536",
               KERAS_BACKEND=keras.backend.backend())
    for variant in variants:
        command = [sys.executable, os.path.abspath(__file__),
                   "--probe-memory", f"{config_name}:{variant}"]
        if quick:
            command.append("--quick")
        out = subprocess.run(command, capture_output=True, text=True,
                             env=env, check=True).stdout
        memory[variant] = json.loads(out.strip().splitlines()[-1])
    return memory


def ratios(medians):
    out = {
        "layer_over_keras": medians["plain"] / medians["keras_plain"],
        "variational_over_keras_recurrent_dropout":
            medians["variational"] / medians["keras_variational"],
        "adversarial_k1_over_variational":
            medians["adversarial_k1"] / medians["variational"],
        "adversarial_k2_over_variational":
            medians["adversarial_k2"] / medians["variational"],
        "fraternal_over_variational":
            medians["fraternal"] / medians["variational"],
    }
    if "adversarial_xla" in medians:
        out["xla_over_plain"] = (medians["adversarial_xla"]
                                 / medians["adversarial_k1"])
    return out


def fused_ratios(models, data, rounds, steps_per_round, medians):
    """Inference and DropConnect training against Keras' own LSTM."""
    x, _ = data
    predict = interleaved_medians(
        {name: functools.partial(models[name].predict_on_batch, x)
         for name in ("keras_plain", "plain")},
        rounds, steps_per_round)
    return {
        "median_predict_seconds": predict,
        "ratios": {
            "predict_over_keras": predict["plain"] / predict["keras_plain"],
            "dropconnect_over_keras_plain":
                medians["dropconnect"] / medians["keras_plain"],
        },
    }


def bidirectional_ratios(config, rounds, steps_per_round):
    """`Bidirectional` over our LSTM against `Bidirectional` over Keras'.

    Both models (no dropout) get the same weights, copied from Keras' one.
    Times inference (`predict_on_batch`, jit-compiled on JAX) and a plain
    training step (`train_on_batch`) in interleaved rounds, and compares
    the two models' outputs: before timing, and after the timed training
    steps (both took the same steps from the same weights on the same
    batch). `outputs_agree` says whether the outputs before training are
    equal to float32 rounding (relative 1e-5 of the largest output).
    """
    models = {name: build(name, config, bidirectional=True)
              for name in ("keras_plain", "plain")}
    models["plain"].set_weights(models["keras_plain"].get_weights())
    x, y = batch_for(config)

    def difference():
        ours = np.asarray(models["plain"].predict_on_batch(x))
        theirs = np.asarray(models["keras_plain"].predict_on_batch(x))
        return (float(np.max(np.abs(ours - theirs))),
                float(np.max(np.abs(theirs))))

    before, scale = difference()
    predict = interleaved_medians(
        {name: functools.partial(model.predict_on_batch, x)
         for name, model in models.items()},
        rounds, steps_per_round)
    train = time_steps(models, (x, y), rounds, steps_per_round)
    after, _ = difference()
    keras.backend.clear_session()
    return {
        "median_predict_seconds": predict,
        "median_step_seconds": train,
        "max_abs_output_difference": before,
        "max_abs_output": scale,
        "max_abs_output_difference_after_training": after,
        "outputs_agree": before <= 1e-5 * max(scale, 1.0),
        "ratios": {
            "bidirectional_predict_over_keras":
                predict["plain"] / predict["keras_plain"],
            "bidirectional_step_over_keras":
                train["plain"] / train["keras_plain"],
        },
    }


def fit_line(xs, ys):
    """Slope, intercept and R^2 of the least-squares line."""
    slope, intercept = np.polyfit(xs, ys, 1)
    predicted = slope * np.asarray(xs) + intercept
    residual = np.sum((np.asarray(ys) - predicted) ** 2)
    total = np.sum((np.asarray(ys) - np.mean(ys)) ** 2) or 1.0
    return {"slope": float(slope), "intercept": float(intercept),
            "r2": float(1 - residual / total)}


def scaling(rounds, steps_per_round):
    """Adversarial K=1 step time against T and H, and against K."""
    base = dict(batch=32, steps=64, features=1, units=64, layers=1,
                classes=10)
    result = {}
    for knob, values in (("steps", [32, 64, 128]), ("units", [32, 64, 128])):
        models = {v: build("adversarial_k1", {**base, knob: v})
                  for v in values}
        data = {v: batch_for({**base, knob: v}) for v in values}
        times = [time_steps({v: models[v]}, data[v], rounds,
                            steps_per_round)[v] for v in values]
        result[knob] = {"values": values, "seconds": times,
                        **fit_line(values, times)}
    models, times = {}, []
    for k in (1, 2, 3):
        keras.utils.set_random_seed(0)
        inputs = keras.Input((base["steps"], 1))
        h = keras_adrop.layers.LSTM(base["units"])(inputs)
        model = keras_adrop.AdversarialDropoutModel(
            inputs, keras.layers.Dense(10)(h), delta=0.1, iterations=k,
            seed=0)
        model.compile("adam", keras.losses.SparseCategoricalCrossentropy(
            from_logits=True))
        times.append(time_steps({k: model}, batch_for(base), rounds,
                                steps_per_round)[k])
    result["iterations"] = {"values": [1, 2, 3], "seconds": times,
                            **fit_line([1, 2, 3], times)}
    return result


def markdown(results):
    lines = []
    with_steps = {n: r for n, r in results["configurations"].items()
                  if "median_step_seconds" in r}
    if with_steps:
        timed = [v for v in VARIANTS if any(
            v in r["median_step_seconds"] for r in with_steps.values())]
        lines += ["| configuration | " + " | ".join(timed) + " |",
                  "|---|" + "---:|" * len(timed)]
        for name, result in with_steps.items():
            medians = result["median_step_seconds"]
            lines.append(f"| {name} (ms/step) | " + " | ".join(
                f"{1000 * medians[v]:.1f}" if v in medians else "-"
                for v in timed) + " |")
        ratio_names = list(next(iter(with_steps.values()))["ratios"])
        lines += ["", "| configuration | " + " | ".join(ratio_names) + " |",
                  "|---|" + "---:|" * len(ratio_names)]
        for name, result in with_steps.items():
            lines.append(f"| {name} | " + " | ".join(
                f"{result['ratios'][r]:.2f}" for r in ratio_names) + " |")
    with_fused = [(n, r["fused"]) for n, r in results["configurations"].items()
                  if "fused" in r]
    if with_fused:
        fused_names = list(with_fused[0][1]["ratios"])
        lines += ["", "| configuration | " + " | ".join(fused_names) + " |",
                  "|---|" + "---:|" * len(fused_names)]
        for name, fused in with_fused:
            lines.append(f"| {name} | " + " | ".join(
                f"{fused['ratios'][r]:.2f}" for r in fused_names) + " |")
    with_bidirectional = [
        (n, r["bidirectional"]) for n, r in results["configurations"].items()
        if "bidirectional" in r]
    if with_bidirectional:
        lines += ["", "| configuration: Bidirectional(LSTM) | predict ms, "
                  "ours / Keras | step ms, ours / Keras | "
                  "bidirectional_predict_over_keras | "
                  "bidirectional_step_over_keras | outputs agree (max abs "
                  "difference) |", "|---|---:|---:|---:|---:|---|"]
        for name, bi in with_bidirectional:
            predict, step = (bi["median_predict_seconds"],
                             bi["median_step_seconds"])
            lines.append(
                f"| {name} | {1000 * predict['plain']:.1f} / "
                f"{1000 * predict['keras_plain']:.1f} | "
                f"{1000 * step['plain']:.1f} / "
                f"{1000 * step['keras_plain']:.1f} | "
                f"{bi['ratios']['bidirectional_predict_over_keras']:.2f} | "
                f"{bi['ratios']['bidirectional_step_over_keras']:.2f} | "
                f"{'yes' if bi['outputs_agree'] else 'NO'} "
                f"({bi['max_abs_output_difference']:.1e}) |")
    with_memory = [(n, r) for n, r in results["configurations"].items()
                   if "step_memory_bytes" in r]
    if with_memory:
        probed = list(with_memory[0][1]["step_memory_bytes"])
        lines += ["", "| configuration: resident MiB at peak / added by the "
                  "step | " + " | ".join(probed) + " |",
                  "|---|" + "---:|" * len(probed)]
        for name, result in with_memory:
            memory = result["step_memory_bytes"]
            lines.append(f"| {name} | " + " | ".join(
                f"{memory[v][0] / 2**20:.0f} / {memory[v][1] / 2**20:.1f}"
                for v in probed) + " |")
    if "scaling" in results:
        lines += ["", "| adversarial K=1 step vs | values | ms | slope | R^2 |",
                  "|---|---|---|---:|---:|"]
        for knob, fit in results["scaling"].items():
            lines.append(
                f"| {knob} | {fit['values']} | "
                f"{[round(1000 * s, 1) for s in fit['seconds']]} | "
                f"{1000 * fit['slope']:.3f} ms/unit | {fit['r2']:.3f} |")
    return "\n".join(lines)


def backend_versions():
    """The backend, its version and the device the steps run on."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        device = jax.devices()[0]
        name = device.device_kind
        if name.lower() != device.platform.lower():
            name = f"{device.platform.upper()}: {name}"
        return {"backend": backend, "jax": jax.__version__,
                "device": name.upper() if name == "cpu" else name}
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    name = "CPU"
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        name = f"GPU: {details.get('device_name', 'unknown')}"
    return {"backend": backend, "tensorflow": tf.__version__,
            "device": name}


def run_backend(backend, argv, output):
    """This script's run on `backend`, in a subprocess (Keras picks its
    backend at import); its tables are printed, its results returned."""
    import subprocess

    out = f"{output}.{backend}.json"
    argv = list(argv)
    for flag in ("--backend", "--output"):  # replaced below
        while flag in argv:
            i = argv.index(flag)
            del argv[i:i + 2]
        argv = [a for a in argv if not a.startswith(flag + "=")]
    command = [sys.executable, os.path.abspath(__file__), *argv,
               "--backend", backend, "--output", out]
    env = dict(os.environ, KERAS_BACKEND=backend)
    subprocess.run(command, env=env, check=True)
    with open(out) as f:
        return json.load(f)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="small shapes and few rounds (a smoke run)")
    parser.add_argument("--configs", default=",".join(CONFIGS),
                        help=f"comma-separated subset of {list(CONFIGS)}")
    parser.add_argument("--rounds", type=int, help="interleaved rounds")
    parser.add_argument("--steps", type=int, help="train steps per round")
    parser.add_argument("--no-scaling", action="store_true",
                        help="skip the T/H/K scaling fits")
    parser.add_argument("--no-memory", action="store_true",
                        help="skip the peak-memory probes")
    parser.add_argument("--no-bidirectional", action="store_true",
                        help="skip Bidirectional over our LSTM against "
                        "Keras' own")
    parser.add_argument("--bidirectional-only", action="store_true",
                        help="time only Bidirectional over our LSTM against "
                        "Keras' own (no variants, memory nor scaling)")
    parser.add_argument("--probe-memory", metavar="CONFIG:VARIANT",
                        help=argparse.SUPPRESS)  # internal: one probe
    parser.add_argument("--output", default="benchmark.json")
    parser.add_argument(
        "--backend", default=None,
        help="tensorflow, jax, or both comma-separated (default: this "
             "process's Keras backend)")
    args = parser.parse_args(argv)
    backends = [b.strip() for b in (args.backend or keras.backend.backend())
                .split(",") if b.strip()]
    unknown = sorted(set(backends) - set(BACKENDS))
    if unknown or not backends:
        parser.error(f"--backend must name tensorflow and/or jax. "
                     f"Received: {args.backend!r}")
    if backends != [keras.backend.backend()] and not args.probe_memory:
        return {backend: run_backend(backend, argv or sys.argv[1:],
                                     args.output)
                for backend in backends}
    if args.probe_memory:
        name, variant = args.probe_memory.split(":")
        config = (QUICK_CONFIGS if args.quick else CONFIGS)[name]
        print(json.dumps(probe_memory(config, variant)))
        return None
    configs = QUICK_CONFIGS if args.quick else CONFIGS
    names = [n.strip() for n in args.configs.split(",") if n.strip()]
    unknown = sorted(set(names) - set(configs))
    if unknown:
        parser.error(f"--configs: unknown {unknown}; choose from "
                     f"{list(configs)}")
    if args.no_bidirectional and args.bidirectional_only:
        parser.error("--no-bidirectional and --bidirectional-only exclude "
                     "each other")
    rounds = args.rounds or (2 if args.quick else 5)
    steps = args.steps or (1 if args.quick else 3)
    results = {
        "machine": {"platform": platform.platform(),
                    "processor": platform.processor() or platform.machine(),
                    "cpus": os.cpu_count(), "python": sys.version.split()[0],
                    "keras": keras.__version__},
        "quick": args.quick, "rounds": rounds, "steps_per_round": steps,
        "configurations": {},
    }
    results["machine"].update(backend_versions())
    for name in names:
        config = configs[name]
        print(f"{name}: {config}", flush=True)
        results["configurations"][name] = {"config": config}
        if not args.no_bidirectional:
            results["configurations"][name]["bidirectional"] = (
                bidirectional_ratios(config, rounds, steps))
        if args.bidirectional_only:
            continue
        models = {variant: build(variant, config) for variant in variants()}
        medians = time_steps(models, batch_for(config), rounds, steps)
        config_ratios = ratios(medians)
        fused = fused_ratios(models, batch_for(config), rounds, steps,
                             medians)
        keras.backend.clear_session()
        del models
        results["configurations"][name].update({
            "median_step_seconds": medians,
            "ratios": config_ratios, "fused": fused})
        if not args.no_memory:
            memory = peak_memory(name, args.quick)
            for variant in ("adversarial_k1", "adversarial_k2"):
                # The process's peak resident set during the step: after the
                # warm-up steps TensorFlow's allocator keeps the memory a
                # step needs, so the "added" part alone undercounts.
                config_ratios[f"{variant}_peak_memory_over_variational"] = (
                    memory[variant][0] / memory["variational"][0])
            results["configurations"][name]["step_memory_bytes"] = memory
    if not args.no_scaling and not args.bidirectional_only:
        results["scaling"] = scaling(rounds, steps)
    with open(args.output, "w") as f:
        json.dump(results, f, indent=2)
    print(f"\n{results['machine']['backend']} on "
          f"{results['machine']['device']}:")
    print(markdown(results))
    print(f"\nWrote {args.output}")
    return results


if __name__ == "__main__":
    main()
