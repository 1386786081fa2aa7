"""Evaluate alert rules over the daily table.

How a rule judges a shop's day
------------------------------
``rate`` metrics pool the rule's ``window_days`` (calendar days, the day
included): ``sum(num) / sum(den)``. ``growth`` metrics compare the day's rate
with the pooled rate of the ``baseline_days`` before it, smoothed by half a
review ((k + 0.5) / (n + 1)) so an empty baseline is not a division by zero,
as a relative change; days with 1-2 star reviews in attack cases are left out
of the baseline. ``count`` metrics read the day's count.

A day is *judged* only with enough volume: ``min_reviews`` reviews (DSR
ratings for a DSR metric) in the window, ``min_count`` of the metric's count
(1-2 star reviews for a bad-rate metric), and for growth metrics
``min_baseline_reviews`` in the baseline. A growth rule also needs the day's
1-2 star count to be unlikely under the baseline rate: binomial tail
probability at most ``max_p``. So a day of 2 reviews, or 6 reviews of which
1 is bad after a week at 5%, never raises the 15% growth rule.

``trigger = "day"`` raises every judged day on the wrong side of the
threshold; ``"cross"`` only the first such judged day after the value was
back on the right side by ``rearm`` (or the shop's first judged day): a shop
under a platform line for a month gets one alert, not thirty, and a 30-day
rate wobbling around the line fires once.

Fraud behind an alert: an ``attack`` alert names the cases of its 1-2 star
reviews. Any other alert on a metric with a ``*_clean`` twin names the
attack cases of the window when the twin, the same metric without the reviews
in cases, is on the right side of the threshold: fraud explains it. On a shop's
day with an attack alert no ``quality`` alert is raised: the reviews of a smear
the scan did not flag would otherwise raise one; the attack alert is the one
to act on.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import numpy as np
import polars as pl

from detector.monitor.rules import METRICS, Metric, Rule

__all__ = ["Skipped", "alert_platform", "evaluate_alerts", "rules_for"]

_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
#: Presets (detector.input.spec.InputSpec) and the platform their shop is on.
_PRESET_PLATFORM = {
    "taobao": "taobao",
    "tmall": "taobao",
    "jd": "jd",
    "pdd": "pdd",
    "pinduoduo": "pdd",
    "douyin": "douyin",
}


@dataclass(frozen=True)
class Skipped:
    """A rule that was not evaluated, and why."""

    rule: str
    why: str


def alert_platform(preset: str | None) -> str | None:
    """The platform whose rules apply to an input read with ``preset`` (None: all of them)."""
    return _PRESET_PLATFORM.get((preset or "").lower())


def rules_for(
    daily: pl.DataFrame, rules: list[Rule], platform: str | None = None
) -> tuple[list[Rule], list[Skipped]]:
    """The rules that apply to ``daily`` (columns present, platform matching) and the rest with why."""
    keep, skipped = [], []
    for rule in rules:
        m = METRICS[rule.metric]
        missing = [c for c in (m.num, m.den) if c is not None and c not in daily.columns]
        if missing:
            what = m.num.removesuffix("_clean").removesuffix("_sum")
            skipped.append(Skipped(rule.name, f"the input has no {what} column"))
        elif platform is not None and rule.platform not in ("any", platform):
            skipped.append(Skipped(rule.name, f"a {rule.platform} rule; the input is {platform}"))
        else:
            keep.append(rule)
    return keep, skipped


def _window_sums(daily: pl.DataFrame, cols: list[str], days: int) -> pl.DataFrame:
    """``shop_id``, ``date`` and the sums of ``cols`` over the ``days`` calendar days ending that day."""
    return daily.rolling(index_column="date", period=f"{days}d", group_by="shop_id").agg(
        *[pl.col(c).sum() for c in dict.fromkeys(cols)],
        pl.col("attack_case_ids")
        .list.explode(keep_nulls=False, empty_as_null=False)
        .unique()
        .sort()
        .alias("window_case_ids"),
    )


def _ratio(num: pl.Expr, den: pl.Expr) -> pl.Expr:
    return pl.when(den > 0).then(num / den).otherwise(None)


def _judge_rate(daily: pl.DataFrame, rule: Rule, m: Metric) -> pl.DataFrame:
    twin = METRICS.get(m.clean) if m.clean else None
    cols = [m.num, m.den, m.volume, m.count]
    if twin is not None:
        cols += [twin.num, twin.den]
    w = _window_sums(daily, cols, rule.window_days)
    out = w.select(
        "shop_id",
        "date",
        "window_case_ids",
        _ratio(pl.col(m.num), pl.col(m.den)).alias("value"),
        (_ratio(pl.col(twin.num), pl.col(twin.den)) if twin else pl.lit(None, pl.Float64)).alias(
            "value_without_cases"
        ),
        pl.col(m.volume).alias("volume"),
        pl.col(m.count).alias("count"),
        ((pl.col(m.volume) >= rule.min_reviews) & (pl.col(m.count) >= rule.min_count)).alias(
            "judged"
        ),
        pl.lit(None, pl.Float64).alias("baseline"),
    )
    return out.with_columns(pl.col("judged") & pl.col("value").is_not_null())


def _judge_growth(daily: pl.DataFrame, rule: Rule, m: Metric) -> pl.DataFrame:
    # days with 1-2 star reviews in attack cases stay out of the baseline: the part of a
    # smear the scan did not flag would otherwise raise it for weeks
    attacked = pl.col("attack_negative") > 0
    quiet = daily.with_columns(
        pl.when(attacked).then(0).otherwise(pl.col(c)).alias(f"_b_{c}") for c in (m.num, m.den)
    )
    b_num, b_den = f"_b_{m.num}", f"_b_{m.den}"
    span = _window_sums(quiet, [b_num, b_den], rule.baseline_days + 1)
    day = quiet.select("shop_id", "date", "attack_case_ids", m.num, m.den, b_num, b_den)
    j = day.join(span, on=["shop_id", "date"], suffix="_span")
    k, n = pl.col(m.num), pl.col(m.den)
    base_k = pl.col(f"{b_num}_span") - pl.col(b_num)
    base_n = pl.col(f"{b_den}_span") - pl.col(b_den)
    base = (base_k + 0.5) / (base_n + 1)
    j = j.with_columns(
        base.alias("baseline"),
        (_ratio(k, n) / base - 1).alias("value"),
        n.alias("volume"),
        k.alias("count"),
        (
            (n >= rule.min_reviews)
            & (k >= rule.min_count)
            & (base_n >= rule.min_baseline_reviews)
            & (n > 0)
        ).alias("judged"),
    )
    from scipy.stats import binom  # here: importing scipy.stats costs every command

    # P(X >= k) for X ~ Binomial(n, baseline rate), on numpy arrays (no loop over rows)
    p = binom.sf(j[m.num].to_numpy() - 1, j[m.den].to_numpy(), j["baseline"].to_numpy())
    return j.select(
        "shop_id",
        "date",
        pl.col("attack_case_ids").alias("window_case_ids"),
        "value",
        pl.lit(None, pl.Float64).alias("value_without_cases"),
        "volume",
        "count",
        (pl.col("judged") & pl.Series(np.asarray(p) <= rule.max_p)).alias("judged"),
        "baseline",
    )


def _judge_count(daily: pl.DataFrame, rule: Rule, m: Metric) -> pl.DataFrame:
    return daily.select(
        "shop_id",
        "date",
        pl.col("attack_case_ids").alias("window_case_ids"),
        pl.col(m.num).cast(pl.Float64).alias("value"),
        pl.lit(None, pl.Float64).alias("value_without_cases"),
        pl.col(m.volume).alias("volume"),
        pl.col(m.count).alias("count"),
        ((pl.col(m.volume) >= rule.min_reviews) & (pl.col(m.count) >= rule.min_count)).alias(
            "judged"
        ),
        pl.lit(None, pl.Float64).alias("baseline"),
    )


_JUDGES = {"rate": _judge_rate, "growth": _judge_growth, "count": _judge_count}


def _crossed(rule: Rule) -> pl.Expr:
    """True on the judged days where ``rule`` crosses its line (rows sorted by shop, date).

    Hysteresis: after firing, the rule re-arms only once the value is back on
    the right side by ``rule.rearm``; a value wobbling around the line in
    between fires once. The state (over the line or re-armed) is the last such
    event, carried forward per shop.
    """
    v = pl.col("value")
    back_at = rule.threshold - rule.rearm if rule.op in (">", ">=") else rule.threshold + rule.rearm
    back = ~_OPS[rule.op](v, back_at)
    event = pl.when(pl.col("wrong")).then(True).when(back).then(False).otherwise(None)
    state = event.forward_fill().over("shop_id").fill_null(False)
    return state & ~state.shift(1).over("shop_id").fill_null(False)


def _fired(daily: pl.DataFrame, rule: Rule) -> pl.DataFrame:
    """The judged days of ``rule`` that raise it, with their value and fraud cases."""
    m = METRICS[rule.metric]
    judged = _JUDGES[m.family](daily, rule, m).filter(pl.col("judged")).sort("shop_id", "date")
    wrong = _OPS[rule.op](pl.col("value"), rule.threshold)
    judged = judged.with_columns(wrong.alias("wrong"))
    if rule.trigger == "cross":
        judged = judged.with_columns(_crossed(rule).alias("wrong"))
    fired = judged.filter(pl.col("wrong"))
    if rule.kind == "attack":
        explained = pl.lit(True)
    else:
        twin_ok = ~_OPS[rule.op](pl.col("value_without_cases"), rule.threshold)
        explained = pl.col("value_without_cases").is_not_null() & twin_ok
    cases = (
        pl.when(explained).then(pl.col("window_case_ids")).otherwise(pl.lit([], pl.List(pl.String)))
    )
    return fired.with_columns(cases.fill_null([]).alias("case_ids"))


def _fmt(value: float | None, fmt: str) -> str:
    if value is None:
        return "-"
    return {
        "pct": f"{value:.1%}",
        "score": f"{value:.2f}",
        "int": f"{value:.0f}",
        "growth": f"{value:+.0%}",
    }[fmt]


def _records(fired: pl.DataFrame, rule: Rule) -> list[dict]:
    """Alert records of one rule (one per fired day; few, so built in Python)."""
    m = METRICS[rule.metric]
    out = []
    for row in fired.iter_rows(named=True):
        words = {
            "date": row["date"].isoformat(),
            "shop": row["shop_id"],
            "value": _fmt(row["value"], m.fmt),
            "threshold": _fmt(rule.threshold, m.fmt),
            "value_without_cases": _fmt(row["value_without_cases"], m.fmt),
            "cases": ", ".join(row["case_ids"]) or "-",
            "reviews": str(row["volume"]),
            "count": str(row["count"]),
            "window_days": str(rule.window_days),
            "baseline_days": str(rule.baseline_days),
            "baseline": _fmt(row["baseline"], "pct"),
            # a growth metric's day rate: baseline * (1 + growth)
            "rate": "-"
            if row["baseline"] is None
            else _fmt(row["baseline"] * (1 + row["value"]), "pct"),
        }
        out.append(
            {
                "date": words["date"],
                "shop": row["shop_id"],
                "rule": rule.name,
                "kind": rule.kind,
                "metric": rule.metric,
                "op": rule.op,
                "value": row["value"],
                "threshold": rule.threshold,
                "value_without_cases": row["value_without_cases"],
                "window_days": rule.window_days if m.family == "rate" else 1,
                "reviews": row["volume"],
                "platform": rule.platform,
                "source": rule.source,
                "case_ids": list(row["case_ids"]),
                "message": {
                    "zh": rule.message_zh.format(**words),
                    "en": rule.message_en.format(**words),
                },
            }
        )
    return out


def evaluate_alerts(
    daily: pl.DataFrame, rules: list[Rule], platform: str | None = None
) -> tuple[list[dict], list[Skipped]]:
    """Alerts of ``rules`` over ``daily`` (sorted by date, shop, rule) and the rules skipped.

    ``platform`` (``taobao``, ``jd``, ``pdd``, ``douyin``; None: unknown)
    leaves out the rules of other platforms. Each alert is a JSON-ready dict:
    ``date`` (ISO), ``shop``, ``rule``, ``kind``, ``metric``, ``op``,
    ``value``, ``threshold``, ``value_without_cases``, ``window_days``,
    ``reviews``, ``platform``, ``source``, ``case_ids``, ``message`` ({zh, en}).
    """
    usable, skipped = rules_for(daily, rules, platform)
    alerts: list[dict] = []
    for rule in usable:
        alerts += _records(_fired(daily, rule), rule)
    attacked = {(a["date"], a["shop"]) for a in alerts if a["kind"] == "attack"}
    alerts = [a for a in alerts if a["kind"] != "quality" or (a["date"], a["shop"]) not in attacked]
    alerts.sort(key=lambda a: (a["date"], a["shop"], a["rule"]))
    return alerts, skipped
