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
with `F` a forward, `B_w` / `B_m` the weight / mask backward parts: the
cost if the passes ran one after another.

With `--timeline`, it also profiles one training step of the variational
model and of the adversarial K=1 and K=2 models of `benchmarks/run.py` for
each configuration (TensorFlow's profiler) and prints when each pass's
recurrent loops ran, forward and backward, as a table and a text chart:
which passes overlap on the two cores and which chain of dependent passes
sets the step time.
"""

import argparse
import collections
import functools
import glob
import json
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

import keras_adrop  # noqa: E402

# benchmarks/run.py, imported from the repository root (the shapes and
# the model builder are run.py's).
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks import run  # noqa: E402

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

    def run_layer(x, mask):
        with keras_adrop.layers.recurrent_masks({layer: mask}):
            return layer(x, training=True)

    @tf.function
    def forward(x, mask):
        return run_layer(x, mask)

    @tf.function
    def forward_backward_weights(x, mask):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.square(run_layer(x, mask)))
        return tape.gradient(loss, layer.trainable_weights)

    @tf.function
    def forward_backward_mask(x, mask):
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(mask)
            loss = tf.reduce_sum(tf.square(run_layer(x, mask)))
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
    return run.interleaved_medians(
        {name: functools.partial(fn, *args)
         for name, (fn, args) in pieces(config).items()},
        rounds)


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


def loop_intervals(model, data):
    """When the recurrent loops of one train step ran, from the profiler.

    Profiles one `train_on_batch` (after two warm-up steps) and groups the
    ops of the recurrent loops' iterations (the `while` loops' bodies,
    forward and backward) that wait for the iteration before
    (`_is_recurrence_op`) by the model call they belong to:
    each call of the model in a step runs under a name scope of its own
    (`<model>_1`, `<model>_3`, ...), and backward loops run under
    `gradient_tape/<that scope>`.

    The loops of all recurrent layers of one call make one interval.

    Returns:
        List of `(scope, "forward" or "backward", start ms, end ms)`,
        ordered by the model call, times from the first loop op.
    """
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    x, y = data
    for _ in range(2):
        model.train_on_batch(x, y)
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        try:
            model.train_on_batch(x, y)
        finally:
            tf.profiler.experimental.stop()
        paths = glob.glob(os.path.join(logdir, "**", "*.xplane.pb"),
                          recursive=True)
        if len(paths) != 1:
            raise RuntimeError(
                f"Expected one profile (*.xplane.pb) from TensorFlow's "
                f"profiler, found {len(paths)} in {logdir}.")
        with open(paths[0], "rb") as f:
            space = xplane_pb2.XSpace.FromString(f.read())
    events = collections.defaultdict(list)
    for plane in space.planes:
        for line in plane.lines:
            for event in line.events:
                name, _, kind = plane.event_metadata[
                    event.metadata_id].name.partition(":")
                parts = name.split("/")
                direction = "forward"
                if parts[0] == "gradient_tape":
                    direction, parts = "backward", parts[1:]
                if ("body" not in parts
                        or not _is_recurrence_op(kind, direction)):
                    continue
                if not parts[0].startswith(model.name):
                    continue
                start = line.timestamp_ns + event.offset_ps / 1e3
                events[(parts[0], direction)].append(
                    (start, start + event.duration_ps / 1e3))
    if not events:
        raise RuntimeError(
            f"The profile of model '{model.name}' holds no recurrent-loop "
            "ops (`_is_recurrence_op`): was the step compiled with XLA, or "
            "has the profiler's naming changed?")
    spans = {key: (min(start for start, _ in times),
                   max(end for _, end in times))
             for key, times in events.items()}
    origin = min(start for start, _ in spans.values())

    def call_index(key):
        suffix = key[0][len(model.name):].lstrip("_")
        return (int(suffix) if suffix.isdigit() else 0, key[1])

    return [(scope, direction, (start - origin) / 1e6, (end - origin) / 1e6)
            for (scope, direction), (start, end) in sorted(
                spans.items(), key=lambda item: call_index(item[0]))]


def _is_recurrence_op(kind, direction):
    """Kernels of a loop iteration that wait for the iteration before.

    Forward: the gate activations (a step's input matmul `x_t W`, its
    counter and bookkeeping ops do not depend on `h_{t-1}`, and TensorFlow
    runs them iterations ahead). Backward: the matmuls, which all need the
    step's incoming gradient (the activation gradients are sometimes not
    in the trace).
    """
    if direction == "backward":
        return "MatMul" in kind
    return kind in ("Sigmoid", "Tanh", "Relu")


def pass_names(variant, scopes):
    """Names of a step's model calls, in call order.

    An adversarial step calls the model K + 2
    times: the base pass, K influence passes, the adversarial pass.
    """
    if not variant.startswith("adversarial"):
        return {scope: "pass" for scope in scopes}
    iterations = int(variant.rsplit("_k", 1)[1])
    if len(scopes) != iterations + 2:
        raise RuntimeError(
            f"Expected {iterations + 2} model calls in a {variant} step, "
            f"found loops of {len(scopes)}: {scopes}.")
    names = (["base"] + [f"influence {k}" for k in range(1, iterations + 1)]
             + ["adversarial"])
    return dict(zip(scopes, names))


def timeline(configs, variants=("variational", "adversarial_k1",
                                "adversarial_k2"), width=60):
    """Loop intervals of one step of each variant, and a text chart."""
    results, lines = {}, []
    for name, config in configs.items():
        data = run.batch_for(config)
        for variant in variants:
            intervals = loop_intervals(run.build(variant, config), data)
            scopes = list(dict.fromkeys(scope for scope, *_ in intervals))
            names = pass_names(variant, scopes)
            rows = sorted(({"pass": names[scope], "loops": direction,
                            "start_ms": start, "end_ms": end}
                           for scope, direction, start, end in intervals),
                          key=lambda row: row["start_ms"])
            results[f"{name}/{variant}"] = rows
            span = max(row["end_ms"] for row in rows)
            lines.append(f"\n{name}, {variant}: recurrent loops of one "
                         f"step, {span:.1f} ms ('#' = running)")
            for row in rows:
                first = int(row["start_ms"] / span * width)
                last = max(first + 1, int(row["end_ms"] / span * width))
                bar = " " * first + "#" * (last - first)
                lines.append(
                    f"  {row['pass'] + ' ' + row['loops']:<22} "
                    f"{row['start_ms']:7.1f} {row['end_ms']:7.1f} ms "
                    f"|{bar:<{width}}|")
    return results, "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="small shapes, few rounds")
    parser.add_argument("--rounds", type=int, help="interleaved rounds")
    parser.add_argument("--timeline", action="store_true",
                        help="also profile one step of each model and chart "
                        "when each pass's recurrent loops ran")
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
    if args.timeline:
        intervals, chart = timeline(
            run.QUICK_CONFIGS if args.quick else run.CONFIGS)
        results["timeline"] = intervals
        print(chart)
    with open(args.output, "w") as f:
        json.dump(results, f, indent=2)
    print(f"\nWrote {args.output}")
    return results


if __name__ == "__main__":
    main()
