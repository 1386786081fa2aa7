"""Cases: flagged reviews linked by shared evidence.

A merchant cannot appeal "a suspicious score"; they appeal a campaign: these
twenty 1★ reviews came from four addresses, within six hours, with one
template. A *case* is such a group. Edges are built among **flagged reviews
only**, each of one evidence type:

======== ============================================================ ====================
type     the two reviews share                                        ``key`` (the shared value)
======== ============================================================ ====================
ip       one IP address, at one shop, within ``IDENTITY_WINDOW_S``     canonical address
net      one /24 (IPv4) or /64 (IPv6), at one shop, within the window  network, e.g. ``1.2.3.0/24``
device   one device id (any shop, any time)                           device id
text     one near-duplicate text cluster, at one shop, within          cluster number
         ``TEXT_WINDOW_S``
burst    one product and polarity, within ``BURST_WINDOW_S``, both     ``product_id|polarity``
         in a significant burst (``product_burst`` >= 2, p <= 0.01)
ring     one co-review ring, on one product, within                    ``ring_id|product_id``
         ``COREVIEW_WINDOW_S``
user     one reviewer account and polarity (a professional negative   user id
         reviewer's reviews across shops are one case)
window   (attached reviews only) a second template of the campaign     ``shop_id|polarity``
         used by several accounts in its hours at the shop
======== ============================================================ ====================

Unflagged reviews that such evidence ties to a campaign-like case are
attached to it (:func:`attach_unflagged`): a high score is not needed to
be cited, evidence is.

Every type except ``user`` links reviews of *different* accounts. Within a key
group, reviews are sorted by time and each is linked to its time-neighbour
(the latest earlier review of another account), never to all pairs, so the
edge count stays linear in the number of flagged reviews. Connected
components of the edge graph are the cases.

Kinds, decided in this order from the members:

``ring``
    at least half the member reviews are by accounts of a detected co-review
    ring and the case has a ``ring`` edge;
``pro_negative``
    professional negative reviewer: accounts that left 1-2★ reviews at three
    or more shops within the case wrote at least half of its reviews, and most
    of its reviews are negative;
``smear`` / ``boost``
    more 1-2★ than 4-5★ reviews, or the reverse, from two or more accounts;
``other``
    none of these. Every singleton (a flagged review with no edge) and every
    case of a single account that is not a professional negative reviewer is
    ``other``: one review, or one buyer's reviews, linked to nothing else show
    no campaign, so they get no campaign kind.

Case ids are ``"C-"`` and the first 12 hex digits of the SHA-256 of the sorted
member review ids joined by newlines: stable for the same flagged set, and
safe as a file name.

``cases.parquet`` (one row per case, sorted by ``case_id``) has
:data:`CASES_SCHEMA`:

``case_id`` String; ``kind`` String; ``shop_ids``, ``product_ids``,
``user_ids`` List[String] (sorted, distinct); ``start``, ``end``
Datetime(us, UTC) (first and last member review); ``n_reviews``,
``n_users``, ``n_negative`` (1-2★), ``n_positive`` (4-5★) Int64;
``review_ids`` List[String] (sorted); ``edge_types`` List[String] (sorted,
distinct); ``edges`` List[Struct{a: String, b: String, type: String, key:
String}] (``a``/``b`` are review ids, ``a`` the earlier review; sorted by
type, a, b).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from features.params import (
    BURST_WINDOW_S,
    COREVIEW_WINDOW_S,
    IDENTITY_WINDOW_S,
    TEXT_WINDOW_S,
)

CASE_KINDS: tuple[str, ...] = ("smear", "boost", "ring", "pro_negative", "other")
EDGE_TYPES: tuple[str, ...] = ("ip", "net", "device", "text", "burst", "ring", "user", "window")
#: Kinds that harm the shop they target (a packet's default selection also
#: checks the polarity of the reviews at that shop, see ``detector.evidence``).
ATTACK_KINDS: tuple[str, ...] = ("smear", "pro_negative")
#: A reviewer who left 1-2★ reviews at this many shops is a professional negative reviewer.
PRO_NEGATIVE_MIN_SHOPS = 3
#: ``burst`` edges join only reviews whose ``product_burst`` feature (-log10 of the
#: Poisson tail against the product's own rate) reaches this: without it two
#: unrelated flagged reviews on a best-seller would be "a burst" by proximity.
BURST_MIN_SURPRISE = 2.0

EDGE_STRUCT = pl.Struct({"a": pl.String, "b": pl.String, "type": pl.String, "key": pl.String})
CASES_SCHEMA: dict[str, pl.DataType] = {
    "case_id": pl.String(),
    "kind": pl.String(),
    "shop_ids": pl.List(pl.String),
    "product_ids": pl.List(pl.String),
    "user_ids": pl.List(pl.String),
    "start": pl.Datetime("us", "UTC"),
    "end": pl.Datetime("us", "UTC"),
    "n_reviews": pl.Int64(),
    "n_users": pl.Int64(),
    "n_negative": pl.Int64(),
    "n_positive": pl.Int64(),
    "review_ids": pl.List(pl.String),
    "edge_types": pl.List(pl.String),
    "edges": pl.List(EDGE_STRUCT),
}


@dataclass(frozen=True)
class _EdgeRule:
    type: str
    group: tuple[str, ...]  # key columns; rows with a null in any are skipped
    window: int | None  # seconds between time-neighbours; None: any
    other_user: bool  # link only reviews of different accounts


#: How each evidence type links reviews (see the module docstring).
EDGE_RULES: tuple[_EdgeRule, ...] = (
    _EdgeRule("ip", ("shop_id", "_ip"), IDENTITY_WINDOW_S, True),
    _EdgeRule("net", ("shop_id", "_net"), IDENTITY_WINDOW_S, True),
    _EdgeRule("device", ("device_id",), None, True),
    _EdgeRule("text", ("shop_id", "text_cluster"), TEXT_WINDOW_S, True),
    _EdgeRule("burst", ("product_id", "_pol"), BURST_WINDOW_S, True),
    _EdgeRule("ring", ("ring_id", "product_id"), COREVIEW_WINDOW_S, True),
    _EdgeRule("user", ("user_id", "_pol"), None, False),
)


@dataclass
class CaseResult:
    """Cases and the case of every flagged review.

    Attributes
    ----------
    cases : pl.DataFrame
        One row per case in :data:`CASES_SCHEMA`, sorted by ``case_id``.
    review_case : pl.DataFrame
        ``review_id``, ``case_id`` for every flagged review.
    """

    cases: pl.DataFrame
    review_case: pl.DataFrame


def case_id_for(review_ids) -> str:
    """The id of the case made of ``review_ids`` (order does not matter)."""
    digest = hashlib.sha256("\n".join(sorted(review_ids)).encode("utf-8")).hexdigest()
    return f"C-{digest[:12]}"


def _codes(df: pl.DataFrame, cols: tuple[str, ...]) -> np.ndarray:
    """Dense ids of the value combinations (order-independent)."""
    return (df.select(pl.struct(list(cols)).rank("dense")).to_series().to_numpy() - 1).astype(
        np.int64
    )


_KEY_COLUMN = {"ip": "_ip", "net": "_net", "device": "device_id", "user": "user_id"}


def _key_text(rule: _EdgeRule) -> pl.Expr:
    """The shared value an edge of ``rule`` records (see the module docstring)."""
    if rule.type in _KEY_COLUMN:
        return pl.col(_KEY_COLUMN[rule.type]).cast(pl.String)
    if rule.type == "text":
        return pl.col("text_cluster").cast(pl.String)
    if rule.type == "burst":
        return pl.concat_str([pl.col("product_id"), pl.col("_pol").cast(pl.String)], separator="|")
    return pl.concat_str([pl.col("ring_id").cast(pl.String), pl.col("product_id")], separator="|")


def link_edges(flagged: pl.DataFrame, rule: _EdgeRule) -> pl.DataFrame:
    """Time-neighbour edges of one type among ``flagged`` (positions in ``_pos``).

    Returns ``_pa``, ``_pb`` (positions, ``_pa`` the earlier review), ``type``, ``key``.
    """
    empty = pl.DataFrame(
        schema={"_pa": pl.Int64, "_pb": pl.Int64, "type": pl.String, "key": pl.String}
    )
    if any(c not in flagged.columns for c in rule.group):
        return empty
    df = flagged.filter(pl.all_horizontal(pl.col(c).is_not_null() for c in rule.group))
    if df.height < 2:
        return empty
    df = df.with_columns(
        pl.Series("_g", _codes(df, rule.group)), pl.Series("_u", _codes(df, ("user_id",)))
    ).sort("_g", "_t", "review_id")
    g = df["_g"].to_numpy()
    u = df["_u"].to_numpy()
    t = df["_t"].to_numpy()
    pos = df["_pos"].to_numpy()
    n = g.size
    idx = np.arange(n)
    if rule.other_user:
        # The time-neighbour of a row is the last row of the previous run of
        # rows (a run: same group, same account, consecutive in time).
        new_run = np.ones(n, dtype=bool)
        new_run[1:] = (g[1:] != g[:-1]) | (u[1:] != u[:-1])
        run_start = np.maximum.accumulate(np.where(new_run, idx, 0))
        prev = run_start - 1
    else:
        prev = idx - 1
    ok = prev >= 0
    prev_c = np.where(ok, prev, 0)
    ok &= g[prev_c] == g
    if rule.other_user:
        ok &= u[prev_c] != u
    if rule.window is not None:
        ok &= (t - t[prev_c]) <= rule.window
    if not ok.any():
        return empty
    keys = df.select(_key_text(rule).alias("key"))["key"]
    sel = np.flatnonzero(ok)
    return pl.DataFrame(
        {
            "_pa": pos[prev_c[sel]].astype(np.int64),
            "_pb": pos[sel].astype(np.int64),
            "type": pl.Series([rule.type] * sel.size, dtype=pl.String),
            "key": keys.gather(sel),
        }
    )


def _with_burst_strength(keys: pl.DataFrame, features: pl.DataFrame | None) -> pl.DataFrame:
    """``keys`` with ``_in_burst``: whether a review may take part in a ``burst`` link."""
    if features is None:
        return keys.with_columns(pl.lit(True).alias("_in_burst"))
    if "product_burst" not in features.columns:
        return keys.with_columns(pl.lit(False).alias("_in_burst"))
    return (
        keys.join(features.select("review_id", "product_burst"), on="review_id", how="left")
        .with_columns(
            (pl.col("product_burst").fill_null(0.0) >= BURST_MIN_SURPRISE).alias("_in_burst")
        )
        .drop("product_burst")
    )


def attach_candidates(flagged_keys: pl.DataFrame) -> pl.Expr:
    """A filter over link keys keeping every review :func:`attach_unflagged` could attach.

    Reviews of a flagged review's product or shop at its polarity, or of its
    text cluster: a scan that holds its keys in shards gathers only these
    (with the flagged ones) before :func:`build_cases`.
    """
    keep = pl.lit(False)
    for col in ("product_id", "shop_id"):  # same product (burst), same shop (second templates)
        key = pl.concat_str([pl.col(col), pl.col("_pol").cast(pl.String)], separator="|")
        pairs = flagged_keys.select(key).to_series().unique()
        keep = keep | key.is_in(pairs.implode())
    if "text_cluster" in flagged_keys.columns:
        clusters = flagged_keys["text_cluster"].drop_nulls().unique()
        keep = keep | pl.col("text_cluster").is_in(clusters.implode())
    return keep


def _nearest(cand: pl.DataFrame) -> pl.DataFrame:
    """Per candidate review, its nearest linked member (by time, then review id)."""
    return (
        cand.with_columns((pl.col("_t") - pl.col("_tm")).abs().alias("_dt"))
        .sort("_dt", "_member", "_comp")
        .unique("review_id", keep="first", maintain_order=True)
    )


def attach_unflagged(
    flagged: pl.DataFrame, others: pl.DataFrame, edges: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Add to campaign-like components the unflagged reviews concrete evidence ties to them.

    A score below the threshold does not make a review honest: a smear
    campaign's quieter reviews share its template or its burst window. An
    unflagged review joins a component of two or more flagged reviews from
    two or more accounts when, at the same polarity,

    * ``text``: it is in the same text cluster at the same shop as a member,
      by another account, within ``TEXT_WINDOW_S`` of it; or
    * ``burst``: it is in a significant burst itself (``product_burst`` >=
      :data:`BURST_MIN_SURPRISE`) on a product whose member reviews the
      component links by ``burst`` edges, from ``BURST_WINDOW_S`` before the
      first of them to ``BURST_WINDOW_S`` after the last (the reviews the
      burst feature counts with them; the window the packet shows); or
    * ``window``: it uses a second template of the campaign: a text cluster
      that :data:`WINDOW_TEMPLATE_MIN_USERS` or more accounts used at the
      same shop, each in a significant burst of their own product, inside the
      component's hours at that shop (``BURST_WINDOW_S`` around its first
      and last review). Those reviews then anchor ``text`` and ``burst``
      links on their own product as the members do.

    Each attached review is linked to its nearest anchor by one edge of that
    type (a second template's reviews to each other by ``text`` edges, its
    first one to the component by a ``window`` edge); attached reviews anchor
    nothing else, so a case cannot grow through honest reviews. Returns
    ``flagged`` with the attached rows appended (new ``_pos``) and ``edges``
    with their edges.
    """
    big = flagged.group_by("_comp").agg(
        pl.len().alias("_n"), pl.col("user_id").n_unique().alias("_u")
    )
    big = big.filter((pl.col("_n") >= 2) & (pl.col("_u") >= 2)).select("_comp")
    members = flagged.join(big, on="_comp", how="semi")
    if members.height == 0 or others.height == 0:
        return flagged, edges
    burst_pos = pl.concat([edges.filter(pl.col("type") == "burst")[c] for c in ("_pa", "_pb")])
    anchors = members.with_columns(pl.col("_pos").is_in(burst_pos.implode()).alias("_run"))
    flagged, edges, added = _attach_round(flagged, others, edges, anchors)
    rest = others.join(added.select("review_id"), on="review_id", how="anti")
    case = pl.concat([members, added.select(members.columns)])
    flagged, edges, second = _second_templates(flagged, rest, edges, case)
    if second.height:
        rest = rest.join(second.select("review_id"), on="review_id", how="anti")
        flagged, edges, _ = _attach_round(
            flagged, rest, edges, second.with_columns(pl.lit(True).alias("_run"))
        )
    return flagged, edges


