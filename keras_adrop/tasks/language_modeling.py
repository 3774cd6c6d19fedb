"""The Penn Treebank language-model task of the paper's Table 3.

- `awd_lstm`: an AWD-LSTM-style network (Merity et al., 2018) from
  keras_adrop layers: embedding dropout, locked dropout, LSTMs with
  DropConnect on their recurrent kernels, optional AR/TAR, tied decoder.
- `PerplexityEvaluator` and `PerplexityCallback`: perplexity of a stateful
  model over a whole split, after every epoch.
- `copy_weights`, `reset_states`: between a training model and its
  inference twin.
- `AWDLSTMConfig`, `awd_lstm_model`, `awd_lstm_inference_model`,
  `export_language_model`: the paper's PTB model trained with any method
  (`examples/ptb_language_model.py`, docs/ptb.md).

`awd_lstm` and the evaluator work on TensorFlow and JAX; the
data loader needs TensorFlow.

Example:

```python
inputs, logits = keras_adrop.tasks.language_modeling.awd_lstm(
    10_000, embedding_dim=200, units=200, layers=2, seed=0)
model = keras.Model(inputs, logits)
```
"""

import dataclasses
import math
import time

import keras
import numpy as np
from keras import ops

from keras_adrop import arguments
from keras_adrop import divergences
from keras_adrop import layers as layers_lib
from keras_adrop.layers.word_outputs import OutputBias
from keras_adrop.tasks import building
from keras_adrop.tasks import presets


def awd_lstm(vocabulary_size, embedding_dim=400, units=1150, layers=3,
             embedding_dropout=0.1, input_dropout=0.4, hidden_dropout=0.25,
             output_dropout=0.4, weight_dropout=0.5, ar=0.0, tar=0.0, seed=0,
             batch_size=None, bptt=None, stateful=False,
             recurrent_dropout=0.0, inference=False, dtype=None):
    """An AWD-LSTM-style network as `(inputs, logits)` Keras tensors.

    `keras_adrop.layers.Embedding` with embedding dropout (whole word
    vectors dropped per batch) -> `SpatialDropout1D` (locked dropout) ->
    `layers` LSTMs (`recurrent_dropconnect=weight_dropout`, element-wise as AWD-LSTM's
    `WeightDrop`; `SpatialDropout1D` between them; the last has
    `embedding_dim` units) -> optional TAR (`RecurrentActivityRegularization(
    beta=tar)`) -> `SpatialDropout1D` -> optional AR (`alpha=ar`) ->
    tied decoder (`embedding(h, reverse=True)` -> `OutputBias`). The
    defaults are the paper's PTB model (Merity et al.);
    the initial weights and every dropout layer are seeded from `seed`
    (the global random state is neither read nor changed).

    Args:
        vocabulary_size: Words of the vocabulary.
        embedding_dim: Embedding size, also the last LSTM's units.
        units: Units of the other LSTM layers.
        layers: Number of LSTM layers.
        embedding_dropout, input_dropout, hidden_dropout, output_dropout,
            weight_dropout: The AWD-LSTM dropout rates.
        ar, tar: Activation (alpha) and temporal activation (beta)
            regularization weights; 0 leaves the layer out.
        seed: Seed of every random draw.
        batch_size, bptt: Fixed input shape (both needed when stateful);
            None for any.
        stateful: Carry each LSTM's final state into the next call.
        recurrent_dropout: Rate of the variational mask on `h_{t-1}`.
        inference: Build without any dropout or AR/TAR (the same weights in
            the same order, and the same inference output).
        dtype: Dtype policy of the layers, e.g. `"mixed_float16"` (None:
            the global policy).

    Returns:
        `(inputs, logits)`; logits have shape `(batch, time,
        vocabulary_size)`.

    Example:

    ```python
    inputs, logits = awd_lstm(10_000, embedding_dim=200, units=200,
                              layers=2, batch_size=20, bptt=35,
                              stateful=True)
    model = keras_adrop.RegularizedModel(inputs, logits, regularizers=[
        keras_adrop.regularizers.AdversarialDropout(delta=0.03)])
    ```
    """
    def rate(value):
        return 0.0 if inference else value

    inputs = keras.Input(batch_shape=(batch_size, bptt), dtype="int32",
                         name="token_ids")
    embedding = layers_lib.Embedding(
        vocabulary_size, embedding_dim, name="embedding",
        embedding_dropout=rate(embedding_dropout), seed=seed, dtype=dtype,
        **building.embedding_initializers(seed, "embedding"),
    )
    h = embedding(inputs)
    h = _locked_dropout(rate(input_dropout), seed + 1, "input_dropout",
                        dtype)(h)
    sizes = layer_sizes(units, layers, embedding_dim)
    for i, size in enumerate(sizes):
        h = layers_lib.LSTM(
            size,
            return_sequences=True,
            stateful=stateful,
            recurrent_dropout=rate(recurrent_dropout),
            recurrent_dropconnect=rate(weight_dropout),
            dropconnect_mode="element",
            seed=seed + 10 + i,
            name=f"lstm_{i + 1}",
            dtype=dtype,
            **building.recurrent_initializers(seed, f"lstm_{i + 1}"),
        )(h)
        if i + 1 < len(sizes):
            h = _locked_dropout(rate(hidden_dropout), seed + 100 + i,
                                f"hidden_dropout_{i + 1}", dtype)(h)
    if tar and not inference:
        h = _activity_regularization(beta=tar, name="tar", dtype=dtype)(h)
    h = _locked_dropout(rate(output_dropout), seed + 200,
                        "output_dropout", dtype)(h)
    if ar and not inference:
        h = _activity_regularization(alpha=ar, name="ar", dtype=dtype)(h)
    logits = OutputBias(name="decoder", dtype=dtype)(
        embedding(h, reverse=True))
    return inputs, logits


