"""Belief propagation of review suspicion over the review graph.

The forest scores each review on its own. Fraud is also relational: a
spammer's reviews are fake together, a product under attack collects fake
reviews of one polarity, one template or one /24 network at one shop in one
week is one campaign. Following SpEagle (Rayana & Akoglu, KDD 2015), forest
scores are the priors of a pairwise Markov random field and loopy belief
propagation spreads them. Each *group* (a user, a product, an evidence
group) is a binary node; every review is linked to at most one node of each
group kind, so one iteration is a handful of vectorised ``bincount`` calls.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

_TINY = 1e-12
#: Messages that change by at most this in the last round have settled.
SETTLED = 1e-3


def _norm(m: np.ndarray) -> np.ndarray:
    return m / np.maximum(m.sum(axis=-1, keepdims=True), _TINY)


def homophily(eps: float) -> np.ndarray:
    """``psi[x_group, x_review]``: a bad group holds fake reviews."""
    return np.array([[1 - eps, eps], [eps, 1 - eps]])


@dataclass(frozen=True)
class GroupKind:
    """One kind of node reviews attach to.

    Parameters
    ----------
    name : str
        e.g. ``"user"``, ``"product"``, ``"text_cluster"``.
    ids : ndarray of int, shape (n_reviews,)
        Dense node id per review, ``-1`` for reviews not attached.
    psi : ndarray, shape (2, 2)
        ``psi[x_group, x_review]``.
    prior : ndarray of float, shape (n_nodes,), optional
        Prior probability that each node is bad (0.5 when omitted); indexed
        by the ids in ``ids``.
    raise_only : bool
        The kind's nodes can raise a review's belief, never lower it below the
        review's prior (see :func:`propagate`).
    fixed : bool
        The nodes' beliefs are ``prior``, evidence about the group measured
        elsewhere (:mod:`models.surprise`): members hear it, never answer it.
    """

    name: str
    ids: np.ndarray
    psi: np.ndarray
    prior: np.ndarray | None = None
    raise_only: bool = False
    fixed: bool = False


def _without_singletons(kind: GroupKind) -> GroupKind:
    """``kind`` without nodes of one review: with a uniform prior they pass nothing on."""
    ids = kind.ids
    att = ids >= 0
    if kind.prior is not None or not att.any():
        return kind
    counts = np.bincount(ids[att])
    lone = att.copy()
    lone[att] = counts[ids[att]] == 1
    if not lone.any():
        return kind
    return replace(kind, ids=np.where(lone, -1, ids))


def propagate(prior: np.ndarray, kinds: list[GroupKind], iterations: int = 10) -> np.ndarray:
    """Posterior probability that each review is fake.

    Parameters
    ----------
    prior : ndarray of float, shape (n,)
        Prior probability in (0, 1) that each review is fake.
    kinds : list of GroupKind
        The node kinds reviews are linked to.
    iterations : int
        Rounds of message passing (beliefs settle within a few on these
        bipartite, mostly tree-like graphs).

    Returns
    -------
    ndarray of float, shape (n,)

    Notes
    -----
    A review in a shared node of a ``raise_only`` kind (and in no other
    shared node) keeps at least its prior: such a node may say that a group
    is bad, never that its members are better than their own features say.
    """
    fixed = [k for k in kinds if k.fixed]
    kinds = [k for k in kinds if not k.fixed]
    post = _propagate(prior, kinds, iterations)
    lifted = np.zeros(prior.shape[0], dtype=bool)
    plain = np.zeros(prior.shape[0], dtype=bool)
    for kind in kinds:
        shared = _without_singletons(kind).ids >= 0
        if kind.raise_only:
            lifted |= shared
        else:
            plain |= shared
    lifted &= ~plain
    # fixed nodes speak of their own members only: applied last, a campaign's
    # raised reviews do not pass the raise on to honest reviews sharing a phrase
    return with_fixed(np.where(lifted, np.maximum(post, prior), post), fixed)


def with_fixed(prior: np.ndarray, fixed: list[GroupKind]) -> np.ndarray:
    """``prior`` (a belief) times the message of every fixed-belief node each review is in.

    A fixed node's belief is evidence about its group, not a vote of its
    members, so it is a factor on each member's belief; it only raises.
    """
    if not fixed:
        return prior
    out = np.asarray(prior, dtype=np.float64).copy()
    for kind in fixed:
        at = kind.ids >= 0
        if not at.any():
            continue
        q = kind.prior[kind.ids[at]]
        msg = np.stack([1.0 - q, q], axis=1) @ kind.psi  # over x_review
        odds = out[at] / np.maximum(1.0 - out[at], _TINY) * msg[:, 1] / np.maximum(msg[:, 0], _TINY)
        out[at] = np.maximum(out[at], odds / (1.0 + odds))
    return out.clip(_TINY, 1.0 - _TINY)


def _propagate(prior: np.ndarray, kinds: list[GroupKind], iterations: int) -> np.ndarray:
    """:func:`propagate` without the ``raise_only`` floor."""
    # A node holding a single review passes nothing on; reviews attached to no
    # shared node keep their prior, and propagation runs over the rest only.
    kinds = [_without_singletons(k) for k in kinds]
    attached = np.zeros(prior.shape[0], dtype=bool)
    for kind in kinds:
        attached |= kind.ids >= 0
    if not attached.all():
        out = prior.astype(np.float64, copy=True)
        if attached.any():
            sub = [replace(k, ids=k.ids[attached]) for k in kinds]
            out[attached] = _propagate(prior[attached], sub, iterations)
        return out
    phi = np.stack([1.0 - prior, prior], axis=1).clip(_TINY, 1.0)
    # per kind, only the reviews it holds: their rows, node ids and the
    # messages their nodes send them (a review's other kinds hold the rest)
    rows = [np.flatnonzero(k.ids >= 0) for k in kinds]
    ids = [k.ids[r] for k, r in zip(kinds, rows, strict=True)]
    log_prior = []
    for kind, node in zip(kinds, ids, strict=True):
        ng = (int(node.max()) + 1 if node.size else 0) if kind.prior is None else kind.prior.size
        gp = np.full(ng, 0.5) if kind.prior is None else kind.prior
        log_prior.append(np.log(np.stack([1.0 - gp, gp], axis=1).clip(_TINY, 1.0)))
    inbound = [np.full((r.size, 2), 0.5) for r in rows]  # group -> review, over x_r

    def combined(messages: list[np.ndarray]) -> np.ndarray:
        """Each review's prior times every message its nodes send it."""
        out = phi.copy()
        for r, msg in zip(rows, messages, strict=True):
            out[r] *= msg
        return out

    def sweep(inbound: list[np.ndarray], damping: float) -> tuple[list[np.ndarray], float]:
        """One round of messages and the largest change of any."""
        total = combined(inbound)
        new = []
        for kind, r, node, lp, msg in zip(kinds, rows, ids, log_prior, inbound, strict=True):
            # review -> group over x_g: everything the review knows except this group's message
            own = _norm(total[r] / np.maximum(msg, _TINY))
            r_to_g = np.log(_norm(own @ kind.psi.T) + _TINY)
            ng = lp.shape[0]
            lg = lp + np.stack([np.bincount(node, r_to_g[:, s], ng) for s in (0, 1)], axis=1)
            cavity = lg[node] - r_to_g
            bg = np.exp(cavity - cavity.max(axis=1, keepdims=True))
            upd = _norm(bg @ kind.psi)
            new.append(_norm(damping * msg + (1.0 - damping) * upd) if damping else upd)
        change = max(
            (float(np.abs(a - b).max()) for a, b in zip(new, inbound, strict=True) if a.size),
            default=0.0,
        )
        return new, change

    start = inbound
    for _ in range(iterations):
        inbound, change = sweep(inbound, 0.0)
    if change > SETTLED:
        # On loopy graphs (a ring whose reviews also share templates and phones)
        # undamped messages can oscillate and stop on the wrong side: rerun
        # damped, twice as long. Graphs that settle (SpEagle's on YelpChi) are
        # left exactly as they were.
        inbound = start
        for _ in range(2 * iterations):
            inbound, change = sweep(inbound, 0.5)
    return _norm(combined(inbound))[:, 1]
