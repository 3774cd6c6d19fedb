"""Keras models whose training step adds dropout-based penalties.

`RegularizedModel` takes a list of regularizers; `AdversarialDropoutModel` is
its short form for the common case of one `AdversarialDropout`. Both are
functional models (`Model(inputs, outputs, ...)`): `compile`, `fit`,
callbacks, `evaluate`, `predict`, `save` and `export` work as for any Keras
model; only `train_step` changes. What a step computes is written once,
for every backend, in `keras_adrop.training.loss` (docs/algorithm.md
section 4); the backend's trainer (`keras_adrop.training`) differentiates
it and applies the update.

Inference (`predict`, `evaluate`, `export`) runs the plain network.
"""

import inspect

import keras

from keras_adrop import arguments
from keras_adrop import keras_compat
from keras_adrop.regularizers import AdversarialDropout
from keras_adrop.regularizers import ModelRegularizer
from keras_adrop.training import progress
from keras_adrop.training import loss as loss_lib
from keras_adrop.training import nonfinite
from keras_adrop.training import gradient_function
from keras_adrop.training import trainer_class


@keras.saving.register_keras_serializable(package="keras_adrop")
class RegularizedModel(keras_compat.CloneSettings,
                       keras_compat.PortableCompileConfig, trainer_class(),
                       keras.Model):
    """A functional Keras model trained with extra penalties.

    `keras.models.clone_model`, `from_config`, `to_json` with
    `keras.models.model_from_json`, and `.keras` files keep every setting
    (the regularizers and their arguments). The legacy `.h5` format cannot
    store them: `save("m.h5")` raises and says to use `.keras`.

    Args:
        *args: `inputs, outputs` as for `keras.Model`. To wrap an existing
            model `base`, pass `base.inputs, base.outputs` (functional or
            built Sequential) or `x = keras.Input(...); (x, base(x))`.
        regularizers: List of `keras_adrop.regularizers.ModelRegularizer`
            objects; each logs its penalty as `<name>_penalty`. An empty
            list trains like `keras.Model`.
        max_consecutive_skips: A training step whose loss terms or
            gradients are not finite, whose update would leave a weight or
            optimizer slot that is not finite, or whose class indices are
            out of range, is skipped (no update) and counted in the
            `skipped_steps` log; `fit` stops when this many steps in a row
            were skipped. Default 1: stop at the first.
        **kwargs: `name` and the other arguments of `keras.Model`.

    Training data is what `fit` usually takes, or, for semi-supervised
    training, a dataset whose elements are
    `{"labeled": (x, y) or (x, y, sample_weight), "unlabeled": x_u}`: the
    unlabeled inputs contribute only to the penalties.

    Logs `loss` (the total that is optimized), `supervised_loss`, each
    regularizer's penalty (unweighted) and its own metrics, plus the
    compiled metrics.

    Runs on the TensorFlow and JAX backends (the README's table says what
    each supports). A training step whose supervised loss, penalty or
    gradient is NaN or infinite, or whose update would make a weight or an
    optimizer slot so, never updates the weights, eagerly, in a graph,
    under XLA and on JAX: the step is skipped (weights, optimizer state and
    random state kept), `skipped_steps` counts it, and after
    `max_consecutive_skips` in a row `fit` stops with a `RuntimeWarning`
    naming the terms and their values (also kept in
    `model.nonfinite_stop`). The other logs are means over the applied
    steps (NaN for an epoch without one). The regularizers' random state is
    saved with the model, so their draws continue after a save (the
    layers' own dropout draws restart, as in Keras). See
    docs/reliability.md.

    Example:

    ```python
    from keras_adrop.regularizers import AdversarialDropout
    inputs = keras.Input((64, 1))
    h = keras_adrop.layers.LSTM(32)(inputs)
    outputs = keras.layers.Dense(10)(h)
    model = keras_adrop.RegularizedModel(
        inputs, outputs, regularizers=[AdversarialDropout(delta=0.1)]
    )
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(True))
    ```
    """

    def __init__(self, *args, regularizers=None, max_consecutive_skips=1,
                 **kwargs):
        args, kwargs = keras_compat.single_input(args, kwargs)
        source = None
        if regularizers is None:
            source = keras_compat.clone_source(type(self), args, kwargs)
            regularizers = [] if source is None else [
                type(r).from_config(r.get_config())
                for r in source.regularizers]
            if source is not None:
                max_consecutive_skips = source.max_consecutive_skips
        max_consecutive_skips = arguments.check_integer(
            "max_consecutive_skips", max_consecutive_skips, minimum=1,
            what=" (1: stop at the first non-finite step)")
        super().__init__(*args, **kwargs)
        if isinstance(regularizers, ModelRegularizer):
            regularizers = [regularizers]
        if not isinstance(regularizers, (list, tuple)):
            raise ValueError(
                "`regularizers` must be a list of keras_adrop.regularizers"
                ".ModelRegularizer objects. Received: "
                f"{arguments.describe('regularizers', regularizers)}"
            )
        regularizers = [
            keras.saving.deserialize_keras_object(r) if isinstance(r, dict)
            else r
            for r in regularizers
        ]
        for regularizer in regularizers:
            if not isinstance(regularizer, ModelRegularizer):
                raise ValueError(
                    "`regularizers` must be a list of keras_adrop.regularizers"
                    ".ModelRegularizer objects. Received an element "
                    f"{regularizer!r} (of type {type(regularizer).__name__})"
                )
        names = [r.name for r in regularizers]
        if len(set(names)) != len(names):
            raise ValueError(
                f"Each regularizer needs its own `name`. Received: {names}"
            )
        if regularizers and not self.layers:
            raise ValueError(
                "RegularizedModel must be built from `inputs, outputs` "
                "(functional API) so that it can find its layers."
            )
        for regularizer in regularizers:
            regularizer.build(self)
        _check_base_masks_agree(regularizers)
        self.regularizers = regularizers
        # The regularizers' random draws are part of the model's state:
        # listed among its variables (distributed with it, carried by the
        # JAX trainer; excluded from the rewound state, rule 9) and saved
        # in `.keras` and weights files, so that training continued from a
        # save (BackupAndRestore) draws what it would have drawn.
        self.regularizer_random_state = RegularizerRandomState(
            [r.seed_generator for r in regularizers])
        self.supervised_loss_tracker = keras.metrics.Mean(
            name="supervised_loss"
        )
        self.regularizer_trackers = [
            [keras.metrics.Mean(name=name) for name in r.metric_names()]
            for r in regularizers
        ]
        self.max_consecutive_skips = max_consecutive_skips
        self.nonfinite_stop = None
        self.skipped_steps_tracker = nonfinite.SkippedSteps(
            len(nonfinite.term_names(self)))

    @property
    def regularizer_seed_generators(self):
        """The `keras.random.SeedGenerator` of each regularizer, in order."""
        return self.regularizer_random_state.seed_generators

    def _training_only_trackers(self):
        return [self.supervised_loss_tracker] + [
            t for trackers in self.regularizer_trackers for t in trackers
        ] + [self.skipped_steps_tracker]

    def _evaluation_logs(self, logs):
        """`logs` of a test step without the training-only metrics."""
        for tracker in self._training_only_trackers():
            logs.pop(tracker.name, None)
        return logs

    def get_metrics_result(self):
        # Evaluation does not compute penalties: leave out the training-only
        # metrics when no training step was counted (no "val_*_penalty: 0.0"
        # in logs). Skipped steps are left out of every other metric, so
        # that the logs are means over the applied steps; when every step
        # so far was skipped there is no such mean: the logs are NaN (not
        # the 0.0 of an empty `Mean`), which Keras' callbacks
        # (`ModelCheckpoint(save_best_only=True)`, `EarlyStopping`) never
        # take for an improvement.
        result = super().get_metrics_result()
        skipped = self.skipped_steps_tracker
        if not self._metric_seen(skipped):
            for tracker in self._training_only_trackers():
                result.pop(tracker.name, None)
            return result
        none_applied = keras.ops.logical_and(
            skipped.count.value > 0.0,
            skipped.skipped.value >= skipped.count.value)
        for name, value in result.items():
            if name != skipped.name:
                result[name] = _nan_where(none_applied, value)
        return result

    def fit(self, *args, **kwargs):
        """`keras.Model.fit`, with a progress bar that shows `loss` first
        and `skipped_steps` only once a step was skipped.

        Only the display changes (`keras_adrop.training.progress`): the
        logs callbacks and `History` receive keep every key, sorted by
        Keras. Pass `verbose=0` or your own `keras.callbacks.ProgbarLogger`
        to keep Keras' own display.
        """
        args, kwargs = progress.with_progress_bar(keras.Model.fit, args,
                                                  kwargs)
        return super().fit(*args, **kwargs)

    def get_config(self):
        config = super().get_config()
        config["regularizers"] = [
            keras.saving.serialize_keras_object(r) for r in self.regularizers
        ]
        config["max_consecutive_skips"] = self.max_consecutive_skips
        return config

    def save(self, filepath, *args, **kwargs):
        """`keras.Model.save`; the legacy `.h5` format is refused.

        Raises:
            ValueError: for a `.h5`/`.hdf5` path: that format cannot store
                the regularizers, and the file would not load. Use `.keras`.
        """
        if str(filepath).lower().endswith((".h5", ".hdf5")):
            raise ValueError(
                f"{type(self).__name__} cannot be saved in the legacy HDF5 "
                "format (it does not store the regularizers, and the file "
                "would not load back). Save to a `.keras` file instead, "
                "e.g. model.save('model.keras'); `save_weights("
                "'x.weights.h5')` saves the weights alone. Received: "
                f"filepath={str(filepath)!r}"
            )
        return super().save(filepath, *args, **kwargs)


