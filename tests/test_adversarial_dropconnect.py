"""Adversarial DropConnect: the kernel mask, its influence map, its budget."""

import numpy as np
import pytest
import keras
from keras import ops

import keras_adrop
from conftest import base_batch
from keras_adrop import divergences
from keras_adrop import layers
from keras_adrop.regularizers import AdversarialDropConnect
from keras_adrop.training import gradient_function

STEPS, FEATURES, CLASSES = 6, 3, 4
KERAS_LAYERS = {layers.LSTM: keras.layers.LSTM, layers.GRU: keras.layers.GRU,
                layers.SimpleRNN: keras.layers.SimpleRNN}


def _column_scaled(mask):
    """`mask` rescaled per column by rows / kept, as the layer does."""
    return mask * mask.shape[0] / mask.sum(axis=0, keepdims=True)


@pytest.mark.backend_neutral
@pytest.mark.parametrize("cls", list(KERAS_LAYERS))
def test_kernel_mask_equals_keras_layer_with_the_masked_kernel(cls):
    x = np.random.RandomState(0).randn(2, STEPS, FEATURES).astype("float32")
    ours = cls(5, return_sequences=True)
    ours(x)
    kernel = ours.cell.recurrent_kernel.numpy()
    mask = (np.random.RandomState(1).rand(*kernel.shape) > 0.3)
    mask = mask.astype("float32")
    mask[0] = 1.0  # every column keeps an entry
    reference = KERAS_LAYERS[cls](5, return_sequences=True)
    reference(x)
    weights = ours.get_weights()
    reference.set_weights(weights)
    np.testing.assert_allclose(ours(x), reference(x), atol=1e-6)

    weights[1] = kernel * _column_scaled(mask)
    reference.set_weights(weights)
    with layers.recurrent_kernel_masks({ours: mask}):
        masked = ours(x)
    np.testing.assert_allclose(masked, reference(x), atol=1e-5)
    assert np.abs(masked - ours(x)).max() > 1e-3  # the mask did something

    # A fixed scale replaces the per-column rescaling; None is the kernel.
    weights[1] = kernel * mask * 2.0
    reference.set_weights(weights)
    with layers.recurrent_kernel_masks({ours: (mask, 2.0)}):
        np.testing.assert_allclose(ours(x), reference(x), atol=1e-5)
    with layers.recurrent_kernel_masks({ours: None}):
        np.testing.assert_allclose(ours(x, training=True), ours(x),
                                   atol=1e-6)


@pytest.mark.backend_neutral
def test_a_set_kernel_mask_keeps_the_random_draws_of_the_cell():
    """Rule 9: the replaced DropConnect draw still advances the generator,
    so input dropout and zoneout draws after it repeat the base pass."""
    layer = layers.LSTM(4, dropout=0.3, recurrent_dropconnect=0.5,
                        zoneout=0.2, seed=3)
    x = np.ones((2, STEPS, FEATURES), "float32")
    layer(x)
    generator = layer.cell.seed_generator
    start = np.array(generator.state.numpy())
    layer(x, training=True)
    after_random = np.array(generator.state.numpy())
    generator.state.assign(start)
    ones = np.ones(layer.cell.recurrent_kernel.shape, "float32")
    with layers.recurrent_kernel_masks({layer: ones}):
        layer(x, training=True)
    np.testing.assert_array_equal(generator.state.numpy(), after_random)


def test_wrong_kernel_mask_shape_names_the_expected_shape():
    layer = layers.LSTM(4)
    layer(np.ones((1, STEPS, FEATURES), "float32"))
    with pytest.raises(ValueError, match=r"\(4, 16\)"):
        with layers.recurrent_kernel_masks({layer: np.ones((16, 4))}):
            pass