def layer_sizes(units, layers, embedding_dim):
    """Units of each LSTM of `awd_lstm`: `units`, ..., `embedding_dim`.

    Example:

    >>> layer_sizes(1150, 3, 400)
    [1150, 1150, 400]
    """
    return [units] * (layers - 1) + [embedding_dim]


def _locked_dropout(rate, seed, name, dtype=None):
    # Locked (variational) dropout: one mask per sequence, for all steps.
    return keras.layers.SpatialDropout1D(rate, seed=seed, name=name,
                                         dtype=dtype)


def _activity_regularization(**kwargs):
    return layers_lib.RecurrentActivityRegularization(**kwargs)


def copy_weights(source, target):
    """Copies every weight of `source` into `target`, checking the match."""
    if len(source.weights) != len(target.weights):
        raise ValueError(
            f"Models differ: {len(source.weights)} vs {len(target.weights)} "
            "weights."
        )
    for a, b in zip(source.weights, target.weights):
        if a.path != b.path or tuple(a.shape) != tuple(b.shape):
            raise ValueError(f"Weight {a.path} does not match {b.path}.")
        # A copy: under JAX, `assign` would share the array, which the
        # source's next compiled step donates (deletes).
        b.assign(ops.copy(a.value))


def reset_states(model):
    """Zeros the carried state of every stateful RNN of `model`."""
    for layer in model.layers:
        if getattr(layer, "stateful", False):
            layer.reset_state()


class PerplexityEvaluator:
    """Perplexity of a stateful inference model over a whole split.

    The model reads the windows of `windows` in order, carrying its state
    from each window to the next within each row; the perplexity is
    `exp(sum of target cross-entropies / number of targets)`, every token of
    the split but the first being a target once, summed in float64. Runs on
    TensorFlow (one `tf.function` per window) and on JAX (the model's
    compiled `predict_on_batch`, the cross-entropy in NumPy).

    Args:
        model: A stateful inference model of batch `windows.batch_size`.
        windows: Windows with `num_windows`, `num_targets` and
            `window(k) -> (x, y, weights)`, e.g.
            `keras_adrop.datasets.ptb.batchify(..., drop_remainder=False)`.

    Example:

    ```python
    evaluator = PerplexityEvaluator(inference, ptb.batchify(valid, 10, 35))
    perplexity, cross_entropy = evaluator()
    ```
    """

    def __init__(self, model, windows):
        self.model = model
        self.windows = windows
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            self._sum = tf.function(self._window_sum)
        else:
            self._sum = self._predicted_window_sum

    def _predicted_window_sum(self, x, y, w):
        logits = np.asarray(self.model.predict_on_batch(x), "float64")
        top = logits.max(axis=-1, keepdims=True)
        log_norm = np.log(np.exp(logits - top).sum(axis=-1)) + top[..., 0]
        target = np.take_along_axis(logits, np.asarray(y)[..., None],
                                    axis=-1)[..., 0]
        return float(np.sum((log_norm - target) * np.asarray(w, "float64")))

    def _window_sum(self, x, y, w):
        import tensorflow as tf

        logits = self.model(x, training=False)
        ce = keras.losses.sparse_categorical_crossentropy(
            y, logits, from_logits=True)
        return tf.reduce_sum(tf.cast(ce, "float64") * tf.cast(w, "float64"))

    def __call__(self):
        """Returns `(perplexity, mean cross-entropy in nats)`."""
        reset_states(self.model)
        total = 0.0
        for k in range(self.windows.num_windows):
            total += float(self._sum(*self.windows.window(k)))
        reset_states(self.model)
        mean = total / self.windows.num_targets
        return math.exp(mean), mean