class RegularizerRandomState(keras.layers.Layer):
    """The regularizers' random state, saved with the model.

    Keras saves no `SeedGenerator` state of its own (a `.keras` file or a
    `save_weights` file has the weights and the optimizer, not the random
    draws): a model reloaded or restored by `BackupAndRestore` would draw
    the regularizers' masks again from their first draw, and continued
    training would differ from uninterrupted training. This layer holds the
    regularizers' generators (a model attribute, not part of the network)
    and saves their states under `regularizer_random_state` in the file; a
    file without them (saved before) loads, the draws then start afresh.

    Args:
        seed_generators: The regularizers' `keras.random.SeedGenerator`s.
        **kwargs: `keras.layers.Layer` arguments.
    """

    def __init__(self, seed_generators, **kwargs):
        super().__init__(**kwargs)
        self.seed_generators = list(seed_generators)
        self.built = True

    def save_own_variables(self, store):
        for i, generator in enumerate(self.seed_generators):
            store[f"{i}"] = generator.state

    def load_own_variables(self, store):
        saved = set(store.keys())
        if not saved:
            return  # a file saved before the random state was saved
        if saved != {f"{i}" for i in range(len(self.seed_generators))}:
            raise ValueError(
                f"The file holds the random state of {len(saved)} "
                f"regularizer(s); this model has "
                f"{len(self.seed_generators)}."
            )
        for i, generator in enumerate(self.seed_generators):
            generator.state.assign(store[f"{i}"])


