import numpy as np
import pytest
from sklearn.base import clone
from sklearn.metrics import roc_auc_score

from models.explain import explanation_terms, reasons_from
from models.isolation import OneSidedIsolationForest
from models.threshold import POSTERIOR_FLOOR, estimate, precision_threshold


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
    rows = np.arange(50)
    terms = explanation_terms(contrib, rows, ["a", "b", "c", "d"], np.zeros(50))
    reasons = dict(reasons_from(terms).iter_rows())
    assert all(set(reasons.get(i, [])) & {"a", "b"} for i in rows.tolist())


def test_chunked_scoring_matches_single_chunk():
    X, _ = planted(n=5000)
    m1 = OneSidedIsolationForest(directions=[1, -1, 1, 1], chunk_size=700, n_jobs=2).fit(X)
    m2 = OneSidedIsolationForest(directions=[1, -1, 1, 1], chunk_size=10**9, n_jobs=1).fit(X)
    assert np.allclose(m1.score_samples(X), m2.score_samples(X), atol=1e-12)


def test_threshold_meets_the_target_on_calibrated_posteriors():
    """Reviews that are fake with probability p (p drawn, then labels drawn from p)."""
    rng = np.random.default_rng(0)
    p = np.concatenate([rng.beta(2, 6, 20_000), rng.beta(12, 1, 800)])
    fake = rng.random(p.size) < p
    t = precision_threshold(p, target=0.9, floor=0.5)
    flagged = p >= t.value
    assert t.method == "target_precision" and t.flagged == flagged.sum() > 500
    assert abs(t.estimated_precision - 0.9) < 0.01
    assert abs(fake[flagged].mean() - 0.9) < 0.03  # the estimate holds where p is calibrated
    # lower-scoring reviews would pull the estimate below the target
    below = p >= np.sort(p[~flagged])[-50]
    assert p[below].mean() < 0.9
    # the order of the scores changes nothing
    assert precision_threshold(rng.permutation(p), target=0.9, floor=0.5) == t
    # a low target: each flag's own posterior (the floor) decides
    loose = precision_threshold(p, target=0.5)
    f = POSTERIOR_FLOOR
    assert loose.value >= f and p[p < f].max() < loose.value <= p[p >= f].min()


def test_weak_evidence_flags_nothing_and_ties_go_together():
    rng = np.random.default_rng(1)
    weak = rng.uniform(0.2, 0.8, 5_000)  # no review is confidently fake
    t = precision_threshold(weak, target=0.9)
    assert t.flagged == 0 and t.value > 1.0 and t.estimated_precision is None
    assert t.record()["value"] == t.value  # finite: summary.json stays valid JSON
    tied = np.array([0.95] * 10 + [0.85] * 10 + [0.1] * 100)
    # the 0.85 block would take the mean to 0.9 exactly; it joins whole or not at all
    assert precision_threshold(tied, 0.9).flagged == 20
    assert precision_threshold(tied, 0.91).flagged == 10
    fixed = estimate(tied, 0.5, "fixed", None)
    assert fixed.flagged == 20 and abs(fixed.estimated_precision - 0.9) < 1e-12


def test_a_single_extreme_feature_is_not_diluted_by_the_others():
    """Thirty reviews whose one tell is one feature far beyond the bulk score with the most anomalous."""
    rng = np.random.default_rng(4)
    X = rng.exponential(size=(6_000, 12))
    X[:200, :6] *= 3.0  # reviews mildly unusual on half the features
    X[-30:, 5] = 60.0  # the single tell: far beyond feature 5's 99th percentile (~4.6)
    kw = dict(n_estimators=200, random_state=0)
    plain = OneSidedIsolationForest(tail_spreads=None, combine="forest", **kw).fit(X)
    model = OneSidedIsolationForest(**kw).fit(X)
    honest_top = np.quantile(model.score_samples(X[:-30]), 0.99)
    assert np.quantile(plain.score_samples(X[-30:]), 0.5) < honest_top  # the forest alone dilutes
    assert model.score_samples(X[-30:]).min() >= 0.99 > honest_top
    _, contrib = model.contributions(X[-30:])
    assert np.allclose(contrib.sum(axis=1), model.score_samples(X[-30:]))
    assert (contrib.argmax(axis=1) == 5).all()


