"""benchmarks.metrics against scikit-learn on small known inputs."""

from __future__ import annotations

import itertools
import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from benchmarks import metrics as M


@st.composite
def labelled_scores(draw, min_size=2, max_size=60, tie_heavy=None):
    """0/1 labels with both classes present and scores that are often tied."""
    n = draw(st.integers(min_size, max_size))
    y = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    if all(y) or not any(y):
        y[0] = not y[0]
    ties = draw(st.booleans()) if tie_heavy is None else tie_heavy
    if ties:
        s = draw(st.lists(st.integers(0, 4), min_size=n, max_size=n))
        s = [float(v) for v in s]
    else:
        s = draw(
            st.lists(
                st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
                min_size=n,
                max_size=n,
            )
        )
    return np.array(y), np.array(s, dtype=np.float64)


# ----------------------------------------------------------------------------- fixed cases

FIXED = [
    # y, scores, ROC-AUC, AP  (hand-computed)
    ([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], 0.75, (1 / 2) * 1 + (1 / 2) * (2 / 3)),
    ([1, 0, 1, 0], [0.5, 0.5, 0.5, 0.5], 0.5, 0.5),  # all tied: chance
    ([1, 1, 0, 0], [0.9, 0.8, 0.2, 0.1], 1.0, 1.0),
    ([1, 1, 0, 0], [0.1, 0.2, 0.8, 0.9], 0.0, (1 / 2) * (1 / 3) + (1 / 2) * (2 / 4)),
    # a fake tied with an honest review gets half credit for that pair
    ([1, 0, 0], [0.7, 0.7, 0.1], 0.75, 0.5),
]


@pytest.mark.parametrize(("y", "s", "auc", "ap"), FIXED)
def test_fixed_cases_match_hand_and_sklearn(y, s, auc, ap):
    assert M.roc_auc(y, s) == pytest.approx(auc)
    assert M.roc_auc(y, s) == pytest.approx(skm.roc_auc_score(y, s))
    assert M.average_precision(y, s) == pytest.approx(ap)
    assert M.average_precision(y, s) == pytest.approx(skm.average_precision_score(y, s))


def test_precision_at_k_fixed():
    y = [1, 0, 1, 0, 0, 1]
    s = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]
    assert M.precision_at_k(y, s, 1) == 1.0
    assert M.precision_at_k(y, s, 2) == 0.5
    assert M.precision_at_k(y, s, 3) == pytest.approx(2 / 3)
    assert M.precision_at_k(y, s, 6) == 0.5
    assert M.precision_at_k(y, s, 100) == 0.5  # k beyond n: all reviews
    # a tie at the cut-off: two of the three tied are fakes, one slot left
    assert M.precision_at_k([1, 1, 1, 0], [0.9, 0.5, 0.5, 0.5], 2) == pytest.approx((1 + 2 / 3) / 2)


def test_undefined_groups_are_nan_and_nan_scores_are_refused():
    assert math.isnan(M.roc_auc([0, 0], [0.1, 0.2]))
    assert math.isnan(M.roc_auc([1, 1], [0.1, 0.2]))
    assert math.isnan(M.average_precision([0, 0], [0.1, 0.2]))
    with pytest.raises(ValueError, match="NaN"):
        M.roc_auc([0, 1], [0.1, float("nan")])
    with pytest.raises(ValueError):
        M.roc_auc([0, 1, 2], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError):
        M.roc_auc([0, 1], [0.1, 0.2, 0.3])


def test_infinite_scores_are_ordered_not_nan():
    y = [1, 0, 1, 0]
    s = [np.inf, -np.inf, -np.inf, 0.0]
    assert M.roc_auc(y, s) == pytest.approx(skm.roc_auc_score(y, np.array([9, -9, -9, 0.0])))
    assert M.average_precision(y, s) == pytest.approx(
        skm.average_precision_score(y, np.array([9, -9, -9, 0.0]))
    )


# ----------------------------------------------------------------------------- hypothesis


@settings(max_examples=300, deadline=None)
@given(labelled_scores())
def test_roc_auc_matches_sklearn(data):
    y, s = data
    assert M.roc_auc(y, s) == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)


@settings(max_examples=300, deadline=None)
@given(labelled_scores())
def test_average_precision_matches_sklearn(data):
    y, s = data
    assert M.average_precision(y, s) == pytest.approx(skm.average_precision_score(y, s), abs=1e-12)


