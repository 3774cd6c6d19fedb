"""Dataset loaders check their arguments like the models, and a bad cache
location names KERAS_ADROP_DATA."""

import numpy as np
import pytest

from keras_adrop import datasets
from keras_adrop.datasets import _cache
from keras_adrop.datasets import digits
from keras_adrop.datasets import mnist
from keras_adrop.datasets import ptb
from keras_adrop.datasets import seattle_weather


@pytest.mark.parametrize("loader, argument, value", [
    (digits.load, "train_size", "abc"),
    (digits.load, "train_size", 100.7),
    (digits.load, "train_size", 5),
    (digits.load, "train_size", True),
    (digits.load, "seed", "0"),
    (mnist.load, "train_size", 100.7),
    (mnist.load, "train_size", "1000"),
    (mnist.load, "validation_size", -1),
    (mnist.load, "validation_size", 0.5),
    (mnist.load, "variant", "pixels"),
    (mnist.load, "permuted", "yes"),
    (seattle_weather.load, "window", 28.0),
    (seattle_weather.load, "horizon", 0),
])
def test_bad_loader_arguments_name_the_value_and_type(loader, argument,
                                                      value):
    with pytest.raises(ValueError) as error:
        loader(**{argument: value})
    message = str(error.value)
    assert f"`{argument}`" in message
    assert (f"Received: {argument}={value!r} (of type "
            f"{type(value).__name__})") in message, message


def test_batchify_checks_its_sizes():
    with pytest.raises(ValueError, match=r"`bptt` must be a positive "
                                         r"integer. Received: bptt=3.5"):
        ptb.batchify(np.arange(20), batch_size=2, bptt=3.5)


def test_numpy_integers_are_accepted():
    (x, _), _ = digits.load(train_size=np.int64(100), seed=np.int32(0))
    assert x.shape == (100, 64, 1)


def test_a_cache_location_that_is_a_file_names_the_variable(tmp_path,
                                                             monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    monkeypatch.setenv(_cache.CACHE_ENV_VAR, str(blocker))
    with pytest.raises(datasets.DataUnavailableError,
                       match=r"\$KERAS_ADROP_DATA=.*a_file.*writable"):
        _cache.cache_dir("mnist")
