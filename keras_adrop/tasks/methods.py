"""The methods of the paper's tables, by name: one registry.

Park et al. (AAAI 2019) compare adversarial dropout with the regularizers
of its Tables 1-3 under short names ("variational", "fraternal",
"adversarial_k2_vat", ...). `get_method(name, **options)` turns such a name
into what it means in keras_adrop: the `keras_adrop.regularizers` a
`RegularizedModel` trains with, and whether the recurrent layers draw random
(variational) masks. Every example, `tuning/` and `benchmarks/` read the
names here, so a method means the same thing everywhere.

| name | recurrent masks | regularizers |
|---|---|---|
| `unregularized` | none | none |
| `variational` | random, rate p | none |
| `fraternal` | random, rate p | `FraternalDropout` |
| `expectation_linearization` | random, rate p | `ExpectationLinearization` |
| `last_state_adversarial` | none | `LastStateAdversarialDropout(delta)` |
| `adversarial_k1`, `adversarial_k2` | none (full network) | `AdversarialDropout(delta, iterations=K)` |
| `adversarial_dropconnect` | none | `AdversarialDropConnect(delta)` (the authors' PTB target) |
| `adversarial_training` | none | `AdversarialPerturbation(epsilon)` |
| `virtual_adversarial` | none | `VirtualAdversarialPerturbation(epsilon)` |
| `adversarial_k1_vat`, `adversarial_k2_vat` | none | `AdversarialDropout(delta, K)`, `VirtualAdversarialPerturbation(epsilon)` |

A method's own options, the knobs a user or a tuner sets, are read from the
regularizers it builds (`Method.knobs`):

| knobs | methods |
|---|---|
| `recurrent_dropout` (p of the random masks) | every method with random masks |
| `penalty_weight`, as kappa | `fraternal`, `expectation_linearization` |
| `penalty_weight`, as lambda | every adversarial method |
| `delta` as flips | `adversarial_k*`, `last_state_adversarial` |
| `delta` as DropConnect drops | `adversarial_dropconnect` |
| `epsilon` | the embedding perturbations (`adversarial_training`, `*_vat`) |

A new method is one `register_method` call (see its example).
"""

import dataclasses
import inspect

import keras

from keras_adrop import regularizers as regularizers_lib
from keras_adrop.models import AdversarialDropoutModel
from keras_adrop.models import RegularizedModel
from keras_adrop.regularizers.embedding_perturbations import (
    EmbeddingPerturbation,
)

# The options a method's regularizers may read; `get_method` accepts these
# and nothing else (None: the regularizer's own default).
OPTIONS = ("delta", "epsilon", "penalty_weight", "divergence", "seed",
           "layers", "rampup_steps")


@dataclasses.dataclass(frozen=True)
class MethodEntry:
    """How a method name is turned into regularizers (the registry's row).

    Attributes:
        name: The method's name.
        regularizers: `regularizers(options) -> list` of new
            `keras_adrop.regularizers` objects; `options` is a dict with
            every key of `OPTIONS` (None where not given).
        random_recurrent_masks: Whether the recurrent layers draw random
            variational masks (`recurrent_dropout=p`) while training.
        description: One line for `--help` and error messages.
    """

    name: str
    regularizers: object
    random_recurrent_masks: bool = False
    description: str = ""