def _nan_where(condition, value):
    """`value`, or NaN where `condition` holds (floating values only)."""
    value = keras.ops.convert_to_tensor(value)
    if "float" not in keras.backend.standardize_dtype(value.dtype):
        return value
    return keras.ops.where(condition, keras.ops.cast(float("nan"),
                                                     value.dtype), value)


def _check_base_masks_agree(regularizers):
    """Two regularizers may share a layer's base mask (on `h_{t-1}` or on
    its recurrent kernel) only if both run it in full."""
    claimed = {}
    for regularizer in regularizers:
        for layer, kind in regularizer.base_mask_kinds().items():
            if layer in claimed and "random" in (kind, claimed[layer][1]):
                raise ValueError(
                    f"Regularizers '{claimed[layer][0]}' and "
                    f"'{regularizer.name}' both set the base mask of layer "
                    f"'{layer.name}' and at least one draws it at random; "
                    "give each its own layers with their `layers` argument."
                )
            claimed[layer] = (regularizer.name, kind)
    kernels = {}
    for regularizer in regularizers:
        for layer, mask in regularizer.base_kernel_masks().items():
            if layer in kernels and (mask is not None
                                     or kernels[layer][1] is not None):
                raise ValueError(
                    f"Regularizers '{kernels[layer][0]}' and "
                    f"'{regularizer.name}' both set the recurrent-kernel "
                    f"mask of layer '{layer.name}' in the base pass; give "
                    "each its own layers with their `layers` argument."
                )
            kernels[layer] = (regularizer.name, mask)


