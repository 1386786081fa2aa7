"""Alert rules: the metrics a rule may read, the defaults, and TOML rules files.

The defaults live in ``default_rules.toml`` beside this module (package data),
in the same shape a user's ``--rules FILE`` has, so the README, the defaults
and a user's file never disagree. A user's file changes only the keys it sets
on a default rule and adds rules of new names; every value is validated, and a
problem raises :class:`RulesError` (exit code 2) naming the rule and the key.
"""

from __future__ import annotations

import math
import string
import tomllib
from dataclasses import dataclass, fields, replace
from importlib import resources
from pathlib import Path

from detector.errors import InputError
from detector.input.schema import DSR_COLUMNS

__all__ = [
    "METRICS",
    "Metric",
    "Rule",
    "RulesError",
    "default_rules",
    "load_rules",
    "parse_rules",
    "rules_from_text",
]


class RulesError(InputError):
    """A rules file that cannot be used; the message names the rule and key."""


@dataclass(frozen=True)
class Metric:
    """A quantity a rule can read from the daily table.

    ``family`` is ``"rate"`` (``num / den`` pooled over the rule's window),
    ``"growth"`` (the day's ``num / den`` against the pooled baseline days
    before it, as a relative change) or ``"count"`` (``num`` of the day).
    ``volume`` is what ``min_reviews`` counts, ``count`` what ``min_count``
    counts; ``low``/``high`` bound a sensible threshold.
    """

    name: str
    family: str
    num: str
    den: str | None
    volume: str
    count: str
    low: float
    high: float
    fmt: str  # "pct", "score", "int", "growth"
    clean: str | None = None  # the same metric with the reviews in cases removed


def _base_metrics() -> list[Metric]:
    """Metrics over all reviews; each has a ``*_clean`` twin over the reviews in no case."""
    inf = math.inf
    dsr = [
        Metric(d, "rate", f"{d}_sum", f"{d}_n", f"{d}_n", f"{d}_n", 1, 5, "score")
        for d in DSR_COLUMNS
    ]
    return [
        Metric("good_rate", "rate", "positive", "reviews", "reviews", "positive", 0, 1, "pct"),
        Metric("bad_rate", "rate", "negative", "reviews", "reviews", "negative", 0, 1, "pct"),
        Metric("rating_mean", "rate", "rating_sum", "reviews", "reviews", "reviews", 1, 5, "score"),
        *dsr,
        Metric(
            "bad_rate_growth",
            "growth",
            "negative",
            "reviews",
            "reviews",
            "negative",
            -1,
            inf,
            "growth",
        ),
        Metric("negative", "count", "negative", None, "reviews", "negative", 0, inf, "int"),
        Metric("reviews", "count", "reviews", None, "reviews", "reviews", 0, inf, "int"),
    ]


def _clean(m: Metric) -> Metric:
    def c(col: str | None) -> str | None:
        return None if col is None else f"{col}_clean"

    return replace(
        m, name=c(m.name), num=c(m.num), den=c(m.den), volume=c(m.volume), count=c(m.count)
    )


def _metrics() -> dict[str, Metric]:
    out: dict[str, Metric] = {}
    for m in _base_metrics():
        twin = _clean(m)
        out[m.name] = replace(m, clean=twin.name)
        out[twin.name] = twin
    # 1-2 star reviews in cases that harm the shop (see detector.monitor.daily)
    out["attack_negative"] = Metric(
        "attack_negative",
        "count",
        "attack_negative",
        None,
        "reviews",
        "attack_negative",
        0,
        math.inf,
        "int",
    )
    return out


#: Every metric a rule can read, by name (``*_clean``: the reviews in cases removed).
METRICS: dict[str, Metric] = _metrics()

KINDS = ("attack", "quality", "platform", "target")
OPS = ("<", "<=", ">", ">=")
TRIGGERS = ("day", "cross")
PLATFORMS = ("any", "taobao", "jd", "pdd", "douyin")
PLACEHOLDERS = frozenset(
    {
        "date",
        "shop",
        "value",
        "threshold",
        "value_without_cases",
        "cases",
        "reviews",
        "count",
        "window_days",
        "baseline_days",
        "baseline",
        "rate",
    }
)


