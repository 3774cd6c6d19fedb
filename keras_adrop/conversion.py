"""Turn an existing Keras model's recurrent layers into keras_adrop's.

`convert_model` rebuilds a functional or Sequential model with
`keras.models.clone_model`, replacing every `keras.layers.LSTM`, `GRU` and
`SimpleRNN` (also inside nested models, `Bidirectional` and
`TimeDistributed`) by the keras_adrop layer of the same name, built from the
same configuration, and copying every weight across, so that the converted
model computes the same outputs. It is then ready for
`keras_adrop.AdversarialDropoutModel(converted.inputs, converted.outputs)`.
"""

import keras

from keras_adrop import layers as adrop_layers

# Keras' recurrent layers and their keras_adrop drop-ins.
REPLACEMENTS = {
    keras.layers.LSTM: adrop_layers.LSTM,
    keras.layers.GRU: adrop_layers.GRU,
    keras.layers.SimpleRNN: adrop_layers.SimpleRNN,
}


def converted_layer(layer):
    """The keras_adrop equivalent of one Keras recurrent layer (unbuilt).

    Args:
        layer: A `keras.layers.LSTM`, `GRU` or `SimpleRNN`.

    Returns:
        A new `keras_adrop.layers.LSTM`, `GRU` or `SimpleRNN` with the same
        configuration (and name), without weights yet.

    Raises:
        ValueError: naming the layer and the option that cannot be carried
            over (`use_cudnn=True`, which forbids the masked calls dropout
            needs; a subclass of a Keras recurrent layer, whose own code
            would be lost).
    """
    cls = REPLACEMENTS.get(type(layer))
    if cls is None:
        raise ValueError(
            f"Cannot convert layer '{layer.name}': it is a "
            f"{type(layer).__name__}, a subclass of a Keras recurrent layer "
            "whose own behaviour keras_adrop cannot carry over. Build it "
            "from keras_adrop.layers instead."
        )
    if getattr(layer, "use_cudnn", "auto") is True:
        raise ValueError(
            f"Cannot convert layer '{layer.name}' with use_cudnn=True: the "
            "fused (cuDNN) kernel cannot apply a recurrent mask, so every "
            "training step of adversarial or variational dropout would "
            "refuse it. Set use_cudnn='auto' (the default: the fused kernel "
            "whenever no mask is set) or False on the Keras layer first."
        )
    try:
        return cls.from_config(layer.get_config())
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"Cannot convert layer '{layer.name}' "
            f"({type(layer).__name__}) to keras_adrop.layers."
            f"{cls.__name__}: {error}"
        ) from error


def equivalent_layer(layer):
    """A new layer computing what `layer` computes, its RNNs converted.

    Keras' recurrent layers become keras_adrop's (`converted_layer`);
    `Bidirectional` and `TimeDistributed` wrap converted layers; nested
    models are cloned with their layers converted; any other layer is
    rebuilt from its config. The new layer has no weights of its own yet
    (nested models: fresh ones): `convert_model` copies them.
    """
    if isinstance(layer, keras.Model):
        return keras.models.clone_model(
            layer, clone_function=equivalent_layer, recursive=True)
    if (isinstance(layer, tuple(REPLACEMENTS))
            and not isinstance(layer, adrop_layers.VariationalRNN)):
        return converted_layer(layer)
    config = layer.get_config()
    # A wrapper rebuilds its inner layers from their configs: convert those.
    if isinstance(layer, keras.layers.Bidirectional):
        config["layer"] = _serialized_equivalent(layer.forward_layer)
        config["backward_layer"] = _serialized_equivalent(
            layer.backward_layer)
    elif isinstance(layer, keras.layers.TimeDistributed):
        config["layer"] = _serialized_equivalent(layer.layer)
    return layer.__class__.from_config(config)


def _serialized_equivalent(layer):
    return keras.saving.serialize_keras_object(equivalent_layer(layer))


def convert_model(model):
    """A copy of `model` with keras_adrop recurrent layers, same weights.

    Every `keras.layers.LSTM`, `GRU` and `SimpleRNN` becomes the
    keras_adrop layer of the same name and configuration (`dropout`,
    `recurrent_dropout`, `return_sequences`, `stateful`, ... carry over;
    `recurrent_dropout` then draws one mask per sequence for all gates,
    docs/algorithm.md rule 1, where Keras draws one per gate); nested models,
    `Bidirectional` and `TimeDistributed` are converted inside. Every other
    layer is cloned from its config. All weights are copied, so the
    converted model gives the same outputs; the original model is not
    changed and shares nothing with the copy. The copy is not compiled.

    Args:
        model: A built functional or Sequential `keras.Model` (subclassed
            models cannot be rebuilt from their config).

    Returns:
        The converted `keras.Model`, same inputs and outputs.

    Raises:
        ValueError: if `model` is not a built functional or Sequential
            model, or a recurrent layer has an option keras_adrop cannot
            carry over (see `converted_layer`).

    Example:

    ```python
    base = keras.Sequential([
        keras.Input((20, 3)),
        keras.layers.Bidirectional(keras.layers.LSTM(32)),
        keras.layers.Dense(1),
    ])
    converted = keras_adrop.convert_model(base)
    model = keras_adrop.AdversarialDropoutModel(
        converted.inputs, converted.outputs, delta=0.1)
    ```
    """
    if not isinstance(model, (keras.Sequential, keras.Model)) or not (
            model.built and hasattr(model, "inputs") and model.inputs):
        raise ValueError(
            "`model` must be a built functional or Sequential keras.Model "
            "(a Sequential model needs an Input or one call first). "
            f"Received: {model!r}"
        )
    copies = []  # (original, copy) of every layer, weights copied at the end

    def clone_function(layer):
        new = equivalent_layer(layer)
        copies.append((layer, new))
        return new

    converted = keras.models.clone_model(
        model, clone_function=clone_function, recursive=True)
    for original, new in copies:
        new.set_weights(original.get_weights())
    return converted