@keras.saving.register_keras_serializable(package="keras_adrop")
class AdversarialDropoutModel(RegularizedModel):
    """A functional model trained with adversarial dropout on its RNN layers.

    Shorthand for `RegularizedModel(inputs, outputs,
    regularizers=[AdversarialDropout(...)])`: it takes the arguments of
    `keras_adrop.regularizers.AdversarialDropout` by the same names, except
    `layers`, which is `adversarial_layers` here (a functional model's
    config already has a `layers` entry) and `name`, which names the model.

    Args:
        *args: `inputs, outputs`, as for `keras.Model`.
        adversarial_layers: Names of the adversarial layers (default: all
            keras_adrop recurrent layers); `AdversarialDropout`'s `layers`.
        **kwargs: The arguments of `AdversarialDropout`: `delta` (default
            0.03), `iterations` (K, default 1), `penalty_weight` (lambda,
            default 1.0), `rampup_steps`, `divergence` (default: read from
            the compiled loss), `base_mask`, `stop_target_gradient`,
            `from_logits` and `seed`; then `max_consecutive_skips` (see
            `RegularizedModel`) and the other `keras.Model` arguments, e.g.
            `name`.

    Example:

    ```python
    inputs = keras.Input((64, 1))
    h = keras_adrop.layers.LSTM(32)(inputs)
    outputs = keras.layers.Dense(10)(h)
    model = keras_adrop.AdversarialDropoutModel(
        inputs, outputs, delta=0.1, iterations=2
    )
    model.compile(
        "adam",
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    history = model.fit(x, y, epochs=3)
    history.history["adversarial_dropout_penalty"]
    ```
    """

    def __init__(self, *args, adversarial_layers=None, **kwargs):
        if "regularizers" in kwargs:
            raise ValueError(
                "AdversarialDropoutModel builds its own regularizer from "
                "`delta`, `iterations`, ...; to combine several, use "
                "keras_adrop.RegularizedModel(inputs, outputs, "
                "regularizers=[...])."
            )
        options = {name: kwargs.pop(name)
                   for name in _ADVERSARIAL_DROPOUT_ARGUMENTS
                   if name in kwargs}
        unknown = sorted(set(kwargs) - _MODEL_ARGUMENTS)
        if unknown:
            # Keras' functional models ignore unknown keywords; a misspelt
            # option must not silently train with its default.
            raise TypeError(
                f"AdversarialDropoutModel got unexpected keyword arguments "
                f"{unknown}. It takes `inputs, outputs`, "
                f"`adversarial_layers`, the arguments of AdversarialDropout "
                f"({', '.join(_ADVERSARIAL_DROPOUT_ARGUMENTS)}), "
                f"`max_consecutive_skips` and {sorted(_KERAS_ARGUMENTS)}.")
        source = keras_compat.clone_source(type(self), args, kwargs)
        if source is not None:  # keras.models.clone_model: same settings
            options = _adversarial_dropout_options(source.adversarial_dropout)
            adversarial_layers = source.adversarial_dropout.layer_names
            kwargs["max_consecutive_skips"] = source.max_consecutive_skips
        regularizer = AdversarialDropout(
            layers=arguments.check_names("adversarial_layers",
                                         adversarial_layers),
            **options)
        regularizer.layers_argument = "adversarial_layers"  # in its errors
        super().__init__(*args, regularizers=[regularizer], **kwargs)

    @classmethod
    def from_regularizer(cls, inputs, outputs, regularizer, **kwargs):
        """The model that trains with `regularizer`, an unbuilt
        `AdversarialDropout` (which the model takes as its own).

        Example:

        ```python
        regularizer = keras_adrop.regularizers.AdversarialDropout(delta=0.1)
        model = keras_adrop.AdversarialDropoutModel.from_regularizer(
            inputs, outputs, regularizer)
        ```
        """
        if type(regularizer) is not AdversarialDropout:
            raise ValueError(
                "`regularizer` must be a keras_adrop.regularizers."
                "AdversarialDropout. Received: "
                f"{arguments.describe('regularizer', regularizer)}")
        return cls(inputs, outputs,
                   adversarial_layers=regularizer.layer_names,
                   **_adversarial_dropout_options(regularizer), **kwargs)

    @property
    def adversarial_dropout(self):
        """The `AdversarialDropout` regularizer this model trains with."""
        return self.regularizers[0]

    def adversarial_masks(self, x, sample_weight=None):
        """The adversarial masks a training step would find for inputs `x`.

        Runs the base pass and the greedy search (eagerly), then rewinds the
        model's state: no weight, random-draw state or carried state of the
        model changes (the search's own start flips are fresh draws on each
        call). Useful to inspect which units the search drops.

        Args:
            x: A batch of inputs, as passed to the model.
            sample_weight: Optional weights of the examples (rule 6).

        Returns:
            dict layer name -> `(batch, units)` float32 tensor of {0, 1}.
        """
        x = keras.tree.map_structure(keras.ops.convert_to_tensor, x)
        batch = loss_lib.base_pass(self, x, gradient_function(self),
                                   sample_weight=sample_weight)
        found = self.adversarial_dropout.adversarial_masks(batch)
        batch.state.rewind()
        return {layer.name: mask for layer, mask in found.items()}

    def get_config(self):
        config = super().get_config()
        del config["regularizers"]
        config["adversarial_layers"] = self.adversarial_dropout.layer_names
        config.update(_adversarial_dropout_options(self.adversarial_dropout))
        return config


# The arguments an `AdversarialDropoutModel` passes on to its regularizer
# under their own names.
_ADVERSARIAL_DROPOUT_ARGUMENTS = tuple(
    name for name in inspect.signature(AdversarialDropout).parameters
    if name not in ("layers", "name"))


# What the model passes on to `keras.Model` (and `RegularizedModel`).
_KERAS_ARGUMENTS = {"inputs", "outputs", "name", "trainable", "dtype"}
_MODEL_ARGUMENTS = _KERAS_ARGUMENTS | {"max_consecutive_skips"}


def _adversarial_dropout_options(regularizer):
    """The settings of `regularizer` an `AdversarialDropoutModel` takes."""
    config = regularizer.get_config()
    return {name: config[name] for name in _ADVERSARIAL_DROPOUT_ARGUMENTS}
