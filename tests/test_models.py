"""AdversarialDropoutModel / RegularizedModel: docs/algorithm.md rules 4-15."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf
import keras

import keras_adrop
from conftest import base_batch
from keras_adrop.training.loss import model_state
from keras_adrop import divergences
from keras_adrop import layers
from keras_adrop.regularizers import AdversarialDropout
from keras_adrop.regularizers import adversarial_search

STEPS, FEATURES, CLASSES = 8, 2, 3


def _toy_data(n=96, seed=0):
    """A learnable 3-class sequence problem."""
    rng = np.random.RandomState(seed)
    x = rng.randn(n, STEPS, FEATURES).astype("float32")
    y = (np.digitize(x[:, :, 0].sum(axis=1), [-1.5, 1.5])).astype("int32")
    return x, y


def _classifier(model_cls=keras_adrop.AdversarialDropoutModel, units=10,
                activation=None, extra_layers=(), **kwargs):
    inputs = keras.Input((STEPS, FEATURES))
    h = inputs
    for layer in extra_layers:
        h = layer(h)
    h = layers.LSTM(units, name="lstm")(h)
    outputs = keras.layers.Dense(CLASSES, activation=activation)(h)
    return model_cls(inputs, outputs, **kwargs)


def _compile(model, from_logits=True):
    model.compile(
        keras.optimizers.Adam(0.01),
        keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits),
        metrics=["accuracy"],
    )
    return model


def _fit(model, epochs=3, **kwargs):
    x, y = _toy_data()
    return model.fit(x, y, epochs=epochs, batch_size=32, verbose=0,
                     shuffle=False, **kwargs).history


class _FirstBatchLogs(keras.callbacks.Callback):
    """Keeps the logs of the first training step."""

    logs = None

    def on_train_batch_end(self, batch, logs=None):
        if self.logs is None:
            self.logs = {k: float(v) for k, v in logs.items()}


def test_fit_lowers_the_loss_and_logs_every_part():
    model = _compile(_classifier(delta=0.3, iterations=2, seed=1))
    history = _fit(model, epochs=6)
    assert history["loss"][-1] < history["loss"][0]
    assert history["supervised_loss"][-1] < history["supervised_loss"][0]
    assert all(p > 0 for p in history["adversarial_dropout_penalty"])
    # Budget floor(0.3 * 10) = 3; the search spends between 1 and 3 flips.
    flips = history["adversarial_dropout_flips_lstm"]
    assert all(1.0 <= f <= 3.0 for f in flips), flips
    # loss = supervised + 1.0 * penalty, epoch means of both.
    np.testing.assert_allclose(
        history["loss"],
        np.add(history["supervised_loss"],
               history["adversarial_dropout_penalty"]),
        rtol=1e-5,
    )


def test_same_seed_gives_identical_losses():
    runs = []
    for _ in range(2):
        keras.utils.set_random_seed(7)
        model = _compile(_classifier(delta=0.3, seed=3))
        runs.append(_fit(model, epochs=2)["loss"])
    assert runs[0] == runs[1]


def test_penalty_weight_and_rampup():
    model = _compile(_classifier(delta=0.3, penalty_weight=0.0, seed=1))
    history = _fit(model, epochs=1)
    np.testing.assert_allclose(history["loss"], history["supervised_loss"],
                               rtol=1e-6)
    regularizer = AdversarialDropout(penalty_weight=2.0, rampup_steps=10)
    np.testing.assert_allclose(
        [float(regularizer.current_weight(s)) for s in (0, 5, 10, 50)],
        [2 * np.exp(-5.0), 2 * np.exp(-5 * 0.25), 2.0, 2.0], rtol=1e-6)


def test_several_adversarial_layers_each_get_their_own_budget():
    inputs = keras.Input((STEPS, FEATURES))
    h = layers.GRU(10, return_sequences=True, name="first")(inputs)
    h = layers.LSTM(20, name="second")(h)
    outputs = keras.layers.Dense(CLASSES)(h)
    model = _compile(keras_adrop.AdversarialDropoutModel(
        inputs, outputs, delta=0.2, iterations=2, seed=0))
    history = _fit(model, epochs=1)
    # Budgets 2 and 4 flips.
    assert 1 <= history["adversarial_dropout_flips_first"][0] <= 2
    assert 1 <= history["adversarial_dropout_flips_second"][0] <= 4
    assert history["adversarial_dropout_flips_second"][0] > 2
    only_second = keras_adrop.AdversarialDropoutModel(
        inputs, outputs, delta=0.2, adversarial_layers=["second"])
    assert [layer.name for layer in only_second.adversarial_dropout.layers] \
        == ["second"]


def test_adversarial_mask_beats_random_masks_with_the_same_flips():
    """On a trained model, eps_adv raises D more than random flips do."""
    plain = _compile(_classifier(model_cls=keras.Model, units=16))
    x, y = _toy_data(n=128)
    plain.fit(x, y, epochs=15, batch_size=32, verbose=0)
    model = _compile(_classifier(delta=0.25, iterations=2, units=16, seed=5))
    model.set_weights(plain.get_weights())
    adversarial = model.adversarial_masks(x)["lstm"].numpy()
    rnn = model.get_layer("lstm")
    target = model(x)
    flips = (1.0 - adversarial).sum(axis=1)
    assert flips.max() <= 4 and flips.min() >= 1

    def per_example(mask):
        with layers.recurrent_masks({rnn: tf.constant(mask)}):
            out = model(x, training=True)
        return divergences.divergence("kl", target, out, True).numpy()

    adversarial_d = per_example(adversarial)
    rng = np.random.RandomState(0)
    random_d = []
    for _ in range(10):
        mask = np.ones_like(adversarial)
        for row, count in enumerate(flips.astype(int)):
            mask[row, rng.choice(16, count, replace=False)] = 0.0
        random_d.append(per_example(mask))
    beats = (adversarial_d[None] > np.array(random_d)).mean()
    assert beats > 0.75, beats


def test_rule_9_every_pass_sees_the_same_input_dropout_noise():
    model = _compile(_classifier(
        delta=0.3, extra_layers=[keras.layers.Dropout(0.5)], seed=2))
    x, _ = _toy_data(n=16)
    x = tf.constant(x)
    batch = base_batch(model, x)
    outputs = batch.outputs
    again = batch.run({})  # same masks, replayed noise
    other = model(x, training=True)  # fresh noise
    np.testing.assert_array_equal(again.numpy(), outputs.numpy())
    assert not np.allclose(other.numpy(), outputs.numpy())


def test_probability_outputs_and_inferred_from_logits():
    model = _compile(_classifier(delta=0.3, activation="softmax", seed=1),
                     from_logits=False)
    history = _fit(model, epochs=2)
    assert history["adversarial_dropout_penalty"][0] > 0
    assert history["loss"][-1] < history["loss"][0]

    string_loss = _classifier(delta=0.3, activation="softmax")
    string_loss.compile("adam", "sparse_categorical_crossentropy")
    assert _fit(string_loss, epochs=1)["adversarial_dropout_penalty"][0] > 0

    unknown = _classifier(delta=0.3)
    unknown.compile("adam", lambda y, p: tf.reduce_mean(p))
    with pytest.raises(ValueError, match="from_logits"):
        _fit(unknown, epochs=1)


def test_sequence_outputs_with_padding_train_and_weight_valid_steps():
    vocab, steps = 12, 7
    inputs = keras.Input((steps,), dtype="int32")
    h = keras.layers.Embedding(vocab, 6, mask_zero=True)(inputs)
    h = layers.LSTM(10, return_sequences=True)(h)
    outputs = keras.layers.Dense(vocab)(h)
    model = keras_adrop.AdversarialDropoutModel(
        inputs, outputs, delta=0.2, seed=0)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(True))
    rng = np.random.RandomState(0)
    tokens = rng.randint(1, vocab, size=(32, steps + 1))
    tokens[:16, 5:] = 0  # padding
    history = model.fit(tokens[:, :-1], tokens[:, 1:], epochs=2,
                        batch_size=16, verbose=0)
    assert history.history["adversarial_dropout_penalty"][0] > 0

    out = model(tokens[:4, :-1])
    weights = divergences.step_weights(
        out, output_mask=tokens[:4, :-1] != 0).numpy()
    valid = (tokens[:4, :-1] != 0)
    np.testing.assert_allclose(weights[~valid], 0.0)
    np.testing.assert_allclose(weights[valid], 1.0 / valid.sum())
    weights = divergences.step_weights(
        out, sample_weight=np.array([2.0, 0.0, 1.0, 1.0]),
        output_mask=valid).numpy()
    np.testing.assert_allclose(weights.sum(), (valid.sum(1) * [2, 0, 1, 1])
                               .sum() / valid.sum(), rtol=1e-6)


def test_unlabeled_inputs_contribute_only_to_the_penalty():
    x, y = _toy_data(n=64)
    x_u, _ = _toy_data(n=64, seed=1)
    labeled = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    unlabeled = tf.data.Dataset.from_tensor_slices(x_u).batch(16)
    data = tf.data.Dataset.zip((labeled, unlabeled)).map(
        lambda lab, unl: {"labeled": lab, "unlabeled": unl})

    def run(dataset):
        keras.utils.set_random_seed(11)
        model = _compile(_classifier(delta=0.3, seed=4))
        return model.fit(dataset, epochs=1, verbose=0,
                         callbacks=[first_batch := _FirstBatchLogs()]
                         ).history, first_batch.logs

    (with_unlabeled, first_with), (labeled_only, first_without) = (
        run(data), run(labeled))
    # The supervised part of the first step is the same; the penalty is not.
    assert first_with["supervised_loss"] == pytest.approx(
        first_without["supervised_loss"], rel=1e-6)
    assert with_unlabeled["adversarial_dropout_penalty"][0] > 0
    assert (first_with["adversarial_dropout_penalty"]
            != first_without["adversarial_dropout_penalty"])


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"delta": 0.0}, "`delta` must be a number in"),
        ({"delta": 1.0}, "`delta` must be a number in"),
        ({"delta": 0.05}, r"floor\(delta \* units\) = 0"),
        ({"iterations": 0}, "`iterations`"),
        ({"divergence": "js"}, "`divergence` must be one of"),
        ({"base_mask": "zeros"}, "`base_mask` must be one of"),
        ({"base_mask": "random"}, "recurrent_dropout=0"),
        ({"adversarial_layers": ["nope"]}, "`adversarial_layers` must name"),
    ],
)
def test_bad_configuration_raises_naming_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _classifier(**{"delta": 0.3, **kwargs})


def test_model_without_keras_adrop_layers_raises():
    inputs = keras.Input((STEPS, FEATURES))
    outputs = keras.layers.Dense(3)(keras.layers.LSTM(4)(inputs))
    with pytest.raises(ValueError, match="has none"):
        keras_adrop.AdversarialDropoutModel(inputs, outputs, delta=0.5)


def test_mixed_float16_training_step():
    """Mixed precision trains, and the search spends the whole budget.

    Unscaled float16 influence maps underflow to 0 for many units, so the
    search would flip fewer units than float32 does.
    """
    def flips(policy):
        keras.config.set_dtype_policy(policy)
        keras.utils.set_random_seed(3)
        model = _compile(_classifier(delta=0.2, units=20, seed=1))
        history = _fit(model, epochs=1)
        return model, history

    reference = flips("float32")[1]["adversarial_dropout_flips_lstm"][0]
    model, history = flips("mixed_float16")
    assert model.get_layer("lstm").compute_dtype == "float16"
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert np.isfinite(history["loss"][0])
    assert history["adversarial_dropout_penalty"][0] > 0
    assert history["adversarial_dropout_flips_lstm"][0] >= reference - 0.05


def test_savedmodel_export_serves_predict_without_the_search(tmp_path):
    model = _compile(_classifier(delta=0.3, seed=1))
    _fit(model, epochs=1)
    model.export(str(tmp_path / "export"), verbose=False)
    served = tf.saved_model.load(str(tmp_path / "export"))
    x, _ = _toy_data(n=7)
    for n in (1, 5, 7):
        np.testing.assert_allclose(
            served.serve(tf.constant(x[:n])).numpy(),
            model.predict(x[:n], verbose=0), atol=1e-5)
    graph = served.serve.get_concrete_function(
        tf.TensorSpec((None, STEPS, FEATURES))).graph
    op_types = {op.type for op in graph.get_operations()} | {
        node.op for function in graph.as_graph_def().library.function
        for node in function.node_def}
    # The training step's search uses TopKV2 (rule 13); serving must not.
    search = tf.function(lambda s: adversarial_search.flip(s, s, 1))
    search_ops = {op.type for op in search.get_concrete_function(
        tf.TensorSpec((2, 4))).graph.get_operations()}
    assert "TopKV2" in search_ops
    assert "TopKV2" not in op_types


_ROUND_TRIP = textwrap.dedent("""
    import json, sys
    import numpy as np
    import keras
    import keras_adrop  # registers the classes
    path, x_path = sys.argv[1], sys.argv[2]
    model = keras.saving.load_model(path)
    x = np.load(x_path)
    config = model.get_config()
    keys = ["delta", "iterations", "penalty_weight", "rampup_steps",
            "divergence", "base_mask", "stop_target_gradient",
            "adversarial_layers", "from_logits", "seed"]
    reloaded = model.predict(x, verbose=0).tolist()
    y = (np.arange(len(x)) % 3).astype("int32")
    history = model.fit(x, y, epochs=1, verbose=0)
    print(json.dumps({
        "class": type(model).__name__,
        "config": {k: config[k] for k in keys},
        "layer": type(model.get_layer("lstm")).__name__,
        "recurrent_dropout": model.get_layer("lstm").recurrent_dropout,
        "predictions": np.load(x_path.replace("x.npy", "p.npy")).tolist(),
        "reloaded": reloaded,
        "penalty": history.history["adversarial_dropout_penalty"][0],
    }))
