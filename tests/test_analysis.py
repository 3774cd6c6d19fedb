"""keras_adrop.analysis: subnetworks, mask statistics, loss landscapes,
corrupted text, Monte Carlo dropout, figures, and examples/analyze.py."""

import csv
import importlib
import pathlib
import re

import keras
import numpy as np
import pytest

import keras_adrop
from keras_adrop import analysis
from keras_adrop.analysis import _common

UNITS = 8


def tiny_model(units=UNITS, classes=3, extra_layers=False,
               recurrent_dropout=0.0):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((5, 2))
    h = keras_adrop.layers.LSTM(units, recurrent_dropout=recurrent_dropout,
                                name="lstm")(inputs)
    if extra_layers:
        h = keras.layers.BatchNormalization()(h)
        h = keras.layers.Dropout(0.5)(h)
    outputs = keras.layers.Dense(classes)(h)
    model = keras.Model(inputs, outputs)
    model.compile("adam",
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


def tiny_data(n=24, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5, 2)).astype("float32")
    y = rng.integers(0, classes, size=n)
    return x, y


# --- subnetworks -----------------------------------------------------------


@pytest.mark.backend_neutral
def test_adversarial_masks_are_binary_and_within_the_budget():
    model = tiny_model()
    x, _ = tiny_data()
    masks = analysis.adversarial_masks(model, x, delta=0.4, iterations=2,
                                       seed=0, batch_size=10)
    mask = masks["lstm"]
    assert mask.shape == (len(x), UNITS)
    assert set(np.unique(mask)) <= {0.0, 1.0}
    dropped = (1 - mask).sum(axis=1)
    assert dropped.max() <= 3  # floor(0.4 * 8)
    # Budget 1: the start flip alone, exactly one unit dropped (rule 11).
    one = analysis.adversarial_masks(model, x, delta=0.125, seed=0)["lstm"]
    np.testing.assert_array_equal((1 - one).sum(axis=1), np.ones(len(x)))


@pytest.mark.backend_neutral
def test_each_search_draws_fresh_start_flips_and_repeats_with_the_seed():
    model = tiny_model()
    x, _ = tiny_data()
    budget_one = dict(delta=0.125, iterations=1, batch_size=8)  # start flip
    search = analysis.AdversarialMaskSearch(model, seed=5, **budget_one)
    first = search(x, run_masked=False)[0]["lstm"]
    second = search(x, run_masked=False)[0]["lstm"]
    assert not np.array_equal(first, second)
    again = analysis.AdversarialMaskSearch(model, seed=5, **budget_one)
    np.testing.assert_array_equal(again(x, run_masked=False)[0]["lstm"],
                                  first)
    np.testing.assert_array_equal(again(x, run_masked=False)[0]["lstm"],
                                  second)


@pytest.mark.backend_neutral
def test_search_outputs_are_the_network_under_the_returned_masks():
    model = tiny_model()
    x, _ = tiny_data()
    search = analysis.AdversarialMaskSearch(model, delta=0.4, iterations=2,
                                            seed=3)
    masks, outputs = search(x)
    layer = model.get_layer("lstm")
    with keras_adrop.layers.recurrent_masks({layer: masks["lstm"]}):
        expected = model(x, training=False)
    np.testing.assert_allclose(outputs, expected, rtol=1e-5, atol=1e-6)
    full = model.predict(x, verbose=0)
    assert not np.allclose(outputs, full)


@pytest.mark.backend_neutral
def test_subnetwork_accuracies_shapes_determinism_and_rate_zero():
    model = tiny_model()
    x, y = tiny_data()
    kwargs = dict(samples=3, rate=0.0, delta=0.25, iterations=1, seed=7)
    result = analysis.subnetwork_accuracies(model, x, y, **kwargs)
    assert result.random.shape == result.adversarial.shape == (3,)
    assert result.budgets == {"lstm": 2}
    assert result.full == _common.accuracy(model.predict(x, verbose=0), y)
    # Rate 0: every random subnetwork is the full network.
    np.testing.assert_array_equal(result.random, np.full(3, result.full))
    np.testing.assert_array_equal(result.random_dropped, np.zeros(3))
    assert np.all((result.adversarial >= 0) & (result.adversarial <= 1))
    assert np.all(result.adversarial_dropped <= 2)
    again = analysis.subnetwork_accuracies(model, x, y, **kwargs)
    np.testing.assert_array_equal(result.adversarial, again.adversarial)
    summary = result.summary()
    assert summary["samples"] == 3 and summary["budgets"] == {"lstm": 2}


