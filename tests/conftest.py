import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import pytest  # noqa: E402

# On an NVIDIA GPU, float32 matmuls run in TF32 by default (10-bit
# mantissa) on both backends: two computations of one function (a fused
# GRU and our step loop) then differed by up to 2e-4 on an H200, above the
# tests' float32 tolerances. The tests compare routes, so they compute in
# full float32 (no effect on a CPU).
if keras.backend.backend() == "jax":
    import jax

    jax.config.update("jax_default_matmul_precision", "highest")
elif keras.backend.backend() == "tensorflow":
    import tensorflow as tf

    tf.config.experimental.enable_tensor_float_32_execution(False)


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """Every test starts from the same seeds and the float32 policy (and
    sees the warnings that `keras_adrop.arguments.warn_once` gives once)."""
    from keras_adrop import arguments

    arguments.reset_warnings()
    keras.backend.clear_session()
    keras.utils.set_random_seed(1234)
    keras.config.set_dtype_policy("float32")
    yield
    keras.config.set_dtype_policy("float32")


def base_batch(model, x, y=None, sample_weight=None):
    """The `TrainingBatch` of a base pass of `model` on `x`, outside `fit`."""
    from keras_adrop.training import gradient_function
    from keras_adrop.training.loss import base_pass

    return base_pass(model, x, gradient_function(model), y, sample_weight)