#: Accounts that must share a second template inside a campaign's hours (see attach_unflagged).
WINDOW_TEMPLATE_MIN_USERS = 3


def _append(
    flagged: pl.DataFrame, others: pl.DataFrame, comp: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``flagged`` plus the ``others`` named in ``comp`` (``review_id``, ``_comp``), new ``_pos``."""
    comp = comp.sort("review_id").with_columns(
        (pl.int_range(pl.len(), dtype=pl.Int64) + flagged.height).alias("_pos")
    )
    added = others.join(comp, on="review_id").select(flagged.columns).cast(flagged.schema)
    return pl.concat([flagged, added]), added


def _edge_rows(pairs: pl.DataFrame) -> pl.DataFrame:
    """Edges from ``_p1``/``_t1`` and ``_p2``/``_t2`` positions, the earlier review first."""
    later = pl.col("_t2") >= pl.col("_t1")
    return pairs.select(
        pl.when(later).then(pl.col("_p1")).otherwise(pl.col("_p2")).alias("_pa"),
        pl.when(later).then(pl.col("_p2")).otherwise(pl.col("_p1")).alias("_pb"),
        "type",
        pl.col("key").cast(pl.String),
    )


def _attach_round(
    flagged: pl.DataFrame, others: pl.DataFrame, edges: pl.DataFrame, anchors: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """One round of ``text`` and ``burst`` attachments to ``anchors`` (``_run``: burst-linked)."""
    m = anchors.select(
        "_comp", "_pos", "shop_id", "product_id", "_pol", "_run", pl.col("_t").alias("_tm"),
        pl.col("user_id").alias("_um"), pl.col("review_id").alias("_member"),
        *(["text_cluster"] if "text_cluster" in anchors.columns else []),
    )  # fmt: skip
    cand = [c for c in (_text_candidates(others, m), _burst_candidates(others, m)) if c.height]
    if not cand:
        return flagged, edges, flagged.head(0)
    cols = ["review_id", "_comp", "_pos", "_t", "_tm", "_member", "type", "key"]
    best = _nearest(pl.concat([c.select(cols) for c in cand]))
    flagged, added = _append(flagged, others, best.select("review_id", "_comp"))
    pairs = best.join(added.select("review_id", pl.col("_pos").alias("_p2")), on="review_id")
    new = _edge_rows(pairs.rename({"_pos": "_p1", "_tm": "_t1", "_t": "_t2"}))
    return flagged, pl.concat([edges, new.cast(edges.schema)]), added


def _text_candidates(others: pl.DataFrame, m: pl.DataFrame) -> pl.DataFrame:
    """``others`` in a member's text cluster at its shop, by another account, near in time."""
    if "text_cluster" not in others.columns:
        return others.head(0)
    text = (
        others.drop_nulls("text_cluster")
        .join(
            m.drop_nulls("text_cluster").drop("product_id"), on=["shop_id", "text_cluster", "_pol"]
        )
        .filter(
            ((pl.col("_t") - pl.col("_tm")).abs() <= TEXT_WINDOW_S)
            & (pl.col("user_id") != pl.col("_um"))
        )
    )
    key = pl.col("text_cluster").cast(pl.String).alias("key")
    return text.with_columns(pl.lit("text").alias("type"), key)


def _burst_candidates(others: pl.DataFrame, m: pl.DataFrame) -> pl.DataFrame:
    """``others`` in a burst of their own inside the window of a burst-linked member run."""
    runs = (
        m.filter(pl.col("_run"))
        .group_by("_comp", "product_id", "_pol")
        .agg(pl.col("_tm").min().alias("_t0"), pl.col("_tm").max().alias("_t1"))
    )
    if runs.height == 0:
        return others.head(0)
    window = pl.col("_t").is_between(pl.col("_t0") - BURST_WINDOW_S, pl.col("_t1") + BURST_WINDOW_S)
    inside = (
        others.filter(pl.col("_in_burst"))
        .join(runs, on=["product_id", "_pol"])
        .filter(window)
        .join(m.drop("shop_id", "text_cluster", strict=False), on=["_comp", "product_id", "_pol"])
        .filter(pl.col("user_id") != pl.col("_um"))
    )
    key = pl.concat_str([pl.col("product_id"), pl.col("_pol").cast(pl.String)], separator="|")
    return inside.with_columns(pl.lit("burst").alias("type"), key.alias("key"))


def _second_templates(
    flagged: pl.DataFrame, others: pl.DataFrame, edges: pl.DataFrame, case: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Attach the reviews of a second template used inside a component's hours (``window``)."""
    if "text_cluster" not in others.columns or others.height == 0:
        return flagged, edges, flagged.head(0)
    hours = case.group_by("_comp", "shop_id", "_pol").agg(
        (pl.col("_t").min() - BURST_WINDOW_S).alias("_w0"),
        (pl.col("_t").max() + BURST_WINDOW_S).alias("_w1"),
    )
    inside = (
        others.filter(pl.col("_in_burst") & pl.col("text_cluster").is_not_null())
        .join(hours, on=["shop_id", "_pol"])
        .filter(pl.col("_t").is_between(pl.col("_w0"), pl.col("_w1")))
    )
    shared = (
        inside.group_by("_comp", "text_cluster")
        .agg(pl.col("user_id").n_unique().alias("_k"))
        .filter(pl.col("_k") >= WINDOW_TEMPLATE_MIN_USERS)
    )
    rows = (
        inside.join(shared, on=["_comp", "text_cluster"], how="semi")
        .sort("_t", "review_id", "_comp")
        .unique("review_id", keep="first", maintain_order=True)
    )
    if rows.height == 0:
        return flagged, edges, flagged.head(0)
    flagged, added = _append(flagged, others, rows.select("review_id", "_comp"))
    new = _template_edges(added.sort("_comp", "text_cluster", "_t", "review_id"), case)
    return flagged, pl.concat([edges, new.cast(edges.schema)]), added


def _template_edges(added: pl.DataFrame, case: pl.DataFrame) -> pl.DataFrame:
    """A second template's reviews chained by ``text`` edges, its first one tied to the
    nearest member of ``case`` by a ``window`` edge."""
    chain = added.select(
        "_comp", "text_cluster", pl.col("_pos").alias("_p2"), pl.col("_t").alias("_t2")
    ).with_columns(
        pl.col("_p2").shift(1).over("_comp", "text_cluster").alias("_p1"),
        pl.col("_t2").shift(1).over("_comp", "text_cluster").alias("_t1"),
        pl.lit("text").alias("type"),
        pl.col("text_cluster").cast(pl.String).alias("key"),
    )
    first = chain.filter(pl.col("_p1").is_null()).select("_comp", "_p2", "_t2", "text_cluster")
    to_case = _nearest(
        first.join(
            case.select("_comp", "_pos", pl.col("_t").alias("_tm"),
                        pl.col("review_id").alias("_member"), "shop_id", "_pol"),
            on="_comp",
        ).rename({"_t2": "_t"}).with_columns(pl.col("_p2").alias("review_id"))
    )  # fmt: skip
    key = pl.concat_str([pl.col("shop_id"), pl.col("_pol").cast(pl.String)], separator="|")
    window = to_case.select(
        pl.col("_pos").alias("_p1"), pl.col("_tm").alias("_t1"), "_p2",
        pl.col("_t").alias("_t2"), pl.lit("window").alias("type"), key.alias("key"),
    )  # fmt: skip
    return pl.concat(
        [_edge_rows(chain.drop_nulls("_p1")), _edge_rows(window)], how="vertical_relaxed"
    )


def _empty_cases() -> CaseResult:
    return CaseResult(
        pl.DataFrame(schema=CASES_SCHEMA),
        pl.DataFrame(schema={"review_id": pl.String, "case_id": pl.String}),
    )


def _link_flagged(
    keyed: pl.DataFrame, flagged_ids: pl.DataFrame, weak: set[str]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The flagged reviews (``_pos``, their component ``_comp``) and the edges among them."""
    flagged = (
        keyed.join(flagged_ids, on="review_id", how="semi")
        .sort("review_id")
        .with_row_index("_pos")
        .with_columns(pl.col("_pos").cast(pl.Int64))
    )
    n = flagged.height
    rules = [r for r in EDGE_RULES if not (weak & {"user_id"} and r.type in ("user", "ring"))]
    parts = []
    for rule in rules:
        rows = flagged.filter(pl.col("_in_burst")) if rule.type == "burst" else flagged
        parts.append(link_edges(rows, rule))
    edges = pl.concat(parts)
    a = edges["_pa"].to_numpy()
    b = edges["_pb"].to_numpy()
    graph = coo_matrix((np.ones(a.size, dtype=np.int8), (a, b)), shape=(n, n)).tocsr()
    _, comp = connected_components(graph, directed=False)
    return flagged.with_columns(pl.Series("_comp", comp.astype(np.int64))), edges


def _with_roles(flagged: pl.DataFrame, weak: set[str]) -> pl.DataFrame:
    """Members with ``_pro`` (1-2★ at several shops inside their component) and ``_in_ring``."""
    has_ring = "ring_id" in flagged.columns and "user_id" not in weak
    pro_users = (
        flagged.filter((pl.col("_pol") == -1) & pl.lit("user_id" not in weak))
        .group_by("_comp", "user_id")
        .agg(pl.col("shop_id").n_unique().alias("_neg_shops"))
        .filter(pl.col("_neg_shops") >= PRO_NEGATIVE_MIN_SHOPS)
        .select("_comp", "user_id", pl.lit(True).alias("_pro"))
    )
    return flagged.join(pro_users, on=["_comp", "user_id"], how="left").with_columns(
        pl.col("_pro").fill_null(False),
        (pl.col("ring_id").is_not_null() if has_ring else pl.lit(False)).alias("_in_ring"),
    )


def _kind() -> pl.Expr:
    """A component's kind from its counts (see the module docstring)."""
    single = pl.col("n_reviews") == 1
    half = pl.col("n_reviews") / 2
    return (
        pl.when(single)
        .then(pl.lit("other"))
        .when((pl.col("n_users") == 1) & (pl.col("_n_pro") == 0))
        .then(pl.lit("other"))
        .when(pl.col("_ring_edge") & (pl.col("_n_ring") >= half))
        .then(pl.lit("ring"))
        .when((pl.col("_n_pro") >= half) & (pl.col("n_negative") > half))
        .then(pl.lit("pro_negative"))
        .when(pl.col("n_negative") > pl.col("n_positive"))
        .then(pl.lit("smear"))
        .when(pl.col("n_positive") > pl.col("n_negative"))
        .then(pl.lit("boost"))
        .otherwise(pl.lit("other"))
    )


def _components(members: pl.DataFrame, ring_comps: pl.DataFrame) -> pl.DataFrame:
    """One row per component: its members' ids, counts, kind and case id."""
    agg = (
        members.group_by("_comp")
        .agg(
            pl.col("review_id").sort().alias("review_ids"),
            pl.col("shop_id").unique().sort().alias("shop_ids"),
            pl.col("product_id").unique().sort().alias("product_ids"),
            pl.col("user_id").unique().sort().alias("user_ids"),
            pl.col("_t").min().alias("_t0"),
            pl.col("_t").max().alias("_t1"),
            pl.len().cast(pl.Int64).alias("n_reviews"),
            pl.col("user_id").n_unique().cast(pl.Int64).alias("n_users"),
            (pl.col("_pol") == -1).sum().cast(pl.Int64).alias("n_negative"),
            (pl.col("_pol") == 1).sum().cast(pl.Int64).alias("n_positive"),
            pl.col("_in_ring").sum().alias("_n_ring"),
            pl.col("_pro").sum().alias("_n_pro"),
        )
        .join(ring_comps.with_columns(pl.lit(True).alias("_ring_edge")), on="_comp", how="left")
        .with_columns(pl.col("_ring_edge").fill_null(False))
        .with_columns(_kind().alias("kind"))
    )
    ids = [case_id_for(r) for r in agg["review_ids"].to_list()]
    return agg.with_columns(pl.Series("case_id", ids, dtype=pl.String))


def _edge_lists(comp_edges: pl.DataFrame, flagged: pl.DataFrame) -> pl.DataFrame:
    """Per component, its edges by review id (sorted by type, a, b) and their types."""
    rid = flagged.select(pl.col("_pos"), pl.col("review_id"))
    return (
        comp_edges.join(rid.rename({"_pos": "_pa", "review_id": "a"}), on="_pa")
        .join(rid.rename({"_pos": "_pb", "review_id": "b"}), on="_pb")
        .unique(["a", "b", "type"])
        .sort("_comp", "type", "a", "b")
        .group_by("_comp", maintain_order=True)
        .agg(
            pl.struct("a", "b", "type", "key").alias("edges"),
            pl.col("type").unique().sort().alias("edge_types"),
        )
    )


def _epoch_utc(col: str) -> pl.Expr:
    return (pl.col(col) * 1_000_000).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")


def _case_frame(agg: pl.DataFrame, edge_lists: pl.DataFrame) -> pl.DataFrame:
    """``cases.parquet``'s rows (:data:`CASES_SCHEMA`, sorted by ``case_id``)."""
    to_dt = pl.Datetime("us", "UTC")
    return (
        agg.join(edge_lists, on="_comp", how="left")
        .with_columns(
            pl.col("edges").fill_null(pl.lit([], dtype=pl.List(EDGE_STRUCT))),
            pl.col("edge_types").fill_null(pl.lit([], dtype=pl.List(pl.String))),
            _epoch_utc("_t0").alias("start"),
            _epoch_utc("_t1").alias("end"),
        )
        .with_columns(pl.col("start").cast(to_dt), pl.col("end").cast(to_dt))
        .sort("case_id")
        .select([pl.col(c).cast(t) for c, t in CASES_SCHEMA.items()])
    )


def build_cases(
    scores: pl.DataFrame,
    keys: pl.DataFrame,
    features: pl.DataFrame | None = None,
    weak_identity: Iterable[str] = (),
) -> CaseResult:
    """Link the flagged reviews of ``scores`` into cases, and attach the unflagged ones evidence ties to them.

    Parameters
    ----------
    scores : DataFrame
        At least ``review_id`` and ``flagged`` (``SCORES_SCHEMA``).
    keys : DataFrame
        Per-review link keys (``FeatureResult.keys``): ``review_id``,
        ``shop_id``, ``product_id``, ``user_id``, ``rating``, ``_t``, ``_pol``
        and, when available, ``_ip``, ``_net``, ``device_id``,
        ``text_cluster``, ``ring_id``.
    features : DataFrame, optional
        ``review_id`` and feature columns (``FeatureResult.frame``). When it
        holds ``product_burst``, ``burst`` edges join only reviews with
        ``product_burst >= BURST_MIN_SURPRISE``; without it (no features
        given) every flagged review may take part in a burst edge; when
        features are given but ``product_burst`` is not among them (the burst
        family was left out), there are no burst edges.
        Reviews of ``keys`` that ``scores`` does not flag may be attached to
        a case (:func:`attach_unflagged`).
    weak_identity : iterable of str
        Identity columns that are not accounts (``summary["input"]["weak_identity"]``,
        e.g. masked nicknames in ``user_id``): they make no ``user`` or
        ``ring`` edge and no professional negative reviewer.
    """
    weak = set(weak_identity)
    flagged_ids = scores.filter(pl.col("flagged")).select("review_id")
    if flagged_ids.height == 0:
        return _empty_cases()
    keyed = _with_burst_strength(keys, features)
    flagged, edges = _link_flagged(keyed, flagged_ids, weak)
    others = keyed.join(flagged_ids, on="review_id", how="anti")
    flagged, edges = attach_unflagged(flagged, others, edges)

    comp_edges = edges.join(
        flagged.select(pl.col("_pos").alias("_pa"), "_comp"), on="_pa", how="left"
    )
    ring_comps = comp_edges.filter(pl.col("type") == "ring").select("_comp").unique()
    agg = _components(_with_roles(flagged, weak), ring_comps)
    cases = _case_frame(agg, _edge_lists(comp_edges, flagged))
    review_case = (
        flagged.select("review_id", "_comp")
        .join(agg.select("_comp", "case_id"), on="_comp")
        .select("review_id", "case_id")
        .sort("review_id")
    )
    return CaseResult(cases, review_case)


def attach_case_ids(scores: pl.DataFrame, review_case: pl.DataFrame) -> pl.DataFrame:
    """``scores`` with ``case_id`` filled from ``review_case`` (row order kept)."""
    cols = scores.columns
    return (
        scores.drop("case_id")
        .with_row_index("_order")
        .join(review_case, on="review_id", how="left")
        .sort("_order")
        .select(cols)
    )


def case_summary(cases: pl.DataFrame) -> dict:
    """Counts for ``summary.json``: cases and linked reviews per kind."""
    multi = cases.filter(pl.col("n_reviews") > 1)
    by_kind = {
        k: {
            "cases": int((cases["kind"] == k).sum()),
            "reviews": int(cases.filter(pl.col("kind") == k)["n_reviews"].sum()),
        }
        for k in CASE_KINDS
    }
    return {
        "count": cases.height,
        "linked": multi.height,
        "singletons": cases.height - multi.height,
        "by_kind": by_kind,
        "edge_rules": [
            {"type": r.type, "group": list(r.group), "window_s": r.window} for r in EDGE_RULES
        ],
    }
