"""Per-step health of a PTB training run: what sets an adversarial run back.

Trains `examples/ptb_language_model.py`'s model of one method with the same
options (every option of that script is accepted here), but with a training
loop that also records, every `--log-every` steps (means over those steps):

- the cross-entropy of the base pass and each penalty (unweighted) with its
  weight lambda_t;
- the largest and the root-mean-square carried cell state `c` of each LSTM
  layer (a saturated `tanh(c)` passes no gradient back);
- per trainable variable: the norm of the cross-entropy's gradient, of each
  penalty's unweighted gradient, and of the optimizer's update;
- the learning rate.

The update is the one `fit` makes (the same loss, global-norm clip and
optimizer); the loop only differentiates the two parts of the loss apart.
It stops after `--stop-after` epochs of the `--epochs` schedule, evaluates
validation perplexity after each epoch, and writes one small JSON file.
docs/ptb.md reads the runs (section "Diagnosis").

    python examples/ptb_diagnosis.py --method adversarial_k1 \\
        --stop-after 3 --output results/ptb_diagnosis/k1_adam.json \\
        --embedding-dim 128 --units 128 --batch-size 32 --train-tokens 0 \\
        --eval-tokens 0 --epochs 8 --learning-rate 3e-3 --jit-compile true \\
        --embedding-dropout 0 --input-dropout 0.1 --hidden-dropout 0.1 \\
        --output-dropout 0.1 --weight-dropout 0.1

TensorFlow only (the loop is a `tf.function`). The figure and per-epoch
summary of saved runs:

    python examples/ptb_diagnosis.py --plot FIGURE.png RUN.json [RUN.json ...]
"""

import argparse
import json
import math
import os
import pathlib
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import ptb_language_model as ptb  # noqa: E402
from keras_adrop.tasks import language_modeling as lm  # noqa: E402
from keras_adrop.training import loss as loss_lib  # noqa: E402
from keras_adrop.training.tensorflow_trainer import tape_gradient  # noqa: E402


def lstm_layers(model):
    return [layer for layer in model.layers
            if getattr(layer, "stateful", False) and hasattr(layer, "units")]


def make_step(model, jit_compile):
    """A training step that returns the parts of the loss and their
    gradient norms along with making `fit`'s update."""
    variables = model.trainable_variables
    regularizers = list(getattr(model, "regularizers", []))
    layers = lstm_layers(model)

    def norms(gradients):
        return tf.stack([
            tf.zeros(()) if g is None else tf.norm(tf.convert_to_tensor(g))
            for g in gradients])

    @tf.function(jit_compile=jit_compile)
    def step(x, y):
        before = [tf.identity(v.value) for v in variables]
        with tf.GradientTape(persistent=True) as tape:
            if regularizers:
                loss, _ = loss_lib.regularized_loss(
                    model, (x, y), tape_gradient(tape))
                supervised, total = loss.supervised, loss.total
                raw = [loss.logs[r.metric_names()[0]] for r in regularizers]
            else:
                logits = model(x, training=True)
                supervised = model.compute_loss(
                    x=x, y=y, y_pred=logits, training=True)
                total, raw = supervised, []
        total_gradients = tape.gradient(total, variables)
        out = {
            "cross_entropy": supervised,
            "ce_grad": norms(tape.gradient(supervised, variables)),
            "penalties": tf.stack(raw) if raw else tf.zeros((0,)),
            "penalty_grads": (
                tf.stack([norms(tape.gradient(r, variables)) for r in raw])
                if raw else tf.zeros((0, len(variables)))),
            "lambda": tf.stack([
                tf.cast(r.current_weight(model.optimizer.iterations),
                        "float32") for r in regularizers])
            if regularizers else tf.zeros((0,)),
        }
        del tape
        model.optimizer.apply(total_gradients, variables)
        out["update"] = norms([v.value - b for v, b in zip(variables, before)])
        cells = [layer.states[1] for layer in layers]
        out["max_c"] = tf.stack([tf.reduce_max(tf.abs(c)) for c in cells])
        out["rms_c"] = tf.stack([tf.sqrt(tf.reduce_mean(tf.square(c)))
                                 for c in cells])
        return out

    return step


