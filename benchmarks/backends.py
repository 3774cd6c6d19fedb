"""Step time of each training method on each Keras backend, in one run.

    python benchmarks/backends.py [--quick] [--backends tensorflow,jax]

Each backend runs in its own subprocess (Keras picks its backend at import)
on the same shapes: a sequential-MNIST LSTM-100 (T=784, batch 128) and a
PTB-style 2x650 LSTM language model (35 steps, batch 20, vocabulary 10k);
`--quick` shrinks both so that the whole run takes a few minutes on a
2-core CPU. Per backend it prints the median milliseconds of one
`train_on_batch` of Keras' own LSTM, of ours, of variational dropout and of
adversarial dropout K=1 and K=2 (rounds interleaved, so drift hits all
alike), the ratios of issue 12's targets, and JAX's step time over
TensorFlow's for each variant. On a machine with an NVIDIA GPU and JAX it
needs nothing from the internet (`benchmarks/gpu_check.sh`).
"""

import argparse
import json
import os
import subprocess
import sys
import time

CONFIGS = {
    "smnist": dict(steps=784, features=1, units=100, layers=1, batch=128,
                   classes=10),
    "ptb": dict(steps=35, vocab=10000, units=650, layers=2, batch=20),
}
QUICK = {
    "smnist": dict(steps=28, features=28, units=100, layers=1, batch=64,
                   classes=10),
    "ptb": dict(steps=20, vocab=2000, units=128, layers=2, batch=20),
}
VARIANTS = ("keras", "layer", "variational", "adversarial_k1",
            "adversarial_k2")


def build(variant, config):
    import keras
    import keras_adrop

    rnn = keras.layers.LSTM if variant == "keras" else keras_adrop.layers.LSTM
    rate = 0.1 if variant in ("variational",) else 0.0
    text = "vocab" in config
    if text:
        inputs = keras.Input((config["steps"],), dtype="int32")
        h = keras.layers.Embedding(config["vocab"], config["units"])(inputs)
    else:
        inputs = h = keras.Input((config["steps"], config["features"]))
    for i in range(config["layers"]):
        kwargs = {"recurrent_dropout": rate} if rate else {}
        h = rnn(config["units"], return_sequences=text or i + 1 <
                config["layers"], **kwargs)(h)
    outputs = keras.layers.Dense(config["vocab"] if text
                                 else config["classes"])(h)
    if variant in keras_adrop.tasks.methods.available_methods():
        model = keras_adrop.tasks.methods.get_method(
            variant, delta=0.03, seed=0).build_model(inputs, outputs)
    else:
        model = keras.Model(inputs, outputs)
    model.compile("adam",
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def data(config):
    import numpy as np

    rng = np.random.RandomState(0)
    if "vocab" in config:
        tokens = rng.randint(0, config["vocab"],
                             size=(config["batch"], config["steps"] + 1))
        return tokens[:, :-1].astype("int32"), tokens[:, 1:]
    x = rng.rand(config["batch"], config["steps"], config["features"])
    return x.astype("float32"), rng.randint(0, config["classes"],
                                            config["batch"])


def measure(configs, rounds):
    """Median ms per step of every variant on every config (this backend)."""
    import numpy as np

    results = {}
    for name, config in configs.items():
        x, y = data(config)
        models = {v: build(v, config) for v in VARIANTS}
        for model in models.values():
            for _ in range(2):  # compile and warm up
                model.train_on_batch(x, y)
        times = {v: [] for v in VARIANTS}
        for _ in range(rounds):
            for variant, model in models.items():
                start = time.perf_counter()
                model.train_on_batch(x, y)
                times[variant].append(time.perf_counter() - start)
        results[name] = {v: 1000 * float(np.median(t))
                         for v, t in times.items()}
    return results


def ratios(ms):
    return {
        "layer_over_keras": ms["layer"] / ms["keras"],
        "k1_over_variational": ms["adversarial_k1"] / ms["variational"],
        "k2_over_variational": ms["adversarial_k2"] / ms["variational"],
    }


def device_name():
    import keras

    if keras.backend.backend() == "jax":
        import jax

        return str(jax.devices()[0].device_kind)
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return "GPU" if gpus else "CPU"


def run_backend(backend, quick, rounds):
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, __file__, "--worker", "--rounds", str(rounds)]
    if quick:
        command.append("--quick")
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{backend} run failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(results):
    lines = []
    backends = list(results)
    for config in next(iter(results.values()))["ms"]:
        lines.append(f"\n{config}: ms per training step (median)")
        lines.append("| variant | " + " | ".join(
            f"{b} ({results[b]['device']})" for b in backends) + (
            " | jax / tensorflow |" if len(backends) == 2 else " |"))
        lines.append("|---" * (len(backends) + 1 + (len(backends) == 2)) + "|")
        for variant in VARIANTS:
            row = [results[b]["ms"][config][variant] for b in backends]
            cells = " | ".join(f"{v:.1f}" for v in row)
            extra = f" | {row[1] / row[0]:.2f} |" if len(row) == 2 else " |"
            lines.append(f"| {variant} | {cells}{extra}")
        for name in ratios(results[backends[0]]["ms"][config]):
            cells = " | ".join(
                f"{ratios(results[b]['ms'][config])[name]:.2f}"
                for b in backends)
            lines.append(f"| {name} | {cells} |" + (" |" if len(
                backends) == 2 else ""))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="small shapes (a few minutes on a CPU)")
    parser.add_argument("--backends", default="tensorflow,jax")
    parser.add_argument("--rounds", type=int, default=None,
                        help="timed rounds per variant (default 10, quick 5)")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--worker", action="store_true",
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    rounds = args.rounds or (5 if args.quick else 10)
    configs = QUICK if args.quick else CONFIGS
    if args.worker:
        print(json.dumps({"device": device_name(),
                          "ms": measure(configs, rounds)}))
        return
    backends = [b for b in args.backends.split(",") if b]
    unknown = sorted(set(backends) - {"tensorflow", "jax"})
    if unknown:
        parser.error(f"--backends must name tensorflow and/or jax. "
                     f"Received: {unknown}")
    results = {b: run_backend(b, args.quick, rounds) for b in backends}
    print(report(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
