"""Robustness to corrupted text: character deletions and QWERTY typos.

Hattimare & Acharya tested GRU sentiment models with dropout on IMDB reviews
perturbed by two TextAttack augmentation recipes, random character deletion
and swaps with a neighbouring key on a QWERTY keyboard. This module has
its own small, seeded versions of both, on raw strings, and a function that
measures a model's accuracy as the corruption rate grows.

Two levels:

- `level="character"` (default): every ASCII letter is, independently with
  probability `rate`, deleted ("deletion") or replaced by a random
  keyboard neighbour of the same case ("qwerty"). Spaces, digits and
  punctuation are never touched, so a rate of r changes about r of the
  letters.
- `level="word"`: every word (a run of 2+ ASCII letters) is, with
  probability `rate`, changed at one random letter, like the TextAttack
  recipes, which change one character of a chosen word (Hattimare & Acharya
  used a rate of 0.3 of the words).

The random draws of a text do not depend on the rate (each letter or word
has its own uniform draw, compared with `rate`), so with one seed the edits
at a lower rate are a subset of the edits at a higher rate: accuracy curves
over rates are not blurred by fresh noise at each rate.
"""

import dataclasses
import numbers
import re

import numpy as np

from keras_adrop.analysis import _common

KINDS = ("deletion", "qwerty")
LEVELS = ("character", "word")

# Letter rows of a QWERTY keyboard; each row is shifted right of the one
# above it by about half a key, so key i of a row touches keys i and i+1 of
# the row above and keys i-1 and i of the row below.
_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")


def _qwerty_neighbours():
    neighbours = {}
    for r, row in enumerate(_ROWS):
        for i, key in enumerate(row):
            near = [row[j] for j in (i - 1, i + 1) if 0 <= j < len(row)]
            if r > 0:
                above = _ROWS[r - 1]
                near += [above[j] for j in (i, i + 1) if 0 <= j < len(above)]
            if r + 1 < len(_ROWS):
                below = _ROWS[r + 1]
                near += [below[j] for j in (i - 1, i) if 0 <= j < len(below)]
            neighbours[key] = "".join(sorted(near))
    return neighbours


QWERTY_NEIGHBOURS = _qwerty_neighbours()
"""dict lower-case letter -> its neighbouring keys, e.g. 's' -> 'adewxz'."""

_WORD = re.compile(r"[A-Za-z]{2,}")


def _is_letter(char):
    return char.isascii() and char.isalpha()


def _edit(char, kind, choice):
    """The replacement of `char` ('' for a deletion); `choice` in [0, 1)."""
    if kind == "deletion":
        return ""
    near = QWERTY_NEIGHBOURS[char.lower()]
    new = near[int(choice * len(near))]
    return new.upper() if char.isupper() else new


def _check(kind, rate, level):
    if kind not in KINDS:
        raise ValueError(f"`kind` must be one of {KINDS}. Received: "
                         f"kind={kind!r}")
    if (not isinstance(rate, numbers.Real) or isinstance(rate, bool)
            or not 0.0 <= rate <= 1.0):
        raise ValueError(f"`rate` must be a number in [0, 1]. Received: "
                         f"rate={rate!r}")
    if level not in LEVELS:
        raise ValueError(f"`level` must be one of {LEVELS}. Received: "
                         f"level={level!r}")


def _corrupt(text, kind, rate, level, rng):
    if not isinstance(text, str):
        raise ValueError(
            f"Texts must be str. Received: {type(text).__name__}"
        )
    if level == "character":
        letters = [i for i, c in enumerate(text) if _is_letter(c)]
        draws = rng.random((len(letters), 2))
        edits = {i: _edit(text[i], kind, v)
                 for i, (u, v) in zip(letters, draws) if u < rate}
    else:
        words = [m.span() for m in _WORD.finditer(text)]
        draws = rng.random((len(words), 3))
        edits = {}
        for (start, end), (u, where, v) in zip(words, draws):
            if u < rate:
                i = start + int(where * (end - start))
                edits[i] = _edit(text[i], kind, v)
    if not edits:
        return text
    return "".join(edits.get(i, c) for i, c in enumerate(text))


