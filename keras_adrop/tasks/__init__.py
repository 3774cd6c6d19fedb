"""The paper's three tasks, built from the library, and its methods by name.

- `methods`: the methods of the paper's tables ("variational",
  "adversarial_k2", ...) as regularizers and layer settings, one registry.
- `sequence_classification`: sequential MNIST (Table 1): data and the LSTM
  classifier of any method.
- `text_classification`: IMDB sentiment (Table 2): the raw-text pipeline,
  the classifier and its language-model pretraining.
- `language_modeling`: Penn Treebank (Table 3): an AWD-LSTM-style network,
  its training model for any method, perplexity.
- `presets`: the settings of the three tasks (CPU scale, smoke run, paper).

The library (`keras_adrop.layers`, `regularizers`, `RegularizedModel`, ...)
never imports this package; `import keras_adrop` does not load it.
"""

from keras_adrop.tasks import language_modeling
from keras_adrop.tasks import methods
from keras_adrop.tasks import presets
from keras_adrop.tasks import sequence_classification
from keras_adrop.tasks import text_classification

__all__ = [
    "language_modeling",
    "methods",
    "presets",
    "sequence_classification",
    "text_classification",
]
