"""KerasTuner searches over adversarial dropout's delta and K.

- `TaskHyperModel`: the search space (flips = delta * units,
  K, optionally the penalty weight and a dropout rate) over a task's model.
- `Task`, `register_task`, `get_task`, `available_tasks`: the registry of
  model families and their data (`digits`, `imdb`, `ptb`: the examples'
  models, built from configuration objects, `DigitsConfig`, `ImdbConfig`
  and `keras_adrop.tasks.language_modeling.AWDLSTMConfig`, and the package's
  builders).
- `tuning/search.py` (`python tuning/search.py --help`): one command per
  tuner (random, bayesian, hyperband), resumable and distributable, writing
  a summary table and a plot of the score against delta and K.

For your own model (not one of the examples), use
`keras_adrop.tuners.AdversarialDropoutHyperModel`, installed with the
package. This package lives at the repository root; run from there (or put the root
on `sys.path`).
"""

from keras_adrop.tuners import adversarial_model
from keras_adrop.tuners import effective_iterations
from keras_adrop.tuners import flip_range
from tuning.hypermodels import TaskHyperModel
from tuning.tasks import DigitsConfig
from tuning.tasks import DigitsTask
from tuning.tasks import ImdbConfig
from tuning.tasks import ImdbTask
from tuning.tasks import PtbTask
from tuning.tasks import Task
from tuning.tasks import available_tasks
from tuning.tasks import get_task
from tuning.tasks import register_task

__all__ = [
    "TaskHyperModel",
    "DigitsConfig",
    "DigitsTask",
    "ImdbConfig",
    "ImdbTask",
    "PtbTask",
    "Task",
    "adversarial_model",
    "effective_iterations",
    "available_tasks",
    "flip_range",
    "get_task",
    "register_task",
]
