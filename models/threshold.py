"""Choosing the flag threshold without labels."""

from __future__ import annotations

import numpy as np


def otsu_threshold(scores: np.ndarray, bins: int = 512) -> float:
    """Threshold maximising the between-class variance of the score histogram.

    Label-free and scale-free: it splits the scores where two groups are most
    clearly separated, which on one-sided features is the gap between the
    ordinary mass and the isolated tail.
    """
    s = np.asarray(scores, dtype=np.float64)
    s = s[np.isfinite(s)]
    if s.size == 0 or s.min() == s.max():
        return float("inf")
    hist, edges = np.histogram(s, bins=bins)
    w = hist.astype(np.float64) / hist.sum()
    mids = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(w)
    m0 = np.cumsum(w * mids)
    mt = m0[-1]
    w1 = 1.0 - w0
    valid = (w0 > 0) & (w1 > 0)
    between = np.zeros_like(w0)
    between[valid] = (mt * w0[valid] - m0[valid]) ** 2 / (w0[valid] * w1[valid])
    k = int(np.argmax(between))
    return float(edges[k + 1])