class PerplexityCallback(keras.callbacks.Callback):
    """Resets carried states each epoch; logs validation perplexity.

    At the end of each epoch the trained weights are copied into the
    evaluator's model and `val_perplexity` is added to the epoch logs (so
    that the progress bar, `History` and a tuner's objective see it), with
    `train_perplexity` (exp of the epoch's mean training `cross_entropy`
    metric) and `epoch_seconds` (training time, evaluation excluded).

    Args:
        evaluator: A `PerplexityEvaluator` of the validation split.
        restore_best_weights: Whether the model ends training with the
            weights of its epoch of lowest validation perplexity (as
            `keras.callbacks.EarlyStopping(restore_best_weights=True)`,
            without stopping); that epoch is `best_epoch` (1-based).

    Example:

    ```python
    model.fit(x, y, batch_size=20, shuffle=False, epochs=3,
              callbacks=[PerplexityCallback(evaluator)])
    ```
    """

    def __init__(self, evaluator, restore_best_weights=False):
        super().__init__()
        self.evaluator = evaluator
        self.restore_best_weights = arguments.check_bool(
            "restore_best_weights", restore_best_weights)
        self.best_epoch = None
        self.best_perplexity = math.inf
        self._best_weights = None
        self._start = None

    def on_epoch_begin(self, epoch, logs=None):
        reset_states(self.model)
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self._start
        copy_weights(self.model, self.evaluator.model)
        perplexity, _ = self.evaluator()
        if logs is not None:
            logs["epoch_seconds"] = seconds
            logs["train_perplexity"] = math.exp(logs["cross_entropy"])
            logs["val_perplexity"] = perplexity
        if perplexity < self.best_perplexity:
            self.best_epoch, self.best_perplexity = epoch + 1, perplexity
            if self.restore_best_weights:
                self._best_weights = self.model.get_weights()

    def on_train_end(self, logs=None):
        if self.restore_best_weights and self._best_weights is not None:
            self.model.set_weights(self._best_weights)


# ------------------------------------------- the PTB model of the paper


_DEFAULT = presets.LANGUAGE_MODELING["default"]


