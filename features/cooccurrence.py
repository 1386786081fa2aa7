"""Reviewer co-occurrence: accounts that review the same products together.

A lockstep ring's accounts review the same products within hours of each
other, again and again; two honest buyers co-review by chance once. Pairs
are formed only between time-neighbours on a product (at most ``HUB_CAP``
each side), edges need ``RING_MIN_PRODUCTS`` distinct products, and the
graph is built from those strong edges only. The review-level signal counts
the reviewer's ring partners on *this* product, so a ring account's
camouflage reviews elsewhere are not tarred with it.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import polars as pl

from features.frames import group_codes, map_shards, shop_shards
from features.params import (
    COREVIEW_WINDOW_S,
    HUB_CAP,
    RING_MIN_PRODUCTS,
    RING_MIN_SHARE,
    RING_MIN_SURPRISE,
)
from features.registry import REGISTRY, Claim, Feature
from features.windows import poisson_surprise

F = Feature
C = Claim
#: Co-review pairs counted per slice when finding strong pairs.
PAIR_SLICE_ROWS = 5_000_000
RING = (
    F(
        "ring_partners",
        "cooccurrence",
        1,
        "other accounts of this reviewer's co-review ring (accounts that repeatedly review the "
        "same products in lockstep) reviewed this product within hours of it",
        "与该评价者同属一个共评团伙（多次同步评价相同商品）的其他账号在数小时内也评价了本商品",
        claim=C(
            1.0,
            "{k} other account(s) of this account's co-review ring reviewed this product within "
            "{h} h of this review (in the ring each account co-reviewed at least {m} products with "
            "another, each within {h} h)",
            "该账号所在共评团伙中另有{k}个账号在本评价前后{h}小时内也评价了本商品"
            "（团伙中每个账号都与另一账号在{h}小时内共同评价过至少{m}个商品）",
        ),
        alone=True,
    ),
    F(
        "ring_core",
        "cooccurrence",
        1,
        "the review was written in lockstep by a tightly knit group of accounts that co-review many products (k-core)",
        "该评价由频繁共同评价商品的紧密账号群体同步发布（k-core）",
        claim=C(
            2.0,
            "this account is in a group where every account co-reviewed with at least {k} others",
            "该账号所在群体中每个账号都与至少{k}个其他账号多次共同评价",
        ),
        alone=True,
    ),
    F(
        "ring_size",
        "cooccurrence",
        1,
        "number of accounts in the co-review ring that wrote this review in lockstep",
        "同步发布该评价的共评团伙账号数量",
        claim=C(
            3.0,
            "the co-review ring of this account has {n} accounts",
            "该账号所在的共评团伙共有{n}个账号",
        ),
        alone=True,
    ),
)
REQUIRES = ("user_id", "shop_id", "product_id", "created_at")


def coreview_pairs(df: pl.DataFrame) -> pl.DataFrame:
    """Distinct ``(product, user_a, user_b)`` with both reviews within the window.

    ``df`` needs ``product_id``, ``user_id``, ``_t``, ``review_id``.
    """
    if df.height < 2:
        return pl.DataFrame(
            schema={"product_id": pl.String, "user_a": pl.String, "user_b": pl.String}
        )
    df = df.with_columns(
        pl.Series("_p", group_codes(df, "product_id")), pl.Series("_u", group_codes(df, "user_id"))
    ).sort("_p", "_t", "review_id")
    p, u, t = df["_p"].to_numpy(), df["_u"].to_numpy(), df["_t"].to_numpy()
    parts = []
    for k in range(1, HUB_CAP + 1):
        if k >= len(p):
            break
        ok = (p[k:] == p[:-k]) & (t[k:] - t[:-k] <= COREVIEW_WINDOW_S)
        if not ok.any():
            break
        ok &= u[k:] != u[:-k]
        a, b = u[:-k][ok], u[k:][ok]
        parts.append((p[:-k][ok], np.minimum(a, b), np.maximum(a, b)))
    if not parts:
        return pl.DataFrame(
            schema={"product_id": pl.String, "user_a": pl.String, "user_b": pl.String}
        )
    pp = np.concatenate([x[0] for x in parts])
    ua = np.concatenate([x[1] for x in parts])
    ub = np.concatenate([x[2] for x in parts])
    n_u, n_p = int(u.max()) + 1, int(p.max()) + 1
    if n_p * n_u * n_u < 2**62:
        # distinct triples by one packed integer key (a sort), then names by
        # position: codes are dense, so a code indexes its name directly
        key = np.sort((pp * n_u + ua) * n_u + ub)
        # sort-based dedup: numpy's hash-based unique is several times slower here
        key = key[np.concatenate([[True], key[1:] != key[:-1]])] if key.size else key
        pp, rest = np.divmod(key, n_u * n_u)
        ua, ub = np.divmod(rest, n_u)
    else:
        triples = pl.DataFrame({"p": pp, "a": ua, "b": ub}).unique()
        pp, ua, ub = (triples[c].to_numpy() for c in ("p", "a", "b"))
    users = df.select("_u", "user_id").unique("_u").sort("_u")["user_id"]
    products = df.select("_p", "product_id").unique("_p").sort("_p")["product_id"]
    return pl.DataFrame(
        {
            "product_id": products.gather(pp),
            "user_a": users.gather(ua),
            "user_b": users.gather(ub),
        }
    )


@REGISTRY.table("coreview_pairs", requires=REQUIRES, cost=1.0)
def coreview_pairs_table(lf: pl.LazyFrame, tables) -> pl.DataFrame:
    """Product-level co-review pairs among users active on enough products."""
    active = (
        lf.group_by("user_id")
        .agg(pl.col("product_id").n_unique().alias("_np"))
        .filter(pl.col("_np") >= RING_MIN_PRODUCTS)
        .select("user_id")
    )
    df = (
        lf.select("review_id", "shop_id", "product_id", "user_id", "_t")
        .join(active, on="user_id", how="semi")
        .collect()
    )
    # products lie inside one shop: pairs found per shard of whole shops are the same
    parts = map_shards(lambda rows: coreview_pairs(df[rows]), shop_shards(df))
    return pl.concat(parts) if len(parts) > 1 else parts[0]


def _user_hash(column: str) -> pl.Expr:
    # in-process only, never persisted (Polars hashes change between versions)
    return pl.col(column).hash(seed=0)


def _strong_pair_weights(pairs: pl.DataFrame) -> pl.DataFrame:
    """``(user_a, user_b, weight)``: co-reviewed products per pair, pairs of weight >= RING_MIN_PRODUCTS.

    Grouping tens of millions of pairs by two strings holds a copy of every
    string (5 GB more at 10M reviews): pairs are counted by the users' 64-bit
    hashes and only the strong pairs get their names back. Should two names
    share a hash among them, the count is redone on the names themselves, so a
    collision costs time, never a wrong weight.
    """
    ha, hb = _user_hash("user_a"), _user_hash("user_b")
    hashed = pairs.lazy().select(ha.alias("_ha"), hb.alias("_hb"))
    # counted in slices of the hash space: a pair falls in one slice, and each
    # slice's hash table is a fraction of the whole (2 GB at 10M reviews)
    parts = -(-pairs.height // PAIR_SLICE_ROWS)
    strong = pl.concat(
        [
            hashed.filter(pl.col("_ha") % parts == k)
            .group_by("_ha", "_hb")
            .agg(pl.len().alias("weight"))
            .filter(pl.col("weight") >= RING_MIN_PRODUCTS)
            .collect()
            for k in range(max(parts, 1))
        ]
    )
    hashes = pl.concat([strong["_ha"], strong["_hb"]]).unique().implode()
    names = (
        pl.concat(
            [
                pairs.lazy().select(ha.alias("_h"), pl.col("user_a").alias("user_id")),
                pairs.lazy().select(hb.alias("_h"), pl.col("user_b").alias("user_id")),
            ]
        )
        .filter(pl.col("_h").is_in(hashes))
        .unique()
        .collect()
    )
    if names["_h"].n_unique() != names.height:
        return (
            pairs.group_by("user_a", "user_b")
            .agg(pl.len().alias("weight"))
            .filter(pl.col("weight") >= RING_MIN_PRODUCTS)
        )
    return (
        strong.join(names.rename({"_h": "_ha", "user_id": "user_a"}), on="_ha")
        .join(names.rename({"_h": "_hb", "user_id": "user_b"}), on="_hb")
        .select("user_a", "user_b", "weight")
    )


def _product_chance(lf: pl.LazyFrame, products: pl.Series) -> pl.DataFrame:
    """``product_id -> _p``: the chance that two of the product's reviews fall within the window.

    From the product's span, as if its reviews came at a steady rate:
    ``2 * COREVIEW_WINDOW_S / span`` (at most 1). Near 1 for a product
    reviewed in one flash sale, small for one reviewed over a year. The span,
    unlike the share of close pairs, is not inflated by a ring's own burst.
    """
    return (
        lf.select("product_id", "_t")
        .filter(pl.col("product_id").is_in(products.implode()))
        .group_by("product_id")
        .agg((pl.col("_t").max() - pl.col("_t").min()).cast(pl.Float64).alias("_span"))
        .select(
            "product_id",
            (2.0 * COREVIEW_WINDOW_S / pl.col("_span").clip(1.0)).clip(0.0, 1.0).alias("_p"),
        )
        .collect()
    )


def _beyond_chance(lf: pl.LazyFrame, weights: pl.DataFrame) -> pl.DataFrame:
    """``weights`` less the pairs whose co-reviews their products' timing explains, with ``expected``.

    Two honest buyers of products that are reviewed in crowds (a flash sale,
    a small busy market) meet within the window often. A pair's expected
    co-reviews are the sum, over the products both reviewed, of the chance
    that any of the one's reviews there falls within the window of any of the
    other's (:func:`_product_chance`, once per pair of their reviews); the pair is kept when its co-reviewed count is
    at least ``RING_MIN_SURPRISE`` (Poisson, ``-log10 p``) beyond it. A ring
    reviewing products together within hours, on products reviewed over
    months, is far beyond chance.
    """
    if weights.height == 0:
        return weights.with_columns(pl.lit(0.0).alias("expected"))
    users = pl.concat([weights["user_a"], weights["user_b"]]).unique()
    owned = (
        lf.select("user_id", "product_id")
        .filter(pl.col("user_id").is_in(users.implode()))
        .group_by("user_id", "product_id")
        .agg(pl.len().cast(pl.Float64).alias("_k"))
        .collect()
    )
    chance = _product_chance(lf, owned["product_id"].unique())
    shared = (
        weights.select("user_a", "user_b")
        .join(owned.rename({"user_id": "user_a"}), on="user_a")
        .join(owned.rename({"user_id": "user_b"}), on=["user_b", "product_id"])
        .join(chance, on="product_id", how="left")
        .group_by("user_a", "user_b")
        # a repeat buyer's k reviews of a product give k chances to meet there
        .agg(
            (1.0 - (1.0 - pl.col("_p").fill_null(0.0)).pow(pl.col("_k") * pl.col("_k_right")))
            .sum()
            .alias("_expected")
        )
    )
    out = weights.join(shared, on=["user_a", "user_b"], how="left").sort("user_a", "user_b")
    surprise = poisson_surprise(
        out["weight"].to_numpy().astype(np.float64), out["_expected"].fill_null(0.0).to_numpy()
    )
    return out.filter(pl.Series(surprise >= RING_MIN_SURPRISE)).select(
        *weights.columns, pl.col("_expected").fill_null(0.0).alias("expected")
    )


@REGISTRY.table("ring_edges", requires=REQUIRES, depends=("coreview_pairs",), cost=0.3)
def ring_edges(lf: pl.LazyFrame, tables) -> pl.DataFrame:
    """Strong edges: reviewer pairs who co-reviewed enough of their products.

    An edge needs ``RING_MIN_PRODUCTS`` co-reviewed products *and* at least
    ``RING_MIN_SHARE`` of the less active reviewer's products: two prolific
    genuine reviewers meet by chance on a few best-sellers, a ring's accounts
    spend most of their activity together. And the edge must be beyond what
    the products' own timing explains (:func:`_beyond_chance`); ``expected``
    is the co-reviews that timing explains.
    """
    weights = _beyond_chance(lf, _strong_pair_weights(tables["coreview_pairs"]))
    involved = pl.concat(
        [
            weights.select(pl.col("user_a").alias("user_id")),
            weights.select(pl.col("user_b").alias("user_id")),
        ]
    ).unique()
    n_products = (
        lf.select("user_id", "product_id")
        .join(involved.lazy(), on="user_id", how="semi")
        .group_by("user_id")
        .agg(pl.col("product_id").n_unique().alias("_np"))
        .collect()
    )
    return (
        weights.join(n_products.rename({"user_id": "user_a", "_np": "_na"}), on="user_a")
        .join(n_products.rename({"user_id": "user_b", "_np": "_nb"}), on="user_b")
        .filter(pl.col("weight") >= RING_MIN_SHARE * pl.min_horizontal("_na", "_nb"))
        .select("user_a", "user_b", "weight", "expected")
        .sort("user_a", "user_b")
    )


@REGISTRY.table("rings", requires=REQUIRES, depends=("ring_edges",))
def rings(lf: pl.LazyFrame, tables) -> pl.DataFrame:
    """Per user in the strong graph: k-core number, component size, ring id and excess.

    ``ring_excess`` is the share of the ring's co-reviews (over all its edges)
    that the timing of the products does not explain: ``1 - expected /
    observed``. Two loyal buyers of a few products reviewed in crowds meet
    within the window often and keep a small excess; a ring reviewing
    products together within hours, on products reviewed over months, is
    near 1. It is the ring's belief as a group node of the review graph
    (:func:`models.graph.ring_kind`).
    """
    edges = tables["ring_edges"]
    schema = {
        "user_id": pl.String,
        "ring_core": pl.Float64,
        "ring_size": pl.Float64,
        "ring_id": pl.Int64,
    }
    if edges.height == 0:
        return pl.DataFrame(schema={**schema, "ring_excess": pl.Float64})
    g = nx.Graph()
    g.add_edges_from(zip(edges["user_a"].to_list(), edges["user_b"].to_list(), strict=True))
    core = nx.core_number(g)
    rows = []
    comps = sorted((sorted(c) for c in nx.connected_components(g)), key=lambda c: c[0])
    for rid, comp in enumerate(comps):
        for user in comp:
            rows.append((user, float(core[user]), float(len(comp)), rid))
    members = pl.DataFrame(rows, schema=schema, orient="row")
    # an edge lies inside one component: its ring is its first account's
    excess = (
        edges.join(members.select("user_id", "ring_id"), left_on="user_a", right_on="user_id")
        .group_by("ring_id")
        .agg(
            (1.0 - pl.col("expected").sum() / pl.col("weight").sum().cast(pl.Float64))
            .clip(0.0, 1.0)
            .alias("ring_excess")
        )
    )
    return members.join(excess, on="ring_id", how="left").sort("user_id")


@REGISTRY.table("ring_partners", requires=REQUIRES, depends=("rings",), cost=0.1)
def ring_partners_table(lf: pl.LazyFrame, tables) -> pl.DataFrame:
    """Per review of a ring account: other accounts of its ring who reviewed its product within the window.

    The ring is the account's component of strong edges (:func:`rings`), not
    only its own edges: accounts with a history of their own (aged accounts)
    pass the share test with a few of their ring's accounts only, yet the
    whole ring acts on the product. Counted per review, not per (product,
    account): a ring account that also reviews a product of its ring weeks
    before or after the ring's wave (its camouflage, or an ordinary
    purchase) did not act in lockstep there, and that review is not tarred
    with the wave. Only ring accounts' reviews are paired, so the self-join
    stays small.
    """
    ring_of = tables["rings"].select("user_id", "ring_id")
    own = (
        lf.select("_rid", "product_id", "user_id", "_t")
        .join(ring_of.lazy(), on="user_id")
        .collect()
    )
    other = own.select(
        "product_id", "ring_id", pl.col("user_id").alias("_partner"), pl.col("_t").alias("_to")
    )
    paired = (
        own.lazy()
        .join(other.lazy(), on=["product_id", "ring_id"])
        .filter(pl.col("_partner") != pl.col("user_id"))
        .with_columns(((pl.col("_t") - pl.col("_to")).abs() <= COREVIEW_WINDOW_S).alias("_near"))
        .group_by("_rid", "product_id", "user_id")
        .agg(
            pl.col("_partner").filter("_near").n_unique().cast(pl.Float64).alias("ring_partners"),
            pl.len().cast(pl.Float64).alias("_reviews"),
        )
        .collect()
    )
    # Ring accounts who reviewed a busy product at any time meet within the
    # window by chance: each of their reviews there has the product's chance to
    # fall near this one (a ring account's history on a best-seller); only
    # partners beyond that chance count.
    chance = _product_chance(lf, paired["product_id"].unique())
    paired = paired.join(chance, on="product_id", how="left").sort("_rid")
    expected = (paired["_reviews"] * paired["_p"].fill_null(1.0)).to_numpy()
    beyond = poisson_surprise(paired["ring_partners"].to_numpy(), expected) >= RING_MIN_SURPRISE
    return paired.filter(pl.Series(beyond)).select("_rid", "product_id", "user_id", "ring_partners")


@REGISTRY.step("rings", requires=REQUIRES, features=RING, tables=("rings", "ring_partners"))
def ring_features(lf: pl.LazyFrame, tables) -> pl.LazyFrame:
    # Ring membership counts only where the ring acted together, on this very
    # product and within the window: a ring account's other reviews stay ordinary.
    in_ring = pl.col("ring_partners") > 0
    return (
        lf.join(
            tables["ring_partners"].lazy().select("_rid", "ring_partners"), on="_rid", how="left"
        )
        .join(
            tables["rings"].lazy().select("user_id", "ring_core", "ring_size"),
            on="user_id",
            how="left",
        )
        .with_columns(pl.col("ring_partners", "ring_core", "ring_size").fill_null(0.0))
        .with_columns(
            pl.when(in_ring).then(pl.col("ring_core")).otherwise(0.0).alias("ring_core"),
            pl.when(in_ring).then(pl.col("ring_size")).otherwise(0.0).alias("ring_size"),
        )
    )
