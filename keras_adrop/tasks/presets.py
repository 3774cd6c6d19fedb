"""The settings of the three tasks, one table each: CPU scale, smoke run,
paper.

Each table maps a preset name to the options of its task:

- `SEQUENCE_CLASSIFICATION`: `examples/sequential_mnist.py` and
  `keras_adrop.tasks.sequence_classification` (Table 1);
- `TEXT_CLASSIFICATION`: `examples/imdb_sentiment.py` and
  `keras_adrop.tasks.text_classification` (Table 2);
- `LANGUAGE_MODELING`: `examples/ptb_language_model.py` and the fields of
  `keras_adrop.tasks.language_modeling.AWDLSTMConfig` (Table 3).

Every table has `"default"` (what a 2-core CPU runs in minutes to hours),
`"quick"` (a smoke run of seconds) and `"paper"` (the paper's sizes).
A value given on an example's command line always wins.

Example:

>>> LANGUAGE_MODELING["paper"]["units"]
1150
"""

# The settings of `examples/sequential_mnist.py` (and `examples/analyze.py`):
# the CPU-scale run on the digits, the `--quick` smoke run, and the paper's
# sMNIST configuration (Table 1; the paper leaves the optimizer to an
# appendix we do not have, so Adam and the epochs are our choice).
SEQUENCE_CLASSIFICATION = {
    "default": {
        "dataset": "digits",
        "units": 64,
        "epochs": 80,
        "batch_size": 32,
        "learning_rate": 1e-2,
        "recurrent_dropout": 0.1,
        "delta": 0.05,
        "train_size": 800,
        "validation_size": 200,
    },
    "quick": {
        "dataset": "digits",
        "units": 16,
        "epochs": 2,
        "batch_size": 32,
        "learning_rate": 1e-2,
        "recurrent_dropout": 0.1,
        "delta": 0.2,
        "train_size": 200,
        "validation_size": 100,
    },
    "paper": {
        "dataset": "smnist",
        "units": 100,
        "epochs": 100,
        "batch_size": 128,
        "learning_rate": 1e-3,
        "recurrent_dropout": 0.1,
        "delta": 0.03,
        "train_size": 55000,
        "validation_size": 5000,
    },
}


# The settings of `examples/imdb_sentiment.py` (and the `imdb` task of
# `tuning/`): the CPU-scale default, the `--quick` smoke run and the
# paper's sizes. Miyato et al.'s epsilon=5 is ~1.6% of a review's norm over
# (time, features) with their normalized word vectors; ours are not
# normalized (a review's norm measured ~3.2 at initialization, ~3.5 after 2
# epochs), so 0.1 is ~3% of it.
_TEXT_CPU_SCALE = {
    "train_size": 5000,
    "test_size": 5000,
    "unlabeled_size": 10000,
    "vocab_size": 10000,
    "min_count": 2,
    "sequence_length": 256,
    "truncate": "tail",
    "embedding_dim": 64,
    "units": 64,
    "epochs": 6,
    "batch_size": 64,
    "learning_rate": 2e-3,
    "embedding_dropout": 0.3,
    "recurrent_dropout": 0.1,
    "delta": 0.05,
    "epsilon": 0.1,
    "pretrain_epochs": 0,
    "pretrain_samples": 512,
}