""")


def test_keras_file_round_trip_in_a_fresh_process(tmp_path):
    inputs = keras.Input((STEPS, FEATURES))
    h = layers.LSTM(10, recurrent_dropout=0.2, name="lstm")(inputs)
    outputs = keras.layers.Dense(CLASSES)(h)
    settings = dict(delta=0.3, iterations=2, penalty_weight=0.5,
                    rampup_steps=7, divergence="reverse_kl",
                    base_mask="random", stop_target_gradient=False,
                    adversarial_layers=["lstm"], from_logits=True, seed=9)
    model = _compile(keras_adrop.AdversarialDropoutModel(
        inputs, outputs, **settings))
    _fit(model, epochs=1)
    x, _ = _toy_data(n=6)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "p.npy", model.predict(x, verbose=0))
    model.save(tmp_path / "model.keras")
    script = tmp_path / "load.py"
    script.write_text(_ROUND_TRIP)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "model.keras"),
         str(tmp_path / "x.npy")],
        capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["class"] == "AdversarialDropoutModel"
    assert report["layer"] == "LSTM"
    assert report["recurrent_dropout"] == pytest.approx(0.2)
    assert report["config"] == {**settings, "delta": pytest.approx(0.3)}
    np.testing.assert_allclose(report["reloaded"], report["predictions"],
                               atol=1e-6)
    assert report["penalty"] > 0  # it keeps training


def test_regularized_model_with_a_list_round_trips(tmp_path):
    regularizers = [AdversarialDropout(delta=0.3, iterations=2, seed=1,
                                       name="add_k2", from_logits=True)]
    model = _compile(_classifier(model_cls=keras_adrop.RegularizedModel,
                                 regularizers=regularizers))
    history = _fit(model, epochs=1)
    assert "add_k2_penalty" in history and "add_k2_flips_lstm" in history
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert isinstance(loaded, keras_adrop.RegularizedModel)
    assert loaded.regularizers[0].get_config() == regularizers[0].get_config()
    x, _ = _toy_data(n=4)
    np.testing.assert_allclose(loaded.predict(x, verbose=0),
                               model.predict(x, verbose=0), atol=1e-6)


def test_evaluate_reports_no_training_only_metrics():
    model = _compile(_classifier(delta=0.3, seed=1))
    x, y = _toy_data()
    history = model.fit(x, y, validation_data=(x, y), epochs=1,
                        verbose=0).history
    assert "val_adversarial_dropout_penalty" not in history
    assert "val_loss" in history and "val_accuracy" in history
    result = model.evaluate(x, y, verbose=0, return_dict=True)
    assert set(result) == {"loss", "accuracy"}
    plain = _compile(_classifier(model_cls=keras.Model))
    plain.set_weights(model.get_weights())
    expected = plain.evaluate(x, y, verbose=0, return_dict=True)
    assert result["loss"] == pytest.approx(expected["loss"], rel=1e-5)


def test_wraps_bidirectional_and_a_built_sequential_model():
    base = keras.Sequential([
        keras.Input((STEPS, FEATURES)),
        keras.layers.Bidirectional(layers.LSTM(6)),
        keras.layers.Dense(CLASSES),
    ])
    model = _compile(keras_adrop.AdversarialDropoutModel(
        base.inputs, base.outputs, delta=0.34, seed=0))
    adversarial = model.adversarial_dropout.layers
    assert len(adversarial) == 2 and {l.go_backwards for l in adversarial} \
        == {False, True}
    history = _fit(model, epochs=1)
    # Budget floor(0.34 * 6) = 2: more than the start flip means the
    # influence map of each direction drove a greedy flip.
    assert all(history[f"adversarial_dropout_flips_{l.name}"][0] > 1
               for l in adversarial)
    assert history["adversarial_dropout_penalty"][0] > 0


def test_rule_9_carried_states_and_batchnorm_see_only_the_base_pass():
    """A stateful RNN and BatchNorm statistics: every pass starts from the
    same state, and after the step only the base pass has moved it."""
    batch_size = 8
    inputs = keras.Input((STEPS, FEATURES), batch_size=batch_size)
    h = keras.layers.BatchNormalization(momentum=0.5)(inputs)
    h = layers.LSTM(6, stateful=True, name="lstm")(h)
    model = keras_adrop.AdversarialDropoutModel(
        inputs, keras.layers.Dense(CLASSES)(h), delta=0.34, seed=0)
    model.compile(keras.optimizers.SGD(0.0),  # weights stay put
                  keras.losses.SparseCategoricalCrossentropy(True))
    x, y = _toy_data(n=batch_size)
    state = model.non_trainable_variables + list(
        model.get_layer("lstm").states)  # Keras leaves RNN states untracked
    start = [v.numpy() for v in state]

    x = tf.constant(x)
    batch = base_batch(model, x)
    outputs = batch.outputs
    np.testing.assert_array_equal(batch.run({}), outputs)
    after_base = [v.numpy() for v in state]
    changed = [v.path for v, a, b in zip(state, start, after_base)
               if not np.array_equal(a, b)]
    assert any("moving_mean" in p for p in changed)
    assert any("rnn_state" in p for p in changed)

    for variable, value in zip(state, start):
        variable.assign(value)
    model.train_on_batch(x, y)  # base + influence + adversarial passes
    own = {id(g.state) for g in model.regularizer_seed_generators}
    for variable, expected in zip(state, after_base):
        if id(variable) not in own:
            np.testing.assert_allclose(variable.numpy(), expected, atol=1e-6,
                                       err_msg=variable.path)


def test_rule_7_supervised_loss_is_the_full_network_loss():
    """The base pass (eps0 = all ones) gives the supervised loss; sample
    weights count as in Keras."""
    x, y = _toy_data(n=32)
    weights = np.linspace(0.0, 2.0, 32).astype("float32")
    keras.utils.set_random_seed(5)
    model = _compile(_classifier(delta=0.3, seed=0))
    plain = _compile(_classifier(model_cls=keras.Model))
    plain.set_weights(model.get_weights())
    expected = plain.evaluate(x, y, sample_weight=weights, batch_size=32,
                              verbose=0, return_dict=True)["loss"]
    first = _FirstBatchLogs()
    model.fit(x, y, sample_weight=weights, batch_size=32, epochs=1,
              verbose=0, callbacks=[first])
    assert first.logs["supervised_loss"] == pytest.approx(expected, rel=1e-5)


def test_rule_5_target_gradient_is_stopped_unless_asked():
    x, y = _toy_data(n=32)
    results = []
    for stop in (True, False):
        keras.utils.set_random_seed(5)
        model = _classifier(delta=0.3, seed=0, stop_target_gradient=stop,
                            penalty_weight=100.0)
        model.compile(keras.optimizers.SGD(0.1),
                      keras.losses.SparseCategoricalCrossentropy(True))
        model.train_on_batch(x, y)
        results.append(model.get_weights())
    # Same start, same masks: only the gradient through the target differs.
    assert any(not np.allclose(a, b) for a, b in zip(*results))


def test_random_base_mask_is_variational_and_scaled_by_one_over_keep():
    inputs = keras.Input((STEPS, FEATURES))
    rnn = layers.LSTM(10, recurrent_dropout=0.5, name="lstm")
    model = _compile(keras_adrop.AdversarialDropoutModel(
        inputs, keras.layers.Dense(CLASSES)(rnn(inputs)), delta=0.3,
        base_mask="random", seed=0))
    masks = model.adversarial_dropout.base_masks(64)
    mask, scale = masks[rnn]
    assert scale == pytest.approx(2.0)
    assert set(np.unique(mask.numpy())) == {0.0, 1.0}
    assert 0.35 < mask.numpy().mean() < 0.65
    history = _fit(model, epochs=1)
    assert history["adversarial_dropout_penalty"][0] > 0

    # The base pass is variational dropout: it equals the layer's own
    # variational pass with the same mask...
    x = tf.constant(_toy_data(n=16)[0])
    batch = base_batch(model, x)
    outputs = batch.outputs
    base = batch.base_mask(rnn)
    with layers.recurrent_masks({rnn: (base, 2.0)}):
        by_hand = model(x, training=True)
    # ...and masks searched near it keep its scale: no flip, no penalty.
    again = batch.run(batch.near_base({rnn: base}))
    np.testing.assert_allclose(by_hand, outputs, atol=1e-6)
    np.testing.assert_array_equal(again, outputs)


def test_a_regularizer_serves_one_model_and_the_short_form_takes_no_list():
    regularizer = AdversarialDropout(delta=0.3, from_logits=True)
    _classifier(model_cls=keras_adrop.RegularizedModel,
                regularizers=[regularizer])
    with pytest.raises(ValueError, match="already belongs to model"):
        _classifier(model_cls=keras_adrop.RegularizedModel,
                    regularizers=[regularizer])
    with pytest.raises(ValueError, match="use keras_adrop.RegularizedModel"):
        _classifier(delta=0.3, regularizers=[AdversarialDropout(delta=0.3)])
    # A build that fails does not claim the regularizer.
    fresh = AdversarialDropout(delta=0.1, from_logits=True)
    with pytest.raises(ValueError, match="floor"):
        _classifier(model_cls=keras_adrop.RegularizedModel, units=5,
                    regularizers=[fresh])
    _classifier(model_cls=keras_adrop.RegularizedModel, units=10,
                regularizers=[fresh])


def test_unused_settings_are_reported_not_ignored():
    inputs = keras.Input((STEPS, FEATURES))
    h = layers.LSTM(10, recurrent_dropout=0.2)(inputs)
    outputs = keras.layers.Dense(CLASSES)(h)
    with pytest.warns(UserWarning, match="recurrent_dropout=0.2.*not used"):
        keras_adrop.AdversarialDropoutModel(inputs, outputs, delta=0.3)
    with pytest.warns(UserWarning, match="runs like iterations=1"):
        _classifier(delta=0.2, iterations=3)  # budget 2: one greedy flip


def test_frozen_weights_are_not_saved_between_passes():
    inputs = keras.Input((STEPS, FEATURES))
    frozen = keras.layers.Dense(4, trainable=False)
    h = keras.layers.BatchNormalization()(frozen(inputs))
    model = keras_adrop.AdversarialDropoutModel(
        inputs, keras.layers.Dense(CLASSES)(layers.LSTM(10)(h)), delta=0.3)
    saved = {id(v) for v in model_state(model).variables}
    assert not saved & {id(v) for v in frozen.weights}
    batchnorm = model.layers[2]
    assert {id(batchnorm.moving_mean), id(batchnorm.moving_variance)} <= saved


def test_the_model_takes_the_regularizer_s_arguments_by_their_names():
    import inspect

    own = set(inspect.signature(AdversarialDropout).parameters) - {
        "layers", "name"}
    model = _classifier(delta=0.3, iterations=2, rampup_steps=5, seed=1)
    config = model.get_config()
    functional = set(keras.Model(model.inputs, model.outputs).get_config())
    assert set(config) - functional == own | {"adversarial_layers",
                                              "max_consecutive_skips"}
    regularizer = model.adversarial_dropout
    for name in own:
        assert config[name] == getattr(regularizer, name), name
    assert (regularizer.delta, regularizer.iterations,
            regularizer.rampup_steps, regularizer.seed) == (0.3, 2, 5, 1)
    with pytest.raises(TypeError, match="penalty_rampup_steps"):
        _classifier(delta=0.3, penalty_rampup_steps=5)


def test_from_regularizer_takes_the_regularizer_s_settings():
    inputs = keras.Input((STEPS, FEATURES))
    outputs = keras.layers.Dense(CLASSES)(layers.LSTM(10)(inputs))
    regularizer = AdversarialDropout(delta=0.3, iterations=2, seed=5)
    model = keras_adrop.AdversarialDropoutModel.from_regularizer(
        inputs, outputs, regularizer, name="m")
    assert model.name == "m"
    assert model.get_config()["delta"] == 0.3
    assert model.adversarial_dropout.get_config() == regularizer.get_config()
    with pytest.raises(ValueError, match="`regularizer` must be"):
        keras_adrop.AdversarialDropoutModel.from_regularizer(
            inputs, outputs, keras_adrop.regularizers.FraternalDropout())
