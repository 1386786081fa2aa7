"""Belief propagation over the review graph (models.propagation, models.graph)."""

from __future__ import annotations

import numpy as np
import polars as pl

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
    assert (user.ids[~linked] >= 0).all() and (ring.ids[linked] >= 0).all()
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
