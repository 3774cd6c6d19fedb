"""The output side of a word-level model: a tied decoder's bias, sampled
softmax.

- `OutputBias`: the bias of a tied decoder, whose logits are the
  embedding's reverse call (`keras_adrop.layers.Embedding(...)(h,
  reverse=True)`).
- `SampledSoftmaxLoss`: next-word cross-entropy per sequence, sampled in
  training (TensorFlow's sampled softmax), for large vocabularies; it
  needs TensorFlow when it runs.
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_adrop")
class OutputBias(keras.layers.Layer):
    """Adds a learned bias over the last axis (a tied decoder's bias).

    With weight tying, the logits are `embedding(h, reverse=True)`
    (`keras_adrop.layers.Embedding`, Keras' `ReversibleEmbedding`), which
    has no bias; AWD-LSTM's decoder has one, `logits = h @ E^T + b`. This
    layer holds `b` (zeros at first).

    Example:

    ```python
    inputs = keras.Input((35,), dtype="int32")
    embedding = keras_adrop.layers.Embedding(10_000, 256)
    h = keras_adrop.layers.LSTM(256, return_sequences=True)(
        embedding(inputs))
    logits = OutputBias(name="decoder")(embedding(h, reverse=True))
    ```
    """

    def build(self, input_shape):
        if input_shape[-1] is None:
            raise ValueError(
                f"OutputBias ({self.name}) needs a known last dimension (the "
                f"vocabulary). Received input shape {input_shape}.")
        self.bias = self.add_weight(
            shape=(input_shape[-1],), initializer="zeros", name="bias")

    def call(self, inputs):
        return inputs + ops.cast(self.bias, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="keras_adrop")
class SampledSoftmaxLoss(keras.layers.Layer):
    """Next-word cross-entropy of a language model, per review.

    Holds the output projection `(vocabulary, units)`. In training, with
    `num_sampled < vocabulary_size`, the loss is TensorFlow's sampled
    softmax (`num_sampled` log-uniform negative words per step), which
    makes an 87k-word language model affordable; otherwise the full
    softmax. Returns the mean loss over each review's non-padded targets
    (target id 0 is padding).

    Args:
        vocabulary_size: Number of words.
        num_sampled: Negative samples of the sampled softmax. Default 512.
        seed: Seed of the projection's initial weights and of the
            negative samples. Default None: unseeded.

    Call arguments:
        hidden: `(batch, time, units)` states.
        targets: `(batch, time)` int next-word ids, 0 for padding.

    Example:

    ```python
    hidden = keras_adrop.layers.LSTM(64, return_sequences=True)(vectors)
    loss = SampledSoftmaxLoss(50_000, num_sampled=512)(hidden, targets)
    model = keras.Model([tokens, targets], loss)
    model.compile("adam", loss=lambda y_true, y_pred: y_pred)
    ```
    """

    def __init__(self, vocabulary_size, num_sampled=512, seed=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size = vocabulary_size
        self.num_sampled = num_sampled
        self.seed = seed
        self.supports_masking = True  # padding is read from `targets`

    def compute_mask(self, hidden, targets=None, mask=None):
        return None

    def build(self, hidden_shape, targets_shape=None):
        units = hidden_shape[-1]
        self.kernel = self.add_weight(
            shape=(self.vocabulary_size, units), name="kernel",
            initializer=keras.initializers.GlorotUniform(self.seed))
        self.bias = self.add_weight(
            shape=(self.vocabulary_size,), name="bias", initializer="zeros")

    def call(self, hidden, targets, training=False):
        import tensorflow as tf

        units = tf.shape(hidden)[-1]
        flat_hidden = tf.reshape(tf.cast(hidden, "float32"), (-1, units))
        flat_targets = tf.reshape(tf.cast(targets, "int64"), (-1, 1))
        if training and self.num_sampled < self.vocabulary_size:
            losses = tf.nn.sampled_softmax_loss(
                weights=self.kernel, biases=self.bias, labels=flat_targets,
                inputs=flat_hidden, num_sampled=self.num_sampled,
                num_classes=self.vocabulary_size, seed=self.seed,
            )
        else:
            logits = tf.matmul(flat_hidden, self.kernel, transpose_b=True)
            losses = tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels=flat_targets[:, 0], logits=logits + self.bias)
        losses = tf.reshape(losses, tf.shape(targets))
        valid = tf.cast(tf.not_equal(targets, 0), losses.dtype)
        return tf.reduce_sum(losses * valid, -1) / tf.maximum(
            tf.reduce_sum(valid, -1), 1.0)

    def compute_output_spec(self, hidden, targets, training=False):
        return keras.KerasTensor((hidden.shape[0],), dtype="float32")

    def get_config(self):
        return {**super().get_config(),
                "vocabulary_size": self.vocabulary_size,
                "num_sampled": self.num_sampled, "seed": self.seed}
