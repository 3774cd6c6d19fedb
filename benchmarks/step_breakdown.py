"""Where an adversarial-dropout step spends its time, and what would help.

Run from the repository root:

    python benchmarks/step_breakdown.py           # the issue's shapes
    python benchmarks/step_breakdown.py --quick   # small shapes

For one keras_adrop LSTM of each configuration of `benchmarks/run.py`, it
times, in interleaved rounds (medians), the pieces an adversarial step is
made of:

- `forward`: one forward pass with a recurrent mask set from outside;
- `forward_backward_weights`: forward plus gradients for the weights (what
  a variational-dropout step costs, optimizer aside);
- `forward_backward_mask`: forward plus the gradient for the mask only (one
  influence-map pass);
- `doubled_forward_backward_weights`: the weight pass on a batch twice as
  large, the price of fusing two passes into one.

It prints the ratios that decide which speed-ups can work on this machine:
`mask_over_weights` (what watching only the mask saves) and
`doubled_over_single` (below 2 means fusing passes into one batch saves
time; at 2 or more the machine is compute-bound and fusing cannot help),
and the step cost the pieces predict:
`predicted_k_over_variational = (F + B_w + K (F + B_m) + F + B_w) / (F + B_w)`
with `F` a forward, `B_w` / `B_m` the weight / mask backward parts.
"""

import argparse
import json
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

import keras_adrop  # noqa: E402

CONFIGS = {
    "sequential_mnist": dict(batch=128, steps=784, features=1, units=100),
    "row_mnist": dict(batch=128, steps=28, features=28, units=100),
    "ptb_layer": dict(batch=20, steps=35, features=650, units=650),
}
QUICK_CONFIGS = {
    "sequential_mnist": dict(batch=32, steps=96, features=1, units=32),
    "row_mnist": dict(batch=32, steps=28, features=28, units=32),
    "ptb_layer": dict(batch=8, steps=20, features=64, units=64),
}


def pieces(config):
    """The timed functions of one configuration, as `{name: (fn, args)}`."""
    layer = keras_adrop.layers.LSTM(config["units"])
    shape = (config["batch"], config["steps"], config["features"])
    x = tf.random.uniform(shape, seed=0)
    x_doubled = tf.concat([x, x], axis=0)
    mask = tf.ones((config["batch"], config["units"]))
    mask_doubled = tf.ones((2 * config["batch"], config["units"]))
    layer(x)

    def run(x, mask):
        with keras_adrop.layers.recurrent_masks({layer: mask}):
            return layer(x, training=True)

    @tf.function
    def forward(x, mask):
        return run(x, mask)

    @tf.function
    def forward_backward_weights(x, mask):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.square(run(x, mask)))
        return tape.gradient(loss, layer.trainable_weights)

    @tf.function
    def forward_backward_mask(x, mask):
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(mask)
            loss = tf.reduce_sum(tf.square(run(x, mask)))
        return tape.gradient(loss, mask)

    return {
        "forward": (forward, (x, mask)),
        "forward_backward_weights": (forward_backward_weights, (x, mask)),
        "forward_backward_mask": (forward_backward_mask, (x, mask)),
        "doubled_forward_backward_weights": (
            forward_backward_weights, (x_doubled, mask_doubled)),
    }


def measure(config, rounds):
    """Median seconds of each piece, interleaved rounds after warm-up."""
    functions = pieces(config)
    for fn, args in functions.values():
        fn(*args)
        fn(*args)
    samples = {name: [] for name in functions}
    for _ in range(rounds):
        for name, (fn, args) in functions.items():
            start = time.perf_counter()
            fn(*args)
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(s) for name, s in samples.items()}


def derived(medians):
    forward = medians["forward"]
    backward_weights = medians["forward_backward_weights"] - forward
    backward_mask = medians["forward_backward_mask"] - forward
    variational = forward + backward_weights

    def predicted(k):
        # Base pass, K influence-map passes, adversarial pass, and the
        # weight backward of both the base and the adversarial pass.
        return (2 * variational + k * (forward + backward_mask)) / variational

    return {
        "mask_over_weights": medians["forward_backward_mask"]
        / medians["forward_backward_weights"],
        "doubled_over_single": medians["doubled_forward_backward_weights"]
        / medians["forward_backward_weights"],
        "forward_over_forward_backward": forward
        / medians["forward_backward_weights"],
        "predicted_k1_over_variational": predicted(1),
        "predicted_k2_over_variational": predicted(2),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="small shapes, few rounds")
    parser.add_argument("--rounds", type=int, help="interleaved rounds")
    parser.add_argument("--output", default="step_breakdown.json")
    args = parser.parse_args(argv)
    configs = QUICK_CONFIGS if args.quick else CONFIGS
    rounds = args.rounds or (3 if args.quick else 9)
    results = {}
    for name, config in configs.items():
        medians = measure(config, rounds)
        results[name] = {"config": config, "median_seconds": medians,
                         "ratios": derived(medians)}
        print(name, config, flush=True)
    columns = list(next(iter(results.values()))["ratios"])
    lines = ["| configuration | F ms | F+B_w ms | F+B_m ms | doubled F+B_w ms "
             "| " + " | ".join(columns) + " |",
             "|---|" + "---:|" * (4 + len(columns))]
    for name, result in results.items():
        m = result["median_seconds"]
        lines.append(
            f"| {name} | {1000 * m['forward']:.1f} "
            f"| {1000 * m['forward_backward_weights']:.1f} "
            f"| {1000 * m['forward_backward_mask']:.1f} "
            f"| {1000 * m['doubled_forward_backward_weights']:.1f} | "
            + " | ".join(f"{result['ratios'][c]:.2f}" for c in columns) + " |")
    print("\n".join(lines))
    with open(args.output, "w") as f:
        json.dump(results, f, indent=2)
    print(f"\nWrote {args.output}")
    return results


if __name__ == "__main__":
    main()