@pytest.mark.backend_neutral
def test_random_subnetworks_drop_the_rate_and_share_or_not_their_mask():
    model = tiny_model(units=16)
    x, y = tiny_data(n=40)
    shared = analysis.subnetwork_accuracies(
        model, x, y, samples=6, rate=0.5, delta=0.125, iterations=1, seed=1)
    per_example = analysis.subnetwork_accuracies(
        model, x, y, samples=6, rate=0.5, delta=0.125, iterations=1, seed=1,
        random_masks="per_example")
    # 16 units at rate 0.5: 8 dropped on average.
    assert 5 < shared.random_dropped.mean() < 11
    assert 7 < per_example.random_dropped.mean() < 9
    # A shared mask drops the same count in every example of a sample.
    assert np.allclose(shared.random_dropped, np.round(shared.random_dropped))


@pytest.mark.backend_neutral
def test_subnetworks_bad_arguments_name_the_argument():
    model = tiny_model()
    x, y = tiny_data()
    with pytest.raises(ValueError, match="random_masks"):
        analysis.subnetwork_accuracies(model, x, y, random_masks="all")
    with pytest.raises(ValueError, match="samples"):
        analysis.subnetwork_accuracies(model, x, y, samples=0)
    with pytest.raises(ValueError, match="rate"):
        analysis.subnetwork_accuracies(model, x, y, rate=1.0)
    with pytest.raises(ValueError, match="delta"):
        analysis.adversarial_masks(model, x, delta=0.05)  # floor(0.4) = 0
    with pytest.raises(ValueError, match="layers"):
        analysis.adversarial_masks(model, x, delta=0.25, layers=["gru"])
    plain = keras.Sequential([keras.Input((5, 2)), keras.layers.LSTM(4)])
    with pytest.raises(ValueError, match="keras_adrop recurrent layer"):
        analysis.adversarial_masks(plain, x, delta=0.25)


# --- mask statistics --------------------------------------------------------


@pytest.mark.backend_neutral
def test_mask_statistics_callback_records_every_epoch():
    model = tiny_model()
    x, y = tiny_data()
    x_held = x[:10]
    stats = analysis.AdversarialMaskStatistics(x_held, delta=0.25, seed=0)
    model.fit(x, y, epochs=2, batch_size=12, verbose=0, callbacks=[stats])
    result = stats.result()
    np.testing.assert_array_equal(result["epochs"], [0, 1, 2])
    means, counts = result["mean_masks"]["lstm"], result["drop_counts"]["lstm"]
    assert means.shape == counts.shape == (3, UNITS)
    assert counts.dtype.kind == "i"
    np.testing.assert_allclose(means, 1 - counts / 10)
    # At most 2 drops (floor(0.25 * 8)) per example, at least the start flip
    # of each example counted somewhere.
    assert np.all(counts.sum(axis=1) <= 2 * 10)
    assert np.all(counts.sum(axis=1) >= 1)
    assert result["effective_units"]["lstm"].shape == (3,)
    assert result["budgets"] == {"lstm": 2}

    sparse = analysis.AdversarialMaskStatistics(x_held, delta=0.25, every=2,
                                                include_initial=False)
    model.fit(x, y, epochs=4, batch_size=12, verbose=0, callbacks=[sparse])
    np.testing.assert_array_equal(sparse.result()["epochs"], [2, 4])


@pytest.mark.backend_neutral
def test_effective_units_counts_how_spread_the_drops_are():
    assert analysis.effective_units(np.array([3, 0, 0, 0])) == pytest.approx(1)
    assert analysis.effective_units(np.array([2, 2, 2, 2])) == pytest.approx(4)
    assert analysis.effective_units(np.array([5, 5, 0, 0])) == pytest.approx(2)
    np.testing.assert_allclose(
        analysis.effective_units(np.array([[1, 1], [0, 0]])), [2.0, 0.0])


# --- loss landscape --------------------------------------------------------


