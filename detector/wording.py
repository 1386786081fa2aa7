"""How numbers, times and reasons are written for people (terminal, packets, cards).

One implementation for every place a number or a time is shown:

* :func:`human` writes a number as a person would (``1,234``, ``4.6``,
  ``0.38``), never ``2e-138``; :func:`chance` writes a probability
  (``1 in 45,000``, ``< 1 in a million``);
* times are shown in the scan's time zone (``summary["input"]["timezone"]``,
  UTC when the scan does not say), always with the zone named
  (:func:`scan_zone`, :func:`fmt_time`, :func:`zone_label`);
* a reason is its registry :class:`~features.registry.Claim` filled with the
  review's own facts (:func:`reason_texts`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl

import features.pipeline  # noqa: F401  (registers every feature)
from features.claims import claim_facts
from features.registry import REGISTRY

LANGS = ("zh", "en")
HOUR, DAY = 3_600, 86_400


def default_lang(environ=None) -> str:
    """``zh`` when the locale (``LC_ALL``, ``LC_MESSAGES``, ``LANG``) is Chinese, else ``en``."""
    env = os.environ if environ is None else environ
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(var)
        if value:
            return "zh" if value.lower().startswith("zh") else "en"
    return "en"


def say(table: dict[str, dict[str, str]], key: str, lang: str, **kw) -> str:
    """The ``lang`` text of ``key`` in a ``{key: {"en": ..., "zh": ...}}`` table, filled with ``kw``.

    The one lookup of the terminal's (:data:`detector.report.MSG`) and the
    packet's (:data:`detector.evidence.i18n.UI`) message tables.
    """
    text = table[key][lang]
    return text.format(**kw) if kw else text


# --------------------------------------------------------------------------- numbers


def human(x: float | int | None, digits: int = 2) -> str:
    """``x`` as a person writes it: thousands separated, at most ``digits`` decimals, no exponent.

    Small non-zero values keep two significant digits (``0.0042``) down to
    ``0.0001``, below which they are ``< 0.0001``.
    """
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, int) or float(x).is_integer():
        return f"{int(x):,}"
    ax = abs(x)
    if ax >= 100:
        return f"{x:,.0f}"
    if ax >= 1:
        text = f"{x:,.{digits}f}"
    elif ax >= 0.0001:
        text = f"{x:.{max(digits, 1 - math.floor(math.log10(ax)))}f}"
    else:
        return "< 0.0001" if x > 0 else "> -0.0001"
    return text.rstrip("0").rstrip(".") if "." in text else text


def fixed(x: float | None, digits: int = 2) -> str:
    """``x`` with exactly ``digits`` decimals (ratings, DSR), ``–`` when missing."""
    return "–" if x is None else f"{x:,.{digits}f}"


def pct(x: float | None) -> str:
    """A share as a percentage with one decimal."""
    return "–" if x is None else f"{100 * x:.1f}%"


def chance(p: float, lang: str) -> str:
    """A probability as odds a person reads: ``0.03``, ``1 in 45,000``, ``< 1 in a million``."""
    if p >= 0.01:
        return f"{p:.2f}"
    if p >= 1e-6:
        n = human(float(f"{1 / p:.2g}"))
        return f"{n}分之一" if lang == "zh" else f"1 in {n}"
    return "不到百万分之一" if lang == "zh" else "< 1 in a million"


def duration(seconds: float, lang: str) -> str:
    """A span of time in the unit a person would use (minutes, hours, days)."""
    seconds = abs(float(seconds))
    if seconds < HOUR:
        m = max(int(round(seconds / 60)), 1)
        return f"{m} min" if lang == "en" else f"{m}分钟"
    if seconds < 3 * DAY:
        h = human(round(seconds / HOUR, 1))
        return f"{h} h" if lang == "en" else f"{h}小时"
    d = human(round(seconds / DAY))
    return f"{d} days" if lang == "en" else f"{d}天"


# --------------------------------------------------------------------------- times


def zone_name(summary: dict | None) -> str:
    """The IANA zone a scan's times are shown in, else UTC.

    ``summary["input"]["effective_timezone"]`` (the zone naive export times
    were read in, a preset's when none was given), else ``["timezone"]``.
    """
    record = (summary or {}).get("input") or {}
    return record.get("effective_timezone") or record.get("timezone") or "UTC"


def scan_zone(summary: dict | None) -> ZoneInfo:
    """:func:`zone_name` as a zone; an unknown name falls back to UTC."""
    try:
        return ZoneInfo(zone_name(summary))
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def zone_label(zone: ZoneInfo, at: datetime | None = None) -> str:
    """``Asia/Shanghai (UTC+08:00)``, or ``UTC``."""
    name = str(zone.key)
    if name in ("UTC", "Etc/UTC"):
        return "UTC"
    off = (at or datetime.now(UTC)).astimezone(zone).strftime("%z")
    return f"{name} (UTC{off[:3]}:{off[3:]})"


def local(ts: datetime, zone: ZoneInfo) -> datetime:
    """``ts`` (naive = UTC) in ``zone``."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(zone)


def fmt_time(ts: datetime | None, zone: ZoneInfo, seconds: bool = False) -> str:
    """``YYYY-MM-DD HH:MM`` (or with seconds) in ``zone``; empty when missing."""
    if ts is None:
        return ""
    return local(ts, zone).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def iso(ts: datetime | None, zone: ZoneInfo) -> str | None:
    """ISO-8601 in ``zone`` with its offset (``2026-03-01T21:02:00+08:00``)."""
    if ts is None:
        return None
    return local(ts, zone).isoformat(timespec="seconds")


def parse_iso(text: str) -> datetime:
    """The inverse of :func:`iso` (also reads a trailing ``Z``)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# --------------------------------------------------------------------------- reasons


def _fill(value, lang: str, zone: ZoneInfo) -> str:
    if isinstance(value, dict):
        return value[lang]
    if isinstance(value, datetime):
        return fmt_time(value, zone)
    if isinstance(value, timedelta):
        return duration(value.total_seconds(), lang)
    if isinstance(value, int | float):
        return human(value, 2 if abs(value) < 10 else 1)
    return str(value)


def _jsonable(value, lang: str, zone: ZoneInfo):
    if isinstance(value, dict):
        return value[lang]
    if isinstance(value, datetime):
        return iso(value, zone)
    if isinstance(value, timedelta):
        return value.total_seconds()
    return value


def claim_text(name: str, facts: dict, lang: str, zone: ZoneInfo) -> str:
    """The registry claim of feature ``name`` filled with ``facts``."""
    claim = REGISTRY.get(name).claim
    template = claim.zh if lang == "zh" else claim.en
    return template.format(**{k: _fill(v, lang, zone) for k, v in facts.items()})


def reason_texts(
    reviews: pl.DataFrame,
    features: pl.DataFrame,
    reasons: pl.DataFrame,
    lang: str,
    zone: ZoneInfo,
    redact: Callable[[str, object], object] | None = None,
) -> dict[str, list[dict]]:
    """Per review id, its reasons as ``{"feature", "text", "facts"}`` with the review's numbers.

    ``reasons`` holds ``review_id`` and ``reasons`` (a scan's reason column);
    a reason whose claim the data does not support is left out
    (:func:`features.claims.claim_facts`). ``redact(fact, value)``, when
    given, replaces each fact first (a packet's masked IPs and pseudonyms).
    """
    pairs = (
        reasons.select("review_id", pl.col("reasons").alias("feature"))
        .explode("feature")
        .drop_nulls("feature")
        .filter(pl.col("feature").is_in(list(REGISTRY.features)))
    )
    facts = claim_facts(reviews, features, pairs)
    out: dict[str, list[dict]] = {}
    for rid, name in pairs.iter_rows():
        f = facts.get((rid, name))
        if f is not None and redact is not None:
            f = {k: redact(k, v) for k, v in f.items()}
        if f is not None:
            out.setdefault(rid, []).append(
                {
                    "feature": name,
                    "text": claim_text(name, f, lang, zone),
                    "facts": {k: _jsonable(v, lang, zone) for k, v in f.items()},
                }
            )
    return out
