"""Helpers the analysis tools share: layers, batching, accuracy, arguments."""

import numbers

import keras
import numpy as np

from keras_adrop.regularizers.base import masked_rnn_layers
from keras_adrop.regularizers.base import select_layers


def recurrent_layers(model, layers=None):
    """The keras_adrop recurrent layers of `model` named in `layers` (or all).

    Raises a ValueError when the model has none or a name is unknown.
    """
    if not isinstance(model, keras.Model):
        raise ValueError(
            "`model` must be a keras.Model containing keras_adrop recurrent "
            f"layers. Received: {type(model).__name__}"
        )
    available = masked_rnn_layers(model)
    if not available:
        raise ValueError(
            f"Model '{model.name}' has no keras_adrop recurrent layer "
            "(keras_adrop.layers.LSTM, GRU or SimpleRNN); the analysis of "
            "recurrent masks needs one."
        )
    names = None if layers is None else [getattr(l, "name", l) for l in layers]
    return select_layers(available, names, "keras_adrop recurrent")


def check_int(name, value, minimum=1):
    """`value` as an int >= `minimum`; a ValueError naming `name` otherwise."""
    if (not isinstance(value, numbers.Integral) or isinstance(value, bool)
            or value < minimum):
        raise ValueError(
            f"`{name}` must be an integer >= {minimum}. Received: "
            f"{name}={value!r}"
        )
    return int(value)


def check_rate(name, value):
    """`value` as a float in [0, 1); a ValueError naming `name` otherwise."""
    if (not isinstance(value, numbers.Real) or isinstance(value, bool)
            or not 0.0 <= value < 1.0):
        raise ValueError(
            f"`{name}` must be a number in [0, 1). Received: {name}={value!r}"
        )
    return float(value)


def num_examples(x):
    """Number of examples of an array or a nested structure of arrays."""
    first = keras.tree.flatten(x)[0]
    return int(np.shape(first)[0])


def batch_slices(count, batch_size):
    """`slice` objects covering `range(count)` in chunks of `batch_size`."""
    return [slice(start, min(start + batch_size, count))
            for start in range(0, count, batch_size)]


def take(x, index):
    """`x[index]` for an array or every array of a nested structure."""
    return keras.tree.map_structure(lambda a: np.asarray(a)[index], x)


def predicted_labels(outputs, from_logits=None):
    """Class predictions from model outputs, as numpy.

    A last axis wider than 1 is a categorical output: the argmax. A last
    axis of 1 (or a 1-D output) is one Bernoulli unit: positive when the
    logit is > 0 (`from_logits=True`) or the probability > 0.5
    (`from_logits=False`); there `from_logits` must be given.
    """
    outputs = np.asarray(outputs)
    if outputs.ndim >= 2 and outputs.shape[-1] > 1:
        return np.argmax(outputs, axis=-1)
    if from_logits is None:
        raise ValueError(
            "The model has one output unit (a binary classifier): pass "
            "`from_logits=True` (outputs are logits, threshold 0) or "
            "`from_logits=False` (probabilities, threshold 0.5)."
        )
    if outputs.ndim >= 2:
        outputs = outputs[..., 0]
    threshold = 0.0 if from_logits else 0.5
    return (outputs > threshold).astype("int64")


def accuracy(outputs, labels, from_logits=None):
    """Fraction of correct predictions; `labels` integer or one-hot.

    Example:

    >>> accuracy(np.array([[2.0, 1.0], [0.0, 3.0]]), np.array([0, 0]))
    0.5
    """
    predicted = predicted_labels(outputs, from_logits)
    labels = np.asarray(labels)
    if labels.ndim == predicted.ndim + 1:  # one-hot
        labels = np.argmax(labels, axis=-1)
    labels = labels.reshape(predicted.shape)
    return float(np.mean(predicted == labels))


def to_probabilities(outputs, from_logits):
    """Softmax (or sigmoid for one unit) of logits; probabilities unchanged."""
    outputs = np.asarray(outputs, dtype="float64")
    if not from_logits:
        return outputs
    if outputs.ndim >= 2 and outputs.shape[-1] > 1:
        shifted = outputs - outputs.max(axis=-1, keepdims=True)
        exp = np.exp(shifted)
        return exp / exp.sum(axis=-1, keepdims=True)
    return 1.0 / (1.0 + np.exp(-outputs))


def progress_bar(total, verbose):
    """A `keras.utils.Progbar` that prints only when `verbose` is true."""
    return keras.utils.Progbar(total, verbose=1 if verbose else 0)


def compiled(model, fn, *example_args, state=()):
    """`fn(*args)` compiled for `model`'s backend, once for any batch size.

    `fn` calls `model` (and may assign its variables, such as a stateful
    layer's carried state); the compiled function takes and returns numpy
    arrays (or nested structures of them). On TensorFlow it is a
    `tf.function` traced once with the batch dimension left open; on JAX a
    `jax.jit` of `fn` inside a `keras.StatelessScope` that receives the
    model's current variable values at every call (so later weight changes
    are seen, and the values of `state`) and writes back what `fn`
    assigned; elsewhere `fn` runs
    eagerly.

    Args:
        model: The `keras.Model` that `fn` runs.
        fn: The function to compile.
        *example_args: One example of each positional argument (numpy
            arrays or nested structures of them, examples first; scalars
            allowed), which fixes every dimension but the first.
        state: Other variables `fn` reads or assigns (a seed generator's
            `state` outside the model), threaded through every call as the
            model's are.

    Example:

    ```python
    run = compiled(model, lambda x: model(x, training=False), x[:1])
    outputs = run(x[:32])   # numpy in, numpy out
    ```
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        def spec(a):
            a = np.asarray(a)
            shape = (None,) + a.shape[1:] if a.ndim else ()
            return tf.TensorSpec(shape, tf.as_dtype(a.dtype))

        traced = tf.function(fn, input_signature=[
            keras.tree.map_structure(spec, a) for a in example_args])

        def call(*args):
            return _to_numpy(traced(*args))

        return call
    if backend == "jax":
        import jax

        variables = _unique(list(model.variables) + list(state))

        def pure(values, args):
            with keras.StatelessScope(list(zip(variables, values))) as scope:
                outputs = fn(*args)
            return outputs, [scope.get_current_value(v) for v in variables]

        jitted = jax.jit(pure)

        def call(*args):
            outputs, assigned = jitted([v.value for v in variables], args)
            for variable, value in zip(variables, assigned):
                if value is not None:
                    variable.assign(value)
            return _to_numpy(outputs)

        return call

    def call(*args):
        return _to_numpy(fn(*keras.tree.map_structure(
            keras.ops.convert_to_tensor, args)))

    return call


def _unique(variables):
    seen, unique = set(), []
    for variable in variables:
        if id(variable) not in seen:
            seen.add(id(variable))
            unique.append(variable)
    return unique


def _to_numpy(outputs):
    return keras.tree.map_structure(
        lambda t: np.asarray(keras.ops.convert_to_numpy(t)), outputs)