@pytest.mark.backend_neutral
def test_filter_normalization_matches_every_filter_norm():
    rng = np.random.default_rng(0)
    weights = [rng.normal(size=(4, 6)), rng.normal(size=(3, 3, 2, 5)) * 7,
               rng.normal(size=(6,))]
    direction = analysis.filter_normalized_direction(
        weights, np.random.default_rng(1))
    for w, d in zip(weights[:2], direction[:2]):
        axes = tuple(range(w.ndim - 1))
        np.testing.assert_allclose(np.linalg.norm(d.reshape(-1, w.shape[-1]),
                                                  axis=0),
                                   np.sqrt((w ** 2).sum(axis=axes)))
        assert not np.allclose(d, w)  # a random direction, not the weights
    np.testing.assert_array_equal(direction[2], np.zeros(6))
    kept = analysis.filter_normalized_direction(
        weights, np.random.default_rng(1), one_dimensional="weights")
    np.testing.assert_array_equal(kept[2], weights[2])
    np.testing.assert_array_equal(kept[0], direction[0])
    with pytest.raises(ValueError, match="one_dimensional"):
        analysis.filter_normalized_direction(weights, rng, "bias")


@pytest.mark.backend_neutral
def test_random_directions_follow_the_model_weights_and_the_seed():
    model = tiny_model()
    d1, d2 = analysis.random_directions(model, count=2, seed=5)
    again = analysis.random_directions(model, count=2, seed=5)
    for v, a, b, c in zip(model.trainable_weights, d1, d2, again[0]):
        assert a.shape == tuple(v.shape)
        np.testing.assert_array_equal(a, c)
        if a.ndim >= 2:
            norms = np.linalg.norm(a.reshape(-1, a.shape[-1]), axis=0)
            w = np.asarray(v).reshape(-1, a.shape[-1])
            np.testing.assert_allclose(norms, np.linalg.norm(w, axis=0),
                                       rtol=1e-6)
            assert not np.allclose(a, b)


@pytest.mark.backend_neutral
def test_loss_landscape_shapes_center_and_determinism():
    model = tiny_model()
    x, y = tiny_data()
    line = analysis.loss_landscape(model, x, y, dimensions=1, resolution=5,
                                   seed=0, batch_size=10, verbose=False)
    assert line.losses.shape == line.accuracies.shape == (5,)
    assert line.betas is None
    np.testing.assert_allclose(line.alphas, np.linspace(-1, 1, 5))
    # The centre is the trained model itself.
    loss, acc = model.evaluate(x, y, verbose=0)
    assert line.losses[2] == pytest.approx(loss, rel=1e-5)
    assert line.accuracies[2] == pytest.approx(acc)
    assert line.losses[0] != pytest.approx(loss, rel=1e-3)
    plane = analysis.loss_landscape(model, x, y, dimensions=2, resolution=3,
                                    span=(-0.5, 1.0), seed=0, verbose=False)
    assert plane.losses.shape == (3, 3)
    np.testing.assert_allclose(plane.betas, [-0.5, 0.25, 1.0])
    again = analysis.loss_landscape(model, x, y, dimensions=2, resolution=3,
                                    span=(-0.5, 1.0), seed=0, verbose=False)
    np.testing.assert_array_equal(plane.losses, again.losses)
    other = analysis.loss_landscape(model, x, y, dimensions=2, resolution=3,
                                    span=(-0.5, 1.0), seed=1, verbose=False)
    assert not np.allclose(plane.losses, other.losses)


@pytest.mark.backend_neutral
def test_loss_landscape_restores_the_weights_even_after_an_error(
        monkeypatch):
    model = tiny_model()
    x, y = tiny_data()
    before = [np.array(v) for v in model.weights]
    analysis.loss_landscape(model, x, y, dimensions=2, resolution=3,
                            verbose=False)
    for v, w in zip(model.weights, before):
        np.testing.assert_array_equal(np.asarray(v), w)

    calls = []
    real_accuracy = _common.accuracy

    def failing_accuracy(*args, **kwargs):  # fails at the third grid point
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("stop")
        return real_accuracy(*args, **kwargs)

    monkeypatch.setattr(_common, "accuracy", failing_accuracy)
    with pytest.raises(RuntimeError, match="stop"):
        analysis.loss_landscape(model, x, y, dimensions=1, resolution=5,
                                verbose=False)
    assert len(calls) == 3
    for v, w in zip(model.weights, before):
        np.testing.assert_array_equal(np.asarray(v), w)


