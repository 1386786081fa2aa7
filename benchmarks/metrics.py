"""The one metric module every benchmark figure goes through.

Plain numpy, checked against :mod:`sklearn.metrics` in ``tests/test_metrics.py``.
Conventions:

* Scores: higher = more suspicious. Every review is scored and every review
  counts: metrics are never computed on a subset such as the extreme-scored
  reviews (a known way to print inflated numbers).
* Ties are handled exactly: ROC-AUC gives tied fake/honest pairs half credit
  (Mann-Whitney U with average ranks), average precision steps over distinct
  score values like sklearn, precision@k takes the expectation over the order
  of reviews tied at the cut-off.
* A figure that is undefined (no fake, or no honest review, in a group) is
  ``nan`` and is written as ``null`` in ``results.json``.
* Per attack family: that family's fakes against *all* honest reviews (other
  families' fakes are left out). Per honest trap: the share of that trap's
  reviews that were flagged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import polars as pl


def _check(y_true, scores) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true)
    s = np.asarray(scores, dtype=np.float64)
    if y.ndim != 1 or s.ndim != 1 or y.shape != s.shape:
        raise ValueError(
            f"y_true and scores must be 1-d of one length, got {y.shape} and {s.shape}"
        )
    if np.isnan(s).any():
        raise ValueError("scores contain NaN; score every review")
    if y.dtype != bool:
        u = np.unique(y)
        if not np.isin(u, (0, 1)).all():
            raise ValueError(f"y_true must be boolean or 0/1, got values {u[:5]}")
        y = y.astype(bool)
    return y, s


def average_ranks(x) -> np.ndarray:
    """1-based ranks of ``x``, ties sharing the average of their ranks."""
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    change = np.empty(n, dtype=bool)
    if n:
        change[0] = True
        change[1:] = xs[1:] != xs[:-1]
    starts = np.flatnonzero(change)
    ends = np.append(starts[1:], n)
    group = np.cumsum(change) - 1
    ranks = np.empty(n, dtype=np.float64)
    ranks[order] = ((starts + ends - 1) / 2.0 + 1.0)[group]
    return ranks


def roc_auc(y_true, scores) -> float:
    """Area under the ROC curve: P(score of a fake > score of an honest review), ties count half."""
    y, s = _check(y_true, scores)
    n1 = int(y.sum())
    n0 = y.shape[0] - n1
    if n1 == 0 or n0 == 0:
        return math.nan
    r = average_ranks(s)
    u = r[y].sum() - n1 * (n1 + 1) / 2.0
    return float(u / (n1 * n0))


def _curve(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True and false positives when flagging at or above each distinct score (descending)."""
    order = np.argsort(-s, kind="mergesort")
    ss = s[order]
    ys = y[order]
    last = np.flatnonzero(np.append(ss[1:] != ss[:-1], True))
    tps = np.cumsum(ys, dtype=np.int64)[last]
    fps = (last + 1) - tps
    return tps, fps, ss[last]


def average_precision(y_true, scores) -> float:
    """Average precision: sum over distinct thresholds of (R_n - R_{n-1}) * P_n, as sklearn."""
    y, s = _check(y_true, scores)
    if not y.any():
        return math.nan
    tps, fps, _ = _curve(y, s)
    precision = tps / (tps + fps)
    recall = tps / tps[-1]
    return float(np.sum(np.diff(recall, prepend=0.0) * precision))


