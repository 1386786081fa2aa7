"""The feature registry: every signal the engine computes, declared once.

Two kinds of entries:

* a :class:`Table` is a global aggregate (IP -> distinct reviewers, text
  clusters, co-review pairs ...) built once over all reviews and joined back
  by the steps that need it;
* a :class:`Step` is a pure function ``(LazyFrame, tables) -> LazyFrame`` that
  adds exactly the columns of the :class:`Feature` objects it declares.

Scores, explanations and evidence packets name signals by ``Feature.name`` and
explain them with ``Feature.en`` / ``Feature.zh``. A feature that may be
given as a *reason* also carries a :class:`Claim`: where its suspicious tail
starts and the zh/en sentence, with placeholders for the review's own numbers,
that states what the data shows (filled by :mod:`features.claims`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import polars as pl

Tables = Mapping[str, pl.DataFrame]
StepFn = Callable[[pl.LazyFrame, Tables], pl.LazyFrame]
TableFn = Callable[[pl.LazyFrame, Tables], pl.DataFrame]

FAMILIES: tuple[str, ...] = ("burst", "identity", "text", "cooccurrence", "history")
TABLE_SCOPES: tuple[str, ...] = ("global", "shop")


@dataclass(frozen=True)
class Claim:
    """When a feature is a reason for a review, and what it then says.

    Parameters
    ----------
    tail : float
        The value from which on the feature is in its suspicious tail:
        ``value >= tail`` for a feature of direction ``+1``, ``value <= tail``
        for direction ``-1``. A review is given the feature as a reason only
        there (and only when the scorer's percentile transform also puts it
        above the ordinary part of the population), never merely because it
        contributed to the score.
    en, zh : str
        The statement, with ``{placeholders}`` for the facts
        :func:`features.claims.claim_facts` computes for the review.
    given : tuple of (str, float)
        Other features that must be at least the given value for the claim to
        mean anything (the share of one-day reviews needs several reviews).
    """

    tail: float
    en: str
    zh: str
    given: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class Feature:
    """One registered signal.

    Parameters
    ----------
    name : str
        Column name in ``features.parquet`` and the name used in reasons.
    family : str
        One of :data:`FAMILIES`; ablations remove whole families.
    direction : int
        ``+1`` when a higher value is more suspicious, ``-1`` when a lower one is.
    en, zh : str
        One-line explanation shown to merchants and platform reviewers.
    neutral : float
        The value the feature takes for a review with nothing unusual about it
        (used where the signal does not apply, e.g. a review with no text).
    scored : bool
        Whether the scorer uses it. Context features (a raw burst that honest
        flash-sale crowds also make) are computed for evidence and packets,
        never as a reason on their own.
    claim : Claim, optional
        When the feature may be a reason and what it then states; a feature
        without one is never a reason.
    alone : bool
        Whether an extreme value may flag a review by itself (the scorer's
        single-signal term, :meth:`models.isolation.OneSidedIsolationForest.tail_score`):
        evidence that ties the review to other accounts or to a checkable act
        (accounts of one device on one product, a lockstep ring, minutes after
        receipt). Circumstantial features (a fresh account, an extreme rating, a
        burst of new buyers that a flash sale also brings, texts: honest buyers
        write the same short phrases) only add to the sum.
    """

    name: str
    family: str
    direction: int
    en: str
    zh: str
    neutral: float = 0.0
    scored: bool = True
    claim: Claim | None = None
    alone: bool = False

    def in_tail(self, value: float) -> bool:
        """Whether ``value`` is in the feature's suspicious tail (see :class:`Claim`)."""
        if self.claim is None or value != value:  # NaN
            return False
        return value >= self.claim.tail if self.direction > 0 else value <= self.claim.tail

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"unknown family {self.family!r} for feature {self.name!r}")
        if self.direction not in (1, -1):
            raise ValueError(f"direction of {self.name!r} must be +1 or -1")