@pytest.mark.backend_neutral
def test_loss_landscape_bad_arguments():
    model = tiny_model()
    x, y = tiny_data()
    with pytest.raises(ValueError, match="dimensions"):
        analysis.loss_landscape(model, x, y, dimensions=3)
    with pytest.raises(ValueError, match="resolution"):
        analysis.loss_landscape(model, x, y, resolution=1)
    with pytest.raises(ValueError, match="span"):
        analysis.loss_landscape(model, x, y, span=(1, -1))
    with pytest.raises(ValueError, match="directions"):
        analysis.loss_landscape(model, x, y, dimensions=2,
                                directions=[[np.zeros(1)]])
    uncompiled = keras.Model(model.inputs, model.outputs)
    with pytest.raises(ValueError, match="loss"):
        analysis.loss_landscape(uncompiled, x, y)


# --- text corruption --------------------------------------------------------

TEXT = (
    "The film was a quiet, careful portrait of a family; its actors were "
    "superb and the score (by a young composer) fit every scene! "
) * 40


def _letters(text):
    return sum(c.isascii() and c.isalpha() for c in text)


@pytest.mark.backend_neutral
@pytest.mark.parametrize("kind", ["deletion", "qwerty"])
@pytest.mark.parametrize("level", ["character", "word"])
def test_rate_zero_changes_nothing(kind, level):
    assert analysis.corrupt_texts(TEXT, kind, 0.0, seed=3, level=level) == TEXT
    assert analysis.corrupt_texts([TEXT, "ok"], kind, 0.0, level=level) == [
        TEXT, "ok"]


@pytest.mark.backend_neutral
@pytest.mark.parametrize("rate", [0.05, 0.2, 0.5])
def test_character_rate_changes_about_that_fraction_of_letters(rate):
    letters = _letters(TEXT)
    deleted = analysis.corrupt_texts(TEXT, "deletion", rate, seed=0)
    assert (len(TEXT) - len(deleted)) / letters == pytest.approx(rate,
                                                                 abs=0.03)
    # Only letters go: spaces and punctuation are all still there.
    assert re.sub(r"[A-Za-z]", "", deleted) == re.sub(r"[A-Za-z]", "", TEXT)
    swapped = analysis.corrupt_texts(TEXT, "qwerty", rate, seed=0)
    assert len(swapped) == len(TEXT)
    changed = [(a, b) for a, b in zip(TEXT, swapped) if a != b]
    assert len(changed) / letters == pytest.approx(rate, abs=0.03)
    for old, new in changed:
        assert new.lower() in analysis.QWERTY_NEIGHBOURS[old.lower()]
        assert new.isupper() == old.isupper()


@pytest.mark.backend_neutral
def test_word_level_changes_one_letter_in_about_rate_of_the_words():
    words = re.findall(r"[A-Za-z]{2,}", TEXT)
    swapped = analysis.corrupt_texts(TEXT, "qwerty", 0.3, seed=1, level="word")
    new_words = re.findall(r"[A-Za-z]{2,}", swapped)
    assert len(new_words) == len(words)
    diffs = [sum(a != b for a, b in zip(u, v))
             for u, v in zip(words, new_words)]
    assert set(diffs) <= {0, 1}
    assert np.mean(diffs) == pytest.approx(0.3, abs=0.05)
    deleted = analysis.corrupt_texts(TEXT, "deletion", 0.3, seed=1,
                                     level="word")
    assert (len(TEXT) - len(deleted)) / len(words) == pytest.approx(0.3,
                                                                    abs=0.05)


@pytest.mark.backend_neutral
def test_corruption_is_seeded_and_nested_across_rates():
    a = analysis.corrupt_texts([TEXT, TEXT], "qwerty", 0.2, seed=4)
    assert a == analysis.corrupt_texts([TEXT, TEXT], "qwerty", 0.2, seed=4)
    assert a != analysis.corrupt_texts([TEXT, TEXT], "qwerty", 0.2, seed=5)
    assert a[0] != a[1]  # one generator runs across the list
    low = analysis.corrupt_texts(TEXT, "qwerty", 0.1, seed=4)
    high = analysis.corrupt_texts(TEXT, "qwerty", 0.3, seed=4)
    for original, l, h in zip(TEXT, low, high):
        if l != original:
            assert h == l  # every low-rate edit is also a high-rate edit


