"""Keras tooling keeps every setting, bad values get clear errors,
a non-finite step never reaches the weights (docs/reliability.md)."""

import json
import warnings

import keras
import numpy as np
import pytest

import keras_adrop
from keras_adrop import layers
from keras_adrop import regularizers

# Tests marked backend_neutral also run under JAX (README); the training
# comparisons of every copy run on TensorFlow only (eager JAX is slow), the
# cross-backend step being tests/test_backends.py's.
neutral = pytest.mark.backend_neutral
JAX = keras.backend.backend() == "jax"

STEPS, FEATURES, CLASSES, VOCAB = 5, 2, 3, 12


def _recurrent_model(**settings):
    inputs = keras.Input((STEPS, FEATURES))
    h = layers.LSTM(8, recurrent_dropout=0.25, seed=1, name="lstm")(inputs)
    outputs = keras.layers.Dense(CLASSES)(h)
    return inputs, outputs


def _text_model():
    inputs = keras.Input((STEPS,), dtype="int32")
    h = layers.Embedding(VOCAB, 4, mask_zero=True, seed=1)(inputs)
    h = layers.LSTM(8, seed=2, name="lstm")(h)
    return inputs, keras.layers.Dense(CLASSES)(h)


# Every public model and regularizer, with settings that are not defaults.
MODELS = {
    "adversarial_dropout_model": lambda: keras_adrop.AdversarialDropoutModel(
        *_recurrent_model(), delta=0.25, iterations=2, penalty_weight=0.5,
        rampup_steps=7, divergence="reverse_kl", base_mask="random",
        stop_target_gradient=False, adversarial_layers=["lstm"],
        from_logits=True, seed=3, max_consecutive_skips=4, name="adm"),
    "adversarial_dropout": lambda: keras_adrop.RegularizedModel(
        *_recurrent_model(), regularizers=[regularizers.AdversarialDropout(
            delta=0.25, iterations=2, penalty_weight=0.3, rampup_steps=5,
            divergence="squared_logits", seed=4, from_logits=True,
            name="adv")], max_consecutive_skips=2),
    "last_state": lambda: keras_adrop.RegularizedModel(
        *_recurrent_model(),
        regularizers=[regularizers.LastStateAdversarialDropout(
            delta=0.25, penalty_weight=0.2, seed=5, from_logits=True)]),
    "fraternal": lambda: keras_adrop.RegularizedModel(
        *_recurrent_model(), regularizers=[regularizers.FraternalDropout(
            penalty_weight=0.4, divergence="kl", seed=6, from_logits=True,
            rampup_steps=3)]),
    "expectation_linearization": lambda: keras_adrop.RegularizedModel(
        *_recurrent_model(),
        regularizers=[regularizers.ExpectationLinearization(
            penalty_weight=0.7, seed=7, layers=["lstm"])]),
    "adversarial_perturbation": lambda: keras_adrop.RegularizedModel(
        *_text_model(), regularizers=[regularizers.AdversarialPerturbation(
            epsilon=0.5, penalty_weight=0.6, seed=8, from_logits=True)]),
    "virtual_adversarial_perturbation": lambda: keras_adrop.RegularizedModel(
        *_text_model(),
        regularizers=[regularizers.VirtualAdversarialPerturbation(
            epsilon=0.5, xi=0.2, power_iterations=2, penalty_weight=0.8,
            seed=9, from_logits=True)]),
}


def _compile(model):
    model.compile(keras.optimizers.SGD(0.1),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  run_eagerly=True)
    return model


def _batch(model):
    rng = np.random.RandomState(0)
    if model.inputs[0].dtype.startswith("int"):
        x = rng.randint(1, VOCAB, size=(8, STEPS)).astype("int32")
    else:
        x = rng.rand(8, STEPS, FEATURES).astype("float32")
    return x, rng.randint(0, CLASSES, size=8)


def _copies(model, tmp_path):
    path = tmp_path / "m.keras"
    model.save(path)
    return {
        "clone_model": keras.models.clone_model(model),
        "from_config": type(model).from_config(model.get_config()),
        "to_json": keras.models.model_from_json(model.to_json()),
        ".keras": keras.saving.load_model(path, compile=False),
    }


def _settings(model):
    config = model.get_config()
    config.pop("layers", None)  # the graph: compared by the step below
    for key in ("input_layers", "output_layers"):
        config.pop(key, None)
    return config


