"""scikit-learn's embedded 8x8 digits as 64-step pixel sequences.

1,797 real handwritten digits ship inside scikit-learn, so this loader needs
no download and loads in milliseconds: the small stand-in for sequential
MNIST used by the main example and the tests.
"""

import numpy as np

from keras_adrop import arguments


def load(train_size=1000, seed=0):
    """Loads the 8x8 digits as pixel-by-pixel sequences, split with `seed`.

    Args:
        train_size: Number of training images (10 to 1,787); the rest of the
            1,797 is the test set. The split is stratified by class.
        seed: Seed of the split.

    Returns:
        `((x_train, y_train), (x_test, y_test))`: `x` float32 of shape
        `(n, 64, 1)` with values in [0, 1] (pixel value / 16), `y` int32
        labels 0-9.

    Raises:
        ValueError: if `train_size` leaves fewer than 10 test images.

    Example:

    >>> (x, y), (x_test, y_test) = load(train_size=1000, seed=0)
    >>> x.shape, x_test.shape
    ((1000, 64, 1), (797, 64, 1))
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    arguments.check_seed("seed", seed, allow_none=False)
    digits = load_digits()
    n = len(digits.target)
    train_size = arguments.check_integer(
        "train_size", train_size, minimum=10, maximum=n - 10,
        what=(" (the split is stratified: at least one image per class on "
              "each side)"))
    x = (digits.data / 16.0).astype("float32").reshape(-1, 64, 1)
    y = digits.target.astype("int32")
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, train_size=int(train_size), stratify=y, random_state=seed
    )
    return (x_train, y_train), (x_test, y_test)
