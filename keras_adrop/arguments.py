"""Checks of public arguments, with Keras-style messages.

The one place where keras_adrop checks what a user passes to a model, a
regularizer, a layer or a dataset loader. Every message names the argument
as the user wrote it, the values it allows, and what was received with its
type, e.g.::

    ValueError: `delta` must be a number in (0, 1). Received: delta='0.1'
    (of type str)

Rules (docs/reliability.md):

- numbers are real numbers, finite, in range; integers where an integer is
  meant (a float such as `100.7` is refused, not truncated); NumPy scalars
  (`np.int64(8)`, `np.float32(0.1)`) are accepted, as Keras accepts them;
  booleans are never numbers;
- booleans are real booleans (`True`, `False`, `np.bool_`), never strings
  or numbers;
- strings come from a known set.

The checkers return the value as a plain Python `int`, `float` or `bool`,
so that configs stay JSON-serializable.

Also here: `warn_once`, which gives a warning once per configuration (not
again on every load of a saved model).

Example:

```python
from keras_adrop import arguments

delta = arguments.check_number("delta", 0.1, low=0.0, high=1.0,
                               low_inclusive=False, high_inclusive=False)
units = arguments.check_integer("units", np.int64(8), minimum=1)
flag = arguments.check_bool("stop_target_gradient", True)
mode = arguments.check_choice("base_mask", "random",
                              ("expectation", "random"))
```
"""

import math
import numbers
import warnings

import numpy as np


def describe(name, value):
    """`name=value (of type T)`, the `Received:` part of a message."""
    return f"{name}={value!r} (of type {type(value).__name__})"


def _is_bool(value):
    return isinstance(value, (bool, np.bool_))


def _interval(low, high, low_inclusive, high_inclusive):
    if low is not None and high is not None:
        return (f"{'[' if low_inclusive else '('}{low:g}, {high:g}"
                f"{']' if high_inclusive else ')'}")
    if low is not None:
        return f">= {low:g}" if low_inclusive else f"> {low:g}"
    if high is not None:
        return f"<= {high:g}" if high_inclusive else f"< {high:g}"
    return ""


def check_number(name, value, low=None, high=None, low_inclusive=True,
                 high_inclusive=True, allow_none=False, what="",
                 requirement=None):
    """A finite real number in a range, as a Python float.

    Args:
        name: The argument's name, as the user wrote it.
        value: What was passed.
        low, high: Bounds (None: unbounded).
        low_inclusive, high_inclusive: Whether the bounds are allowed.
        allow_none: Whether None is allowed (returned as None).
        what: Optional words appended to the requirement, e.g.
            " (the fraction of units dropped)".
        requirement: Replaces the default wording ("a finite number in
            ...") of the message.

    Returns:
        `float(value)`, or None.

    Raises:
        ValueError: naming `name`, the range and the received value and type.

    Example:

    >>> check_number("rate", np.float32(0.5), 0.0, 1.0, high_inclusive=False)
    0.5
    """
    if value is None and allow_none:
        return None
    interval = _interval(low, high, low_inclusive, high_inclusive)
    ok = (isinstance(value, numbers.Real) and not _is_bool(value)
          and math.isfinite(float(value)))
    if ok:
        number = float(value)
        ok = ((low is None or number > low
               or (low_inclusive and number == low))
              and (high is None or number < high
                   or (high_inclusive and number == high)))
    if not ok:
        if requirement is None:
            requirement = (f"a number in {interval}"
                           if low is not None and high is not None
                           else "a finite number"
                           + (f" {interval}" if interval else ""))
        if allow_none:
            requirement += " or None"
        raise ValueError(
            f"`{name}` must be {requirement}{what}. Received: "
            f"{describe(name, value)}"
        )
    return float(value)


def check_integer(name, value, minimum=None, maximum=None, allow_none=False,
                  what=""):
    """An integer (Python or NumPy, not a bool) in a range, as a Python int.

    A float, even a whole one such as `100.0`, is refused, as Keras refuses
    `units=8.0`.

    Example:

    >>> check_integer("units", np.int64(8), minimum=1)
    8
    """
    if value is None and allow_none:
        return None
    ok = isinstance(value, numbers.Integral) and not _is_bool(value)
    if ok:
        ok = ((minimum is None or value >= minimum)
              and (maximum is None or value <= maximum))
    if not ok:
        if minimum is not None and maximum is not None:
            requirement = f"an integer in [{minimum}, {maximum}]"
        elif minimum == 1:
            requirement = "a positive integer"
        elif minimum is not None:
            requirement = f"an integer >= {minimum}"
        elif maximum is not None:
            requirement = f"an integer <= {maximum}"
        else:
            requirement = "an integer"
        if allow_none:
            requirement += " or None"
        raise ValueError(
            f"`{name}` must be {requirement}{what}. Received: "
            f"{describe(name, value)}"
        )
    return int(value)