@dataclasses.dataclass(frozen=True)
class Knobs:
    """A method's own options, read from the regularizers it builds.

    The examples map these to their command-line options and
    `examples/replication/tuning.py` searches them, so no script decides
    by a method's name what its options are.

    Attributes:
        recurrent_dropout: Whether the recurrent layers' rate p matters:
            the method draws random variational masks.
        penalty_weight: What `get_method(penalty_weight=...)` weighs:
            `"kappa"`, a penalty between two random-mask passes
            (`RandomMaskEnsemble`: fraternal dropout,
            expectation-linearization); `"lambda"`, an adversarial penalty
            (adversarial dropout or an embedding perturbation; it wins
            when a method has both kinds); None without such a penalty.
        delta: Adversarial dropout's budget, `floor(delta * units)`:
            `"flips"` of hidden units per example and layer
            (`AdversarialDropout`, `LastStateAdversarialDropout`),
            `"dropconnect"` dropped recurrent-kernel entries per gate unit
            (`AdversarialDropConnect`), None without a budget.
        epsilon: Whether the method perturbs the embeddings by a norm
            epsilon (`AdversarialPerturbation`,
            `VirtualAdversarialPerturbation`).
    """

    recurrent_dropout: bool = False
    penalty_weight: str | None = None
    delta: str | None = None
    epsilon: bool = False

    @classmethod
    def of(cls, regularizers, random_recurrent_masks):
        """The knobs of a method with these regularizers and masks."""
        def has(kind):
            return any(isinstance(r, kind) for r in regularizers)

        adversarial = (regularizers_lib.AdversarialDropout,
                       EmbeddingPerturbation)
        return cls(
            recurrent_dropout=bool(random_recurrent_masks),
            penalty_weight=(
                "lambda" if has(adversarial)
                else "kappa" if has(regularizers_lib.RandomMaskEnsemble)
                else None),
            delta=(
                "dropconnect" if has(regularizers_lib.AdversarialDropConnect)
                else "flips" if has(regularizers_lib.AdversarialDropout)
                else None),
            epsilon=has(EmbeddingPerturbation))


@dataclasses.dataclass(frozen=True)
class Method:
    """What a method name means, with its options applied.

    Attributes:
        name: The method's name.
        regularizers: New `keras_adrop.regularizers` objects (empty for a
            plain model).
        random_recurrent_masks: Whether the recurrent layers draw random
            variational masks while training.
        knobs: The method's own options (`Knobs`), read from the two
            above.
    """

    name: str
    regularizers: tuple
    random_recurrent_masks: bool

    @property
    def knobs(self):
        """The method's own options (`Knobs`), e.g. for `"fraternal"`
        `Knobs(recurrent_dropout=True, penalty_weight="kappa")`."""
        return Knobs.of(self.regularizers, self.random_recurrent_masks)

    @property
    def label_free(self):
        """Whether every penalty can be computed on unlabeled inputs.

        True for a method with penalties that are all divergences between
        two of the model's own predictions (all of the table but
        `fraternal`, whose penalty pairs two supervised passes, and
        `adversarial_training`, which needs the label's loss).
        """
        label_free = (regularizers_lib.AdversarialDropout,
                      regularizers_lib.AdversarialDropConnect,
                      regularizers_lib.LastStateAdversarialDropout,
                      regularizers_lib.ExpectationLinearization,
                      regularizers_lib.VirtualAdversarialPerturbation)
        return bool(self.regularizers) and all(
            isinstance(r, label_free) for r in self.regularizers)

    def recurrent_dropout(self, rate):
        """The `recurrent_dropout` of the recurrent layers: `rate` or 0."""
        return rate if self.random_recurrent_masks else 0.0

    def penalty_weight(self, kappa, adversarial):
        """Which of two weights this method's penalty takes (`knobs`):
        `kappa` for a penalty between two random-mask passes (fraternal,
        expectation-linearization), `adversarial` (lambda) for an
        adversarial one, None for a method without a penalty weight.

        Example:

        >>> get_method("fraternal").penalty_weight(0.1, 2.0)
        0.1
        """
        return {"kappa": kappa, "lambda": adversarial}.get(
            self.knobs.penalty_weight)

    def build_model(self, inputs, outputs, name=None):
        """The functional model that trains with this method (not compiled).

        A plain `keras.Model` without regularizers, an
        `AdversarialDropoutModel` for one `AdversarialDropout` (so that
        `adversarial_masks` and `callbacks.AdversarialMaskTensorBoard`
        work), else a `RegularizedModel`.
        """
        name = self.name if name is None else name
        if not self.regularizers:
            return keras.Model(inputs, outputs, name=name)
        if (len(self.regularizers) == 1 and type(self.regularizers[0])
                is regularizers_lib.AdversarialDropout):
            return AdversarialDropoutModel.from_regularizer(
                inputs, outputs, self.regularizers[0], name=name)
        return RegularizedModel(inputs, outputs,
                                regularizers=list(self.regularizers),
                                name=name)


