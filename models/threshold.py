"""Choosing the flag threshold without labels."""

from __future__ import annotations

import numpy as np

#: Never flag a review the posterior thinks more likely genuine than fake.
POSTERIOR_FLOOR = 0.5


def valley_threshold(
    scores: np.ndarray, bins: int = 50, floor: float = POSTERIOR_FLOOR, min_ratio: float = 3.0
) -> tuple[float, str]:
    """Threshold at the density valley between the ordinary mass and a suspicious mode.

    Scores of campaigns pile up near 1 once evidence propagates through their
    shared templates, networks and rings, leaving a sparse valley above the
    ordinary reviews. The threshold is the lowest point of the smoothed
    histogram between the main mode and the highest mode above it, provided
    that upper mode stands at least ``min_ratio`` times above the valley.
    Without such a mode there is no evidence of a campaign, and only far
    outliers are flagged: the threshold is Tukey's far-out fence
    ``Q3 + 3 * IQR`` of the scores. Neither rule goes below ``floor``
    (posterior >= 0.5).

    Unlike Otsu's method it is not pulled towards the far larger honest class.

    Returns
    -------
    threshold : float
    method : str
        ``"valley"``, ``"fence"`` or ``"posterior"``, recorded in the summary.
    """
    s = np.asarray(scores, dtype=np.float64)
    s = s[np.isfinite(s)]
    if s.size < 50:
        return floor, "posterior"
    hist, edges = np.histogram(s, bins=bins, range=(0.0, 1.0))
    kernel = np.array([1.0, 2.0, 3.0, 2.0, 1.0]) / 9.0
    h = np.convolve(hist.astype(np.float64), kernel, mode="same")
    main = int(np.argmax(h))
    best = None
    for k in range(main + 2, bins):
        valley = main + int(np.argmin(h[main : k + 1]))
        if valley in (main, k):
            continue
        if h[k] >= min_ratio * max(h[valley], 1.0) and (best is None or h[k] > h[best[0]]):
            best = (k, valley)
    if best is None:
        q1, q3 = np.percentile(s, [25, 75])
        fence = float(q3 + 3.0 * (q3 - q1))
        return (fence, "fence") if fence > floor else (floor, "posterior")
    _, valley = best
    # the valley's lowest bin, taken at its upper edge so the sparse bin itself is not flagged
    t = float(edges[valley + 1])
    return max(t, floor), "valley"
