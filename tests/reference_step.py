"""The textbook adversarial-dropout training step, a reference for tests.

`tests/test_benchmarks.py` checks that `AdversarialDropoutModel` makes the
same update as this plain reading of the algorithm, written the way the
performance issue calls straightforward.
"""

import keras

import keras_adrop
from keras_adrop.regularizers import adversarial_search


class StraightforwardAdversarialModel(keras.Model):
    """Adversarial dropout written the textbook way, to compare against.

    The step the performance issue calls straightforward: inside one tape,
    the base pass (supervised loss and target), K influence-map passes each
    under a nested tape that watches everything it touches, the greedy
    flips, the adversarial pass, then one backward pass for the weights.
    None of `AdversarialDropoutModel`'s care: the influence passes are
    recorded by the outer tape too, and their tapes watch the weights. KL
    divergence, full-network base mask, the flips of docs/algorithm.md
    rules 10-14 (`keras_adrop.regularizers.adversarial_search`). A test
    reference only: no masks, sample weights, state rewinding or
    distribution.
    """

    def __init__(self, *args, delta, iterations, **kwargs):
        super().__init__(*args, **kwargs)
        self.rnns = [layer for layer in self.layers
                     if isinstance(layer, keras_adrop.layers.LSTM)]
        self.schedules = [
            adversarial_search.flip_schedule(
                adversarial_search.flip_budget(delta, layer.units),
                iterations)
            for layer in self.rnns]
        self.seed_generator = keras.random.SeedGenerator(0)
        self.total_loss = keras.metrics.Mean(name="loss")

    @property
    def metrics(self):
        return [self.total_loss]

    def divergence(self, target_logits, x, masks):
        with keras_adrop.layers.recurrent_masks(masks):
            logits = self(x, training=True)
        target = keras.ops.softmax(target_logits)
        kl = keras.ops.sum(target * (keras.ops.log_softmax(target_logits)
                                     - keras.ops.log_softmax(logits)), -1)
        return keras.ops.mean(kl)

    def train_step(self, data):
        import tensorflow as tf

        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            logits = self(x, training=True)
            loss = self.compute_loss(x=x, y=y, y_pred=logits, training=True)
            target = keras.ops.stop_gradient(logits)
            batch = keras.ops.shape(x)[0]
            masks = {layer: adversarial_search.start_mask(
                keras.ops.ones((batch, layer.units)), self.seed_generator)
                for layer in self.rnns}
            for k in range(len(self.schedules[0])):
                with tf.GradientTape() as influence_tape:
                    influence_tape.watch(list(masks.values()))
                    value = self.divergence(target, x, masks)
                influence = influence_tape.gradient(value,
                                                    list(masks.values()))
                masks = {
                    layer: adversarial_search.flip(masks[layer], grad,
                                                  schedule[k])
                    for (layer, schedule), grad in zip(
                        zip(self.rnns, self.schedules), influence)}
            masks = {layer: keras.ops.stop_gradient(mask)
                     for layer, mask in masks.items()}
            total = loss + self.divergence(target, x, masks)
        gradients = tape.gradient(total, self.trainable_weights)
        self.optimizer.apply(gradients, self.trainable_weights)
        self.total_loss.update_state(total)
        return {"loss": self.total_loss.result()}
