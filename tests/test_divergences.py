"""Divergences (rule 4) and lambda_t (rule 6) against numpy by hand."""

import numpy as np
import pytest

from keras_adrop import divergences

RNG = np.random.RandomState(0)
P_LOGITS = RNG.randn(4, 5)
Q_LOGITS = RNG.randn(4, 5)


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _kl(p, q):
    return (p * (np.log(p) - np.log(q))).sum(-1)


@pytest.mark.parametrize("from_logits", [True, False])
def test_categorical_divergences(from_logits):
    p, q = _softmax(P_LOGITS), _softmax(Q_LOGITS)
    a, b = (P_LOGITS, Q_LOGITS) if from_logits else (p, q)

    def value(name):
        return divergences.divergence(name, a, b, from_logits).numpy()

    np.testing.assert_allclose(value("kl"), _kl(p, q), rtol=1e-5)
    np.testing.assert_allclose(value("reverse_kl"), _kl(q, p), rtol=1e-5)
    np.testing.assert_allclose(value("squared_probs"),
                               ((p - q) ** 2).mean(-1), rtol=1e-5)
    if from_logits:
        expected = ((P_LOGITS - Q_LOGITS) ** 2).mean(-1)
    else:
        expected = ((np.log(p) - np.log(q)) ** 2).mean(-1)
    np.testing.assert_allclose(value("squared_logits"), expected, rtol=1e-4)


@pytest.mark.parametrize("from_logits", [True, False])
def test_bernoulli_kl_for_one_sigmoid_output(from_logits):
    a, b = P_LOGITS[:, :1], Q_LOGITS[:, :1]
    p, q = 1 / (1 + np.exp(-a[:, 0])), 1 / (1 + np.exp(-b[:, 0]))
    expected = p * np.log(p / q) + (1 - p) * np.log((1 - p) / (1 - q))
    if not from_logits:
        a, b = p[:, None], q[:, None]
    got = divergences.divergence("kl", a, b, from_logits).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_sequence_outputs_give_one_value_per_step():
    a, b = RNG.randn(2, 3, 4), RNG.randn(2, 3, 4)
    got = divergences.divergence("kl", a, b, True).numpy()
    assert got.shape == (2, 3)
    np.testing.assert_allclose(got[1, 2], _kl(_softmax(a[1, 2]),
                                              _softmax(b[1, 2])), rtol=1e-5)


def test_unknown_divergence_raises():
    with pytest.raises(ValueError, match="`divergence` must be one of"):
        divergences.divergence("js", P_LOGITS, Q_LOGITS, True)


def test_many_to_one_weights_are_sample_weight_over_batch():
    weights = divergences.step_weights(
        np.zeros((4, 3)), sample_weight=np.array([1.0, 2.0, 0.0, 1.0]))
    np.testing.assert_allclose(weights, [0.25, 0.5, 0.0, 0.25])


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


@pytest.mark.parametrize("from_logits", [True, False])
def test_binary_kl_is_the_mean_bernoulli_kl_of_every_unit(from_logits):
    p, q = _sigmoid(P_LOGITS), _sigmoid(Q_LOGITS)
    expected = (p * np.log(p / q)
                + (1 - p) * np.log((1 - p) / (1 - q))).mean(-1)
    a, b = (P_LOGITS, Q_LOGITS) if from_logits else (p, q)
    got = divergences.divergence("binary_kl", a, b, from_logits).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    # One unit: the Bernoulli KL that "kl" computes.
    one = divergences.divergence("binary_kl", a[:, :1], b[:, :1], from_logits)
    np.testing.assert_allclose(
        one, divergences.divergence("kl", a[:, :1], b[:, :1], from_logits),
        rtol=1e-6)


def test_squared_error_compares_raw_outputs_and_ignores_from_logits():
    a, b = RNG.randn(2, 3, 4), RNG.randn(2, 3, 4)
    expected = ((a - b) ** 2).mean(-1)
    for from_logits in (None, True, False):
        got = divergences.divergence("squared_error", a, b, from_logits)
        np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_weighted_squared_error_sums_lambda_times_d():
    target = np.array([[1.0], [2.0], [3.0]])
    outputs = np.array([[0.0], [2.0], [5.0]])  # D = 1, 0, 4
    weights = divergences.step_weights(outputs,
                                       sample_weight=np.array([1.0, 1, 0.5]))
    got = divergences.weighted_divergence("squared_error", target, outputs,
                                          None, weights)
    np.testing.assert_allclose(float(got), (1 + 0 + 0.5 * 4) / 3, rtol=1e-6)


