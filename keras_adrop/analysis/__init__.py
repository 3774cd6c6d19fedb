"""Tools that look inside what dropout does to a recurrent network.

Each tool returns data (numpy arrays, dataclasses, dicts) and has a
plotting helper in `keras_adrop.analysis.plotting` that writes a PNG
(matplotlib is imported only when a figure is drawn).

- `subnetwork_accuracies`: test accuracy of many randomly and adversarially
  masked subnetworks (Park et al. 2019, Fig. 3a).
- `AdversarialMaskStatistics`: a callback recording the mean adversarial
  mask per unit, epoch by epoch (Park et al. 2019, Fig. 4).
- `loss_landscape`: the loss on a line or plane along filter-normalized
  random directions (Li et al. 2018).
- `corrupt_texts`, `corruption_robustness`: accuracy on text with deleted
  letters or QWERTY typos (Hattimare & Acharya; TextAttack's recipes).
- `analyze_classifier`, `plot_classifier_analyses`: the subnetwork,
  landscape and Monte Carlo analyses of a classifier, and their figures.
- `load_text_classifier`, `read_labeled_texts`: text classifiers (`.keras`
  or a SavedModel) and labeled texts for `corruption_robustness`.
- `mc_dropout_predict`: mean and spread of T passes with random recurrent
  masks (Gal & Ghahramani 2016), a fresh mask per example or T fixed
  networks (`networks="fixed"`, `FixedNetworks` across calls);
  `interval_coverage`: how often its intervals cover a regression's
  targets.

None of them needs TensorFlow (they run on TensorFlow and JAX), except
loading a SavedModel text classifier in `load_text_classifier`.

See docs/analysis.md for the choices each tool makes.
"""

from keras_adrop.analysis.classifier import analyze_classifier
from keras_adrop.analysis.classifier import plot_classifier_analyses
from keras_adrop.analysis.loss_landscape import LossLandscape
from keras_adrop.analysis.loss_landscape import filter_normalized_direction
from keras_adrop.analysis.loss_landscape import loss_landscape
from keras_adrop.analysis.loss_landscape import random_directions
from keras_adrop.analysis.mask_statistics import AdversarialMaskStatistics
from keras_adrop.analysis.mask_statistics import effective_units
from keras_adrop.analysis.monte_carlo import FixedNetworks
from keras_adrop.analysis.monte_carlo import MonteCarloPrediction
from keras_adrop.analysis.monte_carlo import interval_coverage
from keras_adrop.analysis.monte_carlo import mc_dropout_predict
from keras_adrop.analysis.plotting import plot_corruption_robustness
from keras_adrop.analysis.plotting import plot_loss_landscape
from keras_adrop.analysis.plotting import plot_mask_statistics
from keras_adrop.analysis.plotting import plot_mc_uncertainty
from keras_adrop.analysis.plotting import plot_subnetwork_accuracies
from keras_adrop.analysis.subnetworks import AdversarialMaskSearch
from keras_adrop.analysis.subnetworks import SubnetworkAccuracies
from keras_adrop.analysis.subnetworks import adversarial_masks
from keras_adrop.analysis.subnetworks import subnetwork_accuracies
from keras_adrop.analysis.text_corruption import QWERTY_NEIGHBOURS
from keras_adrop.analysis.text_corruption import CorruptionRobustness
from keras_adrop.analysis.text_corruption import corrupt_texts
from keras_adrop.analysis.text_corruption import corruption_robustness
from keras_adrop.analysis.text_corruption import load_text_classifier
from keras_adrop.analysis.text_corruption import read_labeled_texts

__all__ = [
    "AdversarialMaskSearch",
    "AdversarialMaskStatistics",
    "CorruptionRobustness",
    "FixedNetworks",
    "LossLandscape",
    "MonteCarloPrediction",
    "QWERTY_NEIGHBOURS",
    "SubnetworkAccuracies",
    "adversarial_masks",
    "analyze_classifier",
    "corrupt_texts",
    "corruption_robustness",
    "effective_units",
    "filter_normalized_direction",
    "interval_coverage",
    "load_text_classifier",
    "loss_landscape",
    "mc_dropout_predict",
    "plot_classifier_analyses",
    "plot_corruption_robustness",
    "plot_loss_landscape",
    "plot_mask_statistics",
    "plot_mc_uncertainty",
    "plot_subnetwork_accuracies",
    "random_directions",
    "read_labeled_texts",
    "subnetwork_accuracies",
]
