"""Belief propagation over the review graph (models.propagation, models.graph)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from models.graph import build_kinds
from models.propagation import GroupKind, homophily, propagate


def test_a_node_with_a_prior_informs_even_its_only_review():
    prior = np.full(4, 0.3)
    ids = np.array([0, 1, 2, 3])  # every node holds one review
    flat = propagate(prior, [GroupKind("user", ids, homophily(0.1))])
    assert np.allclose(flat, prior)  # uniform node priors pass nothing on
    node_prior = np.array([0.9, 0.1, 0.5, 0.5])
    out = propagate(prior, [GroupKind("user", ids, homophily(0.1), node_prior)])
    assert out[0] > prior[0] and out[1] < prior[1]
    assert np.allclose(out[2:], prior[2:])


def test_shared_nodes_pull_reviews_together():
    prior = np.array([0.9, 0.9, 0.9, 0.5, 0.3, 0.3])
    ids = np.array([0, 0, 0, 1, 1, 1])
    out = propagate(prior, [GroupKind("g", ids, homophily(0.1))])
    assert out[0] > 0.9  # a suspicious group raises its members
    assert out[3] < 0.5  # an undecided review in an ordinary group is pulled down


def test_reviews_linked_by_evidence_leave_the_user_and_product_nodes():
    keys = pl.DataFrame(
        {
            "user_id": ["u1", "u1", "u1", "u2", "u2"],
            "product_id": ["p1", "p2", "p3", "p1", "p9"],
            "rating": [5, 5, 5, 5, 4],
            "_t": [0, 10, 20, 30, 40],
            "ring_id": ["r1", None, None, "r1", None],
        }
    )
    user, product, ring = build_kinds(keys, 0.1, ("user", "product", "ring"))
    assert (user.name, product.name, ring.name) == ("user", "product", "ring")
    linked = keys["ring_id"].is_not_null().to_numpy()
    assert (user.ids[linked] == -1).all() and (product.ids[linked] == -1).all()
    assert (user.ids[~linked] >= 0).all()
    assert (ring.ids < 0).all()  # two accounts are no ring node (a couple does this too)
    assert user.ids[1] == user.ids[2]  # u1's remaining reviews still share their node


def test_a_raise_only_node_raises_a_bad_group_and_never_clears_a_review():
    prior = np.array([0.6, 0.6, 0.6, 0.7, 0.3, 0.3, 0.3])
    ids = np.array([0, 0, 0, 1, 1, 1, -1])
    two_sided = propagate(prior, [GroupKind("g", ids, homophily(0.1))])
    one_sided = propagate(prior, [GroupKind("critic", ids, homophily(0.1), raise_only=True)])
    assert (one_sided[:3] > prior[:3] + 0.1).all()  # a suspicious group raises its members
    assert two_sided[3] < prior[3] and one_sided[3] == prior[3]  # an ordinary group clears none
    assert np.allclose(one_sided[4:6], prior[4:6]) and one_sided[6] == prior[6]
    # a review also in an ordinary (two-sided) shared node follows that node's evidence
    other = np.array([-1, -1, -1, 2, 2, -1, -1])
    both = propagate(
        prior,
        [
            GroupKind("critic", ids, homophily(0.1), raise_only=True),
            GroupKind("g", other, homophily(0.1)),
        ],
    )
    assert both[3] < prior[3]


def test_critic_nodes_hold_one_accounts_bad_reviews_only():
    keys = pl.DataFrame(
        {
            "user_id": ["u1", "u1", "u1", "u2", "u2"],
            "product_id": ["p1", "p2", "p3", "p1", "p9"],
            "rating": [1, 2, 5, 1, 1],
            "_pol": [-1, -1, 1, -1, -1],
            "_t": [0, 10, 20, 30, 40],
        }
    )
    (critic,) = build_kinds(keys, kinds=("critic",))
    assert critic.raise_only
    ids = critic.ids
    assert ids[2] == -1 and ids[0] == ids[1] and ids[3] == ids[4] and ids[0] != ids[3]


def _delay_keys(rng: np.random.Generator, prompt_share: float, n: int = 2_000) -> pl.DataFrame:
    """``n`` honest reviews over 40 products of 10 shops, ``prompt_share`` of them prompt."""
    product = rng.integers(0, 40, n)
    prompt = rng.random(n) < prompt_share
    return pl.DataFrame(
        {
            "product_id": [f"p{p}" for p in product],
            "shop_id": [f"s{p // 4}" for p in product],
            "_t": rng.integers(0, 60 * 86_400, n),
            "_delay_min": np.where(prompt, rng.uniform(1, 20, n), rng.uniform(600, 9_000, n)),
        }
    )


def _campaign(keys: pl.DataFrame, size: int, product: str = "p7") -> pl.DataFrame:
    """``keys`` and ``size`` reviews of ``product`` within a day, each minutes after receipt."""
    shop = keys.filter(pl.col("product_id") == product)["shop_id"][0]
    fake = pl.DataFrame(
        {
            "product_id": [product] * size,
            "shop_id": [shop] * size,
            "_t": np.arange(size, dtype=np.int64) * 600 + 86_400,
            "_delay_min": np.linspace(1.0, 9.0, size),
        }
    )
    return pl.concat([keys, fake])


def _delay_members(keys: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    (kind,) = [k for k in build_kinds(keys, kinds=("delay_burst",)) if k.name == "delay_burst"]
    return kind.ids, kind.prior


def test_prompt_reviews_concentrated_on_a_product_are_a_group_and_honest_crowds_are_not():
    rng = np.random.default_rng(3)
    for share in (0.05, 0.3, 0.6):  # prompt reviewers everywhere, however many, are no group
        ids, _ = _delay_members(_delay_keys(rng, share))
        assert (ids < 0).all()
    honest = _delay_keys(rng, 0.05)
    ids, belief = _delay_members(_campaign(honest, 30))
    assert (ids[honest.height :] >= 0).all()  # every campaign review is a member
    assert (ids[: honest.height] >= 0).sum() <= 3  # with at most a few honest prompt ones
    assert belief.size == 1 and 0.85 <= belief[0] <= 0.98


def test_a_shop_whose_buyers_all_review_promptly_sets_its_own_bar():
    rng = np.random.default_rng(4)
    keys = _delay_keys(rng, 0.05)
    local = pl.col("shop_id") == "s1"  # a local shop: its buyers confirm and review at once
    keys = keys.with_columns(
        pl.when(local)
        .then(pl.col("_delay_min") / 600.0)
        .otherwise("_delay_min")
        .alias("_delay_min")
    )
    ids, _ = _delay_members(keys)
    assert (ids < 0).all()


def test_a_fixed_node_raises_its_members_only_and_after_propagation():
    prior = np.array([0.3, 0.3, 0.3, 0.9, 0.3])
    fixed = GroupKind("g", np.array([0, 0, -1, -1, -1]), np.eye(2), np.array([0.9]), fixed=True)
    shared = GroupKind("t", np.array([-1, 0, 0, 0, -1]), homophily(0.1))
    out = propagate(prior, [fixed, shared])
    alone = propagate(prior, [shared])
    assert out[0] == pytest.approx(0.3 * 9 / (0.3 * 9 + 0.7))  # odds times 0.9 / 0.1
    assert out[1] > alone[1]
    # the raise is not passed on to the member's other node
    assert np.allclose(out[2:], alone[2:])


def test_delay_groups_do_not_depend_on_row_order():
    rng = np.random.default_rng(5)
    keys = _campaign(_delay_keys(rng, 0.1), 25).with_row_index("row")
    ids, belief = _delay_members(keys.drop("row"))
    shuffled = keys.sample(fraction=1.0, shuffle=True, seed=1)
    ids2, belief2 = _delay_members(shuffled.drop("row"))
    back = np.empty_like(ids2)
    back[shuffled["row"].to_numpy()] = ids2
    assert ((ids >= 0) == (back >= 0)).all()
    assert np.allclose(np.sort(belief), np.sort(belief2), atol=1e-12)


def test_a_ring_node_raises_its_members_by_the_rings_excess_and_never_lowers_them():
    """A ring that looks honest but for its lockstep (priors below one half) is raised, not cleared."""
    keys = pl.DataFrame(
        {
            "user_id": ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "j"],
            "product_id": ["p1"] * 11,
            "rating": [5] * 11,
            "_t": [0, 60, 120, 180, 0, 0, 0, 0, 9, 0, 60],
            "ring_id": [7, 7, 7, 7, None, 8, 8, 8, 9, 9, 9],
            "ring_excess": [0.99] * 4 + [None] + [0.2] * 3 + [0.99] * 3,
        }
    )
    (ring,) = build_kinds(keys, 0.1, ("ring",))
    assert ring.fixed and ring.prior.max() <= 0.98  # one group alone never makes certainty
    prior = np.array([0.4, 0.4, 0.45, 0.7] + [0.4] * 7)
    out = propagate(prior, [ring])
    # the ring's own evidence: odds times belief / (1 - belief)
    odds = prior[:4] / (1 - prior[:4]) * 0.98 / 0.02
    assert np.allclose(out[:4], odds / (1 + odds))
    assert out[4] == prior[4]  # outside any ring
    assert np.allclose(out[5:8], prior[5:8])  # a ring chance mostly explains raises no one
    assert np.allclose(out[8:], prior[8:])  # nor two accounts, however many reviews