@neutral
@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_copy_keeps_every_setting(name, tmp_path):
    model = _compile(MODELS[name]())
    for how, copy in _copies(model, tmp_path).items():
        assert type(copy) is type(model), how
        assert _settings(copy) == _settings(model), how
        assert copy.max_consecutive_skips == model.max_consecutive_skips


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_copy_trains_alike(name, tmp_path):
    """One training step from the same weights and draws: the same logs."""
    model = _compile(MODELS[name]())
    copies = _copies(model, tmp_path)
    x, y = _batch(model)
    weights = model.get_weights()
    fresh = _compile(MODELS[name]())
    fresh.set_weights(weights)
    expected = fresh.train_on_batch(x, y, return_dict=True)
    for how in ("clone_model", ".keras"):
        copy = _compile(copies[how])
        copy.set_weights(weights)
        logs = copy.train_on_batch(x, y, return_dict=True)
        assert set(logs) == set(expected), how
        for key in expected:
            np.testing.assert_allclose(logs[key], expected[key], rtol=1e-5,
                                       atol=1e-6, err_msg=f"{how} {key}")


@neutral
def test_clone_of_a_small_layer_keeps_delta():
    """The issue's case: the default delta allows 0 flips on 8 units."""
    model = keras_adrop.AdversarialDropoutModel(
        *_recurrent_model(), delta=0.25, base_mask="random")
    clone = keras.models.clone_model(model)
    assert clone.adversarial_dropout.delta == 0.25


@neutral
def test_h5_is_refused_at_save_time(tmp_path):
    model = MODELS["adversarial_dropout_model"]()
    for suffix in ("h5", "hdf5", "H5"):
        with pytest.raises(ValueError, match=r"Save to a `\.keras` file"):
            model.save(tmp_path / f"m.{suffix}")
    assert not list(tmp_path.iterdir())


@neutral
def test_clone_detection_is_only_for_clones():
    """A model built by hand right after a clone keeps its own settings."""
    model = MODELS["adversarial_dropout_model"]()
    keras.models.clone_model(model)
    other = keras_adrop.AdversarialDropoutModel(
        *_recurrent_model(), delta=0.5, name="adm")
    assert other.adversarial_dropout.delta == 0.5
    assert other.adversarial_dropout.iterations == 1
    plain = keras_adrop.RegularizedModel(*_recurrent_model(), name="adm")
    assert plain.regularizers == []


@neutral
def test_models_built_one_after_another_keep_their_own_settings():
    """Keras' Functional constructor runs the graph too: only the clone's
    own output tensors make a constructor call a clone."""
    keras_adrop.AdversarialDropoutModel(
        *_recurrent_model(), delta=0.5, iterations=2, name="same")
    second = keras_adrop.AdversarialDropoutModel(
        *_recurrent_model(), delta=0.25, name="same")
    assert second.adversarial_dropout.delta == 0.25
    assert second.adversarial_dropout.iterations == 1


# Bad values: every public constructor argument.

NAN, INF = float("nan"), float("inf")
AD = regularizers.AdversarialDropout
VAT = regularizers.VirtualAdversarialPerturbation
BAD_VALUES = [
    # (constructor, argument, bad values)
    (AD, "delta", ["0.1", 0.0, 1.0, -0.1, NAN, INF, True, None]),
    (AD, "iterations", [0, 1.5, 2.0, "2", True, None]),
    (AD, "penalty_weight", [-1.0, NAN, INF, "1", True, None]),
    (AD, "rampup_steps", [-1, 1.5, "3", True]),
    (AD, "divergence", ["KL", "l2", 3]),
    (AD, "base_mask", ["full", None, True]),
    (AD, "stop_target_gradient", ["no", "yes", 1, 0, None]),
    (AD, "from_logits", ["yes", 1]),
    (AD, "layers", ["lstm", 3]),
    (AD, "seed", ["1", 1.5, -1]),
    (AD, "name", ["", 3]),
    (regularizers.LastStateAdversarialDropout, "base_mask", ["random"]),
    (regularizers.FraternalDropout, "penalty_weight", [NAN, -0.1, "0.1"]),
    (regularizers.ExpectationLinearization, "penalty_weight", [INF]),
    (regularizers.AdversarialPerturbation, "epsilon", [0.0, NAN, "5"]),
    (VAT, "xi", [0.0, -1.0, INF, "0.1"]),
    (VAT, "power_iterations", [0, 1.0, "1", True]),
    (layers.LSTM, "units", ["8", 8.0, 0, -1, True]),
    (layers.GRU, "recurrent_dropout", ["0.1", 1.0, -0.1, NAN]),
    (layers.SimpleRNN, "dropout", [1.5, "0", INF]),
    (layers.LSTM, "zoneout", [1.0, "0.1"]),
    (layers.LSTM, "cell_zoneout", [-0.1, NAN]),
    (layers.GRU, "recurrent_dropconnect", [1.0, "0.5"]),
    (layers.LSTM, "dropconnect_mode", ["column", 1]),
    (layers.LSTM, "use_cudnn", ["yes", 1, None]),
    (layers.LSTM, "implementation", [3, "2"]),
    (layers.Embedding, "embedding_dropout", [1.0, "0.1", NAN]),
    (layers.RecurrentActivityRegularization, "alpha", [-1.0, NAN, "2"]),
    (layers.RecurrentActivityRegularization, "beta", [INF, "1"]),
]
REQUIRED = {layers.LSTM: {"units": 4}, layers.GRU: {"units": 4},
            layers.SimpleRNN: {"units": 4},
            layers.Embedding: {"input_dim": 5, "output_dim": 2}}


