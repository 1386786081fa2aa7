import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.windows import (
    burst_surprise,
    first_in_window,
    poisson_surprise,
    window_counts,
    window_sums,
)


def brute_counts(group, t, before, after):
    return np.array(
        [
            np.sum((group == g) & (t >= ti - before) & (t <= ti + after))
            for g, ti in zip(group, t, strict=True)
        ]
    )


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 500)), min_size=1, max_size=60),
    st.integers(0, 100),
)
def test_window_counts_match_brute_force(rows, w):
    group = np.array([r[0] for r in rows], dtype=np.int64)
    t = np.array([r[1] for r in rows], dtype=np.int64)
    assert np.array_equal(window_counts(group, t, w), brute_counts(group, t, w, w))
    vals = np.arange(len(rows), dtype=np.float64)
    brute = [
        vals[(group == g) & (t >= ti - w) & (t <= ti + w)].sum()
        for g, ti in zip(group, t, strict=True)
    ]
    assert np.allclose(window_sums(group, t, vals, w), brute)


def test_window_counts_row_order_independent():
    rng = np.random.default_rng(0)
    g = rng.integers(0, 5, 300)
    t = rng.integers(0, 10_000, 300)
    perm = rng.permutation(300)
    assert np.array_equal(window_counts(g, t, 500)[perm], window_counts(g[perm], t[perm], 500))


def test_poisson_surprise_one_sided():
    s = poisson_surprise(np.array([0, 1, 5, 30]), np.array([1.0, 1.0, 1.0, 1.0]))
    assert s[0] == 0 and s[1] == 0
    assert 0 < s[2] < s[3]
    # P(X >= 5 | lambda = 1), computed independently of scipy
    p = 1 - sum(np.exp(-1) / math.factorial(k) for k in range(5))
    assert s[2] == pytest.approx(-np.log10(p), rel=1e-6)


def test_first_in_window_counts_distinct_users():
    group = np.zeros(4, dtype=np.int64)
    user = np.array([1, 1, 1, 2])
    t = np.array([0, 10, 5000, 20])
    m = first_in_window(group, user, t, 100)
    assert m.tolist() == [True, False, True, True]


def test_burst_surprise_separates_spike_from_steady_stream():
    # steady: one review a day for a year; spike: 20 within an hour on day 200
    t_steady = np.arange(365) * 86_400
    t_spike = np.concatenate([np.arange(365) * 86_400 * 5, 200 * 86_400 + np.arange(20) * 60])
    steady = burst_surprise(
        np.zeros(t_steady.size, dtype=np.int64), t_steady, 12 * 3600, 30 * 86_400
    )
    spike = burst_surprise(np.zeros(t_spike.size, dtype=np.int64), t_spike, 12 * 3600, 30 * 86_400)
    assert steady.max() < 2
    assert spike[-20:].min() > 10
