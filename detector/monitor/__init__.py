"""Shop monitoring: daily figures per shop, alert rules, incremental state.

Public API (used by ``review-detector monitor`` and the web app):

- :func:`run_monitor` ``(inputs, out, state=None, rules=None, **scan_options) -> MonitorResult``:
  scan, then publish ``scan/``, ``daily.parquet`` and ``alerts.json`` as one version of ``out``;
- :func:`monitor_scan` ``(scan_dir, rules=None) -> MonitorResult``: the same figures and
  alerts of a finished scan directory, nothing written;
- :func:`daily_metrics` ``(reviews, scores, cases, timezone="UTC") -> pl.DataFrame``;
- :func:`evaluate_alerts` ``(daily, rules, platform=None) -> (alerts, skipped)``;
- :func:`load_rules` ``(path=None) -> list[Rule]``, :func:`rules_from_text` ``(text, origin)``,
  :func:`default_rules`, :data:`METRICS`;
- :func:`scan_context` ``(summary) -> (timezone, platform)`` of a scan's ``summary.json``;
- :class:`RulesError`, :class:`StateError` (both :class:`detector.errors.InputError`, exit 2).
"""

from detector.evidence.selection import harms_shop
from detector.monitor.alerts import Skipped, alert_platform, evaluate_alerts
from detector.monitor.command import add_parser, run
from detector.monitor.daily import daily_metrics
from detector.monitor.rules import (
    METRICS,
    Metric,
    Rule,
    RulesError,
    default_rules,
    load_rules,
    rules_from_text,
)
from detector.monitor.runner import MonitorResult, monitor_scan, run_monitor, scan_context
from detector.monitor.state import StateError

__all__ = [
    "METRICS",
    "Metric",
    "MonitorResult",
    "Rule",
    "RulesError",
    "Skipped",
    "StateError",
    "add_parser",
    "alert_platform",
    "daily_metrics",
    "default_rules",
    "evaluate_alerts",
    "harms_shop",
    "load_rules",
    "monitor_scan",
    "run",
    "rules_from_text",
    "run_monitor",
    "scan_context",
]
