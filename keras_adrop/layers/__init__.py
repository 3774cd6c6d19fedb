"""Recurrent layers whose recurrent dropout mask can be set from outside.

Also the layer-level peers: `Embedding` (embedding dropout, perturbation
hook) and `RecurrentActivityRegularization` (AR/TAR); the output side of a
word-level model, `OutputBias` (a tied decoder's bias) and
`SampledSoftmaxLoss`; and `TextTokenizer`, raw strings to word ids in the
TensorFlow graph (`text_tokenizer.learn_vocabulary` learns its vocabulary).
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
from keras_adrop.layers.text_tokenizer import TextTokenizer
from keras_adrop.layers.word_outputs import OutputBias
from keras_adrop.layers.word_outputs import SampledSoftmaxLoss

__all__ = [
    "Embedding",
    "GRU",
    "GRUCell",
    "LSTM",
    "LSTMCell",
    "MaskedRNN",
    "OutputBias",
    "RecurrentActivityRegularization",
    "SampledSoftmaxLoss",
    "SimpleRNN",
    "SimpleRNNCell",
    "TextTokenizer",
    "embedding_perturbations",
    "output_masks",
    "recurrent_kernel_masks",
    "recurrent_masks",
]