@neutral
@pytest.mark.parametrize(
    "constructor, argument, value",
    [(c, a, v) for c, a, values in BAD_VALUES for v in values],
    ids=lambda v: getattr(v, "__name__", repr(v)))
def test_bad_values_are_refused_with_name_value_and_type(
        constructor, argument, value):
    kwargs = {**REQUIRED.get(constructor, {}), argument: value}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with pytest.raises(ValueError) as error:
            constructor(**kwargs)
    message = str(error.value)
    assert f"`{argument}`" in message, message
    assert f"Received: {argument}={value!r} (of type " \
           f"{type(value).__name__})" in message, message


@neutral
@pytest.mark.parametrize("argument, value", [
    ("delta", "0.1"), ("penalty_weight", NAN), ("iterations", 2.0),
    ("stop_target_gradient", "no"), ("from_logits", "yes"),
    ("max_consecutive_skips", 0), ("max_consecutive_skips", 1.5)])
@neutral
def test_model_arguments_are_checked_as_the_user_wrote_them(argument,
                                                             value):
    with pytest.raises(ValueError, match=f"`{argument}` must be .* "
                                         f"Received: {argument}="):
        keras_adrop.AdversarialDropoutModel(*_recurrent_model(),
                                            **{argument: value})


@neutral
def test_numpy_scalars_are_accepted_where_keras_accepts_them():
    layer = layers.LSTM(np.int64(8), recurrent_dropout=np.float32(0.25))
    assert layer.units == 8 and type(layer.units) is int
    reg = AD(delta=np.float32(0.25), iterations=np.int32(2),
             stop_target_gradient=np.bool_(False), seed=np.int64(3))
    assert (reg.delta, reg.iterations, reg.stop_target_gradient,
            reg.seed) == (0.25, 2, False, 3)
    json.dumps(reg.get_config())  # plain Python values


@neutral
def test_regularizers_must_be_a_list():
    with pytest.raises(ValueError, match="`regularizers` must be a list"):
        keras_adrop.RegularizedModel(*_recurrent_model(),
                                     regularizers="adversarial_dropout")


# Semi-supervised data.

def _semi_supervised_fit(data):
    model = keras_adrop.AdversarialDropoutModel(
        *_recurrent_model(), delta=0.25, seed=1)
    _compile(model)
    x, y = _batch(model)
    dataset = __import__("tensorflow").data.Dataset.from_tensors(data(x, y))
    return model.fit(dataset, epochs=1, verbose=0)


@neutral
@pytest.mark.parametrize("data, match", [
    (lambda x, y: {"labeled": (x, y), "unlabelled": x},
     r"keys \['labeled', 'unlabelled'\]"),
    (lambda x, y: {"labeled": (x, y)}, r"pass \(x, y\) as usual"),
    (lambda x, y: {"labeled": (x, y), "unlabeled": (x, y)},
     r'"unlabeled" part .* inputs x_u alone.*\(an \(x, y\) pair\?\)'),
    (lambda x, y: {"labeled": x, "unlabeled": x},
     r'"labeled" part .* must be \(x, y\)'),
])
def test_a_malformed_semi_supervised_batch_shows_the_expected_structure(
        data, match):
    pytest.importorskip("tensorflow")
    with pytest.raises(ValueError, match=match) as error:
        _semi_supervised_fit(data)
    assert '{"labeled": (x, y) or (x, y, sample_weight), "unlabeled": x}' \
        in str(error.value)