def check_bool(name, value, allow_none=False, what=""):
    """A real boolean (`True`, `False` or `np.bool_`), as a Python bool.

    Strings ("no", "yes") and numbers are refused: `bool("no")` is True.

    Example:

    >>> check_bool("from_logits", np.bool_(True))
    True
    """
    if value is None and allow_none:
        return None
    if not _is_bool(value):
        requirement = "True or False" + (" or None" if allow_none else "")
        raise ValueError(
            f"`{name}` must be {requirement}{what}. Received: "
            f"{describe(name, value)}"
        )
    return bool(value)


def check_choice(name, value, allowed, why=""):
    """Raises a ValueError unless `value` is one of `allowed` (same type).

    `True in (1, 2)` holds in Python: types are compared too.

    Example:

    >>> check_choice("use_cudnn", "auto", ("auto", True, False))
    'auto'
    """
    if not any(value == a and type(value) is type(a) for a in allowed):
        raise ValueError(
            f"`{name}` must be one of {allowed}{why}. Received: "
            f"{describe(name, value)}"
        )
    return value


def check_choices(name, value, allowed):
    """A comma-separated list of names from `allowed`, as a list.

    For options such as an example's `--methods`: refuses an empty list,
    an unknown name and a name given twice (a second run of the same name
    would overwrite the first's results).

    Example:

    >>> check_choices("--methods", "variational, adversarial_k1",
    ...               ("variational", "adversarial_k1", "adversarial_k2"))
    ['variational', 'adversarial_k1']
    """
    names = [item.strip() for item in str(value).split(",") if item.strip()]
    unknown = [item for item in names if item not in allowed]
    repeated = sorted({item for item in names if names.count(item) > 1})
    if unknown or repeated or not names:
        problem = (f"unknown {unknown}" if unknown else
                   f"{repeated} listed twice" if repeated else "no name")
        raise ValueError(
            f"`{name}` must be a comma-separated list of names from "
            f"{list(allowed)}, each once; {problem}. Received: {value!r}"
        )
    return names


def check_rate(name, value, what=" (the fraction of units dropped)"):
    """A dropout-like rate in [0, 1), as a Python float.

    Example:

    >>> check_rate("recurrent_dropout", np.float32(0.25))
    0.25
    """
    return check_number(name, value, 0.0, 1.0, high_inclusive=False,
                        what=what, requirement="in [0, 1)")


def check_units(units, name="units"):
    """A positive integer (NumPy integers included, as Keras), as an int."""
    return check_integer(name, units, minimum=1)


def check_names(name, value, what="layer names"):
    """None, or a list/tuple of strings (or objects with a `name`).

    Returns a list, or None.
    """
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        names = [getattr(item, "name", item) for item in value]
        if all(isinstance(item, str) for item in names):
            return names
    raise ValueError(
        f"`{name}` must be None or a list of {what}. Received: "
        f"{describe(name, value)}"
    )


# Seeds are unsigned 32-bit integers to Keras: JAX keeps a
# `keras.random.SeedGenerator`'s state in uint32 (a larger seed overflows),
# TensorFlow in int64, NumPy's `RandomState` takes [0, 2**32 - 1]. The
# range every backend accepts, so that a `.keras` file saved on one loads
# on the other.
MAX_SEED = 2**32 - 1


def check_seed(name, value, allow_none=True):
    """None or an integer in [0, 2**32 - 1] (NumPy integers included).

    Example:

    >>> check_seed("seed", np.int64(7))
    7
    """
    return check_integer(
        name, value, minimum=0, maximum=MAX_SEED, allow_none=allow_none,
        what=" (2**32 - 1 = 4294967295 is the largest seed every Keras "
             "backend accepts: JAX keeps seeds in uint32)")


_WARNED = set()


def warn_once(key, message, category=UserWarning, stacklevel=2):
    """Warns once per `key` (a hashable configuration) in this process.

    Constructor warnings are keyed by the configuration that causes them,
    so that loading the same saved model again does not repeat them.

    Returns:
        Whether the warning was given now.
    """
    if key in _WARNED:
        return False
    _WARNED.add(key)
    warnings.warn(message, category, stacklevel=stacklevel + 1)
    return True


def reset_warnings():
    """Forgets which warnings `warn_once` gave (for tests)."""
    _WARNED.clear()