def run(method, args, data):
    vocab_size = len(data["vocabulary"])
    windows = data["train"]
    model = ptb.build_model(method, args, vocab_size, windows.num_windows)
    model.optimizer.build(model.trainable_variables)
    evaluator = lm.PerplexityEvaluator(
        ptb.inference_model(args, vocab_size, args.eval_batch_size,
                            args.bptt, stateful=True),
        data["valid"])
    step = make_step(model, args.jit_compile is True)
    names = [v.path for v in model.trainable_variables]
    regularizers = [r.name for r in getattr(model, "regularizers", [])]
    log = {"variables": names, "regularizers": regularizers,
           "layers": [layer.name for layer in lstm_layers(model)],
           "step": [], "epoch": [], "learning_rate": [], "cross_entropy": [],
           "penalties": [], "lambda": [], "max_c": [], "rms_c": [],
           "ce_grad": [], "penalty_grads": [], "update": []}
    epochs = []
    window = []
    for epoch in range(args.stop_after):
        lm.reset_states(model)
        start = time.perf_counter()
        ce_sum = 0.0
        for k in range(windows.num_windows):
            x, y, _ = windows.window(k)
            out = {key: value.numpy() for key, value in step(x, y).items()}
            ce_sum += float(out["cross_entropy"])
            window.append(out)
            if len(window) == args.log_every:
                record(log, window, model, epoch)
                window = []
        seconds = time.perf_counter() - start
        lm.copy_weights(model, evaluator.model)
        val_perplexity, _ = evaluator()
        epochs.append({"epoch": epoch + 1, "seconds": seconds,
                       "train_cross_entropy": ce_sum / windows.num_windows,
                       "val_perplexity": val_perplexity})
        print(f"{method} epoch {epoch + 1}: train CE "
              f"{epochs[-1]['train_cross_entropy']:.3f}, val perplexity "
              f"{val_perplexity:.1f} ({seconds:.0f} s); max|c| "
              f"{log['max_c'][-1] if log['max_c'] else '-'}", flush=True)
    return {"epochs": epochs, "log": log}


def record(log, window, model, epoch):
    """Appends the mean of `window`'s steps (max_c: their maximum)."""
    def mean(key):
        return np.mean([w[key] for w in window], axis=0)

    log["step"].append(int(model.optimizer.iterations.numpy()))
    log["epoch"].append(epoch + 1)
    log["learning_rate"].append(float(model.optimizer.learning_rate))
    log["max_c"].append(rounded(np.max([w["max_c"] for w in window], axis=0)))
    for key in ("cross_entropy", "penalties", "lambda", "rms_c", "ce_grad",
                "penalty_grads", "update"):
        log[key].append(rounded(mean(key)))


def rounded(value):
    """Four significant digits, as plain floats (small JSON)."""
    value = np.asarray(value, "float64")
    if value.ndim == 0:
        return float(f"{value:.4g}")
    return [rounded(v) for v in value]


def epoch_summary(result):
    """Per epoch: validation perplexity, the largest carried cell state of
    each layer, and per variable the median norms of the cross-entropy's
    gradient, of lambda times the penalties' gradient, and of the update."""
    log = result["log"]
    epochs = np.asarray(log["epoch"])
    rows = []
    for info in result["epochs"]:
        at = epochs == info["epoch"]

        def median(key):
            return np.median(np.asarray(log[key])[at], axis=0)

        weighted = np.einsum(
            "sr,srv->sv", np.asarray(log["lambda"])[at],
            np.asarray(log["penalty_grads"])[at]) if log["regularizers"] \
            else np.zeros((int(at.sum()), len(log["variables"])))
        rows.append({
            **info,
            "max_c": np.max(np.asarray(log["max_c"])[at], axis=0).tolist(),
            "ce_grad": median("ce_grad").tolist(),
            "weighted_penalty_grad": np.median(weighted, axis=0).tolist(),
            "update": median("update").tolist(),
        })
    return rows