@settings(max_examples=200, deadline=None)
@given(labelled_scores())
def test_pr_curve_matches_sklearn(data):
    y, s = data
    p, r, t = M.pr_curve(y, s)
    sp, sr, st_ = skm.precision_recall_curve(y, s, drop_intermediate=False)
    np.testing.assert_allclose(p, sp)
    np.testing.assert_allclose(r, sr)
    np.testing.assert_allclose(t, st_)


@settings(max_examples=200, deadline=None)
@given(labelled_scores(tie_heavy=False), st.integers(1, 80))
def test_precision_at_k_matches_sklearn_without_ties(data, k):
    y, s = data
    if len(np.unique(s)) < len(s):  # hypothesis can still draw equal floats
        return
    kk = min(k, len(s))
    top = np.zeros(len(s), dtype=int)
    top[np.argsort(-s)[:kk]] = 1
    assert M.precision_at_k(y, s, k) == pytest.approx(
        skm.precision_score(y, top, zero_division=0.0)
    )


@settings(max_examples=100, deadline=None)
@given(labelled_scores(max_size=7, tie_heavy=True), st.integers(1, 7))
def test_precision_at_k_is_the_mean_over_tie_orders(data, k):
    """With ties, the figure equals the average over every order of the tied reviews."""
    y, s = data
    kk = min(k, len(s))
    values = []
    for perm in itertools.permutations(range(len(s))):
        # break ties by this permutation's position
        order = sorted(range(len(s)), key=lambda i: (-s[i], perm.index(i)))
        values.append(y[order[:kk]].mean())
    assert M.precision_at_k(y, s, k) == pytest.approx(np.mean(values))


@settings(max_examples=200, deadline=None)
@given(labelled_scores(), st.floats(-5, 5))
def test_at_threshold_matches_sklearn(data, thr):
    y, s = data
    f = s >= thr
    got = M.at_threshold(y, f)
    assert got["recall"] == pytest.approx(skm.recall_score(y, f, zero_division=np.nan), nan_ok=True)
    if f.any():
        assert got["precision"] == pytest.approx(skm.precision_score(y, f))
    else:
        assert math.isnan(got["precision"])
    assert got["flag_rate"] == pytest.approx(f.mean())
    tn, fp, fn, tp = skm.confusion_matrix(y, f, labels=[False, True]).ravel()
    assert got["false_positive_rate"] == pytest.approx(fp / (fp + tn))


# ----------------------------------------------------------------------------- evaluate


def test_evaluate_per_family_is_that_family_against_all_honest():
    labels = pl.DataFrame(
        {
            "is_fake": [True, True, True, False, False, False, False],
            "attack_type": ["boost", "boost", "smear", None, None, None, None],
            "trap": [None, None, None, "flash_sale", "flash_sale", None, None],
        }
    )
    s = np.array([0.9, 0.2, 0.8, 0.85, 0.1, 0.3, 0.4])
    f = s >= 0.5
    ev = M.evaluate(labels, s, f, ("boost", "smear", "ring"), ("flash_sale", "shared_ip"))
    honest = slice(3, 7)
    yb = np.r_[[1, 1], np.zeros(4)]
    sb = np.r_[s[:2], s[honest]]
    assert ev["per_family"]["boost"]["roc_auc"] == pytest.approx(skm.roc_auc_score(yb, sb))
    assert ev["per_family"]["smear"]["roc_auc"] == pytest.approx(
        skm.roc_auc_score(np.r_[1, np.zeros(4)], np.r_[s[2], s[honest]])
    )
    assert "ring" not in ev["per_family"]  # absent families are not reported as 0 or 1
    assert ev["per_family"]["boost"]["recall_at_threshold"] == 0.5
    assert ev["per_trap"]["flash_sale"]["flag_rate"] == 0.5
    assert "shared_ip" not in ev["per_trap"]
    assert ev["honest_outside_traps"]["flag_rate"] == 0.0
    # 3 fakes -> top 3 are 0.9, 0.85, 0.8: one of the two flash-sale reviews
    assert ev["per_trap"]["flash_sale"]["flag_rate_at_n_fake"] == pytest.approx(0.5)
    assert ev["precision_at_n_fake"] == pytest.approx(2 / 3)
    assert ev["roc_auc"] == pytest.approx(skm.roc_auc_score(labels["is_fake"], s))
    assert ev["at_threshold"]["flagged"] == 3


def test_average_ranks_match_scipy():
    from scipy.stats import rankdata

    rng = np.random.default_rng(0)
    x = rng.integers(0, 5, 200).astype(float)
    np.testing.assert_allclose(M.average_ranks(x), rankdata(x))
    assert M.average_ranks(np.array([])).shape == (0,)
