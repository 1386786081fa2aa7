"""The review graph used for propagation: which nodes each review attaches to."""

from __future__ import annotations

import numpy as np
import polars as pl

from features.frames import dense_codes
from features.params import DAY
from features.prompt import is_prompt
from models.propagation import GroupKind, homophily
from models.surprise import MAX_BELIEF, concentration

#: Node kinds, in the order they are built; ablations drop them by name.
GRAPH_KINDS: tuple[str, ...] = (
    "user",
    "product",
    "critic",
    "text_cluster",
    "network",
    "device",
    "ring",
    "delay_burst",
)
#: Kinds that link reviews by concrete shared evidence (not by who or what was reviewed).
EVIDENCE_KINDS: tuple[str, ...] = ("text_cluster", "network", "device")
#: Kinds whose nodes are groups jointly showing a tell beyond chance, fixed-belief
#: nodes: ``delay_burst``, one product's reviews written minutes after receipt
#: (:mod:`models.surprise`); ``ring``, one co-review ring's lockstep reviews
#: (:func:`ring_kind`).
SURPRISE_KINDS: tuple[str, ...] = ("delay_burst", "ring")


#: The key columns of each node kind (``_wk``: the week of ``_t``).
NODE_KEYS: dict[str, tuple[str, ...]] = {
    "user": ("user_id",),
    "product": ("product_id",),
    # one account's 1-2 star reviews (``_neg`` is set on those only)
    "critic": ("user_id", "_neg"),
    "text_cluster": ("text_cluster",),
    "network": ("_net", "shop_id", "_wk"),
    # accounts on one phone reviewing one product
    "device": ("device_id", "product_id"),
    "ring": ("ring_id",),
}