def plot(paths, figure):
    """One figure of several runs: max |c| of each layer, the training
    cross-entropy, and the gradient norms of the first layer's kernel."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = {pathlib.Path(p).stem: json.loads(pathlib.Path(p).read_text())
            for p in paths}
    fig, axes = plt.subplots(1, 4, figsize=(22, 4.2))
    for name, result in runs.items():
        log = result["log"]
        steps = np.asarray(log["step"])
        max_c = np.asarray(log["max_c"])
        line, = axes[0].plot(steps, max_c[:, -1], label=name)
        axes[0].plot(steps, max_c[:, 0], color=line.get_color(),
                     linestyle=":")
        axes[1].plot(steps, log["cross_entropy"], color=line.get_color(),
                     label=name)
        kernel = log["variables"].index("lstm_1/lstm_cell/kernel")
        axes[2].plot(steps, np.asarray(log["ce_grad"])[:, kernel],
                     color=line.get_color(), label=name)
        if log["regularizers"]:
            weighted = (np.asarray(log["lambda"])[:, :, None]
                        * np.asarray(log["penalty_grads"])).sum(1)
            axes[2].plot(steps, weighted[:, kernel], color=line.get_color(),
                         linestyle="--")
        axes[3].plot(steps, np.asarray(log["update"])[:, kernel],
                     color=line.get_color(), label=name)
    titles = [
        "max |c| carried (solid: last LSTM, dotted: first)",
        "training cross-entropy (base pass)",
        "lstm_1 kernel: |grad CE| (solid), |lambda grad R| (dashed)",
        "lstm_1 kernel: |update|",
    ]
    for ax, title in zip(axes, titles):
        ax.set(title=title, xlabel="optimizer step")
        ax.set_yscale("log" if ax is not axes[1] else "linear")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(figure, dpi=90)
    print(f"wrote {figure}")


def rounded_tree(row):
    return {k: (rounded(v) if isinstance(v, (list, float)) else v)
            for k, v in row.items()}


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "--plot":
        figure, *paths = argv[1:]
        plot(paths, figure)
        for path in paths:
            result = json.loads(pathlib.Path(path).read_text())
            print(f"\n{path} ({result['method']})")
            for row in epoch_summary(result):
                print(json.dumps(rounded_tree(row)))
        return None
    own = argparse.ArgumentParser(
        prog="examples/ptb_diagnosis.py", add_help=False,
        description="Per-step health of a PTB training run (see the "
        "module's docstring).",
        epilog="Every other option is examples/ptb_language_model.py's "
        "(see its --help; --quick makes a smoke run). `--plot FIGURE.png "
        "RUN.json [RUN.json ...]` draws saved runs instead.")
    own.add_argument("-h", "--help", action="help",
                     help="Show this message and exit.")
    own.add_argument("--method", required=True,
                     help="The method trained (one of the example's).")
    own.add_argument("--stop-after", type=int, default=3,
                     help="Epochs to run of the --epochs schedule.")
    own.add_argument("--log-every", type=int, default=5,
                     help="Steps per logged point (means over them).")
    own.add_argument("--output", required=True,
                     help="The JSON file written.")
    mine, rest = own.parse_known_args(argv)
    args = ptb.parse_args(rest + ["--methods", mine.method])
    args.stop_after, args.log_every = mine.stop_after, mine.log_every
    if not 1 <= args.stop_after <= args.epochs:
        raise SystemExit(f"--stop-after must be in [1, --epochs="
                         f"{args.epochs}]; received {args.stop_after}.")
    data = ptb.load_windows(args)
    result = run(mine.method, args, data)
    config = {k: v for k, v in vars(args).items()
              if isinstance(v, (int, float, str, bool, type(None)))}
    result = {"method": mine.method, "config": config,
              "command": "python examples/ptb_diagnosis.py " + " ".join(argv),
              **result}
    path = pathlib.Path(mine.output)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, separators=(",", ":")) + "\n")
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")
    return result


if __name__ == "__main__":
    main()