@dataclasses.dataclass
class AWDLSTMConfig:
    """The network, optimizer and method options of `awd_lstm_model`.

    The defaults are `presets.LANGUAGE_MODELING["default"]` (CPU scale);
    `from_preset` gives the others. `awd_lstm_model` and
    `awd_lstm_inference_model` read these attributes only, so an
    `argparse.Namespace` with the same names works too.

    Attributes:
        embedding_dim, units, layers: The sizes (`awd_lstm`).
        bptt, batch_size, eval_batch_size: Window length and streams of
            training and evaluation.
        train_tokens, eval_tokens: Tokens of the splits used (0: all).
        epochs: Training epochs (the length of the learning-rate decay).
        optimizer, learning_rate, clipnorm: `"adam"` or `"sgd"`, its
            initial rate (cosine-decayed to 0) and global-norm clip (0:
            none).
        jit_compile: `model.compile`'s `jit_compile` for the training
            step: `True` (XLA), `False` or `"auto"` (Keras' choice).
        embedding_dropout, input_dropout, hidden_dropout, output_dropout,
            weight_dropout, ar, tar: AWD-LSTM's regularization.
        recurrent_dropout: Variational mask rate of the random-mask methods.
        delta, penalty_weight, divergence: Adversarial dropout's budget,
            weight and divergence.
        fraternal_weight, el_weight: The weights of fraternal dropout and
            expectation-linearization.
        dropconnect_delta, dropconnect_weight: `adversarial_dropconnect`
            (the authors' PTB recipe).
        rampup_fraction: Fraction of the training steps over which every
            adversarial method's penalty weight ramps up.
        seed: Seed of the weights and every draw.

    Example:

    >>> AWDLSTMConfig.from_preset("paper").units
    1150
    """

    embedding_dim: int = _DEFAULT["embedding_dim"]
    units: int = _DEFAULT["units"]
    layers: int = _DEFAULT["layers"]
    bptt: int = _DEFAULT["bptt"]
    batch_size: int = _DEFAULT["batch_size"]
    eval_batch_size: int = _DEFAULT["eval_batch_size"]
    train_tokens: int = _DEFAULT["train_tokens"]
    eval_tokens: int = _DEFAULT["eval_tokens"]
    epochs: int = _DEFAULT["epochs"]
    optimizer: str = _DEFAULT["optimizer"]
    learning_rate: float = _DEFAULT["learning_rate"]
    clipnorm: float = _DEFAULT["clipnorm"]
    jit_compile: bool | str = _DEFAULT["jit_compile"]
    embedding_dropout: float = _DEFAULT["embedding_dropout"]
    input_dropout: float = _DEFAULT["input_dropout"]
    hidden_dropout: float = _DEFAULT["hidden_dropout"]
    output_dropout: float = _DEFAULT["output_dropout"]
    weight_dropout: float = _DEFAULT["weight_dropout"]
    recurrent_dropout: float = _DEFAULT["recurrent_dropout"]
    ar: float = _DEFAULT["ar"]
    tar: float = _DEFAULT["tar"]
    delta: float = _DEFAULT["delta"]
    penalty_weight: float = _DEFAULT["penalty_weight"]
    divergence: str = _DEFAULT["divergence"]
    fraternal_weight: float = _DEFAULT["fraternal_weight"]
    el_weight: float = _DEFAULT["el_weight"]
    dropconnect_delta: float = _DEFAULT["dropconnect_delta"]
    dropconnect_weight: float = _DEFAULT["dropconnect_weight"]
    rampup_fraction: float = _DEFAULT["rampup_fraction"]
    seed: int = 0

    @classmethod
    def from_preset(cls, name="default", **overrides):
        """The preset `name` of `presets.LANGUAGE_MODELING`; `overrides` that
        are not None win."""
        if name not in presets.LANGUAGE_MODELING:
            raise ValueError(f"Unknown preset {name!r}; choose from "
                             f"{sorted(presets.LANGUAGE_MODELING)}.")
        given = {k: v for k, v in overrides.items() if v is not None}
        return cls(**{**presets.LANGUAGE_MODELING[name], **given})

    def __post_init__(self):
        check_config(self)


def check_config(config, spelling=None):
    """Raises a ValueError naming the first option of `config` out of range.

    `AWDLSTMConfig` checks itself when it is made; `awd_lstm_model` and
    `awd_lstm_inference_model` check any object with its attributes (an
    `argparse.Namespace`), so no value is silently ignored or coerced
    (an optimizer other than "adam" or "sgd", a dropout rate of 1.5).

    Args:
        config: An `AWDLSTMConfig` or an object with its attributes.
        spelling: Optional function from a field's name to the name the
            message gives it, for a caller whose user wrote the options
            otherwise (a command line: `--batch-size`). Default: the
            field's name.

    Example:

    ```python
    AWDLSTMConfig(optimizer="rmsprop")
    # ValueError: `optimizer` must be one of ('adam', 'sgd'). Received:
    # optimizer='rmsprop' (of type str)
    ```
    """
    name = spelling or (lambda field: field)
    _check_network_options(config, name)
    for field in ("bptt", "batch_size", "eval_batch_size", "epochs"):
        arguments.check_integer(name(field), getattr(config, field),
                                minimum=1)
    for field in ("train_tokens", "eval_tokens"):
        arguments.check_integer(name(field), getattr(config, field),
                                minimum=0)
    arguments.check_choice(name("optimizer"), config.optimizer,
                           ("adam", "sgd"))
    arguments.check_number(name("learning_rate"), config.learning_rate, 0.0,
                           low_inclusive=False)
    arguments.check_number(name("clipnorm"), config.clipnorm, 0.0,
                           what=" (0: no clipping)")
    arguments.check_choice(name("jit_compile"), config.jit_compile,
                           ("auto", True, False))
    arguments.check_rate(name("recurrent_dropout"), config.recurrent_dropout)
    for field in ("penalty_weight", "fraternal_weight", "el_weight",
                  "dropconnect_weight"):
        arguments.check_number(name(field), getattr(config, field), 0.0)
    for field in ("delta", "dropconnect_delta"):
        arguments.check_number(name(field), getattr(config, field), 0.0, 1.0,
                               low_inclusive=False)
    arguments.check_number(name("rampup_fraction"), config.rampup_fraction,
                           0.0, 1.0)
    arguments.check_choice(name("divergence"), config.divergence,
                           divergences.DIVERGENCES)
    return config


