"""Recurrent layers whose recurrent dropout mask can be set from outside."""

from keras_adrop.layers.embedding import Embedding
from keras_adrop.layers.embedding import embedding_perturbations
from keras_adrop.layers.gru import GRU
from keras_adrop.layers.gru import GRUCell
from keras_adrop.layers.lstm import LSTM
from keras_adrop.layers.lstm import LSTMCell
from keras_adrop.layers.recurrent import MaskedRNN
from keras_adrop.layers.recurrent import output_masks
from keras_adrop.layers.recurrent import recurrent_masks
from keras_adrop.layers.sequence_regularization import ActivationRegularization
from keras_adrop.layers.sequence_regularization import LockedDropout
from keras_adrop.layers.simple_rnn import SimpleRNN
from keras_adrop.layers.simple_rnn import SimpleRNNCell

__all__ = [
    "ActivationRegularization",
    "Embedding",
    "GRU",
    "GRUCell",
    "LSTM",
    "LSTMCell",
    "LockedDropout",
    "MaskedRNN",
    "SimpleRNN",
    "SimpleRNNCell",
    "embedding_perturbations",
    "output_masks",
    "recurrent_masks",
]