@pytest.mark.parametrize("cls", [layers.LSTM, layers.GRU])
def test_influence_map_equals_finite_differences(cls):
    """Rule 12 for the kernel mask, in float64, every entry of the mask."""
    import tensorflow as tf

    units = 3
    inputs = keras.Input((STEPS, FEATURES), dtype="float64")
    rnn = cls(units, dtype="float64")
    outputs = keras.layers.Dense(CLASSES, dtype="float64")(rnn(inputs))
    model = keras.Model(inputs, outputs)
    x = tf.constant(np.random.RandomState(0).randn(2, STEPS, FEATURES))
    target = model(x)
    weights = divergences.step_weights(target)

    def objective(masks):  # masks: rnn -> (gates*units, units), one row a column
        with layers.recurrent_kernel_masks(
                {rnn: tf.transpose(masks[rnn])}):
            out = model(x, training=True)
        return divergences.weighted_divergence(
            "kl", target, out, True, weights)

    columns = rnn.cell.recurrent_kernel.shape[1]
    mask = np.ones((columns, units))
    mask[np.arange(columns), np.arange(columns) % units] = 0.0  # start flips
    influence = gradient_function(model)(
        objective, {rnn: tf.constant(mask)})[rnn].numpy()
    # The rescaling units/kept is held constant (rule 2): the map is the
    # derivative at a fixed scale; a free scale adds the term below per row.
    kept = mask.sum(axis=1, keepdims=True)
    expected = influence - (mask * influence).sum(axis=1, keepdims=True) / kept
    step = 1e-6
    finite = np.zeros_like(mask)
    for j in range(columns):
        for i in range(units):
            plus, minus = mask.copy(), mask.copy()
            plus[j, i] += step
            minus[j, i] -= step
            finite[j, i] = (objective({rnn: tf.constant(plus)})
                            - objective({rnn: tf.constant(minus)})
                            ).numpy() / (2 * step)
    np.testing.assert_allclose(finite, expected, rtol=1e-5, atol=1e-9)
    assert np.abs(influence).max() > 1e-6


def _data(n=64, seed=0):
    rng = np.random.RandomState(seed)
    x = rng.randn(n, STEPS, FEATURES).astype("float32")
    y = np.digitize(x[:, :, 0].sum(axis=1), [-2, 0, 2]).astype("int32")
    return x, y