def corrupt_texts(texts, kind, rate, seed=0, level="character"):
    """Corrupts every string of `texts` (seeded, reproducible).

    Args:
        texts: A string or a sequence of strings.
        kind: "deletion" (delete letters) or "qwerty" (replace a letter by
            a neighbouring key, case kept).
        rate: Probability in [0, 1] that a letter (`level="character"`) or a
            word (`level="word"`, one letter of it) is changed.
        seed: Seed of the draws; the same seed and texts give the same
            result, and a lower rate's edits are a subset of a higher
            rate's.
        level: "character" or "word".

    Returns:
        A string or a list of strings, like `texts`.

    Example:

    >>> corrupt_texts("a great movie", "qwerty", 0.0)
    'a great movie'
    >>> len(corrupt_texts("a great movie", "deletion", 1.0))  # spaces left
    2
    """
    _check(kind, rate, level)
    rng = np.random.default_rng(seed)
    if isinstance(texts, str):
        return _corrupt(texts, kind, rate, level, rng)
    return [_corrupt(t, kind, rate, level, rng) for t in texts]


@dataclasses.dataclass
class CorruptionRobustness:
    """Accuracy on corrupted texts as a function of the corruption rate.

    Attributes:
        rates: `(rates,)` the corruption rates.
        accuracies: dict kind -> `(rates,)` accuracy at each rate.
        level: "character" or "word".
        examples: Number of test texts.
        letters_changed: dict kind -> `(rates,)` measured fraction of
            letters deleted or replaced.
    """

    rates: np.ndarray
    accuracies: dict
    level: str
    examples: int
    letters_changed: dict

    def to_dict(self):
        """JSON-ready lists."""
        return {
            "rates": np.asarray(self.rates).tolist(), "level": self.level,
            "examples": self.examples,
            "accuracies": {k: np.asarray(v).tolist()
                           for k, v in self.accuracies.items()},
            "letters_changed": {k: np.asarray(v).tolist()
                                for k, v in self.letters_changed.items()},
        }


def corruption_robustness(model, texts, labels,
                          rates=(0.0, 0.05, 0.1, 0.2, 0.3),
                          kinds=KINDS, level="character", preprocess=None,
                          from_logits=None, seed=0, batch_size=256,
                          verbose=False):
    """Accuracy of `model` on corrupted copies of `texts`, rate by rate.

    Args:
        model: A `keras.Model` (called with `predict`) or any callable that
            maps a batch of inputs to outputs `(n, classes)` or `(n, 1)`.
            It receives `preprocess(list_of_strings)` when `preprocess` is
            given, else the strings themselves (a callable gets the list, a
            Keras model a 1-D object array: a model that reads raw text,
            e.g. with a `TextVectorization` layer inside).
        texts: The raw test strings.
        labels: Their integer (or one-hot) labels.
        rates: Corruption rates to test, each in [0, 1].
        kinds: Corruptions to test, from "deletion" and "qwerty".
        level: "character" or "word" (see `corrupt_texts`).
        preprocess: Optional function from a list of strings to model
            inputs (tokenize and pad).
        from_logits: For a one-unit binary output: whether it is a logit
            (threshold 0) or a probability (threshold 0.5).
        seed: Seed of the corruptions (the same at every rate).
        batch_size: Batch size of `predict` for a Keras model.
        verbose: Show a progress bar.

    Returns:
        A `CorruptionRobustness`.

    Example:

    ```python
    result = corruption_robustness(model, test_texts, test_labels,
                                   rates=[0, 0.1, 0.2, 0.3],
                                   preprocess=vectorize)
    plot_corruption_robustness(result, "corruption.png")
    ```
    """
    texts = [texts] if isinstance(texts, str) else list(texts)
    if not texts:
        raise ValueError("`texts` must hold at least one string.")
    if len(labels) != len(texts):
        raise ValueError(
            f"`labels` must have one label per text: {len(texts)} texts, "
            f"{len(labels)} labels."
        )
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)
    rates = np.asarray(rates, dtype="float64")
    for kind in kinds:
        for rate in rates:
            _check(kind, float(rate), level)
    if not callable(model):
        raise ValueError(
            "`model` must be a keras.Model or a callable. Received: "
            f"{type(model).__name__}"
        )
    batch_size = _common.check_int("batch_size", batch_size)

    def predict(batch_texts):
        inputs = preprocess(batch_texts) if preprocess else batch_texts
        if hasattr(model, "predict"):
            if isinstance(inputs, list):  # raw strings: one string tensor
                inputs = np.asarray(inputs, dtype=object)
            return model.predict(inputs, batch_size=batch_size, verbose=0)
        return model(inputs)

    letters = sum(sum(_is_letter(c) for c in t) for t in texts)
    clean = None
    accuracies = {kind: [] for kind in kinds}
    changed = {kind: [] for kind in kinds}
    bar = _common.progress_bar(len(kinds) * len(rates), verbose)
    for kind in kinds:
        for rate in rates:
            if rate == 0.0 and clean is not None:
                accuracies[kind].append(clean)
                changed[kind].append(0.0)
                bar.add(1)
                continue
            corrupted = corrupt_texts(texts, kind, float(rate), seed, level)
            value = _common.accuracy(np.asarray(predict(corrupted)), labels,
                                     from_logits)
            if rate == 0.0:
                clean = value
            accuracies[kind].append(value)
            changed[kind].append(_letters_changed(texts, corrupted, kind)
                                 / max(letters, 1))
            bar.add(1)
    return CorruptionRobustness(
        rates=rates,
        accuracies={k: np.array(v) for k, v in accuracies.items()},
        level=level, examples=len(texts),
        letters_changed={k: np.array(v) for k, v in changed.items()},
    )