def test_summed_score_keeps_few_strong_features_that_the_forest_dilutes():
    """Reviews high on 4 of 12 features (each within its top ~5 %) rank above the bulk.

    The forest splits on randomly chosen features, so eight ordinary columns
    dilute the four; the summed percentiles count each at its rank.
    """
    rng = np.random.default_rng(7)
    X = rng.exponential(size=(6_000, 12))
    y = np.zeros(6_000, dtype=bool)
    y[:150] = True
    X[:150, :4] = rng.uniform(2.5, 4.0, size=(150, 4))  # top ~5 %, below the tail's 99th pct
    kw = dict(random_state=0)
    summed = OneSidedIsolationForest(**kw).fit(X)
    forest = OneSidedIsolationForest(combine="forest", **kw).fit(X)
    s_sum, s_forest = summed.score_samples(X), forest.score_samples(X)
    assert s_sum.min() >= 0 and s_sum.max() <= 1
    assert roc_auc_score(y, s_sum) > 0.975
    assert roc_auc_score(y, s_sum) > roc_auc_score(y, s_forest) + 0.01
    _, contrib = summed.contributions(X[:40])
    assert np.allclose(contrib.sum(axis=1), s_sum[:40], atol=1e-12)
    assert contrib[:, :4].sum() > 0.6 * contrib.sum()  # the planted 4 of 12 carry most of it


def test_blend_is_the_mean_of_forest_and_sum_and_its_contributions_add_up():
    """``combine="blend"``: the mean of the two scores, explained by the mean of the two explanations."""
    rng = np.random.default_rng(3)
    X = rng.exponential(size=(3_000, 6))
    X[:60, :2] = rng.uniform(2.5, 4.0, size=(60, 2))
    kw = dict(random_state=0, tail_spreads=None)
    scores = {
        c: OneSidedIsolationForest(combine=c, **kw).fit(X).score_samples(X)
        for c in ("sum", "forest")
    }
    blend = OneSidedIsolationForest(combine="blend", **kw).fit(X)
    s_blend = blend.score_samples(X)
    assert np.allclose(s_blend, 0.5 * (scores["sum"] + scores["forest"]), atol=1e-12)
    tailed = OneSidedIsolationForest(combine="blend", random_state=0).fit(X)
    _, contrib = tailed.contributions(X[:80])
    assert np.allclose(contrib.sum(axis=1), tailed.score_samples(X[:80]), atol=1e-9)
    assert (contrib >= 0).all() and contrib[:60, :2].sum() > 0.5 * contrib[:60].sum()


def test_a_campaign_of_four_percent_is_measured_against_the_honest_tail():
    """A tell carried by 4 % of the rows stays a single strong signal (at tail_quantile
    0.99 the campaign itself was the tail it was measured against)."""
    rng = np.random.default_rng(3)
    n, bad = 5000, 200
    X = rng.lognormal(0, 0.5, size=(n, 6))
    X[:, 0] = rng.poisson(1.0, n)  # honest: a few accounts share a text
    X[:bad, 0] = rng.integers(25, 40, bad)  # the campaign: one template, 25-40 accounts
    X[:bad, 1:] = rng.lognormal(-1, 0.3, size=(bad, 5))  # ordinary in every other way
    m = OneSidedIsolationForest(random_state=0).fit(X)
    tail, arg = m.tail_score(X)
    assert (arg[:bad] == 0).all() and tail[:bad].min() > np.quantile(tail[bad:], 0.999)
    y = np.zeros(n, dtype=bool)
    y[:bad] = True
    assert roc_auc_score(y, m.score_samples(X)) > 0.99


def test_only_tail_features_flag_alone():
    """A circumstantial column's extreme adds to the sum but is no single-signal term."""
    X, _ = planted()
    both = OneSidedIsolationForest(directions=[1, -1, 1, 1], random_state=0).fit(X)
    kw = dict(directions=[1, -1, 1, 1], random_state=0, tail_features=[False, True, True, True])
    only = OneSidedIsolationForest(**kw).fit(X)
    t_both, a_both = both.tail_score(X)
    t_only, a_only = only.tail_score(X)
    assert ((a_both[:100] == 0) & (t_both[:100] > 0)).any()  # column 0 carries some alone...
    assert (t_only[a_only == 0] == 0).all()  # ... and never does when it may not
    assert (t_both[:100] > t_only[:100]).any()
    assert (t_only <= t_both + 1e-12).all()
    np.testing.assert_allclose(only.summed(only.transform(X)), both.summed(both.transform(X)))
    assert clone(only).get_params()["tail_features"] == [False, True, True, True]
