"""Campaign-level evidence: a group whose members jointly show a tell far beyond chance.

One review written minutes after its buyer confirmed receipt says little:
honest prompt reviewers do that every day. Forty such reviews on one product,
where the market and the product's own shop give a few percent, are a
campaign. The evidence is about the group, never about one review's extreme
value, so it is measured against what honest crowds give: the share of the
tell in the market and in the shop's other products, with a binomial tail
for how surprising the group's count is, and the share of the group's
members that chance cannot explain (the *excess*). Groups that pass become
fixed-belief nodes of the review graph (:class:`models.propagation.GroupKind`
with ``fixed=True``): their belief is the excess share, and members are
raised by it, never lowered.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import binom

#: A group is evidence only when the chance of its count under the reference share is below this.
ALPHA = 1e-7
#: ... and it holds at least this many members showing the tell ...
MIN_MEMBERS = 8
#: ... of which at least this share is beyond what the reference share explains.
MIN_EXCESS = 0.6
#: The belief a passing group is capped at (one group alone never makes certainty).
MAX_BELIEF = 0.98
#: Pseudo-reviews at the market's share that a shop's own share is shrunk with.
SHOP_PSEUDO = 50.0


def concentration(
    group: np.ndarray, shop: np.ndarray, tell: np.ndarray, known: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per review, the node id and belief of its surprising group (-1 where none).

    Parameters
    ----------
    group, shop : ndarray of int, shape (n,)
        Dense ids of each review's group (e.g. its product) and of the shop the
        group belongs to; only rows with ``known`` are read.
    tell : ndarray of bool, shape (n,)
        Whether the review shows the tell (e.g. written minutes after receipt).
    known : ndarray of bool, shape (n,)
        Rows where the tell could be measured.

    Returns
    -------
    ids : ndarray of int, shape (n,)
        Dense node id for members showing the tell of a passing group, else -1.
    belief : ndarray of float, shape (n_nodes,)
        Per node, the share of its tell-showing members beyond the reference
        share (capped at :data:`MAX_BELIEF`).

    Notes
    -----
    The reference share of a group is the larger of the market's and its
    shop's share outside the group (shrunk towards the market): a shop whose
    honest buyers all review promptly sets its own, higher, bar. The excess
    is one minus the tell-showing members the group's other members imply at
    the reference share, over those it holds.
    """
    ids = np.full(group.shape[0], -1, dtype=np.int64)
    if not known.any():
        return ids, np.zeros(0)
    g, s, t = group[known], shop[known], tell[known].astype(np.float64)
    n_g = np.bincount(g).astype(np.float64)
    k_g = np.bincount(g, t, n_g.size)
    # each group's shop, read off any of its rows (a product belongs to one shop)
    shop_of = np.zeros(n_g.size, dtype=np.int64)
    shop_of[g] = s
    # twice: the second time the shares leave out the groups the first found, so
    # a campaign on several of a shop's products does not raise its own bar
    passing, excess = _surprising(n_g, k_g, shop_of, np.zeros(n_g.size, dtype=bool))
    passing, excess = _surprising(n_g, k_g, shop_of, passing)
    node = np.full(n_g.size, -1, dtype=np.int64)
    node[passing] = np.arange(int(passing.sum()))
    member = (node[g] >= 0) & (t > 0)
    sub = np.full(g.size, -1, dtype=np.int64)
    sub[member] = node[g][member]
    ids[known] = sub
    return ids, np.minimum(excess[passing], MAX_BELIEF)


def _surprising(
    n_g: np.ndarray, k_g: np.ndarray, shop_of: np.ndarray, left_out: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Which groups pass, and their excess, with the ``left_out`` groups out of the shares."""
    kept = ~left_out
    market = float(k_g[kept].sum() / max(n_g[kept].sum(), 1.0))
    n_s = np.bincount(shop_of, n_g * kept, int(shop_of.max()) + 1)
    k_s = np.bincount(shop_of, k_g * kept, n_s.size)
    out_n, out_k = n_s[shop_of] - n_g * kept, k_s[shop_of] - k_g * kept
    shop_share = (out_k + SHOP_PSEUDO * market) / (out_n + SHOP_PSEUDO)
    ref = np.clip(np.maximum(market, shop_share), 1e-6, 1.0 - 1e-6)
    p_value = binom.sf(k_g - 1, n_g, ref)
    # honest members showing the tell expected from the members that do not show it
    expected = (n_g - k_g) * ref / (1.0 - ref)
    excess = 1.0 - expected / np.maximum(k_g, 1.0)
    return (p_value < ALPHA) & (k_g >= MIN_MEMBERS) & (excess >= MIN_EXCESS), excess