def _check_network_options(config, name=lambda field: field):
    # The options of `_NETWORK_OPTIONS`, all that the inference model reads.
    for field in ("embedding_dim", "units", "layers"):
        arguments.check_integer(name(field), getattr(config, field),
                                minimum=1)
    arguments.check_integer(name("seed"), config.seed, minimum=0)
    for field in ("embedding_dropout", "input_dropout", "hidden_dropout",
                  "output_dropout", "weight_dropout"):
        arguments.check_rate(name(field), getattr(config, field))
    for field in ("ar", "tar"):
        arguments.check_number(name(field), getattr(config, field), 0.0)


_NETWORK_OPTIONS = ("embedding_dim", "units", "layers", "embedding_dropout",
                    "input_dropout", "hidden_dropout", "output_dropout",
                    "weight_dropout", "ar", "tar", "seed")


def _network(config, vocabulary_size, batch_size=None, bptt=None,
             stateful=False, recurrent_dropout=0.0, inference=False,
             dtype=None):
    return awd_lstm(
        vocabulary_size, batch_size=batch_size, bptt=bptt, stateful=stateful,
        recurrent_dropout=recurrent_dropout, inference=inference, dtype=dtype,
        **{name: getattr(config, name) for name in _NETWORK_OPTIONS})


# The config's option of each kappa (the weight of a penalty between two
# random-mask passes); every other penalty weight is `penalty_weight`.
_KAPPA_OPTIONS = {"fraternal": "fraternal_weight",
                 "expectation_linearization": "el_weight"}


def awd_lstm_method(method, config, total_steps=0):
    """The `keras_adrop.tasks.methods` entry of `method` with `config`'s
    options.

    What the method's penalty weight is comes from the registry
    (`Method.knobs`): a kappa (fraternal dropout's `fraternal_weight`,
    expectation-linearization's `el_weight`), else the adversarial
    `penalty_weight` with its `divergence`; a DropConnect budget takes
    the authors' recipe (`dropconnect_delta` and `dropconnect_weight` on
    the last LSTM's kernel, squared logits). Every adversarial method
    ramps its weight up as `exp(-5 (1 - t)^2)` over the first
    `rampup_fraction * total_steps` optimizer steps.

    Example:

    ```python
    spec = awd_lstm_method("fraternal", AWDLSTMConfig())
    ```
    """
    from keras_adrop.tasks.methods import get_method

    knobs = get_method(method).knobs
    rampup_steps = int(config.rampup_fraction * total_steps)
    if knobs.delta == "dropconnect":
        return get_method(
            method, delta=config.dropconnect_delta,
            penalty_weight=config.dropconnect_weight,
            divergence="squared_logits", seed=config.seed,
            layers=[f"lstm_{config.layers}"], rampup_steps=rampup_steps)
    if knobs.penalty_weight == "kappa":
        weight = getattr(config, _KAPPA_OPTIONS.get(method, "penalty_weight"))
        return get_method(method, penalty_weight=weight, seed=config.seed)
    return get_method(method, delta=config.delta,
                      penalty_weight=config.penalty_weight,
                      divergence=config.divergence, seed=config.seed,
                      rampup_steps=rampup_steps)


def _optimizer(config, total_steps):
    """Adam or SGD, learning rate cosine-decayed to 0, clipped gradients."""
    schedule = keras.optimizers.schedules.CosineDecay(
        config.learning_rate, decay_steps=max(total_steps, 1))
    clip = {"global_clipnorm": config.clipnorm} if config.clipnorm else {}
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(schedule, **clip)
    return keras.optimizers.Adam(schedule, **clip)


