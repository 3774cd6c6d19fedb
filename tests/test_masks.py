"""The adversarial-mask search: docs/algorithm.md rules 10, 11, 13 and 14."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from keras_adrop.regularizers import adversarial_search


@pytest.mark.parametrize(
    "delta,units,expected",
    [(0.03, 100, 3), (0.29, 100, 29), (0.1, 64, 6), (0.5, 3, 1), (0.99, 10, 9)],
)
def test_flip_budget_is_a_count_of_units(delta, units, expected):
    assert adversarial_search.flip_budget(delta, units) == expected


@pytest.mark.parametrize("delta", [0.0, 1.0, -0.1, 1.5, "0.1"])
def test_delta_outside_open_unit_interval_raises(delta):
    with pytest.raises(ValueError, match="`delta` must be a number in"):
        adversarial_search.flip_budget(delta, 100)


def test_budget_below_one_flip_raises():
    with pytest.raises(ValueError, match=r"floor\(delta \* units\) = 0"):
        adversarial_search.flip_budget(0.03, 20)


@pytest.mark.parametrize("iterations", [0, -1, 1.5])
def test_iterations_below_one_raise(iterations):
    with pytest.raises(ValueError, match="`iterations`"):
        adversarial_search.flip_schedule(3, iterations)


@given(budget=st.integers(1, 200), iterations=st.integers(1, 10))
def test_schedule_splits_the_rest_of_the_budget(budget, iterations):
    schedule = adversarial_search.flip_schedule(budget, iterations)
    assert len(schedule) == iterations
    assert sum(schedule) == budget - 1  # the start flip spends one
    assert all(count >= 0 for count in schedule)
    assert max(schedule) - min(schedule) <= 1  # an even split
    assert schedule == [
        (k + 1) * (budget - 1) // iterations - k * (budget - 1) // iterations
        for k in range(iterations)
    ]


@pytest.mark.backend_neutral
@given(budget=st.integers(1, 200), iterations=st.integers(1, 10))
def test_effective_iterations_are_the_steps_with_a_flip(budget, iterations):
    schedule = adversarial_search.flip_schedule(budget, iterations)
    steps = adversarial_search.effective_iterations(budget, iterations)
    assert steps == min(iterations, budget - 1)
    assert steps == sum(1 for count in schedule if count)


@pytest.mark.backend_neutral
def test_the_regularizer_and_the_tuners_read_the_search_module(
        monkeypatch):
    """One home for the delta check and the effective-K rule: the
    regularizer's error is the search module's, and the tuners' K_eff is
    its `effective_iterations`."""
    from keras_adrop import tuners
    from keras_adrop.regularizers import AdversarialDropout

    for delta in (0.0, 1.0, "0.1"):
        with pytest.raises(ValueError) as direct:
            adversarial_search.check_delta(delta)
        with pytest.raises(ValueError) as regularizer:
            AdversarialDropout(delta=delta)
        assert str(regularizer.value) == str(direct.value)
    with pytest.raises(ValueError) as direct:
        adversarial_search.check_iterations(0)
    with pytest.raises(ValueError) as regularizer:
        AdversarialDropout(iterations=0)
    assert str(regularizer.value) == str(direct.value)
    monkeypatch.setattr(adversarial_search, "effective_iterations",
                        lambda budget, iterations: (budget, iterations))
    assert tuners.effective_iterations(5, 2) == (5, 2)
    monkeypatch.setattr(adversarial_search, "flip_count",
                        lambda delta, units: 7)
    assert tuners.flip_range((0.01, 0.5), 10) == (1, 7)


def test_start_mask_flips_exactly_one_unit_per_example():
    base = np.ones((50, 7), "float32")
    base[::2, :3] = 0.0
    start = adversarial_search.start_mask(base, seed=3).numpy()
    assert set(np.unique(start)) <= {0.0, 1.0}
    np.testing.assert_array_equal(np.abs(start - base).sum(axis=1), 1)
    chosen = np.abs(start - base).argmax(axis=1)
    assert len(set(chosen)) > 1  # random, not always the same unit


def _mask_and_influence(draw, batch, units):
    bits = draw(st.lists(st.booleans(), min_size=batch * units,
                         max_size=batch * units))
    values = draw(st.lists(
        st.floats(-3, 3, allow_nan=False, width=32).filter(
            lambda v: v == 0 or abs(v) > 1e-3),
        min_size=batch * units, max_size=batch * units, unique=True))
    mask = np.array(bits, "float32").reshape(batch, units)
    influence = np.array(values, "float32").reshape(batch, units)
    return mask, influence


@st.composite
def flip_cases(draw):
    batch = draw(st.integers(1, 4))
    units = draw(st.integers(2, 12))
    mask, influence = _mask_and_influence(draw, batch, units)
    count = draw(st.integers(1, units))
    return mask, influence, count


@settings(max_examples=60, deadline=None)
@given(flip_cases())
def test_flip_takes_the_largest_strictly_positive_scores(case):
    mask, influence, count = case
    new = adversarial_search.flip(mask, influence, count).numpy()
    assert set(np.unique(new)) <= {0.0, 1.0}
    flipped = new != mask
    score = (1 - 2 * mask) * influence
    for row in range(mask.shape[0]):
        positive = score[row] > 0
        # Never more than `count`, never a unit with a score <= 0.
        assert flipped[row].sum() <= count
        assert not np.any(flipped[row] & ~positive)
        # Exactly the requested count when enough candidates exist,
        # otherwise every candidate.
        assert flipped[row].sum() == min(count, positive.sum())
        # The chosen ones are the best ones.
        if flipped[row].any() and (~flipped[row] & positive).any():
            assert score[row][flipped[row]].min() >= (
                score[row][~flipped[row] & positive].max())


@settings(max_examples=40, deadline=None)
@given(
    budget=st.integers(1, 8),
    iterations=st.integers(1, 4),
    seed=st.integers(0, 2**16),
)
def test_k_step_search_never_exceeds_the_budget(budget, iterations, seed):
    """Start flip + K greedy steps, influence maps adversarial to the limit."""
    rng = np.random.RandomState(seed)
    units = 10
    base = (rng.rand(3, units) > 0.3).astype("float32")
    mask = adversarial_search.start_mask(base, seed=seed).numpy()
    for count in adversarial_search.flip_schedule(budget, iterations):
        influence = rng.randn(3, units).astype("float32")
        mask = adversarial_search.flip(mask, influence, count).numpy()
        assert np.all(np.abs(mask - base).sum(axis=1) <= budget)
    assert np.all(np.abs(mask - base).sum(axis=1) <= budget)


def test_a_unit_flipped_earlier_may_be_flipped_back():
    mask = np.array([[0.0, 1.0, 1.0]], "float32")  # unit 0 dropped earlier
    influence = np.array([[2.0, 1.0, -1.0]], "float32")  # keep unit 0 on
    new = adversarial_search.flip(mask, influence, 1).numpy()
    np.testing.assert_array_equal(new, [[1.0, 1.0, 1.0]])
