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
"""

from keras_adrop import analysis
from keras_adrop import callbacks
from keras_adrop import datasets
from keras_adrop import divergences
from keras_adrop import layers
from keras_adrop import masks
from keras_adrop import regularizers
from keras_adrop.conversion import convert_model
from keras_adrop.models import AdversarialDropoutModel
from keras_adrop.models import RegularizedModel

__version__ = "0.1.0"

__all__ = [
    "AdversarialDropoutModel",
    "RegularizedModel",
    "analysis",
    "callbacks",
    "convert_model",
    "datasets",
    "divergences",
    "layers",
    "masks",
    "regularizers",
]