TEXT_CLASSIFICATION = {
    "default": _TEXT_CPU_SCALE,
    "quick": dict(
        _TEXT_CPU_SCALE, train_size=200, test_size=200, unlabeled_size=200,
        vocab_size=2000, sequence_length=48, embedding_dim=16, units=16,
        epochs=1, batch_size=32, delta=0.2, pretrain_epochs=1,
        pretrain_samples=64,
    ),
    # Miyato et al. (2017) as the paper follows them: all reviews, words
    # seen at least twice (~87k), 400 steps, embedding 256, LSTM 1024, batch
    # 64, Adam 5e-4, embedding dropout 0.5, an LM pretraining (sampled
    # softmax, 1024 samples here). delta 0.03 flips 30 of 1,024 units;
    # epsilon 0.3 is ~3% of a 400-token review's norm at initialization
    # (Miyato's 5.0 assumes their normalized word vectors; tune it).
    "paper": dict(
        _TEXT_CPU_SCALE, train_size=None, test_size=None, unlabeled_size=None,
        vocab_size=None, min_count=2, sequence_length=400, truncate="head",
        embedding_dim=256, units=1024, epochs=30, batch_size=64,
        learning_rate=5e-4, embedding_dropout=0.5, recurrent_dropout=0.1,
        delta=0.03, epsilon=0.3, pretrain_epochs=10, pretrain_samples=1024,
    ),
}


# The settings of `examples/ptb_language_model.py` (and the `ptb` task of
# `tuning/`): CPU scale (the default), the `--quick` smoke run and the
# paper's AWD-LSTM; docs/ptb.md describes them. The keys are the fields of
# `AWDLSTMConfig`.
_LANGUAGE_MODEL_CPU_SCALE = {
    "embedding_dim": 200,
    "units": 200,
    "layers": 2,
    "bptt": 35,
    "batch_size": 20,
    "eval_batch_size": 10,
    "train_tokens": 400_000,
    "eval_tokens": 0,
    "epochs": 3,
    # The recipe of docs/ptb.md ("Presets"): Adam 1e-3 let the carried cell
    # states grow to |c| ~770 at this size (validation perplexity 440
    # after 3 epochs); SGD 30 kept them below 30 (211).
    "optimizer": "sgd",
    "learning_rate": 30.0,
    "clipnorm": 0.25,
    # XLA: Keras leaves it off on a CPU-only TensorFlow ("auto"), but it
    # makes this model's training step 1.4-1.7x faster on this CPU
    # (docs/ptb.md).
    "jit_compile": True,
    "embedding_dropout": 0.1,
    "input_dropout": 0.2,
    "hidden_dropout": 0.2,
    "output_dropout": 0.2,
    "weight_dropout": 0.2,
    "recurrent_dropout": 0.1,
    "ar": 0.0,
    "tar": 0.0,
    "delta": 0.03,
    "penalty_weight": 1.0,
    "divergence": "kl",
    "fraternal_weight": 0.1,
    "el_weight": 0.25,
    # adversarial_dropconnect: the authors' PTB recipe (docs/algorithm.md,
    # rules 16-18): floor(0.06 H) drops per gate unit of the last layer's
    # recurrent kernel, squared logit error, lambda 0.1 ramped up as
    # exp(-5 (1 - t)^2) over the first fifth of training (their 100 of
    # 500+ epochs).
    "dropconnect_delta": 0.06,
    "dropconnect_weight": 0.1,
    "rampup_fraction": 0.2,
}


LANGUAGE_MODELING = {
    "default": _LANGUAGE_MODEL_CPU_SCALE,
    "quick": {
        **_LANGUAGE_MODEL_CPU_SCALE,
        "embedding_dim": 16,
        "units": 16,
        "bptt": 10,
        "batch_size": 8,
        "eval_batch_size": 4,
        "train_tokens": 4_000,
        "eval_tokens": 2_000,
        "epochs": 1,
        "jit_compile": "auto",  # a smoke run: no time for XLA compiling
        "delta": 0.2,
        "dropconnect_delta": 0.2,
    },
    "paper": {
        **_LANGUAGE_MODEL_CPU_SCALE,
        "embedding_dim": 400,
        "units": 1150,
        "layers": 3,
        "bptt": 70,
        "batch_size": 20,
        "train_tokens": 0,
        "epochs": 500,
        "jit_compile": "auto",
        "input_dropout": 0.4,
        "hidden_dropout": 0.25,
        "output_dropout": 0.4,
        "weight_dropout": 0.5,
        "ar": 2.0,
        "tar": 1.0,
    },
}