def _weight_argument(cls):
    """The name under which `cls` takes its penalty weight."""
    parameters = inspect.signature(cls.__init__).parameters
    for name in ("penalty_weight", "weight", "kappa"):
        if name in parameters:
            return name
    raise TypeError(f"{cls.__name__} takes no penalty weight.")


def make_regularizer(cls, options, *names, **fixed):
    """`cls(**fixed, **given options among names)`: defaults stay defaults.

    Args:
        cls: A `keras_adrop.regularizers` class.
        options: The dict of `OPTIONS` (None: not given).
        *names: Which options `cls` reads (`"penalty_weight"` is passed
            under the name `cls` takes it by).
        **fixed: Arguments fixed by the method (e.g. `iterations=2`).

    Example:

    ```python
    make_regularizer(keras_adrop.regularizers.AdversarialDropout,
                     {"delta": 0.05, "seed": 0}, "delta", "seed",
                     iterations=2)
    ```
    """
    kwargs = dict(fixed)
    for name in names:
        value = options.get(name)
        if value is None:
            continue
        key = _weight_argument(cls) if name == "penalty_weight" else name
        kwargs[key] = value
    return cls(**kwargs)


def _adversarial_dropout(options, k):
    return make_regularizer(
        regularizers_lib.AdversarialDropout, options, "delta",
        "penalty_weight", "divergence", "seed", "layers", "rampup_steps",
        iterations=k)


def _virtual_adversarial(options):
    return make_regularizer(
        regularizers_lib.VirtualAdversarialPerturbation, options, "epsilon",
        "penalty_weight", "seed")


_REGISTRY = {}


def register_method(name, regularizers, random_recurrent_masks=False,
                    description=""):
    """Adds (or replaces) a method of the registry.

    Args:
        name: The method's name, e.g. `"adversarial_dropconnect"`.
        regularizers: `regularizers(options) -> list` of new regularizer
            objects; `options` has every key of `OPTIONS`, None where the
            caller gave none (use `make_regularizer` to keep defaults).
        random_recurrent_masks: Whether the recurrent layers draw random
            variational masks (`recurrent_dropout=p`). Default False.
        description: One line for help texts.

    The method's knobs (`get_method(name).knobs`: the options the examples
    and `examples/replication/tuning.py` set) need no declaring: they are
    read from the kinds of regularizers it builds and
    `random_recurrent_masks`. Pass
    each knob on with `make_regularizer` (an option a method fixes, like
    the example's divergence, is not set from outside).

    Example:

    ```python
    keras_adrop.tasks.methods.register_method(
        "fraternal_probs",
        lambda options: [keras_adrop.tasks.methods.make_regularizer(
            keras_adrop.regularizers.FraternalDropout, options,
            "penalty_weight", "seed", divergence="squared_probs")],
        random_recurrent_masks=True,
        description="fraternal dropout between probabilities")
    keras_adrop.tasks.methods.get_method("fraternal_probs").knobs
    # Knobs(recurrent_dropout=True, penalty_weight='kappa', delta=None,
    #       epsilon=False): `--recurrent-dropout` and `--kappa`
    ```
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"`name` must be a non-empty string; got {name!r}.")
    if not callable(regularizers):
        raise ValueError(
            f"`regularizers` must be a callable; got {regularizers!r}.")
    _REGISTRY[name] = MethodEntry(name, regularizers,
                                  bool(random_recurrent_masks), description)


def available_methods():
    """The registered method names, in the order of the paper's tables."""
    return tuple(_REGISTRY)


def describe(name):
    """The one-line description of a registered method."""
    return _entry(name).description


def _entry(name):
    if name not in _REGISTRY:
        raise ValueError(
            f"Unknown method {name!r}; known methods: "
            f"{', '.join(available_methods())}.")
    return _REGISTRY[name]


