"""Keras models whose training step adds dropout-based penalties.

`RegularizedModel` takes a list of regularizers; `AdversarialDropoutModel` is
its short form for the common case of one `AdversarialDropout`. Both are
functional models (`Model(inputs, outputs, ...)`): `compile`, `fit`,
callbacks, `evaluate`, `predict`, `save` and `export` work as for any Keras
model; only `train_step` changes (ALGORITHM.md section 4):

1. base pass with each layer's base mask -> supervised loss (`compute_loss`)
   and the target of every penalty (rule 7);
2. each regularizer computes its penalty on that batch (for adversarial
   dropout: K influence-map passes on the masks only, then one adversarial
   pass);
3. loss = supervised + sum of weight * penalty; one gradient for the weights.

Inference (`predict`, `evaluate`, `export`) runs the plain network.
"""

import keras
import tensorflow as tf

from keras_adrop import divergences
from keras_adrop.layers.recurrent import recurrent_masks
from keras_adrop.regularizers import AdversarialDropout
from keras_adrop.regularizers import ModelState
from keras_adrop.regularizers import Regularizer
from keras_adrop.regularizers import TrainingBatch
from keras_adrop.regularizers import all_layers
from keras_adrop.regularizers import carried_states
from keras_adrop.regularizers import scale_for_replicas

_UNLABELED_KEYS = {"labeled", "unlabeled"}


def _split_unlabeled(data):
    """`{"labeled": (x, y[, w]), "unlabeled": x_u}` -> the two parts."""
    if isinstance(data, dict) and set(data) == _UNLABELED_KEYS:
        return data["labeled"], data["unlabeled"]
    return data, None


def _batch_size(x):
    first = next(t for t in tf.nest.flatten(x) if t is not None)
    return tf.shape(first)[0]


