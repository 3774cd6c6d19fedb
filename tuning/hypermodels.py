"""`TaskHyperModel`: KerasTuner search space over delta and K on a task.

Hyperparameters (names as they appear in the trials):

- `flips` (int): the adversarial budget in units, `floor(delta * units)`.
  The search samples the count, not `delta`, so that every sample is a
  valid budget (>= 1) and no two samples are the same budget; the model gets
  `delta = flips / units` (reported next to it in the summaries).
- `iterations` (int): the paper's K, greedy influence-map/flip steps. The
  start mask spends one flip and the other `flips - 1` are shared by the K
  steps, so only `min(K, flips - 1)` steps can flip anything (0 with one
  flip: the adversarial mask is then the random start flip alone). The
  model is built with that many (at least 1), which is what
  `AdversarialDropout` would run anyway, minus its warning; the summaries
  report it as `K_eff`.
- `penalty_weight` (float, log scale), only with `penalty_weight_range`:
  lambda, the weight of the divergence penalty (otherwise 1.0).
- `dropout` (float), only with `dropout_range`: the task's dropout rate
  (`Task.dropout_description`).
"""

import keras

from keras_adrop import arguments
from keras_adrop import tuners
from keras_adrop.tuners import DEFAULT_ITERATIONS_RANGE
from keras_adrop.tuners import PAPER_DELTA_RANGE
from tuning.tasks import Task
from tuning.tasks import get_task


class TaskHyperModel(tuners.AdversarialDropoutHyperModel):
    """Search space of adversarial dropout's budget (delta) and K on a task.

    `keras_adrop.tuners.AdversarialDropoutHyperModel` (installed with the
    package) around the model of one of `tuning/`'s tasks: this class adds
    the task's data, seeds, dropout rate and callbacks. For your own
    model, use the package's class directly.

    The package's hypermodel over a task: `build(hp)` samples `dropout`
    (optional), builds the task's plain model with the same initial weights
    in every trial (the task's seed), then samples `flips` (delta = flips /
    units), `iterations` (K; the model runs `max(1,
    effective_iterations(flips, K))` steps) and optionally
    `penalty_weight`, and wraps the model in a compiled
    `keras_adrop.AdversarialDropoutModel`. `fit` passes every argument to
    `model.fit`, including the `epochs` and `initial_epoch` Hyperband
    injects (plus the task's own callbacks).

    Args:
        task: A task name (see `tuning.available_tasks()`) or a
            `tuning.Task`.
        quick: With a task name: its smoke-test configuration.
        seed: With a task name: seed of the data split, the initial weights
            and the masks. Also the seed of the adversarial search.
        delta_range: `(low, high)` range of delta, fractions of the
            adversarial layer's units (default `(0.01, 0.1)`, the values the
            paper validated). Turned into whole numbers of flips; it must
            contain at least one.
        iterations_range: `(low, high)` range of K (default `(1, 3)`).
        penalty_weight_range: `(low, high)` range of the penalty weight
            lambda, sampled on a log scale; None (default) keeps 1.0.
        dropout_range: `(low, high)` range of the task's dropout rate, in
            [0, 1); None (default) keeps the task's default.
        dtype_policy: Keras dtype policy of the layers of every model
            built (passed to the task's `build` as `dtype`; the global
            policy is left alone), e.g. `"mixed_float16"`. Default None:
            the global policy, as any Keras layer.
        task_options: With a task name: task-specific settings, e.g.
            `{"units": 16}` for `digits`.
        name: Name of the hypermodel.
        tunable: Whether the hyperparameters may be tuned (KerasTuner).

    Example:

    ```python
    import keras_tuner
    import tuning

    hypermodel = tuning.TaskHyperModel(task="digits")
    tuner = keras_tuner.RandomSearch(
        hypermodel, objective=hypermodel.task.objective, max_trials=10,
        directory="results/tuning", project_name="digits")
    fit_args, fit_kwargs = hypermodel.task.load_data()
    tuner.search(*fit_args, epochs=10, **fit_kwargs)
    best = tuner.get_best_hyperparameters()[0]
    best["flips"] / hypermodel.units, best["iterations"]  # delta, K
    ```
    """

    def __init__(
        self,
        task="digits",
        quick=False,
        seed=0,
        delta_range=PAPER_DELTA_RANGE,
        iterations_range=DEFAULT_ITERATIONS_RANGE,
        penalty_weight_range=None,
        dropout_range=None,
        dtype_policy=None,
        task_options=None,
        name=None,
        tunable=True,
    ):
        if isinstance(task, Task):
            if task_options:
                raise ValueError(
                    "`task_options` only apply to a task given by name; "
                    "configure the Task object instead."
                )
        elif isinstance(task, str):
            task = get_task(task, quick=quick, seed=seed,
                            **(task_options or {}))
        else:
            raise ValueError(
                "`task` must be a task name or a tuning.Task. "
                f"Received: {task!r}"
            )
        self.task = task
        if dropout_range is not None:
            task.check_dropout_tunable()
            dropout_range = tuners.check_range(
                "dropout_range", dropout_range, 0.0, 0.999)
            if dropout_range[0] <= 0.0:
                raise ValueError(
                    "`dropout_range` must have a low end > 0 (a rate of 0 is "
                    f"no dropout). Received: {dropout_range!r}"
                )
        self.dropout_range = dropout_range
        self.dtype_policy = (None if dtype_policy is None else
                             keras.dtype_policies.get(dtype_policy).name)
        # Every trial tunes the rate or none does, so the options that
        # depend on it are the same in every trial.
        super().__init__(
            self._build_task_model, delta_range=delta_range,
            iterations_range=iterations_range,
            penalty_weight_range=penalty_weight_range, units=task.units,
            seed=arguments.check_seed("seed", seed), name=name,
            tunable=tunable,
            **task.adversarial_options(dropout_range is not None))

    def _build_task_model(self, hp):
        dropout = None
        if self.dropout_range is not None:
            dropout = hp.Float("dropout", *self.dropout_range)
        if self.dtype_policy is None:  # a Task whose `build` takes no dtype
            return self.task.build(dropout=dropout)
        return self.task.build(dropout=dropout, dtype=self.dtype_policy)

    def fit(self, hp, model, *args, **kwargs):
        """Trains `model`: every argument goes to `model.fit` unchanged.

        The task's own callbacks (`Task.callbacks`, e.g. PTB's validation
        perplexity) are put before the ones passed in (the tuner's), so
        that the objective is in the epoch logs when those read them.
        """
        callbacks = self.task.callbacks(model)
        if callbacks:
            kwargs["callbacks"] = callbacks + list(kwargs.get("callbacks")
                                                   or [])
        return super().fit(hp, model, *args, **kwargs)