def get_method(name, *, delta=None, epsilon=None, penalty_weight=None,
               divergence=None, seed=None, layers=None, rampup_steps=None):
    """The regularizers and layer settings a method name means.

    Args:
        name: One of `available_methods()` (the paper's table rows).
        delta: Adversarial-dropout budget, a fraction of units (default:
            the regularizer's, 0.03).
        epsilon: Norm of the (virtual) adversarial embedding perturbation
            (default: the regularizer's, 5.0).
        penalty_weight: Weight of the method's penalties (default: each
            regularizer's own, e.g. 0.15 for fraternal dropout).
        divergence: Divergence of the adversarial-dropout penalty (default:
            read from the compiled loss).
        seed: Seed of the regularizers' random draws.
        layers: Names of the recurrent layers the adversarial-dropout
            penalties act on (default: every keras_adrop recurrent layer).
        rampup_steps: Ramp-up of the adversarial-dropout penalty weight
            over optimizer steps (default: none).

    Returns:
        A `Method`: `.regularizers` (new objects),
        `.random_recurrent_masks`, `.knobs`, `.recurrent_dropout(p)`,
        `.build_model(inputs, outputs)`.

    Raises:
        ValueError: for an unknown name, listing the known ones.

    Example:

    ```python
    method = keras_adrop.tasks.methods.get_method("adversarial_k2", delta=0.05,
                                            seed=0)
    inputs = keras.Input((28, 28))
    h = keras_adrop.layers.LSTM(
        64, recurrent_dropout=method.recurrent_dropout(0.1))(inputs)
    model = method.build_model(inputs, keras.layers.Dense(10)(h))
    ```
    """
    entry = _entry(name)
    options = dict(delta=delta, epsilon=epsilon,
                   penalty_weight=penalty_weight, divergence=divergence,
                   seed=seed, layers=layers, rampup_steps=rampup_steps)
    return Method(name, tuple(entry.regularizers(options)),
                  entry.random_recurrent_masks)


for _name, _regularizers, _random, _description in [
    ("unregularized", lambda o: [], False, "no dropout on h_{t-1}"),
    ("variational", lambda o: [], True,
     "variational dropout: one random mask per sequence (Gal & Ghahramani)"),
    ("expectation_linearization", lambda o: [make_regularizer(
        regularizers_lib.ExpectationLinearization, o, "penalty_weight",
        "seed")], True, "expectation-linearization dropout (Ma et al.)"),
    ("fraternal", lambda o: [make_regularizer(
        regularizers_lib.FraternalDropout, o, "penalty_weight", "seed")],
     True, "fraternal dropout (Zolna et al.)"),
    ("last_state_adversarial", lambda o: [make_regularizer(
        regularizers_lib.LastStateAdversarialDropout, o, "delta",
        "penalty_weight", "seed")], False,
     "adversarial dropout on the last hidden state (Park et al. 2018)"),
    ("adversarial_k1", lambda o: [_adversarial_dropout(o, 1)], False,
     "adversarial dropout on h_{t-1}, K=1"),
    ("adversarial_k2", lambda o: [_adversarial_dropout(o, 2)], False,
     "adversarial dropout on h_{t-1}, K=2"),
    ("adversarial_dropconnect", lambda o: [make_regularizer(
        regularizers_lib.AdversarialDropConnect, o, "delta",
        "penalty_weight", "divergence", "seed", "layers", "rampup_steps")],
     False, "adversarial DropConnect on the recurrent kernel, one mask per "
     "batch (the authors' PTB code)"),
    ("adversarial_training", lambda o: [make_regularizer(
        regularizers_lib.AdversarialPerturbation, o, "epsilon",
        "penalty_weight", "seed")], False,
     "adversarial training on the embeddings (Miyato et al.)"),
    ("virtual_adversarial", lambda o: [_virtual_adversarial(o)], False,
     "virtual adversarial training on the embeddings (Miyato et al.)"),
    ("adversarial_k1_vat", lambda o: [
        _adversarial_dropout(o, 1), _virtual_adversarial(o)], False,
     "adversarial dropout K=1 and virtual adversarial training"),
    ("adversarial_k2_vat", lambda o: [
        _adversarial_dropout(o, 2), _virtual_adversarial(o)], False,
     "adversarial dropout K=2 and virtual adversarial training"),
]:
    register_method(_name, _regularizers, _random, _description)
del _name, _regularizers, _random, _description