def awd_lstm_model(method, config, vocabulary_size, steps_per_epoch=1,
                   dtype=None):
    """The compiled, stateful AWD-LSTM training model of `method`.

    The initial weights and every draw come from `config.seed` (the global
    random state is neither read nor changed), so all methods start from
    the same weights. The network is `awd_lstm` with `config`'s
    options at the fixed training shape `(batch_size, bptt)`, wrapped as
    `awd_lstm_method` says, compiled with the cross-entropy on logits (the
    learning rate decays over `config.epochs * steps_per_epoch` steps)
    plus a `cross_entropy` metric (the loss without AR/TAR or penalties).

    Args:
        method: A method name, e.g. `"variational"` (the AWD-LSTM baseline
            with a variational recurrent mask), `"adversarial_k1"` or
            `"adversarial_dropconnect"`.
        config: An `AWDLSTMConfig` (or an object with its attributes).
        vocabulary_size: Words of the vocabulary.
        steps_per_epoch: Training windows per epoch.
        dtype: Dtype policy of the layers, e.g. `"mixed_float16"` (None:
            the global policy).

    Returns:
        The compiled model.

    Example:

    ```python
    config = AWDLSTMConfig.from_preset("quick")
    model = awd_lstm_model("adversarial_k1", config, 10_000,
                           windows.num_windows)
    model.fit(windows.inputs, windows.targets,
              batch_size=config.batch_size, shuffle=False)
    ```
    """
    check_config(config)
    total_steps = config.epochs * steps_per_epoch
    spec = awd_lstm_method(method, config, total_steps)
    inputs, logits = _network(
        config, vocabulary_size, config.batch_size, config.bptt,
        stateful=True,
        recurrent_dropout=spec.recurrent_dropout(config.recurrent_dropout),
        dtype=dtype)
    model = spec.build_model(inputs, logits)
    model.compile(
        optimizer=building.loss_scaled(_optimizer(config, total_steps),
                                       dtype),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalCrossentropy(
            name="cross_entropy", from_logits=True)],
        jit_compile=config.jit_compile,
    )
    return model


def awd_lstm_inference_model(config, vocabulary_size, batch_size=None,
                             bptt=None, stateful=False,
                             log_probabilities=False):
    """The network of `awd_lstm_model` without dropout, a plain `keras.Model`.

    Its weights are in the same order as the training model's, so
    `copy_weights(trained, model)` makes it compute the trained model's
    inference output. With `log_probabilities`, it returns next-token
    log-probabilities instead of logits.

    Example:

    ```python
    evaluator = PerplexityEvaluator(awd_lstm_inference_model(
        config, 10_000, config.eval_batch_size, config.bptt, stateful=True),
        valid_windows)
    ```
    """
    _check_network_options(config)
    inputs, outputs = _network(config, vocabulary_size, batch_size, bptt,
                               stateful=stateful, inference=True)
    if log_probabilities:
        outputs = keras.layers.Activation(
            "log_softmax", name="log_probabilities")(outputs)
    return keras.Model(inputs, outputs, name="ptb_inference")


def export_language_model(model, config, vocabulary_size, path):
    """Writes a SavedModel of a trained `awd_lstm_model`'s inference output.

    A stateless copy of the network without dropout (any batch size and
    length; each call starts from a zero state), with `model`'s weights and
    a log-softmax on top. Endpoints `serve` and `serving_default` take int32
    token ids `(batch, time)` and return log-probabilities `(batch, time,
    vocabulary_size)`. Loading needs only TensorFlow.

    Returns:
        The exported `keras.Model`.

    Example:

    ```python
    export_language_model(model, config, 10_000, "exports/ptb")
    ```
    """
    served = awd_lstm_inference_model(config, vocabulary_size,
                                      log_probabilities=True)
    copy_weights(model, served)
    served.export(path, verbose=False)
    return served


def load_ptb_windows(config):
    """Penn Treebank as training, validation and test windows.

    Reads `keras_adrop.datasets.ptb` and cuts its splits with
    `ptb.batchify`: the first `config.train_tokens` training tokens (0: all)
    into `config.batch_size` streams of `config.bptt`-step windows (the last
    partial window dropped), the first `config.eval_tokens` validation and
    test tokens into `config.eval_batch_size` streams.

    Returns:
        dict with `vocabulary`, the windows `train`, `valid`, `test`, and
        `tokens` (tokens used per split).

    Example:

    ```python
    data = load_ptb_windows(AWDLSTMConfig.from_preset("quick"))
    data["train"].inputs.shape  # (windows * batch, bptt)
    ```
    """
    from keras_adrop.datasets import ptb

    data = ptb.load_data()
    train_ids = data.train[:config.train_tokens or None]
    valid_ids = data.valid[:config.eval_tokens or None]
    test_ids = data.test[:config.eval_tokens or None]
    return {
        "vocabulary": data.vocabulary,
        "train": ptb.batchify(train_ids, config.batch_size, config.bptt,
                              drop_remainder=True),
        "valid": ptb.batchify(valid_ids, config.eval_batch_size, config.bptt),
        "test": ptb.batchify(test_ids, config.eval_batch_size, config.bptt),
        "tokens": {"train": len(train_ids), "valid": len(valid_ids),
                   "test": len(test_ids)},
    }
