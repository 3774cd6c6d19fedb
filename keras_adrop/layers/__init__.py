"""Recurrent layers whose recurrent dropout mask can be set from outside.

The masks are set with the context managers of `mask_overrides`
(`recurrent_masks`, `recurrent_kernel_masks`, `output_masks`,
`embedding_perturbations`), exported here. `VariationalRNN` is the base
of the recurrent layers (variational dropout: one mask per sequence).

Also the layer-level peers: `Embedding` (embedding dropout, perturbation
hook) and `RecurrentActivityRegularization` (AR/TAR); the output side of a
word-level model, `OutputBias` (a tied decoder's bias) and
`SampledSoftmaxLoss`; and `TextTokenizer`, raw strings to word ids in the
TensorFlow graph (`text_tokenizer.learn_vocabulary` learns its vocabulary).
"""

from keras_adrop.layers.embedding import Embedding
from keras_adrop.layers.gru import GRU
from keras_adrop.layers.gru import GRUCell
from keras_adrop.layers.lstm import LSTM
from keras_adrop.layers.lstm import LSTMCell
from keras_adrop.layers.mask_overrides import embedding_perturbations
from keras_adrop.layers.mask_overrides import output_masks
from keras_adrop.layers.mask_overrides import recurrent_kernel_masks
from keras_adrop.layers.mask_overrides import recurrent_masks
from keras_adrop.layers.recurrent import VariationalRNN
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
    "OutputBias",
    "RecurrentActivityRegularization",
    "SampledSoftmaxLoss",
    "SimpleRNN",
    "SimpleRNNCell",
    "TextTokenizer",
    "VariationalRNN",
    "embedding_perturbations",
    "output_masks",
    "recurrent_kernel_masks",
    "recurrent_masks",
]
