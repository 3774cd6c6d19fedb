"""Recurrent layers whose recurrent dropout mask can be set from outside.

Also the layer-level peers: `Embedding` (embedding dropout, perturbation
hook) and `RecurrentActivityRegularization` (AR/TAR).
"""

from keras_adrop.layers.embedding import Embedding
from keras_adrop.layers.embedding import embedding_perturbations
from keras_adrop.layers.gru import GRU
from keras_adrop.layers.gru import GRUCell
from keras_adrop.layers.lstm import LSTM
from keras_adrop.layers.lstm import LSTMCell
from keras_adrop.layers.recurrent import MaskedRNN
from keras_adrop.layers.recurrent import output_masks
from keras_adrop.layers.recurrent import recurrent_kernel_masks
from keras_adrop.layers.recurrent import recurrent_masks
from keras_adrop.layers.sequence_regularization import (
    RecurrentActivityRegularization,
)
from keras_adrop.layers.simple_rnn import SimpleRNN
from keras_adrop.layers.simple_rnn import SimpleRNNCell

__all__ = [
    "Embedding",
    "GRU",
    "GRUCell",
    "LSTM",
    "LSTMCell",
    "MaskedRNN",
    "RecurrentActivityRegularization",
    "SimpleRNN",
    "SimpleRNNCell",
    "embedding_perturbations",
    "output_masks",
    "recurrent_kernel_masks",
    "recurrent_masks",
]