def node_hashes(keys: pl.DataFrame, kinds: tuple[str, ...] = GRAPH_KINDS) -> pl.DataFrame:
    """Per review, a UInt64 hash of the node of each kind it attaches to (null: none).

    One column per kind of ``kinds`` the keys can build. Hashes are row-wise,
    so the hashes of shards of the reviews, concatenated, are those of the
    whole; they live for one scan and are never persisted.
    """
    frame = keys
    if "_pol" in keys.columns:
        frame = frame.with_columns(pl.when(pl.col("_pol") < 0).then(True).alias("_neg"))
    if "_net" in keys.columns:
        # one node per /24 (/64) at one shop in one week: a campaign, not a carrier's whole history
        frame = frame.with_columns((pl.col("_t") // (7 * DAY)).alias("_wk"))
    exprs = []
    for name, cols in NODE_KEYS.items():
        if name in kinds and cols[0] in keys.columns:
            attached = pl.all_horizontal([pl.col(c).is_not_null() for c in cols])
            exprs.append(pl.when(attached).then(pl.struct(cols).hash(seed=0)).alias(name))
    if "delay_burst" in kinds and DELAY_KEYS <= set(keys.columns):
        exprs.extend(delay_columns())
    if "ring" in kinds and {"ring_id", "ring_excess", "user_id"} <= set(keys.columns):
        acted = pl.col("ring_id").is_not_null()
        exprs.append(pl.when(acted).then(pl.col("ring_excess")).alias("_ring_excess"))
        exprs.append(pl.when(acted).then(pl.col("user_id").hash(seed=0)).alias("_ring_user"))
    return frame.select(exprs)


#: The window of a ``delay_burst`` node.
BURST_WINDOW = 28 * DAY
#: The key columns the ``delay_burst`` kind reads.
DELAY_KEYS = frozenset({"_delay_min", "product_id", "shop_id", "_t"})


def delay_columns() -> list[pl.Expr]:
    """Row-wise inputs of the ``delay_burst`` kind: product and shop hashes, prompt or not."""
    known = pl.col("_delay_min").is_not_null()
    prompt = is_prompt(pl.col("_delay_min")).cast(pl.UInt64)
    return [
        # one product in one four-week window: a campaign, not the product's whole history
        pl.when(known)
        .then(pl.struct("product_id", pl.col("_t") // BURST_WINDOW).hash(seed=0))
        .alias("delay_burst"),
        pl.when(known).then(pl.col("shop_id").hash(seed=0)).alias("_delay_shop"),
        pl.when(known).then(prompt).alias("_prompt"),
    ]


def delay_burst_kind(hashes: pl.DataFrame) -> GroupKind:
    """Fixed-belief nodes: a product's prompt reviews where they are far beyond chance."""
    known = hashes["delay_burst"].is_not_null().to_numpy()
    product = _ids(hashes, "delay_burst")
    shop = _ids(hashes, "_delay_shop")
    prompt = hashes["_prompt"].fill_null(0).to_numpy() > 0
    ids, belief = concentration(product, shop, prompt, known)
    return GroupKind("delay_burst", ids, np.eye(2), prior=belief, fixed=True)


#: A ring node needs this many accounts acting in it: two accounts co-reviewing the
#: same products within hours are as often a couple or a household sharing purchases.
RING_NODE_MIN_ACCOUNTS = 3


def ring_kind(hashes: pl.DataFrame) -> GroupKind:
    """Fixed-belief nodes: one co-review ring's lockstep reviews.

    A ring's edges are already far beyond what the products' timing explains
    (:func:`features.cooccurrence.ring_edges`): the evidence is about the
    group, measured against chance, so the node's belief is the ring's excess
    (the share of its co-reviews chance does not explain, capped at
    :data:`models.surprise.MAX_BELIEF`) and its members hear it, never answer
    it, as a ``delay_burst`` node's: the belief is the message, since a review
    of the node is one the ring wrote in lockstep. As an ordinary node the
    members voted: a ring that looks honest but for its lockstep has priors
    below one half, and its members pulled one another down (gen100k ring
    ROC-AUC 0.998 before propagation, 0.49 after). Rings of fewer than
    :data:`RING_NODE_MIN_ACCOUNTS` acting accounts get no node.
    """
    ids = _ids(hashes, "ring")
    at = np.flatnonzero(ids >= 0)
    if at.size == 0 or not {"_ring_excess", "_ring_user"} <= set(hashes.columns):
        return GroupKind("ring", np.full_like(ids, -1), np.eye(2), prior=np.zeros(0), fixed=True)
    users = pl.DataFrame({"node": ids[at], "user": hashes["_ring_user"].gather(at)})
    size = users.unique().group_by("node").len()
    big = np.zeros(int(ids[at].max()) + 1, dtype=bool)
    big[size.filter(pl.col("len") >= RING_NODE_MIN_ACCOUNTS)["node"].to_numpy()] = True
    ids = np.where((ids >= 0) & big[np.maximum(ids, 0)], ids, -1)
    kept = np.flatnonzero(ids >= 0)
    if kept.size == 0:
        return GroupKind("ring", ids, np.eye(2), prior=np.zeros(0), fixed=True)
    ids[kept] = dense_codes(ids[kept])
    belief = np.zeros(int(ids[kept].max()) + 1)
    belief[ids[kept]] = hashes["_ring_excess"].fill_null(0.0).to_numpy()[kept]
    return GroupKind("ring", ids, np.eye(2), prior=np.minimum(belief, MAX_BELIEF), fixed=True)


def _ids(hashes: pl.DataFrame, name: str, mask: np.ndarray | None = None) -> np.ndarray:
    """Dense node ids of kind ``name`` per review, -1 where it attaches to none or ``mask`` is False."""
    h = hashes[name]
    valid = h.is_not_null().to_numpy()
    if mask is not None:
        valid &= mask
    ids = np.full(hashes.height, -1, dtype=np.int64)
    if valid.any():
        ids[valid] = dense_codes(h.fill_null(0).to_numpy()[valid])
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

    Evidence nodes (a template, one network at one shop in one week) come
    first; a co-review ring's lockstep reviews are a fixed-belief node
    (:func:`ring_kind`). User and product nodes are SpEagle's review graph: a user's
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
    return kinds_from_hashes(node_hashes(keys, kinds), eps)


def kinds_from_hashes(hashes: pl.DataFrame, eps: float = 0.1) -> list[GroupKind]:
    """:func:`build_kinds` from :func:`node_hashes` (of all reviews, in ``_rid`` order)."""
    evidence = [
        GroupKind(name, _ids(hashes, name), homophily(eps), raise_only=name == "device")
        for name in EVIDENCE_KINDS
        if name in hashes.columns
    ]
    linked = [kind.ids for kind in evidence]
    ring = None
    if "ring" in hashes.columns:
        ring = ring_kind(hashes)
        linked.append(_ids(hashes, "ring"))  # every lockstep review, in a node or not
    free = np.ones(hashes.height, dtype=bool)
    for ids in linked:
        free &= ~_shared(ids)
    out = [
        GroupKind(name, _ids(hashes, name, free), homophily(eps))
        for name in ("user", "product")
        if name in hashes.columns
    ]
    if "critic" in hashes.columns:
        # All of an account's 1-2 star reviews, linked or not: together they may
        # show a professional critic; their vote never clears one of them.
        out.append(GroupKind("critic", _ids(hashes, "critic"), homophily(eps), raise_only=True))
    if "delay_burst" in hashes.columns:
        out.append(delay_burst_kind(hashes))
    return out + evidence + ([ring] if ring else [])


def default_kinds(used: list[str], unavailable: dict[str, list[str]]) -> tuple[str, ...]:
    """Node kinds to propagate over, chosen by the signals the input carries.

    Evidence groups (templates, networks, rings) link reviews by concrete
    shared evidence and are always used. User and product nodes (SpEagle's
    graph) are used only when the input has neither text nor IP addresses:
    with metadata alone the review graph is the main evidence there is, while
    with content and identity evidence a targeted campaign's product is full
    of genuine reviews that product-level smoothing would wrongly pull up
    (and a professional negative reviewer's lone 1-star would be pulled down).
    With content or identity evidence an account's 1-2 star reviews are one
    ``critic`` node instead, raise-only: a professional negative reviewer
    spreads paraphrased complaints over many shops from its own addresses, so
    nothing but the account ties them together (dev matrix, seeds 0-2, 10k:
    pro_negative recall 0.07-0.45 -> 0.83-1.00 at precision 0.93-0.96 in 9
    of 10 cells).
    """
    missing = {c for cols in unavailable.values() for c in cols}
    if {"text", "ip"} <= missing:
        return ("user", "product", *EVIDENCE_KINDS, *SURPRISE_KINDS)
    return ("critic", *EVIDENCE_KINDS, *SURPRISE_KINDS)
