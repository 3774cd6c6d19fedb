"""A short KerasTuner random search over delta and K on the digits.

    python benchmarks/tuner_check.py [--quick] [--trials 4]

Part of `benchmarks/gpu_check.sh`: shows that a search trains adversarial
models end to end on the machine's backend and device. Delta is sampled as
a whole number of flipped units (1-5 of 64), K in {1, 2}. Prints one row
per trial (flips, K, best validation accuracy, seconds) and the best.
"""

import argparse
import tempfile
import time

import keras

import keras_adrop

UNITS = 64


def build(hp):
    """A digits classifier trained with the sampled adversarial dropout."""
    flips = hp.Int("flips", 1, 5)
    iterations = hp.Choice("iterations", [1, 2])
    inputs = keras.Input((64, 1))
    h = keras_adrop.layers.LSTM(UNITS)(inputs)
    model = keras_adrop.AdversarialDropoutModel(
        inputs, keras.layers.Dense(10)(h), delta=flips / UNITS,
        iterations=iterations, seed=0)
    model.compile(keras.optimizers.Adam(3e-3),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


def main(argv=None):
    import keras_tuner

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="2 trials of 1 epoch on 200 images")
    parser.add_argument("--trials", type=int, default=4)
    args = parser.parse_args(argv)
    trials, epochs, size = (2, 1, 200) if args.quick else (args.trials, 5,
                                                           1000)
    (x, y), (x_val, y_val) = keras_adrop.datasets.digits.load(
        train_size=size, seed=0)
    times = {}

    class Timer(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.start = time.perf_counter()

        def on_train_end(self, logs=None):
            times[len(times)] = time.perf_counter() - self.start

    with tempfile.TemporaryDirectory() as directory:
        tuner = keras_tuner.RandomSearch(
            build, objective="val_accuracy", max_trials=trials, seed=0,
            directory=directory, project_name="gpu_check", overwrite=True)
        tuner.search(x, y, validation_data=(x_val, y_val), epochs=epochs,
                     batch_size=64, verbose=0, callbacks=[Timer()])
        done = tuner.oracle.get_best_trials(num_trials=trials)
    print(f"\nKerasTuner random search on digits ({keras.backend.backend()}, "
          f"{trials} trials x {epochs} epochs, {size} images)")
    print("| flips | K | val_accuracy |\n|---|---|---|")
    for trial in done:
        hp = trial.hyperparameters
        print(f"| {hp.get('flips')} | {hp.get('iterations')} | "
              f"{trial.score:.3f} |")
    print(f"search time: {sum(times.values()):.1f} s over {len(times)} fits")
    return done


if __name__ == "__main__":
    main()
