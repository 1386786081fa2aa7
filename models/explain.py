"""Turning per-feature contributions into reasons a person can read."""

from __future__ import annotations

import numpy as np

#: A feature is a reason when it carries at least this share of a review's score.
MIN_SHARE = 0.08
MAX_REASONS = 5


def top_reasons(
    contrib: np.ndarray,
    names: list[str],
    max_reasons: int = MAX_REASONS,
    min_share: float = MIN_SHARE,
) -> list[list[str]]:
    """Feature names per row, strongest contribution first.

    Features below ``min_share`` of the row's total are left out, except that
    a row with any positive contribution always keeps its strongest one.
    """
    out: list[list[str]] = []
    if contrib.size == 0:
        return [[] for _ in range(contrib.shape[0])]
    order = np.argsort(-contrib, axis=1, kind="stable")[:, :max_reasons]
    total = contrib.sum(axis=1)
    for i in range(contrib.shape[0]):
        row = []
        for rank, j in enumerate(order[i]):
            c = contrib[i, j]
            if c <= 0:
                break
            if rank > 0 and c < min_share * total[i]:
                break
            row.append(names[j])
        out.append(row)
    return out