def _letters_changed(texts, corrupted, kind):
    if kind == "deletion":
        return sum(len(a) - len(b) for a, b in zip(texts, corrupted))
    return sum(sum(x != y for x, y in zip(a, b))
               for a, b in zip(texts, corrupted))


def read_labeled_texts(path, count=None, seed=0):
    """Reads texts and integer labels from a CSV with columns text, label.

    Args:
        path: The CSV file (UTF-8, a header row naming `text` and `label`).
        count: Keep this many rows, drawn at random with `seed`; None or 0
            for all.
        seed: Seed of the draw.

    Returns:
        `(texts, labels)`: a list of `str` and an int array.

    Example:

    ```python
    texts, labels = read_labeled_texts("reviews.csv", count=2000)
    result = corruption_robustness(model, texts, labels)
    ```
    """
    import csv

    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows or not {"text", "label"} <= set(rows[0]):
        raise ValueError(f"{path}: needs columns 'text' and 'label'.")
    texts = [r["text"] for r in rows]
    labels = np.array([int(r["label"]) for r in rows])
    if count and count < len(texts):
        order = np.random.default_rng(seed).permutation(len(texts))
        texts = [texts[i] for i in order[:count]]
        labels = labels[order[:count]]
    return texts, labels


def load_text_classifier(path):
    """A `.keras` model, or a SavedModel's `serve` endpoint as a function.

    The text classifiers `corruption_robustness` evaluates: a `.keras` file
    of a model that reads raw strings, or a SavedModel directory whose
    `serve` endpoint maps a 1-D string tensor to outputs (what
    `keras_adrop.tasks.text_classification.export_text_classifier` writes).
    Needs TensorFlow for a SavedModel (and registers tensorflow-text's ops
    when installed).

    Args:
        path: The `.keras` file or the SavedModel directory.

    Returns:
        `(model, outputs_are_probabilities)`: a Keras model or a callable
        on a list of strings; the flag is True when the SavedModel returns
        `{"probabilities": ...}`, else None.

    Example:

    ```python
    model, probabilities = load_text_classifier("exports/variational")
    result = corruption_robustness(model, texts, labels,
                                   from_logits=not probabilities)
    ```
    """
    import os

    import keras

    if not os.path.isdir(path):
        return keras.saving.load_model(path), None
    import tensorflow as tf

    try:  # registers the ops of a tokenizer built on tensorflow-text
        import tensorflow_text  # noqa: F401
    except ImportError:
        pass
    loaded = tf.saved_model.load(path)
    if not hasattr(loaded, "serve"):
        raise ValueError(
            f"{path}: a SavedModel directory needs a `serve` endpoint taking "
            "a 1-D string tensor."
        )

    def predict(texts, batch_size=256):
        outputs = []
        for start in range(0, len(texts), batch_size):
            out = loaded.serve(tf.constant(texts[start:start + batch_size]))
            if isinstance(out, dict):
                out = out.get("probabilities", next(iter(out.values())))
            outputs.append(np.asarray(out))
        return np.concatenate(outputs)

    predict.loaded = loaded  # keep the SavedModel's objects alive
    signature = loaded.serve(tf.constant(["probe"]))
    return predict, (isinstance(signature, dict)
                     and "probabilities" in signature) or None
