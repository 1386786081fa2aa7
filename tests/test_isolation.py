import numpy as np
import pytest
from sklearn.base import clone
from sklearn.metrics import roc_auc_score

from models.explain import top_reasons
from models.isolation import OneSidedIsolationForest
from models.threshold import valley_threshold


def planted(n=4000, n_bad=100, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.lognormal(0, 1, size=(n, 4))
    y = np.zeros(n, dtype=bool)
    y[:n_bad] = True
    X[:n_bad, 0] += 8  # suspicious high
    X[:n_bad, 1] = 0.01  # suspicious low (direction -1)
    # prolific honest outliers on the *unsuspicious* side: a raw forest isolates them
    X[n_bad : n_bad + 200, 0] = 0.0
    X[n_bad : n_bad + 200, 1] = 50.0
    return X, y


def test_sklearn_contract():
    X, _ = planted()
    m = OneSidedIsolationForest(directions=[1, -1, 1, 1], n_estimators=50)
    assert m.fit(X) is m
    assert hasattr(m, "forest_") and hasattr(m, "grid_")
    c = clone(m)
    assert c.get_params() == m.get_params()
    assert not hasattr(c, "forest_")


def test_one_sided_beats_raw_forest_and_higher_is_more_suspicious():
    from sklearn.ensemble import IsolationForest

    X, y = planted()
    m = OneSidedIsolationForest(directions=[1, -1, 1, 1], random_state=0).fit(X)
    s = m.score_samples(X)
    assert s.min() >= 0 and s.max() <= 1
    auc = roc_auc_score(y, s)
    raw = -IsolationForest(random_state=0).fit(X).score_samples(X)
    assert auc > 0.93
    assert auc > roc_auc_score(y, raw)


def test_ordinary_side_never_raises_the_score():
    X, _ = planted()
    m = OneSidedIsolationForest(directions=[1, -1, 1, 1], random_state=0).fit(X)
    ordinary = np.median(X, axis=0, keepdims=True)
    extreme_unsuspicious = ordinary.copy()
    extreme_unsuspicious[0, 0] = -100.0
    extreme_unsuspicious[0, 1] = 1e6
    assert m.score_samples(extreme_unsuspicious)[0] == pytest.approx(0.0, abs=1e-12)


def test_contributions_add_up_and_name_the_planted_feature():
    X, y = planted()
    m = OneSidedIsolationForest(directions=[1, -1, 1, 1], random_state=0).fit(X)
    base, contrib = m.contributions(X[:50])
    assert base == 0.0
    assert np.allclose(contrib.sum(axis=1), m.score_samples(X[:50]), atol=1e-9)
    reasons = top_reasons(contrib, ["a", "b", "c", "d"])
    assert all(set(r) & {"a", "b"} for r in reasons)


def test_chunked_scoring_matches_single_chunk():
    X, _ = planted(n=5000)
    m1 = OneSidedIsolationForest(directions=[1, -1, 1, 1], chunk_size=700, n_jobs=2).fit(X)
    m2 = OneSidedIsolationForest(directions=[1, -1, 1, 1], chunk_size=10**9, n_jobs=1).fit(X)
    assert np.allclose(m1.score_samples(X), m2.score_samples(X), atol=1e-12)


def test_valley_threshold_splits_bimodal_scores():
    rng = np.random.default_rng(0)
    s = np.clip(np.concatenate([rng.normal(0.3, 0.08, 5000), rng.normal(0.95, 0.02, 200)]), 0, 1)
    t, method = valley_threshold(s)
    assert method == "valley"
    assert 0.6 < t < 0.9
    # the threshold separates the two groups almost perfectly
    assert (s[:5000] >= t).mean() < 0.001 and (s[5000:] >= t).mean() > 0.99


def test_without_a_second_mode_only_far_outliers_are_flagged():
    rng = np.random.default_rng(1)
    s = np.clip(rng.normal(0.3, 0.1, 5000), 0, 1)
    t, method = valley_threshold(s)
    assert method == "fence"
    assert (s >= t).mean() < 0.001
    tight = np.clip(rng.normal(0.2, 0.01, 5000), 0, 1)
    assert valley_threshold(tight) == (0.5, "posterior")