@keras.saving.register_keras_serializable(package="keras_adrop")
class RegularizedModel(keras.Model):
    """A functional Keras model trained with extra penalties.

    To copy a model, use `type(model).from_config(model.get_config())`
    (`keras.models.clone_model` does not know the extra arguments).

    Args:
        *args: `inputs, outputs` as for `keras.Model`. To wrap an existing
            model `base`, pass `base.inputs, base.outputs` (functional or
            built Sequential) or `x = keras.Input(...); (x, base(x))`.
        regularizers: List of `keras_adrop.regularizers.Regularizer`
            objects; each logs its penalty as `<name>_penalty`. An empty
            list trains like `keras.Model`.
        **kwargs: `name` and the other arguments of `keras.Model`.

    Training data is what `fit` usually takes, or, for semi-supervised
    training, a `tf.data.Dataset` whose elements are
    `{"labeled": (x, y) or (x, y, sample_weight), "unlabeled": x_u}`: the
    unlabeled inputs contribute only to the penalties.

    Logs `loss` (the total that is optimized), `supervised_loss`, each
    regularizer's penalty (unweighted) and its own metrics, plus the
    compiled metrics.

    A training step whose supervised loss or penalty is NaN or infinite
    raises `tf.errors.InvalidArgumentError` naming each term and its value,
    before the update: the model keeps the weights of the last finite step.
    Under XLA (`jit_compile=True`) the check compiles to nothing; see
    docs/distributed.md.

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

    def __init__(self, *args, regularizers=(), **kwargs):
        super().__init__(*args, **kwargs)
        if isinstance(regularizers, Regularizer):
            regularizers = [regularizers]
        regularizers = [
            keras.saving.deserialize_keras_object(r) if isinstance(r, dict)
            else r
            for r in regularizers
        ]
        for regularizer in regularizers:
            if not isinstance(regularizer, Regularizer):
                raise ValueError(
                    "`regularizers` must be a list of keras_adrop.regularizers"
                    f".Regularizer objects. Received: {regularizer!r}"
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
        # Tracked here so that the draws are saved and distributed with the
        # model; excluded from the rewound state (rule 9).
        self.regularizer_seed_generators = [
            r.seed_generator for r in regularizers
        ]
        self.supervised_loss_tracker = keras.metrics.Mean(
            name="supervised_loss"
        )
        self.regularizer_trackers = [
            [keras.metrics.Mean(name=name) for name in r.metric_names()]
            for r in regularizers
        ]

    def _training_only_trackers(self):
        return [self.supervised_loss_tracker] + [
            t for trackers in self.regularizer_trackers for t in trackers
        ]

    def _model_state(self):
        """Saves what a forward pass changes besides weights (rule 9).

        Random-draw states, the non-trainable weights of trainable layers
        (BatchNorm statistics) and stateful RNNs' carried states; not the
        weights of frozen layers, which no pass changes.
        """
        own = {id(g.state) for g in self.regularizer_seed_generators}
        layers = all_layers(self)
        frozen = {id(v) for layer in layers if not layer.trainable
                  for v in layer.weights}
        candidates = [
            v for v in self.variables if v.name == "seed_generator_state"
        ] + [
            v for layer in layers if layer.trainable
            for v in layer.non_trainable_weights if id(v) not in frozen
        ] + carried_states(self)
        variables, seen = [], set(own)
        for variable in candidates:
            if id(variable) not in seen:
                seen.add(id(variable))
                variables.append(variable)
        return ModelState(variables)

    def _base_masks(self, batch_size):
        # `_check_base_masks_agree` refuses conflicts when the model is
        # built, from what each regularizer declares; this guards a custom
        # regularizer whose `base_masks` sets more than it declares.
        masks = {}
        for regularizer in self.regularizers:
            for layer, mask in regularizer.base_masks(batch_size).items():
                if layer in masks and (masks[layer] is not None
                                       or mask is not None):
                    raise ValueError(
                        f"Two regularizers set the base mask of layer "
                        f"'{layer.name}'; they cannot be combined."
                    )
                masks[layer] = mask
        return masks

    def _base_pass(self, x, tape):
        """Runs eps0 on `x`; returns (outputs, TrainingBatch factory)."""
        state = self._model_state()
        base_masks = self._base_masks(_batch_size(x))
        with recurrent_masks(base_masks):
            outputs = self(x, training=True)
        state.base_pass_done()

        def make_batch(y=None, sample_weight=None):
            if tf.nest.is_nested(outputs):
                raise ValueError(
                    "RegularizedModel supports models with a single output "
                    "tensor; this model returns a nested structure."
                )
            weights = divergences.step_weights(
                outputs, sample_weight, getattr(outputs, "_keras_mask", None)
            )
            return TrainingBatch(self, x, outputs, weights, base_masks,
                                 state, tape, y, sample_weight)

        return outputs, make_batch

    def train_step(self, data):
        labeled, unlabeled = _split_unlabeled(data)
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(labeled)
        with tf.GradientTape() as tape:
            y_pred, make_batch = self._base_pass(x, tape)
            supervised = self.compute_loss(
                x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
                training=True,
            )
            batches = [make_batch(y, sample_weight)]
            if unlabeled is not None:
                batches.append(self._base_pass(unlabeled, tape)[1]())
            penalties = []
            step = self.optimizer.iterations
            for regularizer, trackers in zip(
                self.regularizers, self.regularizer_trackers
            ):
                penalty, logs = _mean_over_batches(regularizer, batches)
                weight = regularizer.current_weight(step)
                penalties.append(weight * scale_for_replicas(penalty))
                for tracker in trackers:
                    tracker.update_state(logs[tracker.name])
            # Only the base pass advances random draws and carried states.
            batches[-1].state.keep_base_pass()
            # The base pass's loss, averaged with any pass a regularizer
            # trains on too (fraternal dropout).
            extra = batches[0].supervised_losses
            if extra:
                supervised = tf.add_n([supervised] + extra) / (1 + len(extra))
            total = supervised
            for penalty in penalties:
                total = total + tf.cast(penalty, total.dtype)
            scaled = self.optimizer.scale_loss(total)
        batch_size = _batch_size(x)
        self._loss_tracker.update_state(
            total * self.distribute_strategy.num_replicas_in_sync,
            sample_weight=batch_size,
        )
        self.supervised_loss_tracker.update_state(
            supervised * self.distribute_strategy.num_replicas_in_sync,
            sample_weight=batch_size,
        )
        terms = [("supervised_loss", supervised)] + [
            (regularizer.metric_names()[0], penalty)
            for regularizer, penalty in zip(self.regularizers, penalties)
        ]
        gradients = tape.gradient(scaled, self.trainable_weights)
        # The update reads gradients that wait for the check: a non-finite
        # step raises and leaves the weights of the last finite step. (Only
        # the gradients sit under the control dependency: optimizer
        # variables created by a first `apply` must not depend on the data,
        # or a jit-compiled step cannot lift their initializers.)
        check = _assert_finite(terms, step)
        with tf.control_dependencies([check]):
            gradients = [None if g is None else tf.identity(g)
                         for g in gradients]
        self.optimizer.apply(gradients, self.trainable_weights)
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def test_step(self, data):
        labeled, _ = _split_unlabeled(data)
        logs = super().test_step(labeled)
        for tracker in self._training_only_trackers():
            logs.pop(tracker.name, None)
        return logs

    def get_metrics_result(self):
        # Evaluation does not compute penalties: leave out the training-only
        # metrics when they saw no update (no "val_*_penalty: 0.0" in logs).
        result = super().get_metrics_result()
        if tf.executing_eagerly():
            for tracker in self._training_only_trackers():
                if float(tracker.count.numpy()) == 0.0:
                    result.pop(tracker.name, None)
        return result

    def get_config(self):
        config = super().get_config()
        config["regularizers"] = [
            keras.saving.serialize_keras_object(r) for r in self.regularizers
        ]
        return config


def _check_base_masks_agree(regularizers):
    """Two regularizers may share a layer only if both run it in full."""
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


def _assert_finite(terms, step):
    """Raises `tf.errors.InvalidArgumentError` when a loss term is not finite.

    The message gives the optimizer step and every term's name and value,
    so the non-finite one (NaN or inf) is named.

    Args:
        terms: `(name, scalar)` pairs whose sum is the training loss.
        step: The optimizer step, for the message.

    Returns:
        The check (an op in a graph; in eager mode it has already run).
    """
    values = [tf.cast(value, "float32") for _, value in terms]
    data = ["Non-finite training loss: stopped before the update of "
            "optimizer step", step, "- loss terms:"]
    for (name, _), value in zip(terms, values):
        data += [f"{name} =", value]
    data.append("The model keeps the weights of the last finite step. Look "
                "for NaN/inf in the inputs or labels, or lower the learning "
                "rate.")
    return tf.debugging.Assert(
        tf.reduce_all(tf.math.is_finite(tf.stack(values))), data)


def _mean_over_batches(regularizer, batches):
    """A regularizer's penalty and logs, averaged over labeled + unlabeled.

    A regularizer returns a penalty of None for a batch it does not apply to
    (a supervised penalty on unlabeled inputs); that batch is left out.
    """
    results, sizes = [], []
    for batch in batches:
        penalty, logs = regularizer.penalty(batch)
        if penalty is not None:
            results.append((penalty, logs))
            sizes.append(tf.cast(batch.batch_size, "float32"))
    if len(results) == 1:
        return results[0]
    total = tf.add_n(sizes)
    penalty = tf.add_n([p * n for (p, _), n in zip(results, sizes)]) / total
    logs = {
        key: tf.add_n([logs[key] * n for (_, logs), n in zip(results, sizes)])
        / total
        for key in results[0][1]
    }
    return penalty, logs


@keras.saving.register_keras_serializable(package="keras_adrop")
class AdversarialDropoutModel(RegularizedModel):
    """A functional model trained with adversarial dropout on its RNN layers.

    Shorthand for `RegularizedModel(inputs, outputs,
    regularizers=[AdversarialDropout(...)])`; the arguments are those of
    `keras_adrop.regularizers.AdversarialDropout` (with `penalty_weight` and
    `penalty_rampup_steps` for its `weight` and `rampup_steps`).

    Args:
        *args: `inputs, outputs`, as for `keras.Model`.
        delta: Fraction of each adversarial layer's units that may be
            flipped, in (0, 1); `floor(delta * units)` >= 1. Default 0.03.
        iterations: K, influence-map/flip steps. Default 1.
        penalty_weight: lambda. Default 1.0.
        penalty_rampup_steps: Ramp lambda up over this many steps (0: off).
        divergence: "kl" (default), "reverse_kl", "squared_logits",
            "squared_probs".
        base_mask: "expectation" (default) or "random".
        stop_target_gradient: Hold the eps0 outputs constant. Default True.
        adversarial_layers: Names of the adversarial layers (default: all
            keras_adrop recurrent layers).
        from_logits: Whether outputs are logits (default: from the loss).
        seed: Seed of the mask search.
        **kwargs: Other `keras.Model` arguments, e.g. `name`.

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

    def __init__(
        self,
        *args,
        delta=0.03,
        iterations=1,
        penalty_weight=1.0,
        penalty_rampup_steps=0,
        divergence="kl",
        base_mask="expectation",
        stop_target_gradient=True,
        adversarial_layers=None,
        from_logits=None,
        seed=None,
        **kwargs,
    ):
        if "regularizers" in kwargs:
            raise ValueError(
                "AdversarialDropoutModel builds its own regularizer from "
                "`delta`, `iterations`, ...; to combine several, use "
                "keras_adrop.RegularizedModel(inputs, outputs, "
                "regularizers=[...])."
            )
        regularizer = AdversarialDropout(
            delta=delta,
            iterations=iterations,
            weight=penalty_weight,
            rampup_steps=penalty_rampup_steps,
            divergence=divergence,
            base_mask=base_mask,
            stop_target_gradient=stop_target_gradient,
            layers=adversarial_layers,
            from_logits=from_logits,
            seed=seed,
        )
        super().__init__(*args, regularizers=[regularizer], **kwargs)

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
        x = tf.nest.map_structure(tf.convert_to_tensor, x)
        with tf.GradientTape() as tape:
            _, make_batch = self._base_pass(x, tape)
            batch = make_batch(sample_weight=sample_weight)
            found = self.adversarial_dropout.adversarial_masks(batch)
            batch.state.rewind()
        return {layer.name: mask for layer, mask in found.items()}

    def get_config(self):
        config = super().get_config()
        del config["regularizers"]
        reg = self.adversarial_dropout
        config.update(
            delta=reg.delta,
            iterations=reg.iterations,
            penalty_weight=reg.weight,
            penalty_rampup_steps=reg.rampup_steps,
            divergence=reg.divergence,
            base_mask=reg.base_mask,
            stop_target_gradient=reg.stop_target_gradient,
            adversarial_layers=reg.layer_names,
            from_logits=reg.from_logits,
            seed=reg.seed,
        )
        return config