# What each Keras loss class reads (divergence, from_logits by default).
KERAS_LOSS_READINGS = {
    "BinaryCrossentropy": ("binary_kl", False),
    "BinaryFocalCrossentropy": ("binary_kl", False),
    "CTC": ("kl", True),
    "CategoricalCrossentropy": ("kl", False),
    "CategoricalFocalCrossentropy": ("kl", False),
    "CategoricalGeneralizedCrossEntropy": ("kl", False),
    "CategoricalHinge": ("squared_error", None),
    "Circle": ("squared_error", None),
    "CosineSimilarity": ("squared_error", None),
    "Dice": ("binary_kl", False),
    "Hinge": ("squared_error", None),
    "Huber": ("squared_error", None),
    "KLDivergence": ("kl", False),
    "LogCosh": ("squared_error", None),
    "MeanAbsoluteError": ("squared_error", None),
    "MeanAbsolutePercentageError": ("squared_error", None),
    "MeanSquaredError": ("squared_error", None),
    "MeanSquaredLogarithmicError": ("squared_error", None),
    "Poisson": ("squared_error", None),
    "SparseCategoricalCrossentropy": ("kl", False),
    "SquaredHinge": ("squared_error", None),
    "Tversky": ("binary_kl", False),
}


def test_every_keras_loss_class_has_a_reading():
    import inspect

    import keras

    classes = {
        name for name, obj in vars(keras.losses).items()
        if inspect.isclass(obj) and issubclass(obj, keras.losses.Loss)
        and obj is not keras.losses.Loss
    }
    assert classes == set(KERAS_LOSS_READINGS)


@pytest.mark.parametrize("name", sorted(KERAS_LOSS_READINGS))
def test_divergence_for_each_keras_loss_class(name):
    import keras

    expected = KERAS_LOSS_READINGS[name]
    loss = getattr(keras.losses, name)()
    assert divergences.divergence_for_loss(loss) == expected
    assert divergences.divergence_for_loss([loss]) == expected  # one output
    if "from_logits" in loss.get_config():
        logits = getattr(keras.losses, name)(from_logits=True)
        assert divergences.divergence_for_loss(logits) == (expected[0], True)


@pytest.mark.parametrize("loss, expected", [
    ("mse", ("squared_error", None)),
    ("mean_absolute_error", ("squared_error", None)),
    ("MAPE", ("squared_error", None)),
    ("msle", ("squared_error", None)),
    ("huber", ("squared_error", None)),
    ("log_cosh", ("squared_error", None)),
    ("binary_crossentropy", ("binary_kl", False)),
    ("categorical_crossentropy", ("kl", False)),
    ("sparse_categorical_crossentropy", ("kl", False)),
    ("kld", ("kl", False)),
    ("MeanSquaredError", ("squared_error", None)),
    ({"output": "mse"}, ("squared_error", None)),
])
def test_divergence_for_loss_names_and_functions(loss, expected):
    import keras

    assert divergences.divergence_for_loss(loss) == expected
    if isinstance(loss, str) and loss.islower():
        function = keras.losses.get(loss)
        assert divergences.divergence_for_loss(function) == expected


def test_divergence_for_a_subclass_of_a_keras_loss_is_its_parents():
    import keras

    class Scaled(keras.losses.MeanSquaredError):
        pass

    assert divergences.divergence_for_loss(Scaled()) == ("squared_error", None)


@pytest.mark.parametrize("loss", [
    lambda y_true, y_pred: y_pred,
    "not_a_loss",
    None,
    ["mse", "mse"],
])
def test_divergence_for_an_unreadable_loss_names_the_argument(loss):
    with pytest.raises(ValueError, match=r"Pass `divergence=`.*from_logits="):
        divergences.divergence_for_loss(loss)