@neutral
def test_a_well_formed_semi_supervised_batch_trains():
    pytest.importorskip("tensorflow")
    history = _semi_supervised_fit(
        lambda x, y: {"labeled": (x, y), "unlabeled": x}).history
    assert np.isfinite(history["loss"]).all()


# Non-finite steps.

MODES = {"eager": dict(run_eagerly=True),
         "graph": dict(jit_compile=False),
         "xla": dict(jit_compile=True)}


def _fit_with_a_bad_batch(mode, corrupt, max_consecutive_skips=1,
                          bad_batches=(1,)):
    model = keras_adrop.AdversarialDropoutModel(
        *_recurrent_model(), delta=0.25, seed=1,
        max_consecutive_skips=max_consecutive_skips)
    # A regression loss: a NaN label is a NaN loss (a NaN class index is
    # refused by the cross-entropy op itself).
    model.compile(keras.optimizers.Adam(0.01), "mse", **MODES[mode])
    rng = np.random.RandomState(0)
    x = rng.rand(32, STEPS, FEATURES).astype("float32")
    y = rng.rand(32, CLASSES).astype("float32")
    for batch in bad_batches:
        corrupt(x, y, 8 * batch + 3)
    snapshots = []

    class Snapshot(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            snapshots.append(
                ([np.array(w) for w in self.model.get_weights()],
                 [np.array(v) for v in self.model.optimizer.variables]))

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(x, y, batch_size=8, epochs=1, shuffle=False,
                            verbose=0, callbacks=[Snapshot()]).history
    stops = [w for w in caught if issubclass(w.category, RuntimeWarning)
             and "Non-finite" in str(w.message)]
    return model, history, snapshots, stops


def _nan_input(x, y, i):
    x[i, 2, 0] = np.nan


def _nan_label(x, y, i):
    y[i] = np.nan


@neutral
@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("corrupt", [_nan_input, _nan_label],
                         ids=["nan_input", "nan_label"])
def test_a_non_finite_step_is_skipped_and_stops_training(mode, corrupt):
    if JAX and mode != "xla":
        pytest.skip("under JAX the jitted step is fit's path; the same "
                    "`where` runs unjitted")
    model, history, snapshots, stops = _fit_with_a_bad_batch(mode, corrupt)
    # Batch 0 trained, batch 1 skipped, then training stopped.
    assert len(snapshots) == 2
    for before, after in zip(*[s[0] for s in snapshots]):
        np.testing.assert_array_equal(before, after)
    for before, after in zip(*[s[1] for s in snapshots]):
        np.testing.assert_array_equal(before, after)
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 1
    assert all(np.isfinite(w).all() for w in model.get_weights())
    assert history["skipped_steps"] == [1.0]
    assert np.isfinite(history["loss"]).all()
    assert len(stops) == 1 and model.stop_training
    message = str(stops[0].message)
    assert message == model.nonfinite_stop
    assert "non-finite: supervised_loss" in message
    assert "supervised_loss = nan" in message


@neutral
def test_skips_below_the_limit_are_counted_and_training_goes_on():
    mode = "xla" if JAX else "graph"
    model, history, snapshots, stops = _fit_with_a_bad_batch(
        mode, _nan_input, max_consecutive_skips=2, bad_batches=(1, 3))
    assert len(snapshots) == 4 and stops == []
    assert history["skipped_steps"] == [2.0]
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 2
    assert np.isfinite(history["loss"]).all()
    assert all(np.isfinite(w).all() for w in model.get_weights())
    model, history, snapshots, stops = _fit_with_a_bad_batch(
        mode, _nan_input, max_consecutive_skips=2, bad_batches=(1, 2))
    assert len(snapshots) == 3 and len(stops) == 1
    assert "2 consecutive step(s)" in str(stops[0].message)


# Warnings once per configuration.

@neutral
def test_constructor_warnings_are_given_once_per_configuration(tmp_path):
    def build():
        inputs = keras.Input((STEPS, FEATURES))
        h = layers.LSTM(8, recurrent_dropout=0.2, name="lstm")(inputs)
        return keras_adrop.AdversarialDropoutModel(
            inputs, keras.layers.Dense(CLASSES)(h), delta=0.25, iterations=3)

    with warnings.catch_warnings(record=True) as first:
        warnings.simplefilter("always")
        model = build()
    assert len([w for w in first if w.category is UserWarning]) == 2
    model.save(tmp_path / "m.keras")
    with warnings.catch_warnings(record=True) as again:
        warnings.simplefilter("always")
        build()
        keras.saving.load_model(tmp_path / "m.keras")
    assert [w for w in again if w.category is UserWarning] == []