def _model(units=10, **kwargs):
    inputs = keras.Input((STEPS, FEATURES))
    h = layers.LSTM(units, recurrent_dropconnect=0.5, name="lstm")(inputs)
    outputs = keras.layers.Dense(CLASSES)(h)
    model = keras_adrop.RegularizedModel(
        inputs, outputs, regularizers=[AdversarialDropConnect(**kwargs)])
    model.compile(keras.optimizers.Adam(0.01),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


@pytest.mark.backend_neutral
def test_the_base_pass_runs_the_attacked_layer_with_its_full_kernel():
    """Rule 18, as the authors' code: no random DropConnect mask on the
    attacked layer in the base pass, so the kernel mask with no drop
    (eps0, all ones) reproduces the base pass exactly: D = 0."""
    model = _model(units=10, delta=0.2, seed=0)
    x, y = _data(n=16)
    rnn = model.get_layer("lstm")
    regularizer = model.regularizers[0]
    batch = base_batch(model, ops.convert_to_tensor(x),
                       ops.convert_to_tensor(y))
    full = ops.convert_to_numpy(model(x, training=False))
    np.testing.assert_allclose(ops.convert_to_numpy(batch.outputs), full,
                               atol=1e-6)
    # The layer's own random mask is active in a plain training call.
    assert np.abs(ops.convert_to_numpy(model(x, training=True))
                  - full).max() > 1e-3
    no_drop = regularizer.run_with(
        batch, {rnn: ops.ones(regularizer.eps0(batch, rnn).shape)})
    assert float(regularizer.compare(batch, batch.outputs, no_drop)) == 0.0
    # Every later pass of the step also sees the full kernel unless the
    # search sets a mask.
    np.testing.assert_allclose(ops.convert_to_numpy(batch.run()), full,
                               atol=1e-6)


def test_an_unused_dropconnect_rate_of_the_attacked_layer_warns():
    inputs = keras.Input((STEPS, FEATURES))
    h = layers.LSTM(10, recurrent_dropconnect=0.37, name="lstm_w")(inputs)
    outputs = keras.layers.Dense(CLASSES)(h)
    with pytest.warns(UserWarning, match=r"recurrent_dropconnect=0.37.*"
                      "not used"):
        keras_adrop.RegularizedModel(
            inputs, outputs, regularizers=[AdversarialDropConnect(0.2)])


def test_two_regularizers_cannot_set_one_base_kernel_mask():
    class FixedKernelMask(keras_adrop.regularizers.ModelRegularizer):
        def build(self, model):
            super().build(model)
            self.layer = model.get_layer("lstm")

        def base_kernel_masks(self):
            return {self.layer: ops.ones(self.layer.cell.recurrent_kernel.shape)}

        def penalty(self, batch):
            return keras_adrop.regularizers.Penalty(
                ops.zeros(()), {f"{self.name}_penalty": ops.zeros(())})

    inputs = keras.Input((STEPS, FEATURES))
    h = layers.LSTM(10, name="lstm")(inputs)
    outputs = keras.layers.Dense(CLASSES)(h)
    with pytest.raises(ValueError, match="recurrent-kernel mask of layer "
                       "'lstm'"):
        keras_adrop.RegularizedModel(inputs, outputs, regularizers=[
            FixedKernelMask(), AdversarialDropConnect(0.2)])


@pytest.mark.parametrize("iterations", [1, 2])
def test_flips_stay_within_the_per_gate_unit_budget(iterations):
    model = _model(units=10, delta=0.3, iterations=iterations, seed=0)
    x, y = _data(n=16)
    regularizer = model.regularizers[0]
    batch = base_batch(model, ops.convert_to_tensor(x),
                       ops.convert_to_tensor(y))
    rnn = model.get_layer("lstm")
    mask = ops.convert_to_numpy(regularizer.adversarial_masks(batch)[rnn])
    assert mask.shape == (40, 10)  # one row per gate unit (column of U)
    assert set(np.unique(mask)) <= {0.0, 1.0}
    drops = (1.0 - mask).sum(axis=1)
    assert drops.min() >= 1 and drops.max() <= 3  # floor(0.3 * 10) = 3
    assert drops.mean() > 2  # the greedy steps found flips


def test_adversarial_kernel_mask_beats_random_masks_with_the_same_drops():
    """On a trained model, W_adv raises D more than random drops do."""
    import tensorflow as tf

    x, y = _data(n=128)
    model = _model(units=12, delta=0.25, iterations=2, seed=4,
                   penalty_weight=0.0)
    model.fit(x, y, epochs=15, batch_size=32, verbose=0)
    regularizer = model.regularizers[0]
    rnn = model.get_layer("lstm")
    batch = base_batch(model, tf.constant(x), tf.constant(y))
    adversarial = regularizer.adversarial_masks(batch)[rnn].numpy()
    target = batch.outputs

    def divergence(mask):
        out = regularizer.run_with(batch, {rnn: tf.constant(mask)})
        return float(regularizer.compare(batch, target, out))

    drops = (1.0 - adversarial).sum(axis=1).astype(int)
    rng = np.random.RandomState(0)
    random_d = []
    for _ in range(10):
        mask = np.ones_like(adversarial)
        for row, count in enumerate(drops):
            mask[row, rng.choice(12, count, replace=False)] = 0.0
        random_d.append(divergence(mask))
    assert divergence(adversarial) > max(random_d), (
        divergence(adversarial), random_d)


@pytest.mark.backend_neutral
def test_fit_logs_the_penalty_and_flips_and_the_config_round_trips(tmp_path):
    model = _model(units=10, delta=0.2, penalty_weight=0.5, seed=1,
                   divergence="squared_logits", layers=["lstm"])
    x, y = _data()
    history = model.fit(x, y, epochs=2, batch_size=32, verbose=0).history
    assert history["adversarial_dropconnect_penalty"][-1] > 0
    assert 1 <= history["adversarial_dropconnect_flips_lstm"][-1] <= 2
    assert np.isfinite(history["loss"]).all()

    regularizer = model.regularizers[0]
    config = regularizer.get_config()
    assert AdversarialDropConnect.from_config(config).get_config() == config
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.regularizers[0].get_config() == config
    np.testing.assert_allclose(loaded.predict(x, verbose=0),
                               model.predict(x, verbose=0), atol=1e-6)


def test_a_layer_too_small_for_the_budget_raises():
    with pytest.raises(ValueError, match="delta"):
        _model(units=8, delta=0.06)
