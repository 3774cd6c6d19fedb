"""Images read as sequences: the paper's sequential-MNIST task, ready to train.

The data (`load_data`: scikit-learn's 8x8 digits, pixel by pixel, or real
MNIST in the paper's variants), the LSTM classifier trained with any method
of Table 1 (`lstm_classifier`) and its compilation (`compile_classifier`,
shared with `keras_adrop.tasks.text_classification.text_classifier`).
`examples/sequential_mnist.py` is the command line around them, and the
`digits` task of `tuning/` searches over the same model.

Example:

```python
(train, _, test) = keras_adrop.tasks.sequence_classification.load_data(
    "digits", train_size=1000, seed=0)
model = keras_adrop.tasks.sequence_classification.lstm_classifier(
    "adversarial_k1", train[0].shape[1:], units=64, delta=0.05,
    decay_steps=80 * 32)
model.fit(*train, epochs=80, batch_size=32)
```
"""

import keras

from keras_adrop import arguments

from keras_adrop import layers
from keras_adrop.tasks import building
from keras_adrop.tasks.methods import get_method

# The methods of `keras_adrop.tasks.methods` this task offers: the Table 1
# rows, which need no embedding.
METHODS = (
    "unregularized",
    "variational",
    "fraternal",
    "expectation_linearization",
    "adversarial_k1",
    "adversarial_k2",
)

# dataset name -> (keras_adrop.datasets.mnist variant, permuted); "digits"
# is scikit-learn's embedded 8x8 digits.
DATASETS = {
    "digits": None,
    "smnist": ("pixel", False),
    "pmnist": ("pixel", True),
    "smnist196": ("downsampled", False),
    "pmnist196": ("downsampled", True),
    "rows": ("row", False),
}


def load_data(dataset="digits", train_size=800, validation_size=200, seed=0):
    """Loads images as sequences of pixels (or rows).

    Three disjoint splits: the model is fitted on `train`, its settings and
    best epoch are chosen on `validation`, and `test` is read once at the
    end.

    Args:
        dataset: `"digits"` (scikit-learn's 1,797 embedded 8x8 images, 64
            steps of one pixel; no download), `"smnist"` / `"pmnist"`
            (MNIST's 784 pixels in scanline / a fixed random order),
            `"smnist196"` / `"pmnist196"` (14x14 averages, 196 steps) or
            `"rows"` (28 steps of a 28-pixel row).
        train_size: Training images, a stratified subset drawn with `seed`
            (MNIST: None for all the training images left after
            `validation_size`).
        validation_size: Images held out for validation (0: none). For the
            digits they come from the 1,797 images beside the training
            images, and the rest is the test set; for MNIST from its 60,000
            training images (the 10,000 test images are the test set).
        seed: Seed of the splits and the permutation.

    Returns:
        `(train, validation, test)`, each an `(x, y)` pair of arrays of
        shape `(examples, steps, features)` and `(examples,)`;
        `validation` is None when `validation_size` is 0 (never the test
        set).

    Example:

    >>> train, validation, test = load_data("digits", 800, 200)
    >>> train[0].shape, validation[0].shape, test[0].shape
    ((800, 64, 1), (200, 64, 1), (797, 64, 1))
    """
    if dataset not in DATASETS:
        raise ValueError(f"Unknown dataset {dataset!r}; choose from "
                         f"{sorted(DATASETS)}.")
    from keras_adrop import datasets

    if dataset == "digits":
        train_size = arguments.check_integer("train_size", train_size,
                                             minimum=10)
        validation_size = arguments.check_integer(
            "validation_size", validation_size, minimum=0)
        if 0 < validation_size < 10:
            raise ValueError(
                "`validation_size` must be 0 or at least 10 (the split is "
                "stratified: one image per class). Received: "
                f"validation_size={validation_size}")
        if train_size + validation_size > 1787:
            raise ValueError(
                "`train_size` + `validation_size` must be at most 1,787 "
                "(the 1,797 digits leave at least 10 test images). "
                f"Received: train_size={train_size}, "
                f"validation_size={validation_size}")
        pool, test = datasets.digits.load(train_size + validation_size, seed)
        if not validation_size:
            return pool, None, test
        from sklearn.model_selection import train_test_split

        x_train, x_val, y_train, y_val = train_test_split(
            *pool, test_size=validation_size, stratify=pool[1],
            random_state=seed)
        return (x_train, y_train), (x_val, y_val), test
    variant, permuted = DATASETS[dataset]
    data = datasets.mnist.load(
        variant, permuted=permuted, downsample=2, train_size=train_size,
        validation_size=validation_size, seed=seed)
    return data["train"], data.get("validation"), data["test"]


