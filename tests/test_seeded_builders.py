"""The tasks' model builders draw their initial weights from their `seed`.

The same seed gives the same model, another seed another one, and building
neither reads nor changes the process's global random state (Python's,
NumPy's, Keras'); a dtype policy goes to the layers, not the global one.
"""

import random

import keras
import numpy as np
import pytest

from keras_adrop.tasks import building
from keras_adrop.tasks import language_modeling
from keras_adrop.tasks import sequence_classification
from keras_adrop.tasks import text_classification


def _digits(seed, dtype=None):
    return sequence_classification.lstm_classifier(
        "adversarial_k1", (6, 2), units=4, delta=0.5, seed=seed, dtype=dtype)


def _text(seed, dtype=None):
    return text_classification.text_classifier(
        "adversarial_k1", 20, 5, embedding_dim=4, units=4, delta=0.5,
        seed=seed, dtype=dtype)


def _ptb(seed, dtype=None):
    config = language_modeling.AWDLSTMConfig.from_preset(
        "quick", embedding_dim=4, units=6, layers=2, batch_size=2, bptt=3,
        delta=0.5,
        seed=seed)
    return language_modeling.awd_lstm_model("adversarial_k1", config, 20,
                                            dtype=dtype)


BUILDERS = [_digits, _text, _ptb]


def _draws():
    return (random.random(), float(np.random.rand()),
            float(keras.ops.convert_to_numpy(keras.random.uniform(()))))


@pytest.mark.parametrize("build", BUILDERS)
def test_a_seed_gives_one_model_and_leaves_the_global_state(build):
    keras.utils.set_random_seed(1)
    expected = _draws()
    keras.utils.set_random_seed(1)
    first = build(0)
    assert _draws() == expected  # building drew nothing from the process
    keras.utils.set_random_seed(2)  # nor does it read the global seed
    again = build(0)
    other = build(1)
    weights = first.get_weights()
    assert [w.shape for w in weights] == [w.shape for w in other.get_weights()]
    for a, b in zip(weights, again.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in
               zip(weights, other.get_weights()))


@pytest.mark.parametrize("build", BUILDERS)
def test_a_dtype_policy_goes_to_the_layers_not_the_global_policy(build):
    model = build(0, dtype="mixed_float16")
    assert keras.config.dtype_policy().name == "float32"
    recurrent = [layer for layer in model.layers if "lstm" in layer.name]
    assert recurrent and all(layer.compute_dtype == "float16"
                             for layer in recurrent)
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert not isinstance(build(0).optimizer,
                          keras.optimizers.LossScaleOptimizer)


def test_each_weight_has_a_seed_of_its_own():
    seeds = {building.derived_seed(0, name) for name in (
        "lstm/kernel", "lstm/recurrent_kernel", "logits/kernel")}
    assert len(seeds) == 3
    assert building.derived_seed(0, "lstm/kernel") != building.derived_seed(
        1, "lstm/kernel")
