"""Raw text in the TensorFlow graph: a tokenizer layer and its vocabulary.

`TextTokenizer` is a weightless Keras layer that turns a batch of raw
strings into padded word ids with tensorflow-text ops, so that it prepares
the `tf.data` training batches and sits in an exported serving graph alike
(`keras_adrop.tasks.text_classification.export_text_classifier`).
`learn_vocabulary` learns its word vocabulary from raw texts.

The module imports without TensorFlow (so that `import keras_adrop`
registers `TextTokenizer` on every backend); the layer needs TensorFlow and
tensorflow-text when it is created (`pip install "keras_adrop[examples]"`).

Example:

```python
vocabulary = keras_adrop.layers.text_tokenizer.learn_vocabulary(
    texts, vocab_size=10_000)
tokenizer = keras_adrop.layers.TextTokenizer(vocabulary, sequence_length=256)
tokens = tokenizer(tf.constant(["A wonderful film."]))  # int32 (1, 256)
```
"""

import collections

import keras
import numpy as np


class _TensorFlow:
    """`tensorflow`, imported on first use: the module imports without it
    (so that `import keras_adrop` registers `TextTokenizer` on every
    backend), and the layer needs it when it is created."""

    def __getattr__(self, name):
        import tensorflow

        return getattr(tensorflow, name)


tf = _TensorFlow()


RESERVED_TOKENS = ("[PAD]", "[UNK]")  # id 0 pads (mask_zero), 1 unknown


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


@keras.saving.register_keras_serializable(package="keras_adrop")
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
    """Tokens per text, fraction cut by truncation, `[UNK]` rate.

    Example:

    ```python
    tokenizer_stats(tokenizer, ["A good film.", "Bad."])
    # {"median_tokens_per_review": ..., "fraction_truncated": ...,
    #  "unknown_token_rate": ...}
    ```
    """
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