@pytest.mark.backend_neutral
def test_corruption_bad_arguments():
    with pytest.raises(ValueError, match="kind"):
        analysis.corrupt_texts("abc", "swap", 0.1)
    with pytest.raises(ValueError, match="rate"):
        analysis.corrupt_texts("abc", "qwerty", 1.5)
    with pytest.raises(ValueError, match="level"):
        analysis.corrupt_texts("abc", "qwerty", 0.1, level="sentence")
    with pytest.raises(ValueError, match="str"):
        analysis.corrupt_texts([b"abc"], "qwerty", 0.1)
    with pytest.raises(ValueError, match="labels"):
        analysis.corruption_robustness(lambda t: None, ["a", "b"], [0])


@pytest.mark.backend_neutral
def test_corruption_robustness_of_a_keyword_classifier():
    texts = ["a wonderful movie", "an awful movie"] * 25
    labels = np.array([1, 0] * 25)

    def predict(batch):  # positive iff "wonderful" survives intact
        return np.array([[0.0, 1.0] if "wonderful" in t else [1.0, 0.0]
                         for t in batch])

    result = analysis.corruption_robustness(
        predict, texts, labels, rates=[0.0, 0.2, 0.6], seed=0)
    for kind in ("deletion", "qwerty"):
        accuracy = result.accuracies[kind]
        assert accuracy.shape == (3,)
        assert accuracy[0] == 1.0
        assert accuracy[0] > accuracy[1] > accuracy[2] >= 0.5
        assert result.letters_changed[kind][0] == 0.0
        assert result.letters_changed[kind][2] == pytest.approx(0.6, abs=0.1)
    assert result.to_dict()["examples"] == 50

    # A Keras model behind a preprocessing function.
    inputs = keras.Input((1,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    model.set_weights([np.ones((1, 1)), np.array([-0.5])])

    def preprocess(batch):
        return np.array([[float("wonderful" in t)] for t in batch])

    keyed = analysis.corruption_robustness(
        model, texts, labels, rates=[0.0, 0.6], kinds="deletion",
        preprocess=preprocess, from_logits=True, seed=0)
    np.testing.assert_array_equal(keyed.accuracies["deletion"],
                                  result.accuracies["deletion"][[0, 2]])
    with pytest.raises(ValueError, match="from_logits"):
        analysis.corruption_robustness(model, texts, labels, rates=[0.0],
                                       preprocess=preprocess)


# --- Monte Carlo dropout -----------------------------------------------------


@pytest.mark.backend_neutral
def test_mc_with_rate_zero_equals_predict_even_with_dropout_and_batchnorm():
    model = tiny_model(extra_layers=True)
    x, y = tiny_data()
    model.fit(x, y, epochs=1, verbose=0)  # moving statistics move
    expected = model.predict(x, verbose=0)
    with pytest.warns(UserWarning, match="full network"):
        mc = analysis.mc_dropout_predict(model, x, samples=3, rate=0.0,
                                         batch_size=10)
    np.testing.assert_allclose(mc.mean, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mc.std, 0.0, atol=1e-6)
    with pytest.warns(UserWarning):
        probs = analysis.mc_dropout_predict(model, x, samples=2,
                                            from_logits=True)
    np.testing.assert_allclose(probs.mean,
                               keras.ops.convert_to_numpy(keras.ops.softmax(expected)),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.backend_neutral
def test_mc_samples_are_seeded_and_spread():
    model = tiny_model(recurrent_dropout=0.3)
    x, _ = tiny_data()
    mc = analysis.mc_dropout_predict(model, x, samples=4, seed=1,
                                     return_samples=True, from_logits=True)
    assert mc.rates == {"lstm": 0.3}
    assert mc.samples.shape == (4, len(x), 3)
    np.testing.assert_allclose(mc.mean, mc.samples.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(mc.std, mc.samples.std(axis=0), atol=1e-6)
    assert np.all(mc.std.max(axis=-1) > 0)
    np.testing.assert_allclose(mc.mean.sum(axis=-1), 1.0, rtol=1e-6)
    again = analysis.mc_dropout_predict(model, x, samples=4, seed=1,
                                        from_logits=True)
    np.testing.assert_array_equal(mc.mean, again.mean)
    other = analysis.mc_dropout_predict(model, x, samples=4, seed=2,
                                        from_logits=True)
    assert not np.allclose(mc.mean, other.mean)
    override = analysis.mc_dropout_predict(model, x, samples=2,
                                           rate={"lstm": 0.1})
    assert override.rates == {"lstm": 0.1}


@pytest.mark.backend_neutral
def test_mc_bad_rates_name_the_argument():
    model = tiny_model()
    x, _ = tiny_data()
    with pytest.raises(ValueError, match="rate"):
        analysis.mc_dropout_predict(model, x, rate=1.0)
    with pytest.raises(ValueError, match="unknown layers"):
        analysis.mc_dropout_predict(model, x, rate={"gru": 0.1})
    with pytest.raises(ValueError, match="samples"):
        analysis.mc_dropout_predict(model, x, samples=0, rate=0.1)


# --- figures -----------------------------------------------------------------


@pytest.mark.backend_neutral
def test_every_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    model = tiny_model()
    x, y = tiny_data()
    stats = analysis.AdversarialMaskStatistics(x, delta=0.25, seed=0)
    model.fit(x, y, epochs=2, verbose=0, callbacks=[stats])
    sub = analysis.subnetwork_accuracies(model, x, y, samples=3, rate=0.25,
                                         delta=0.25, iterations=1)
    line = analysis.loss_landscape(model, x, y, dimensions=1, resolution=3,
                                   verbose=False)
    plane = analysis.loss_landscape(model, x, y, dimensions=2, resolution=3,
                                    verbose=False)
    mc = analysis.mc_dropout_predict(model, x, samples=3, rate=0.2,
                                     from_logits=True)
    text = analysis.corruption_robustness(
        lambda t: np.array([[len(s) % 2, 1] for s in t]), ["ab", "abc"],
        [1, 0], rates=[0, 0.5])
    paths = [
        analysis.plot_subnetwork_accuracies({"a": sub, "b": sub},
                                            tmp_path / "sub.png"),
        analysis.plot_mask_statistics(stats, tmp_path / "masks.png"),
        analysis.plot_mask_statistics({"a": stats, "b": stats.result()},
                                      tmp_path / "masks2.png"),
        analysis.plot_loss_landscape(line, tmp_path / "line.png"),
        analysis.plot_loss_landscape({"a": plane}, tmp_path / "plane.png"),
        analysis.plot_mc_uncertainty(mc, y, tmp_path / "mc.png"),
        analysis.plot_corruption_robustness(text, tmp_path / "sub/text.png"),
    ]
    for path in paths:
        data = pathlib.Path(path).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000, path
    with pytest.raises(ValueError, match="layer"):
        analysis.plot_mask_statistics(stats, tmp_path / "x.png", layer="gru")
    with pytest.raises(ValueError, match="separate"):
        analysis.plot_loss_landscape({"a": line, "b": plane},
                                     tmp_path / "x.png")


# --- examples/analyze.py ---------------------------------------------------


def _load_example(name):
    """`examples/<name>.py`, imported by module name (pytest.ini puts the
    repository root on the path)."""
    return importlib.import_module(f"examples.{name}")


def test_analyze_example_quick_trains_and_writes_every_figure(tmp_path):
    pytest.importorskip("sklearn")
    analyze = _load_example("analyze")
    out = tmp_path / "run"
    summary = analyze.main([
        "--quick", "--methods", "variational", "--epochs", "1",
        "--train-size", "60", "--subnetwork-samples", "2",
        "--save-models", str(tmp_path / "models"), "--output-dir", str(out),
        "--docs-figures", str(tmp_path / "docs")])
    model_summary = summary["models"]["variational"]
    assert len(model_summary["loss_landscape_1d"]["losses"]) == 5
    assert model_summary["mask_statistics"]["epochs"] == [0, 1]
    for name in ("subnetworks", "mask_statistics", "loss_landscape_1d",
                 "loss_landscape_2d", "mc_uncertainty"):
        assert (out / f"{name}.png").stat().st_size > 5000, name
    assert (out / "analysis.json").exists()
    assert (tmp_path / "models" / "variational.keras").exists()
    for name, copy in summary["docs_figures"].items():
        assert pathlib.Path(copy).name == f"analysis_{name}.png"
        assert 0 < pathlib.Path(copy).stat().st_size <= (
            out / f"{name}.png").stat().st_size


@pytest.mark.slow
def test_analyze_example_reloads_a_saved_model(tmp_path):
    """`--model` analyzes a saved model exactly as the run that trained it."""
    pytest.importorskip("sklearn")
    analyze = _load_example("analyze")
    common = ["--quick", "--train-size", "60", "--subnetwork-samples", "2"]
    summary = analyze.main(common + [
        "--methods", "variational", "--epochs", "1",
        "--save-models", str(tmp_path / "models"),
        "--output-dir", str(tmp_path / "run")])
    again = analyze.main(common + [
        "--model", str(tmp_path / "models" / "variational.keras"),
        "--output-dir", str(tmp_path / "loaded")])
    trained = summary["models"]["variational"]
    loaded = again["models"]["variational"]
    assert loaded["test_accuracy"] == trained["test_accuracy"]
    assert loaded["loss_landscape_2d"] == trained["loss_landscape_2d"]
    assert loaded["subnetworks"] == trained["subnetworks"]
    assert "mask_statistics" not in loaded
    assert not (tmp_path / "loaded" / "mask_statistics.png").exists()
    with pytest.raises(SystemExit):
        analyze.main(["--quick", "--export", str(tmp_path)])


def _write_csv(path, texts, labels):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows(zip(texts, labels))


def _raw_text_model(texts):
    vectorize = keras.layers.TextVectorization(max_tokens=20,
                                               output_sequence_length=4)
    vectorize.adapt(texts)
    inputs = keras.Input((), dtype="string")
    h = keras.layers.Embedding(20, 4)(vectorize(inputs))
    outputs = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling1D()(h))
    return keras.Model(inputs, outputs)


def test_analyze_example_text_only_with_a_raw_string_model(tmp_path):
    """The text plug-in: a saved model reading raw strings and a CSV."""
    analyze = _load_example("analyze")
    texts = ["a wonderful movie", "an awful movie", "wonderful acting",
             "awful acting"] * 10
    labels = [1, 0, 1, 0] * 10
    model = _raw_text_model(texts)
    model.save(tmp_path / "text.keras")
    _write_csv(tmp_path / "test.csv", texts, labels)
    model.export(tmp_path / "served", verbose=False)  # a SavedModel too
    summary = analyze.main([
        "--text-only", "--text-model", str(tmp_path / "text.keras"),
        "--text-model", str(tmp_path / "served"),
        "--text-csv", str(tmp_path / "test.csv"), "--text-examples", "0",
        "--output-dir", str(tmp_path / "out")])
    expected = _common.accuracy(
        model.predict(np.asarray(texts, dtype=object), verbose=0), labels)
    assert set(summary["text_corruption"]) == {"text", "served"}
    for text in summary["text_corruption"].values():
        assert text["examples"] == 40
        assert text["accuracies"]["deletion"][0] == pytest.approx(expected)
    assert (summary["text_corruption"]["text"]["accuracies"]
            == summary["text_corruption"]["served"]["accuracies"])
    assert summary["models"] == {}
    assert (tmp_path / "out" / "corruption.png").stat().st_size > 5000
    with pytest.raises(SystemExit):
        analyze.main(["--text-only"])

    direct = analyze.analyze_text(
        lambda batch: np.array([[0, 1] if "wonder" in t else [1, 0]
                                for t in batch]),
        texts, labels, str(tmp_path / "direct"), rates=[0.0, 0.5])
    assert direct.accuracies["qwerty"][0] == 1.0
    assert (tmp_path / "direct" / "corruption.png").exists()


@pytest.mark.slow
def test_analyze_example_reads_an_imdb_sentiment_export(tmp_path):
    """The IMDB wiring: imdb_sentiment.py --export, then analyze.py on it."""
    pytest.importorskip("tensorflow_text")
    imdb_sentiment = _load_example("imdb_sentiment")
    imdb_sentiment.main([
        "--quick", "--data", "synthetic", "--methods", "variational",
        "--export", str(tmp_path / "models"),
        "--output-dir", str(tmp_path / "imdb")])
    texts, labels = keras_adrop.tasks.text_classification.synthetic_reviews(
        60, seed=7)
    _write_csv(tmp_path / "test.csv", texts, labels)
    analyze = _load_example("analyze")
    summary = analyze.main([
        "--text-only",
        "--text-model", str(tmp_path / "models" / "variational"),
        "--text-csv", str(tmp_path / "test.csv"), "--text-examples", "0",
        "--output-dir", str(tmp_path / "out")])
    result = summary["text_corruption"]["variational"]
    served, _ = keras_adrop.analysis.load_text_classifier(
        str(tmp_path / "models" / "variational"))
    clean = _common.accuracy(served(list(texts)), labels, from_logits=False)
    assert result["accuracies"]["deletion"][0] == pytest.approx(clean)
    assert result["examples"] == 60
    assert (tmp_path / "out" / "corruption.png").exists()
