"""How to read a scan's input (:class:`InputSpec`), and those options resolved for one load.

An :class:`InputSpec` is what the user said (``--columns``, ``--preset``,
``--shop``, ``--timezone``, ``--orders``, ``--since``/``--until``) and round-trips
through ``summary.json``; :func:`read_options` resolves it once per load into
:class:`ReadOptions` (the preset, the zone, the window in UTC, the order export
read).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, datetime

import polars as pl

from detector.errors import InputError
from detector.input.orders import load_orders
from detector.input.presets import PRESETS, Preset
from detector.input.windows import check_timezone, to_utc

__all__ = ["InputSpec", "ReadOptions", "as_spec", "read_options", "tidy_mapping"]


def _window_text(value) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return value.isoformat()


@dataclass(frozen=True)
class InputSpec:
    """How to read a scan's input: everything besides the file paths.

    Recorded in ``summary.json`` (``input``, :meth:`to_dict`) so that
    ``evidence`` and incremental runs re-read the input exactly as it was
    scanned (:meth:`from_dict`).

    Attributes
    ----------
    columns : dict, optional
        ``{file header: contract name}`` (``--columns``); overrides the preset.
    preset : str, optional
        A seller-centre export layout (:data:`detector.input.presets.PRESETS`).
    shop : str, optional
        The shop of an export without a shop column (``--shop``).
    timezone : str, optional
        IANA zone of naive times in the input; default :attr:`effective_timezone`.
    orders : tuple of str
        Order-export files joined on ``order_id`` (``--orders``).
    since, until : str or datetime, optional
        Only reviews created in ``[since, until)``; naive bounds are in the time zone.
    """

    columns: dict[str, str] | None = None
    preset: str | None = None
    shop: str | None = None
    timezone: str | None = None
    orders: tuple[str, ...] = ()
    since: datetime | date | str | None = None
    until: datetime | date | str | None = None

    def __post_init__(self) -> None:
        if self.preset is not None and self.preset not in PRESETS:
            raise InputError(f"unknown preset {self.preset!r}; choose from {', '.join(PRESETS)}")
        if self.timezone is not None:
            check_timezone(self.timezone)
        if self.shop is not None and not str(self.shop).strip():
            raise InputError("--shop needs a non-empty shop name")
        orders = (self.orders,) if isinstance(self.orders, str | os.PathLike) else self.orders
        object.__setattr__(self, "orders", tuple(os.fspath(o) for o in orders or ()))
        if self.columns is not None:
            object.__setattr__(self, "columns", dict(self.columns) or None)

    @property
    def effective_timezone(self) -> str:
        """The zone naive times are read in: the given one, else the preset's, else UTC."""
        if self.timezone is not None:
            return self.timezone
        if self.preset is not None:
            return PRESETS[self.preset].timezone
        return "UTC"

    def to_dict(self) -> dict:
        """A JSON-ready record (``since``/``until`` as ISO text)."""
        return {
            "columns": dict(self.columns) if self.columns else None,
            "preset": self.preset,
            "shop": self.shop,
            "timezone": self.timezone,
            "orders": list(self.orders),
            "since": _window_text(self.since),
            "until": _window_text(self.until),
        }

    @classmethod
    def from_dict(cls, record: dict | None) -> InputSpec:
        """The spec :meth:`to_dict` wrote; unknown keys (added by later versions) are ignored."""
        record = record or {}
        return cls(
            columns=record.get("columns") or None,
            preset=record.get("preset"),
            shop=record.get("shop"),
            timezone=record.get("timezone"),
            orders=tuple(record.get("orders") or ()),
            since=record.get("since"),
            until=record.get("until"),
        )

    @classmethod
    def from_summary(cls, summary: dict) -> InputSpec:
        """How a scan read its input: its ``summary.json``'s ``input``, else the older ``load``."""
        if summary.get("input"):
            return cls.from_dict(summary["input"])
        load = summary.get("load") or {}
        return cls(
            columns=load.get("columns") or None, since=load.get("since"), until=load.get("until")
        )


def as_spec(spec: InputSpec | None = None, columns=None, since=None, until=None) -> InputSpec:
    """``spec``, or one built from the older ``columns``/``since``/``until`` arguments.

    Raises :class:`InputError` when both are given and disagree.
    """
    if spec is None:
        return InputSpec(columns=columns or None, since=since, until=until)
    given = {"columns": columns, "since": since, "until": until}
    clash = [k for k, v in given.items() if v is not None and v != getattr(spec, k)]
    if clash:
        raise InputError(f"{', '.join(clash)} given both in the InputSpec and on their own")
    return spec


@dataclass
class ReadOptions:
    """The read options of one load, resolved once (see :class:`InputSpec`)."""

    spec: InputSpec
    mapping: dict[str, str]  # --columns, names tidied
    preset: Preset | None
    zone: str = "UTC"
    since: datetime | None = None  # UTC
    until: datetime | None = None
    orders: pl.DataFrame | None = None  # detector.input.orders.load_orders


def tidy_mapping(spec: InputSpec) -> dict[str, str]:
    """``--columns`` with stray white space and a BOM trimmed off its names."""
    return {k.strip().lstrip("\ufeff"): v.strip() for k, v in (spec.columns or {}).items()}


def read_options(spec: InputSpec) -> ReadOptions:
    """``spec`` resolved: the window in UTC (checked non-empty) and the order exports read."""
    zone = spec.effective_timezone
    lo, hi = to_utc(spec.since, "since", zone), to_utc(spec.until, "until", zone)
    if lo is not None and hi is not None and lo >= hi:
        raise InputError(
            f"empty time window: since {lo.isoformat()} is not before until {hi.isoformat()}"
        )
    orders = load_orders(spec.orders, zone) if spec.orders else None
    return ReadOptions(
        spec=spec,
        mapping=tidy_mapping(spec),
        preset=PRESETS[spec.preset] if spec.preset else None,
        zone=zone,
        since=lo,
        until=hi,
        orders=orders,
    )
