"""Explanations and reasons: per-feature contributions, and the reasons a person reads.

An explanation is a review's score as ``prior_low`` plus one contribution per
feature (the forest's, scaled into the prior's range) plus ``linked_evidence``
(what propagation added or removed). A reason is a feature whose value is in
its suspicious tail, among those carrying at least :data:`MIN_SHARE` of the
score, strongest first. This module is the one implementation of both.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from features.registry import LINKED_EVIDENCE, REGISTRY

#: A feature is a reason when it carries at least this share of a review's score.
MIN_SHARE = 0.08
MAX_REASONS = 5
EXPLAINED = {"_rid": pl.Int64, "term": pl.String, "contribution": pl.Float64}
REASONS = {"_rid": pl.Int64, "reasons": pl.List(pl.String)}


def explanation_terms(
    contrib: np.ndarray, rows: np.ndarray, names: list[str], linked: np.ndarray
) -> pl.DataFrame:
    """``_rid``, ``term``, ``contribution`` (non-zero only) of ``rows`` in long form.

    ``contrib`` holds the per-feature contributions of ``rows`` (columns
    ``names``), already in the score's units; ``linked`` what propagation
    changed per row (the ``linked_evidence`` term).
    """
    terms = [*names, LINKED_EVIDENCE.name]
    full = np.column_stack([contrib, linked])
    r_idx, t_idx = np.nonzero(full != 0)
    return pl.DataFrame(
        {
            "_rid": rows[r_idx].astype(np.int64),
            "term": [terms[t] for t in t_idx],
            "contribution": full[r_idx, t_idx],
        },
        schema=EXPLAINED,
    )


def tail_mask(X: np.ndarray, Z: np.ndarray, names: list[str]) -> np.ndarray:
    """Which features of each row may be given as a reason.

    A feature is a reason only where its value is in its suspicious tail
    (its registry :class:`~features.registry.Claim`, and any feature the claim
    is ``given``) *and* the scorer's one-sided transform ``Z`` puts it above
    the ordinary part of the population: a value every account shares (one
    review each) is no reason, whatever contribution the forest gave it.
    """
    ok = Z > 0
    col = {n: j for j, n in enumerate(names)}
    for j, n in enumerate(names):
        f = REGISTRY.get(n)
        if f.claim is None:
            ok[:, j] = False
            continue
        x = X[:, j]
        ok[:, j] &= (x >= f.claim.tail) if f.direction > 0 else (x <= f.claim.tail)
        for other, least in f.claim.given:
            ok[:, j] &= (X[:, col[other]] >= least) if other in col else False
    return ok


def reasons_from(explanations: pl.DataFrame) -> pl.DataFrame:
    """``_rid -> reasons``: the terms carrying at least ``MIN_SHARE`` of a score, strongest first.

    ``explanations`` holds only the terms that may be reasons (features in
    their suspicious tail, see :func:`tail_mask`); at most ``MAX_REASONS``.
    ``linked_evidence`` is never a reason: what propagation added is a
    property of the model, not a statement about the review (the packet shows
    the concrete links of its case instead).
    """
    c = pl.col("contribution")
    kept = explanations.filter((c > 0) & (pl.col("term") != LINKED_EVIDENCE.name))
    if kept.height == 0:
        return pl.DataFrame(schema=REASONS)
    return (
        kept.sort(["_rid", "contribution", "term"], descending=[False, True, False])
        .with_columns(
            c.sum().over("_rid").alias("_total"),
            pl.int_range(pl.len()).over("_rid").alias("_rank"),
        )
        .filter((pl.col("_rank") == 0) | (c >= MIN_SHARE * pl.col("_total")))
        .group_by("_rid", maintain_order=True)
        .agg(pl.col("term").head(MAX_REASONS).alias("reasons"))
        .select("_rid", "reasons")
    )


def reasons(
    explanations: pl.DataFrame, X: np.ndarray, Z: np.ndarray, rows: np.ndarray, names: list[str]
) -> pl.DataFrame:
    """``_rid -> reasons`` of ``rows`` (ascending ``_rid``; ``X`` their features, ``Z`` transformed).

    The explained terms in their tail (:func:`reasons_from`); a row in a
    suspicious tail that the forest did not credit gets its most unusual one.
    """
    allowed = tail_mask(X, Z, names)
    r_idx, f_idx = np.nonzero(allowed)
    tails = pl.DataFrame(
        {"_rid": rows[r_idx].astype(np.int64), "term": [names[j] for j in f_idx]},
        schema={"_rid": pl.Int64, "term": pl.String},
    )
    out = reasons_from(explanations.join(tails, on=["_rid", "term"], how="semi"))
    missing = np.setdiff1d(rows[allowed.any(axis=1)], out["_rid"].to_numpy())
    if missing.size == 0:
        return out
    at = np.searchsorted(rows, missing)
    top = np.argmax(np.where(allowed[at], Z[at], -np.inf), axis=1)
    extra = {"_rid": missing.astype(np.int64), "reasons": [[names[j]] for j in top]}
    return pl.concat([out, pl.DataFrame(extra, schema=REASONS)])
