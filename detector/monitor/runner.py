"""``monitor``: scan, daily figures per shop, alerts; optionally incremental.

``OUT`` receives::

    scan/          the scan's outputs (review-detector scan; evidence packets build from it)
    daily.parquet  the daily table (detector.monitor.daily), every shop-day known
    alerts.json    a list of alert records (detector.monitor.alerts), sorted by date, shop, rule

Each file is written atomically. With a state directory (``--state``) the
daily table is every shop-day seen so far, ``alerts.json`` every alert raised
so far, each with the ``run`` that first raised it; a day already alerted
under a rule is never alerted again under it, and a run that changes nothing
(the same files again) leaves both byte-identical.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from detector.atomic import write_json, write_parquet
from detector.monitor.alerts import Skipped, alert_platform, evaluate_alerts
from detector.monitor.daily import daily_metrics
from detector.monitor.rules import Rule, load_rules
from detector.monitor.state import StateError, alert_key, commit_state, load_state, merge_daily

__all__ = ["MonitorResult", "monitor_scan", "run_monitor", "scan_context"]

#: Exit codes of ``review-detector monitor``.
EXIT_OK, EXIT_ALERTS = 0, 4


@dataclass
class MonitorResult:
    """What a monitor run found (and, for :func:`run_monitor`, wrote).

    Attributes
    ----------
    daily : pl.DataFrame
        The daily table (every shop-day known to the state, with one).
    alerts : list of dict
        Every alert record of ``alerts.json``.
    new_alerts : list of dict
        The alerts this run raised (all of ``alerts`` without a state).
    skipped : list of Skipped
        Rules not evaluated and why (no DSR column, another platform's rule).
    timezone : str
        The zone whose days ``daily`` counts.
    platform : str or None
        The platform whose rules applied (None: unknown, all rules applied).
    scan_dir : Path
        The scan the figures come from.
    files : dict
        The files written (``daily``, ``alerts``); empty for :func:`monitor_scan`.
    """

    daily: pl.DataFrame
    alerts: list[dict]
    new_alerts: list[dict]
    skipped: list[Skipped]
    timezone: str
    platform: str | None
    scan_dir: Path
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        """4 when this run raised an alert, else 0."""
        return EXIT_ALERTS if self.new_alerts else EXIT_OK


def _rules(rules: list[Rule] | str | os.PathLike[str] | None) -> list[Rule]:
    if rules is None or isinstance(rules, str | os.PathLike):
        return load_rules(rules)
    return list(rules)


def scan_context(summary: dict) -> tuple[str, str | None]:
    """The time zone and the platform of a scan, from ``summary.json``'s ``input`` record.

    The zone is the one the input's naive times were read in
    (``effective_timezone``: ``--timezone``, else the preset's), else
    ``timezone``, else UTC; the platform is the preset's (None without one).
    """
    info = summary.get("input") or {}
    zone = info.get("effective_timezone") or info.get("timezone") or "UTC"
    return zone, alert_platform(info.get("preset"))


def monitor_scan(
    scan_dir: str | os.PathLike[str], rules: list[Rule] | str | os.PathLike[str] | None = None
) -> MonitorResult:
    """Daily figures and alerts of a finished scan directory (nothing is written).

    The scan's input is re-read and checked against the hashes the scan
    recorded (:func:`detector.evidence.scanload.load_scan`), so the figures are
    those of the scanned rows. ``rules``: a list of :class:`Rule`, a TOML file,
    or None for the defaults. Raises :class:`detector.errors.InputError`
    (exit code 2) for a missing or changed scan or a bad rules file.
    """
    from detector.evidence.scanload import load_scan

    rule_list = _rules(rules)
    bundle = load_scan(scan_dir)
    timezone, platform = scan_context(bundle.summary)
    daily = daily_metrics(bundle.reviews, bundle.scores, bundle.cases, timezone)
    alerts, skipped = evaluate_alerts(daily, rule_list, platform)
    return MonitorResult(daily, alerts, alerts, skipped, timezone, platform, Path(scan_dir))


def run_monitor(
    inputs,
    out: str | os.PathLike[str],
    state: str | os.PathLike[str] | None = None,
    rules: list[Rule] | str | os.PathLike[str] | None = None,
    **scan_options,
) -> MonitorResult:
    """Scan ``inputs`` into ``out/scan``, then write ``out/daily.parquet`` and ``out/alerts.json``.

    ``scan_options`` go to :func:`detector.scan.run_scan` (``columns``,
    ``since``, ``until``, ``config``, ``engine``, ``progress``, ``spec``...);
    the scan runs in core (the monitor reads every review's day). With
    ``state`` the run is incremental (module docstring). Bad rules or a
    damaged state raise before anything is scanned.
    """
    from detector.scan import run_scan

    rule_list = _rules(rules)
    st = load_state(state) if state is not None else None
    out = Path(out)
    scan_dir = out / "scan"
    result = run_scan(inputs, scan_dir, keep_reviews=True, out_of_core=False, **scan_options)
    timezone, platform = scan_context(result.summary)
    cases = pl.read_parquet(scan_dir / "cases.parquet", glob=False)
    daily = daily_metrics(result.loaded.reviews, result.scores, cases, timezone)
    files = [{"path": i["path"], "sha256": i["sha256"]} for i in result.summary["inputs"]]
    if st is None:
        alerts, skipped = evaluate_alerts(daily, rule_list, platform)
        new = alerts
    else:
        daily, alerts, new, skipped = _advance(st, daily, files, timezone, rule_list, platform)
    written = {
        "daily": write_parquet(daily, out / "daily.parquet"),
        "alerts": write_json(alerts, out / "alerts.json"),
    }
    if st is not None:
        commit_state(st)
    return MonitorResult(daily, alerts, new, skipped, timezone, platform, scan_dir, written)


def _advance(st, daily, files, timezone, rules, platform):
    """Merge a scan's days into the state ``st`` (updated in place, not yet committed)."""
    if st.timezone is not None and st.timezone != timezone:
        raise StateError(
            f"monitor state {st.root} counts days in {st.timezone}, this input in {timezone}; "
            f"pass --timezone {st.timezone} or use another --state directory"
        )
    merged = merge_daily(st.daily, daily)
    evaluated, skipped = evaluate_alerts(merged, rules, platform)
    raised = st.raised()
    new = [a for a in evaluated if alert_key(a) not in raised]
    known = {f["sha256"] for f in st.files}
    new_files = [f for f in files if f["sha256"] not in known]
    changed = bool(new or new_files) or st.daily is None or not merged.equals(st.daily)
    if changed:
        st.run += 1
    new = [{**a, "run": st.run} for a in new]
    st.alerts = sorted([*st.alerts, *new], key=lambda a: (*alert_key(a), a["run"]))
    st.files = sorted([*st.files, *new_files], key=lambda f: (f["path"], f["sha256"]))
    st.daily, st.timezone = merged, timezone
    return merged, st.alerts, new, skipped
