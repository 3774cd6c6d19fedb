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
- `keras_adrop.methods`: the methods of the paper's tables by name.
- `keras_adrop.sequence_classification`: the sequential-MNIST task's data
  and LSTM classifier.
- `keras_adrop.text`: raw-text tokenizer layer and vocabulary learning,
  the IMDB classifier and its language-model pretraining.
- `keras_adrop.language_modeling`: tied decoder, sampled softmax, an
  AWD-LSTM-style network and its training model, perplexity.
- `keras_adrop.tuners`: KerasTuner search over delta and K for any model.
- `keras_adrop.reporting`: tables, paired statistics, learning curves.
"""

import importlib

from keras_adrop import divergences
from keras_adrop import language_modeling
from keras_adrop import layers
from keras_adrop import masks
from keras_adrop import methods
from keras_adrop import regularizers
from keras_adrop import sequence_classification
from keras_adrop import text
from keras_adrop.conversion import convert_model
from keras_adrop.models import AdversarialDropoutModel
from keras_adrop.models import RegularizedModel

__version__ = "0.1.0"

# Imported when first used: the data loaders and the callbacks need
# TensorFlow (tf.data, summaries), which a JAX user may not have installed;
# the tuners need keras-tuner, the reports matplotlib. (The analysis tools
# run on TensorFlow and JAX alike; only a SavedModel needs TensorFlow.) (`text` and `language_modeling` are imported above, so that a
# `.keras` file of their layers loads after `import keras_adrop`; they
# import TensorFlow only when a layer that needs it runs.)
_LAZY_MODULES = ("analysis", "callbacks", "datasets", "reporting", "tuners")


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
    "language_modeling",
    "layers",
    "masks",
    "methods",
    "regularizers",
    "reporting",
    "sequence_classification",
    "text",
    "tuners",
]