@dataclass(frozen=True)
class Rule:
    """One alert rule (see ``default_rules.toml`` for what each key means)."""

    name: str
    metric: str
    op: str
    threshold: float
    message_zh: str
    message_en: str
    kind: str = "target"
    window_days: int = 1
    baseline_days: int = 7
    min_reviews: int = 0
    min_count: int = 0
    min_baseline_reviews: int = 0
    max_p: float = 1.0
    trigger: str = "day"
    rearm: float = 0.0
    platform: str = "any"
    source: str = ""
    enabled: bool = True

    def describe(self) -> dict:
        """The rule as a JSON-ready record."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


_FIELDS = {f.name: f for f in fields(Rule)}
_REQUIRED_NEW = ("metric", "op", "threshold", "message_zh", "message_en")
_INT_KEYS = ("window_days", "baseline_days", "min_reviews", "min_count", "min_baseline_reviews")
_CHOICES = {"kind": KINDS, "op": OPS, "trigger": TRIGGERS, "platform": PLATFORMS}


def _where(origin: str, name: str, key: str | None = None) -> str:
    return f"{origin}: rule {name!r}" + (f", key {key!r}" if key else "")


def _check_value(origin: str, name: str, key: str, value) -> object:
    """``value`` for ``key`` if valid, else :class:`RulesError` naming both."""
    at = _where(origin, name, key)
    if key in _CHOICES:
        if value not in _CHOICES[key]:
            raise RulesError(f"{at}: {value!r} is not one of {', '.join(_CHOICES[key])}")
        return value
    if key == "metric":
        if value not in METRICS:
            raise RulesError(
                f"{at}: unknown metric {value!r}; known metrics: {', '.join(sorted(METRICS))}"
            )
        return value
    if key == "enabled":
        if not isinstance(value, bool):
            raise RulesError(f"{at}: expected true or false, got {value!r}")
        return value
    if key in _INT_KEYS:
        low = 1 if key in ("window_days", "baseline_days") else 0
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise RulesError(f"{at}: expected a whole number of at least {low}, got {value!r}")
        return value
    if key in ("threshold", "max_p", "rearm"):
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise RulesError(f"{at}: expected a number, got {value!r}")
        if key == "max_p" and not 0 < value <= 1:
            raise RulesError(f"{at}: a probability in (0, 1] is needed, got {value!r}")
        if key == "rearm" and value < 0:
            raise RulesError(f"{at}: a margin of at least 0 is needed, got {value!r}")
        return float(value)
    if not isinstance(value, str):
        raise RulesError(f"{at}: expected text, got {value!r}")
    if key.startswith("message_"):
        _check_message(at, value)
    return value


def _check_message(at: str, text: str) -> None:
    try:
        names = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
    except ValueError as exc:
        raise RulesError(f"{at}: bad message template ({exc}); write {{{{ for a brace}}") from exc
    unknown = sorted(n for n in names if n not in PLACEHOLDERS)
    if unknown:
        raise RulesError(
            f"{at}: unknown placeholder {{{unknown[0]}}}; use {', '.join(sorted(PLACEHOLDERS))}"
        )


def _check_rule(origin: str, rule: Rule) -> Rule:
    """Checks across keys: the threshold in the metric's range."""
    m = METRICS[rule.metric]
    if not m.low <= rule.threshold <= m.high:
        raise RulesError(
            f"{_where(origin, rule.name, 'threshold')}: {rule.threshold:g} is outside "
            f"[{m.low:g}, {m.high:g}], the range of metric {rule.metric!r}"
        )
    return rule


def parse_rules(table: dict, origin: str, base: dict[str, Rule] | None = None) -> dict[str, Rule]:
    """Rules of a parsed TOML document ``{"rules": {NAME: {key: value}}}`` applied over ``base``.

    ``origin`` names the file in error messages.
    """
    rules = dict(base or {})
    extra = sorted(set(table) - {"rules"})
    if extra:
        raise RulesError(
            f"{origin}: unknown top-level key {extra[0]!r}; put rules under [rules.NAME]"
        )
    body = table.get("rules", {})
    if not isinstance(body, dict):
        raise RulesError(f"{origin}: 'rules' must be a table of [rules.NAME] tables")
    for name, keys in body.items():
        if not isinstance(keys, dict):
            raise RulesError(f"{_where(origin, name)}: expected a table [rules.{name}]")
        unknown = sorted(set(keys) - (set(_FIELDS) - {"name"}))
        if unknown:
            raise RulesError(
                f"{_where(origin, name, unknown[0])}: unknown rule key; known keys: "
                f"{', '.join(sorted(set(_FIELDS) - {'name'}))}"
            )
        values = {k: _check_value(origin, name, k, v) for k, v in keys.items()}
        if name in rules:
            rule = replace(rules[name], **values)
        else:
            missing = [k for k in _REQUIRED_NEW if k not in values]
            if missing:
                raise RulesError(
                    f"{_where(origin, name, missing[0])}: a new rule must set "
                    f"{', '.join(_REQUIRED_NEW)} (missing {', '.join(missing)})"
                )
            rule = Rule(name=name, **values)
        rules[name] = _check_rule(origin, rule)
    return rules


def _read_toml(text: str, origin: str) -> dict:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"{origin}: not valid TOML ({exc})") from exc


def default_rules() -> dict[str, Rule]:
    """The default rules, by name (from the packaged ``default_rules.toml``)."""
    text = resources.files("detector.monitor").joinpath("default_rules.toml").read_text("utf-8")
    return parse_rules(_read_toml(text, "default_rules.toml"), "default_rules.toml")


def load_rules(path: str | Path | None = None) -> list[Rule]:
    """The enabled rules: the defaults, overridden and extended by the TOML file ``path``.

    Raises :class:`RulesError` (exit code 2) for an unreadable file, bad TOML,
    an unknown rule key or metric, a bad value or a threshold outside the
    metric's range, naming the rule and the key.
    """
    if path is None:
        return rules_from_text(None, "default_rules.toml")
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesError(f"cannot read rules file {p}: {exc}") from exc
    return rules_from_text(text, str(p))


def rules_from_text(text: str | None, origin: str) -> list[Rule]:
    """The enabled rules: the defaults, overridden and extended by the TOML ``text``.

    ``origin`` names the text in messages (a path, an uploaded file's name);
    None is the defaults alone. Raises :class:`RulesError` as :func:`load_rules`.
    """
    rules = default_rules()
    if text is not None:
        rules = parse_rules(_read_toml(text, origin), origin, rules)
    return [r for r in rules.values() if r.enabled]
