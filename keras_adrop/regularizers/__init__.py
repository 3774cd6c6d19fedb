"""Penalties that a `RegularizedModel` adds to its supervised loss.

A regularizer is a small serializable object. When the model is created it
`build`s against the model (finds its layers, checks its arguments). In each
training step the model asks it for the recurrent masks of the base pass
(`base_masks`), runs that pass once for the supervised loss, and then asks it
for its `Penalty` on a `keras_adrop.training.batch.TrainingBatch`, which can
run the model again with other masks and the same input/embedding dropout
noise (docs/algorithm.md rule 9), on any backend.
Several regularizers can share one model; each logs its own penalty.
The adversarial search itself (budget, start mask, greedy flips) is a set
of functions in `keras_adrop.regularizers.adversarial_search`.

Every regularizer is a `ModelRegularizer` (not a Keras
`keras.regularizers.Regularizer`, which penalizes one weight tensor: these
penalize the model's outputs across passes); its weight in the loss is
`penalty_weight`.

| class | method | default penalty_weight |
|---|---|---|
| `AdversarialDropout` | adversarial dropout on recurrent connections (Park et al. 2019) | 1.0 |
| `FraternalDropout` | two random masks, squared logit gap (Zolna et al. 2018) | 0.15 |
| `ExpectationLinearization` | random mask vs full network (Ma et al. 2017) | 0.25 |
| `AdversarialDropConnect` | adversarial DropConnect on a recurrent kernel, one mask per batch (the authors' PTB code) | 1.0 |
| `LastStateAdversarialDropout` | adversarial dropout on the last hidden state (Park et al. 2018) | 1.0 |
| `AdversarialPerturbation` | adversarial training on embeddings (Miyato et al. 2017) | 1.0 |
| `VirtualAdversarialPerturbation` | virtual adversarial training on embeddings (Miyato et al. 2017) | 1.0 |
"""

from keras_adrop.regularizers import adversarial_search
from keras_adrop.regularizers.adversarial_dropconnect import (
    AdversarialDropConnect,
)
from keras_adrop.regularizers.adversarial_dropout import AdversarialDropout
from keras_adrop.regularizers.adversarial_dropout import (
    LastStateAdversarialDropout,
)
from keras_adrop.regularizers.base import ModelRegularizer
from keras_adrop.regularizers.base import Penalty
from keras_adrop.regularizers.base import RecurrentMaskRegularizer
from keras_adrop.regularizers.base import all_layers
from keras_adrop.regularizers.base import carried_states
from keras_adrop.regularizers.base import masked_rnn_layers
from keras_adrop.regularizers.dropout_ensembles import ExpectationLinearization
from keras_adrop.regularizers.dropout_ensembles import FraternalDropout
from keras_adrop.regularizers.dropout_ensembles import RandomMaskEnsemble
from keras_adrop.regularizers.embedding_perturbations import (
    AdversarialPerturbation,
)
from keras_adrop.regularizers.embedding_perturbations import (
    VirtualAdversarialPerturbation,
)
from keras_adrop.regularizers.embedding_perturbations import (
    normalize_per_example,
)

__all__ = [
    "AdversarialDropConnect",
    "AdversarialDropout",
    "AdversarialPerturbation",
    "ExpectationLinearization",
    "FraternalDropout",
    "LastStateAdversarialDropout",
    "ModelRegularizer",
    "Penalty",
    "RandomMaskEnsemble",
    "RecurrentMaskRegularizer",
    "VirtualAdversarialPerturbation",
    "adversarial_search",
    "all_layers",
    "carried_states",
    "masked_rnn_layers",
    "normalize_per_example",
]