@dataclass(frozen=True)
class Term:
    """A part of the score that is not a feature (e.g. evidence propagation).

    Explanations name it like a feature, with the same zh/en one-liners.
    """

    name: str
    en: str
    zh: str


@dataclass(frozen=True)
class Table:
    """A global aggregate built once and shared by the steps that name it.

    ``cost`` is the table's build time in seconds per million reviews as
    measured here (2-core machine, generated data); when tables are built
    side by side the longest chain of them starts first.

    ``scope`` says what a row of the table depends on: ``"global"`` tables
    aggregate over all reviews (a user's whole history, a text cluster
    across shops); a ``"shop"`` table's values for a review depend only on
    the reviews of its own shop (and on global tables), so it can be built
    over shards of whole shops and give the same values. An out-of-core scan
    (:mod:`features.sharded`) relies on it.
    """

    name: str
    requires: tuple[str, ...]
    build: TableFn
    depends: tuple[str, ...] = ()
    cost: float = 0.1
    scope: str = "global"

    def __post_init__(self) -> None:
        if self.scope not in TABLE_SCOPES:
            raise ValueError(f"table {self.name!r}: scope must be one of {TABLE_SCOPES}")


@dataclass(frozen=True)
class Step:
    """A feature function and the features it adds."""

    name: str
    requires: tuple[str, ...]
    features: tuple[Feature, ...]
    fn: StepFn
    tables: tuple[str, ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)


@dataclass
class Registry:
    """Holds every :class:`Table` and :class:`Step`, in registration order."""

    tables: dict[str, Table] = field(default_factory=dict)
    steps: dict[str, Step] = field(default_factory=dict)
    terms: dict[str, Term] = field(default_factory=dict)

    def add_term(self, term: Term) -> Term:
        if term.name in self.terms or term.name in self.features:
            raise ValueError(f"term {term.name!r} registered twice")
        self.terms[term.name] = term
        return term

    def describe(self, name: str) -> Feature | Term:
        """The feature or score term called ``name`` (for reasons and packets)."""
        return self.terms[name] if name in self.terms else self.get(name)

    def add_table(self, table: Table) -> Table:
        if table.name in self.tables:
            raise ValueError(f"table {table.name!r} registered twice")
        self.tables[table.name] = table
        return table

    def add_step(self, step: Step) -> Step:
        if step.name in self.steps:
            raise ValueError(f"step {step.name!r} registered twice")
        taken = {f.name for s in self.steps.values() for f in s.features}
        for f in step.features:
            if f.name in taken:
                raise ValueError(f"feature {f.name!r} registered twice")
        self.steps[step.name] = step
        return step

    def table(
        self,
        name: str,
        requires: Iterable[str],
        depends: Iterable[str] = (),
        cost: float = 0.1,
        scope: str = "global",
    ):
        """Decorator registering a table-building function."""

        def wrap(fn: TableFn) -> TableFn:
            self.add_table(Table(name, tuple(requires), fn, tuple(depends), cost, scope))
            return fn

        return wrap

    def step(
        self,
        name: str,
        requires: Iterable[str],
        features: Iterable[Feature],
        tables: Iterable[str] = (),
    ):
        """Decorator registering a feature step."""

        def wrap(fn: StepFn) -> StepFn:
            self.add_step(Step(name, tuple(requires), tuple(features), fn, tuple(tables)))
            return fn

        return wrap

    @property
    def features(self) -> dict[str, Feature]:
        return {f.name: f for s in self.steps.values() for f in s.features}

    def get(self, name: str) -> Feature:
        return self.features[name]


#: The one registry of the engine. Feature modules register into it on import.
REGISTRY = Registry()

#: The part of a score that propagation adds (or removes) through linked reviews.
LINKED_EVIDENCE = REGISTRY.add_term(
    Term(
        "linked_evidence",
        "reviews linked to this one by shared evidence (same template, network or ring, "
        "or the same account's other 1-2 star reviews) are suspicious too",
        "与该评价有共同证据（相同模板、网段或团伙，或同一账号的其他1-2星评价）的其他评价同样可疑",
    )
)