def pr_curve(y_true, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall and thresholds like ``sklearn.metrics.precision_recall_curve``.

    One point per distinct score (``drop_intermediate=False``); thresholds
    ascend; the last point is precision 1, recall 0 (no threshold).
    """
    y, s = _check(y_true, scores)
    if not y.any():
        raise ValueError("pr_curve needs at least one positive")
    tps, fps, thr = _curve(y, s)
    precision = tps / (tps + fps)
    recall = tps / tps[-1]
    return (
        np.append(precision[::-1], 1.0),
        np.append(recall[::-1], 0.0),
        thr[::-1],
    )


def precision_at_k(y_true, scores, k: int) -> float:
    """Share of fakes among the ``k`` highest-scored reviews.

    Reviews tied at the cut-off are taken in random order; the value returned
    is the exact expectation over that order (no arbitrary tie-break).
    """
    y, s = _check(y_true, scores)
    n = y.shape[0]
    if k <= 0 or n == 0:
        return math.nan
    k = min(int(k), n)
    cut = np.sort(s)[::-1][k - 1]
    above = s > cut
    tied = s == cut
    n_above = int(above.sum())
    pos_tied = int(y[tied].sum())
    expected = y[above].sum() + (k - n_above) * pos_tied / int(tied.sum())
    return float(expected / k)


def at_threshold(y_true, flagged) -> dict[str, float]:
    """Recall, precision and flag rate of a yes/no decision."""
    y = np.asarray(y_true, dtype=bool)
    f = np.asarray(flagged, dtype=bool)
    if y.shape != f.shape:
        raise ValueError("y_true and flagged differ in length")
    tp = int((y & f).sum())
    nf = int(f.sum())
    npos = int(y.sum())
    return {
        "recall": tp / npos if npos else math.nan,
        "precision": tp / nf if nf else math.nan,
        "flag_rate": nf / y.shape[0] if y.shape[0] else math.nan,
        "false_positive_rate": (nf - tp) / (y.shape[0] - npos) if y.shape[0] > npos else math.nan,
        "flagged": nf,
    }


def flag_rate(flagged, mask=None) -> float:
    """Share of the reviews selected by ``mask`` (all by default) that were flagged."""
    f = np.asarray(flagged, dtype=bool)
    if mask is not None:
        f = f[np.asarray(mask, dtype=bool)]
    return float(f.mean()) if f.size else math.nan


def top_k_flags(scores, k: int) -> np.ndarray:
    """Flags for the ``k`` highest scores; ties at the cut-off broken by position (stable)."""
    s = np.asarray(scores, dtype=np.float64)
    out = np.zeros(s.shape[0], dtype=bool)
    if k > 0:
        out[np.argsort(-s, kind="mergesort")[: min(k, s.shape[0])]] = True
    return out


def expected_top_k_rate(scores, k: int, mask) -> float:
    """Expected share of ``mask`` reviews among the top ``k`` (ties at the cut-off in random order)."""
    s = np.asarray(scores, dtype=np.float64)
    m = np.asarray(mask, dtype=bool)
    if not m.any() or k <= 0:
        return math.nan
    return precision_at_k(m, s, k) * min(k, s.shape[0]) / int(m.sum())


def evaluate(
    labels: pl.DataFrame,
    scores,
    flagged,
    attack_families: Sequence[str] = (),
    traps: Sequence[str] = (),
    ks: Sequence[int] = (100,),
) -> dict:
    """Every figure for one method on one dataset.

    Parameters
    ----------
    labels : DataFrame
        ``is_fake``, ``attack_type`` and ``trap`` per review, in score order.
    scores, flagged : array-like
        The method's score (higher = more suspicious) and flag decision per review.
    attack_families, traps : sequence of str
        Groups to report separately (those absent from ``labels`` are skipped).
    ks : sequence of int
        Cut-offs for precision@k; precision@(number of fakes) is always added.
    """
    y = labels["is_fake"].to_numpy().astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    f = np.asarray(flagged, dtype=bool)
    if not (y.shape[0] == s.shape[0] == f.shape[0]):
        raise ValueError("labels, scores and flagged differ in length")
    n_pos = int(y.sum())
    out: dict = {
        "n_reviews": int(y.shape[0]),
        "n_fake": n_pos,
        "roc_auc": roc_auc(y, s),
        "average_precision": average_precision(y, s),
        "precision_at_k": {str(k): precision_at_k(y, s, k) for k in ks},
        "precision_at_n_fake": precision_at_k(y, s, n_pos) if n_pos else math.nan,
        "at_threshold": at_threshold(y, f),
    }
    honest = ~y
    attack = labels["attack_type"].to_numpy() if "attack_type" in labels.columns else None
    per_family = {}
    for fam in attack_families:
        if attack is None:
            break
        m = attack == fam
        if not m.any():
            continue
        sel = m | honest
        per_family[fam] = {
            "n": int(m.sum()),
            "roc_auc": roc_auc(y[sel], s[sel]),
            "average_precision": average_precision(y[sel], s[sel]),
            "recall_at_threshold": flag_rate(f, m),
        }
    out["per_family"] = per_family
    trap = labels["trap"].to_numpy() if "trap" in labels.columns else None
    per_trap = {}
    any_trap = np.zeros_like(y)
    for t in traps:
        if trap is None:
            break
        m = trap == t
        if not m.any():
            continue
        any_trap |= m
        sel = m | y
        per_trap[t] = {
            "n": int(m.sum()),
            "flag_rate": flag_rate(f, m),
            # the same share when every method flags exactly as many reviews as there are fakes
            "flag_rate_at_n_fake": expected_top_k_rate(s, n_pos, m) if n_pos else math.nan,
            # how well the method tells fakes from this trap's honest look-alikes
            "roc_auc_fake_vs_trap": roc_auc(y[sel], s[sel]),
        }
    out["per_trap"] = per_trap
    if per_trap:
        plain = honest & ~any_trap
        out["honest_outside_traps"] = {
            "n": int(plain.sum()),
            "flag_rate": flag_rate(f, plain),
            "flag_rate_at_n_fake": expected_top_k_rate(s, n_pos, plain) if n_pos else math.nan,
        }
    return out
