"""keras_adrop: adversarial dropout for recurrent networks in Keras 3.

Public API:

- `keras_adrop.layers`: `LSTM`, `GRU`, `SimpleRNN` and their cells, drop-in
  for Keras' own, with a per-example, time-invariant recurrent dropout mask
  that a training step can set with `keras_adrop.layers.recurrent_masks`.
- `keras_adrop.AdversarialDropoutModel`: a functional `keras.Model` trained
  with adversarial dropout (Park et al., AAAI 2019).
- `keras_adrop.RegularizedModel` and `keras_adrop.regularizers`: the general
  form, a model trained with a list of penalties.
- `keras_adrop.datasets`: real data for the examples, cached and verified.
- `keras_adrop.analysis`: tools to look inside what dropout does to an RNN.
- `keras_adrop.convert_model`: an existing Keras model with keras_adrop
  recurrent layers, same configuration and weights.
- `keras_adrop.divergences`: the divergences, and `divergence_for_loss`.
- `keras_adrop.callbacks`: adversarial-mask statistics in TensorBoard.
- `keras_adrop.tasks`: the paper's three tasks (sequence classification,
  text classification, language modeling), their presets, and the methods
  of its tables by name (`keras_adrop.tasks.methods`). Built on the library
  above, which never imports it.
- `keras_adrop.tuners`: KerasTuner search over delta and K for any model.
- `keras_adrop.reporting`: tables, paired statistics, learning curves.
"""

import importlib

from keras_adrop import divergences
from keras_adrop import layers
from keras_adrop import regularizers
from keras_adrop.conversion import convert_model
from keras_adrop.models import AdversarialDropoutModel
from keras_adrop.models import RegularizedModel

__version__ = "0.1.0"

# Imported when first used: the data loaders and the callbacks need
# TensorFlow (tf.data, summaries), which a JAX user may not have installed;
# the tuners need keras-tuner, the reports matplotlib; the tasks are
# applications of the library. (The analysis tools run on TensorFlow and JAX
# alike; only a SavedModel needs TensorFlow. Every serializable layer is in
# `layers`, imported above, so that any `.keras` file of this package loads
# after `import keras_adrop`.)
_LAZY_MODULES = ("analysis", "callbacks", "datasets", "reporting", "tasks",
                 "tuners")


def __getattr__(name):
    if name in _LAZY_MODULES:
        try:
            return importlib.import_module(f"keras_adrop.{name}")
        except ImportError as error:
            if "tensorflow" not in str(error):
                raise
            raise ImportError(
                f"keras_adrop.{name} needs TensorFlow, which is not "
                "installed: pip install 'tensorflow>=2.21,<2.22' (the "
                "models and layers work without it under KERAS_BACKEND=jax)."
            ) from error
    raise AttributeError(f"module 'keras_adrop' has no attribute '{name}'")


def __dir__():
    return sorted(list(globals()) + list(_LAZY_MODULES))

__all__ = [
    "AdversarialDropoutModel",
    "RegularizedModel",
    "analysis",
    "callbacks",
    "convert_model",
    "datasets",
    "divergences",
    "layers",
    "regularizers",
    "reporting",
    "tasks",
    "tuners",
]
