"""The review graph used for propagation: which nodes each review attaches to."""

from __future__ import annotations

import numpy as np
import polars as pl

from features.frames import group_codes
from features.params import DAY
from models.propagation import GroupKind, homophily

#: Node kinds, in the order they are built; ablations drop them by name.
GRAPH_KINDS: tuple[str, ...] = ("user", "product", "text_cluster", "network", "ring")
#: Kinds that link reviews by concrete shared evidence (not by who or what was reviewed).
EVIDENCE_KINDS: tuple[str, ...] = ("text_cluster", "network", "ring")


def _codes(keys: pl.DataFrame, cols: list[str], mask: np.ndarray | None = None) -> np.ndarray:
    """Dense ids of ``cols`` per row, -1 where any is null or ``mask`` is False."""
    valid = np.ones(keys.height, dtype=bool)
    for c in cols:
        valid &= keys[c].is_not_null().to_numpy()
    if mask is not None:
        valid &= mask
    ids = np.full(keys.height, -1, dtype=np.int64)
    if valid.any():
        ids[valid] = group_codes(keys.filter(pl.Series(valid)), *cols)
    return ids


def _shared(ids: np.ndarray) -> np.ndarray:
    """Rows whose node holds at least one other row."""
    att = ids >= 0
    out = np.zeros(ids.shape[0], dtype=bool)
    if att.any():
        out[att] = np.bincount(ids[att])[ids[att]] > 1
    return out


def build_kinds(
    keys: pl.DataFrame, eps: float = 0.1, kinds: tuple[str, ...] = GRAPH_KINDS
) -> list[GroupKind]:
    """Node kinds for :func:`models.propagation.propagate` from per-review link keys.

    Evidence nodes (a template, one network at one shop in one week, a ring)
    come first. User and product nodes are SpEagle's review graph: a user's
    reviews share its fate, a product with many suspicious reviews holds
    more. A review already linked to others by concrete evidence is left out
    of the user and product nodes: a ring account's ordinary camouflage
    reviews, or the genuine majority on the product it targets, must not
    outvote the lockstep evidence that ties the review to its campaign.

    Parameters
    ----------
    keys : pl.DataFrame
        :attr:`features.pipeline.FeatureResult.keys`, sorted by ``_rid``.
    eps : float
        Edge-potential strength.
    kinds : tuple of str
        Which node kinds to use (see :data:`GRAPH_KINDS`).
    """
    evidence: list[GroupKind] = []
    if "text_cluster" in kinds and "text_cluster" in keys.columns:
        evidence.append(GroupKind("text_cluster", _codes(keys, ["text_cluster"]), homophily(eps)))
    if "network" in kinds and "_net" in keys.columns:
        # one node per /24 (/64) at one shop in one week: a campaign, not a carrier's whole history
        wk = keys.with_columns((pl.col("_t") // (7 * DAY)).alias("_wk"))
        evidence.append(
            GroupKind("network", _codes(wk, ["_net", "shop_id", "_wk"]), homophily(eps))
        )
    if "ring" in kinds and "ring_id" in keys.columns:
        evidence.append(GroupKind("ring", _codes(keys, ["ring_id"]), homophily(eps)))
    free = np.ones(keys.height, dtype=bool)
    for kind in evidence:
        free &= ~_shared(kind.ids)
    out: list[GroupKind] = []
    if "user" in kinds:
        out.append(GroupKind("user", _codes(keys, ["user_id"], free), homophily(eps)))
    if "product" in kinds:
        out.append(GroupKind("product", _codes(keys, ["product_id"], free), homophily(eps)))
    return out + evidence


def default_kinds(used: list[str], unavailable: dict[str, list[str]]) -> tuple[str, ...]:
    """Node kinds to propagate over, chosen by the signals the input carries.

    Evidence groups (templates, networks, rings) link reviews by concrete
    shared evidence and are always used. User and product nodes (SpEagle's
    graph) are used only when the input has neither text nor IP addresses:
    with metadata alone the review graph is the main evidence there is, while
    with content and identity evidence a targeted campaign's product is full
    of genuine reviews that product-level smoothing would wrongly pull up
    (and a professional negative reviewer's lone 1-star would be pulled down).
    """
    missing = {c for cols in unavailable.values() for c in cols}
    if {"text", "ip"} <= missing:
        return ("user", "product", *EVIDENCE_KINDS)
    return EVIDENCE_KINDS
