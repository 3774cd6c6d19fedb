"""Monte Carlo prediction with fixed networks (analysis.FixedNetworks)."""

import keras
import numpy as np
import pytest

import keras_adrop
from keras_adrop import analysis

UNITS = 6
RATE = 0.5

pytestmark = pytest.mark.backend_neutral


def _model(stateful=False, batch_size=None):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4, 2), batch_size=batch_size)
    h = keras_adrop.layers.LSTM(UNITS, recurrent_dropout=RATE, name="lstm",
                                stateful=stateful)(inputs)
    return keras.Model(inputs, keras.layers.Dense(2)(h))


def _data(n=8, steps=4):
    x = np.random.default_rng(0).normal(size=(n, steps, 2))
    return x.astype("float32")


def _under_mask(model, x, keep):
    """The model's output with one `(units,)` keep-mask for every example."""
    layer = model.get_layer("lstm")
    mask = np.broadcast_to(keep, (len(x), UNITS)).astype("float32")
    with keras_adrop.layers.recurrent_masks(
            {layer: (mask, 1.0 / (1.0 - RATE))}):
        return keras.ops.convert_to_numpy(model(x, training=False))


def test_sample_t_is_network_t_on_every_example_and_batch():
    model, x = _model(), _data()
    nets = analysis.FixedNetworks(model, samples=3, seed=0)
    assert nets.masks["lstm"].shape == (3, UNITS)
    mc = nets.predict(x, batch_size=3, return_samples=True)
    assert mc.networks == "fixed"
    for t in range(3):
        np.testing.assert_allclose(
            mc.samples[t], _under_mask(model, x, nets.masks["lstm"][t]),
            rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mc.mean, mc.samples.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(mc.std, mc.samples.std(axis=0), atol=1e-6)
    # Across calls: the same networks on any split of the examples.
    parts = [nets.predict(x[:5], return_samples=True).samples,
             nets.predict(x[5:], return_samples=True).samples]
    np.testing.assert_allclose(np.concatenate(parts, axis=1), mc.samples,
                               rtol=1e-5, atol=1e-6)


def test_identical_examples_agree_only_with_fixed_networks():
    model = _model()
    x = np.repeat(_data(1), 6, axis=0)  # one example six times
    fixed = analysis.mc_dropout_predict(model, x, samples=4, seed=1,
                                        networks="fixed", return_samples=True)
    per_example = analysis.mc_dropout_predict(model, x, samples=4, seed=1,
                                              return_samples=True)
    assert per_example.networks == "per_example"
    assert np.ptp(fixed.samples, axis=1).max() < 1e-6
    assert np.ptp(per_example.samples, axis=1).max() > 1e-3


def test_fixed_networks_are_seeded():
    model, x = _model(), _data()
    a = analysis.mc_dropout_predict(model, x, samples=3, seed=4,
                                    networks="fixed")
    b = analysis.FixedNetworks(model, samples=3, seed=4).predict(x)
    np.testing.assert_array_equal(a.mean, b.mean)
    c = analysis.mc_dropout_predict(model, x, samples=3, seed=5,
                                    networks="fixed")
    assert not np.allclose(a.mean, c.mean)


def test_rate_zero_fixed_networks_are_the_full_network():
    model, x = _model(), _data()
    with pytest.warns(UserWarning, match="full network"):
        mc = analysis.mc_dropout_predict(model, x, samples=2, rate=0.0,
                                         networks="fixed")
    np.testing.assert_allclose(mc.mean, model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mc.std, 0.0, atol=1e-6)


def test_stateful_streams_keep_one_state_per_network():
    batch = 4
    model = _model(stateful=True, batch_size=batch)
    stream = _data(batch, steps=8)
    first, second = stream[:, :4], stream[:, 4:]
    model.predict(first, batch_size=batch, verbose=0)  # a state to keep
    layer = model.get_layer("lstm")
    before = [np.array(v.numpy()) for v in layer.states]

    nets = analysis.FixedNetworks(model, samples=3, seed=0)
    nets.predict(first, batch_size=batch)
    mc = nets.predict(second, batch_size=batch, return_samples=True)
    # The model's own state is back where it was.
    for v, value in zip(layer.states, before):
        np.testing.assert_array_equal(v.numpy(), value)
    for t in range(3):
        for v, value in zip(layer.states, before):
            v.assign(value)
        keep = nets.masks["lstm"][t]
        _under_mask(model, first, keep)  # network t carries its state
        np.testing.assert_allclose(mc.samples[t],
                                   _under_mask(model, second, keep),
                                   rtol=1e-5, atol=1e-6)
    # reset_states: the networks start again from the model's state.
    for v, value in zip(layer.states, before):
        v.assign(value)
    nets.reset_states()
    again = nets.predict(first, batch_size=batch, return_samples=True)
    for t in range(3):
        for v, value in zip(layer.states, before):
            v.assign(value)
        np.testing.assert_allclose(
            again.samples[t], _under_mask(model, first, nets.masks["lstm"][t]),
            rtol=1e-5, atol=1e-6)


def test_unknown_networks_mode_names_the_argument():
    model, x = _model(), _data()
    with pytest.raises(ValueError, match="`networks` must be one of"):
        analysis.mc_dropout_predict(model, x, networks="shared")


def test_interval_coverage_counts_targets_inside_the_gaussian_interval():
    mc = analysis.MonteCarloPrediction(
        mean=np.zeros((6, 1)), std=np.ones((6, 1)), samples=None, rates={})
    targets = np.array([0.0, -0.5, 1.0, 1.5, -2.0, 3.0])  # one output, flat
    coverage = analysis.interval_coverage(mc, targets,
                                          levels=(0.7, 0.95))
    assert coverage == {0.7: 3 / 6, 0.95: 4 / 6}  # z = 1.04, 1.96
    with pytest.raises(ValueError, match=r"`levels`.*\(0, 1\).*1\.5"):
        analysis.interval_coverage(mc, targets, levels=(0.5, 1.5))
    with pytest.raises(ValueError, match=r"`targets`.*\(6, 1\).*\(5,\)"):
        analysis.interval_coverage(mc, targets[:5])


def test_mc_uncertainty_plot_of_a_regression_model(tmp_path):
    pytest.importorskip("matplotlib")
    model = _model()
    x = _data(n=16)
    y = x[:, -1, :1] + 0.1  # real-valued targets, one output
    regressor = keras.Model(model.inputs, model.outputs[0][:, :1])
    mc = analysis.mc_dropout_predict(regressor, x, samples=5, rate=RATE)
    path = analysis.plot_mc_uncertainty({"a": mc, "b": mc}, y,
                                        tmp_path / "mc.png")
    data = (tmp_path / "mc.png").read_bytes()
    assert str(path).endswith("mc.png") and data[:4] == b"\x89PNG"
    assert len(data) > 5000
    analysis.plot_mc_uncertainty(mc, y, tmp_path / "mc2.png",
                                 task="regression", level=0.5)
    with pytest.raises(ValueError, match=r"`task`.*classification.*forecast"):
        analysis.plot_mc_uncertainty(mc, y, tmp_path / "x.png",
                                     task="forecast")
    with pytest.raises(ValueError, match=r"`level`.*\(0, 1\)"):
        analysis.plot_mc_uncertainty(mc, y, tmp_path / "x.png", level=95)
