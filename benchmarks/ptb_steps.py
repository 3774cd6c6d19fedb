"""Seconds per training step of the PTB model, with and without XLA.

The numbers of docs/ptb.md and of `PARTS["ptb"]` in
examples/replication/parts.py came from this: `train_on_batch` on a fixed
batch of random token ids (vocabulary 10,000, bptt 35) after 3 warm-up
steps, `awd_lstm_model` at embedding = units = 128 and the CPU preset
otherwise.

    taskset -c 0 python benchmarks/ptb_steps.py --batch-size 64
    taskset -c 0 python benchmarks/ptb_steps.py --batch-size 32 \
        --methods variational,adversarial_k1 --jit-compile true

(`train_on_batch` does not stall on one pinned core as `fit` does.)
"""

import argparse
import time

import numpy as np

from keras_adrop.tasks import language_modeling as lm


def step_seconds(method, batch_size, jit_compile, steps=20):
    """(wall, CPU) seconds of one training step, means over `steps`."""
    config = lm.AWDLSTMConfig.from_preset(
        "default", embedding_dim=128, units=128, batch_size=batch_size,
        epochs=2, jit_compile=jit_compile)
    model = lm.awd_lstm_model(method, config, 10_000, steps)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 10_000, (batch_size, config.bptt))
    y = rng.integers(0, 10_000, (batch_size, config.bptt))
    for _ in range(3):
        model.train_on_batch(x, y)
    wall, cpu = time.time(), time.process_time()
    for _ in range(steps):
        model.train_on_batch(x, y)
    return (time.time() - wall) / steps, (time.process_time() - cpu) / steps


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="variational,fraternal,"
                        "adversarial_dropconnect,adversarial_k1")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--jit-compile", choices=["true", "false", "both"],
                        default="both")
    args = parser.parse_args(argv)
    modes = {"true": [True], "false": [False], "both": [False, True]}
    for method in args.methods.split(","):
        for jit_compile in modes[args.jit_compile]:
            wall, cpu = step_seconds(method, args.batch_size, jit_compile)
            print(f"{method} batch {args.batch_size} jit_compile="
                  f"{jit_compile}: {wall:.3f} s/step (CPU {cpu:.3f})",
                  flush=True)


if __name__ == "__main__":
    main()