def compile_classifier(model, learning_rate, decay_steps, clipnorm=None,
                       dtype=None):
    """Compiles a logits classifier: Adam, cosine decay, cross-entropy.

    The learning rate decays from `learning_rate` to zero over
    `decay_steps` steps (a high rate learns quickly, and the decay makes the
    final epoch, the one compared, a stable end point). Loss: sparse
    categorical cross-entropy on logits; metric: accuracy.

    Args:
        model: The model to compile (in place).
        learning_rate: Initial learning rate.
        decay_steps: Training steps of the whole run.
        clipnorm: Optional per-variable gradient-norm clip.
        dtype: The dtype policy the model's layers were built with (None:
            the global one); `mixed_float16` scales the loss.

    Returns:
        `model`.

    Example:

    ```python
    compile_classifier(model, 1e-2, decay_steps=epochs * steps_per_epoch)
    ```
    """
    schedule = keras.optimizers.schedules.CosineDecay(
        learning_rate, decay_steps=decay_steps)
    model.compile(
        optimizer=building.loss_scaled(
            keras.optimizers.Adam(schedule, clipnorm=clipnorm), dtype),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def lstm_classifier(method, input_shape, units=64, num_classes=10,
                    recurrent_dropout=0.1, delta=0.05, seed=0,
                    learning_rate=1e-2, decay_steps=1, penalty_weight=None,
                    dtype=None):
    """An LSTM classifier trained with `method`, compiled.

    `keras_adrop.layers.LSTM(units)` on the sequence, then a dense layer of
    `num_classes` logits, wrapped as
    `keras_adrop.tasks.methods.get_method(method)` says (a plain `keras.Model`,
    an `AdversarialDropoutModel` or a `RegularizedModel`). The initial weights
    and every mask are drawn from `seed` (the global random state is neither
    read nor changed), so every method starts from the same weights.
    Adversarial dropout's base pass is the full network (as in the paper's
    sMNIST runs), so only the methods with random masks use
    `recurrent_dropout`.

    Args:
        method: A name of `keras_adrop.tasks.methods.available_methods()`, e.g.
            `"variational"` or `"adversarial_k2"`.
        input_shape: `(steps, features)`.
        units: LSTM units.
        num_classes: Classes (logits).
        recurrent_dropout: Rate of the random recurrent masks.
        delta: Adversarial budget, `floor(delta * units)` flipped units.
        seed: Seed of the weights and every mask.
        learning_rate, decay_steps: See `compile_classifier`.
        penalty_weight: Weight of the method's penalty: lambda of the
            adversarial methods, kappa of fraternal and
            expectation-linearization dropout (default None: the
            regularizer's own: 1.0, 0.15 for fraternal, 0.25 for
            expectation linearization).
        dtype: Dtype policy of the layers, e.g. `"mixed_float16"` (None:
            the global policy).

    Returns:
        The compiled model; its LSTM is named `"lstm"` whatever the method.

    Example:

    ```python
    model = lstm_classifier("adversarial_k2", (64, 1), units=64,
                            delta=0.05, decay_steps=2500)
    model.fit(x, y, epochs=80, batch_size=32)
    ```
    """
    # Raises, listing the known methods, for an unknown name.
    spec = get_method(method, delta=delta, seed=seed,
                      penalty_weight=penalty_weight)
    inputs = keras.Input(tuple(input_shape))
    hidden = layers.LSTM(
        units,
        recurrent_dropout=spec.recurrent_dropout(recurrent_dropout),
        seed=seed,
        name="lstm",  # same metric names for every model of a comparison
        dtype=dtype,
        **building.recurrent_initializers(seed, "lstm"),
    )(inputs)
    outputs = keras.layers.Dense(  # logits
        num_classes, dtype=dtype,
        **building.dense_initializers(seed, "logits"))(hidden)
    model = spec.build_model(inputs, outputs)
    return compile_classifier(model, learning_rate, decay_steps, dtype=dtype)
