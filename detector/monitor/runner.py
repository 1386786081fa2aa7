"""``monitor``: scan, daily figures per shop, alerts; optionally incremental.

``OUT`` receives::

    scan/          the scan's outputs (review-detector scan; evidence packets build from it)
    daily.parquet  the daily table (detector.monitor.daily), every shop-day known
    alerts.json    a list of alert records (detector.monitor.alerts), sorted by date, shop, rule

The three are published together, as one version of ``OUT``
(:class:`detector.publish.Publication`: ``OUT`` is a link to
``.OUT.versions/<run>``, switched in one rename): a reader sees the previous
run's scan, days and alerts or this run's, never a mix, whatever stops the run
(a failure, Ctrl-C, ``kill -9``). Other entries of ``OUT`` (a notes file of
the user's) are carried into each version.

With a state directory (``--state``) the daily table is every shop-day seen so
far, ``alerts.json`` every alert raised so far, each with the ``run`` that
first raised it; a day already alerted under a rule is never alerted again
under it, and a run that changes nothing (the same files again) leaves both
byte-identical and the state untouched. Commit order: the new version of
``OUT`` is staged in full and put beside the current one, ``state.json`` is
committed naming it, then ``OUT`` is switched to it; a run stopped after the
commit is switched by the next run before it starts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from detector.atomic import write_json, write_parquet
from detector.errors import InputError
from detector.input.spec import as_spec
from detector.monitor.alerts import Skipped, alert_platform, evaluate_alerts
from detector.monitor.daily import daily_metrics
from detector.monitor.rules import Rule, load_rules
from detector.monitor.state import StateError, alert_key, commit_state, load_state, merge_daily

__all__ = ["MonitorResult", "monitor_scan", "run_monitor", "scan_context"]

#: Exit codes of ``review-detector monitor``.
EXIT_OK, EXIT_ALERTS = 0, 4
#: What a monitor run writes into OUT (everything else there is carried over).
OUTPUTS = ("scan", "daily.parquet", "alerts.json")
#: The publish test hook's step (:data:`detector.publish.STOP_AT_ENV`) after the state commit.
STATE_COMMITTED_STEP = 12


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
    spec=None,
    **scan_options,
) -> MonitorResult:
    """Scan ``inputs``, then publish ``out/scan``, ``out/daily.parquet`` and ``out/alerts.json``
    as one version of ``out``.

    ``spec`` (:class:`detector.input.spec.InputSpec`) says how to read the input;
    ``scan_options`` go to :func:`detector.scan.stage_scan` (``config``,
    ``engine``, ``progress``). The scan runs in core (the monitor reads every
    review's day). With ``state`` the run is incremental (module docstring).
    Bad rules, a damaged state or an ``out`` that cannot be written raise
    before anything is scanned; a failed or stopped run publishes nothing.
    """
    from detector.publish import Publication, check_writable_dir

    rule_list = _rules(rules)
    st = load_state(state) if state is not None else None
    if state is not None:
        check_writable_dir(state, "--state")  # before any work, as --out
    spec = as_spec(spec)
    publication = Publication(out, carry=_keeps_foreign)
    if st is not None:
        _finish_switch(st, publication)
    with publication:
        result = _publish(publication, inputs, spec, st, rule_list, scan_options)
    if isinstance(result, InputError):
        raise result  # every row rejected: the rejects were published, as `scan` does
    out = Path(out)
    result.scan_dir = out / "scan"
    result.files = {"daily": out / "daily.parquet", "alerts": out / "alerts.json"}
    return result


def _keeps_foreign(name: str) -> bool:
    """Whether a new version of OUT carries ``name`` from the current one: not a monitor output."""
    return name not in OUTPUTS


def _finish_switch(st, publication) -> None:
    """Switch OUT to the version the state was committed with, when a stop came in between."""
    want, previous = st.output.get("version"), st.output.get("previous")
    current = publication.current
    name = current.name if current is not None and current != publication.point else None
    pending = publication.versions / want if want else None
    if pending is not None and name != want and name == previous and pending.is_dir():
        publication.switch(pending)


def _publish(publication, inputs, spec, st, rule_list, scan_options) -> MonitorResult | InputError:
    """Stage the scan, the daily table and the alerts into the publication (and commit the
    state); the error to raise once published when every row was rejected."""
    from detector.publish import stop_point
    from detector.scan import stage_or_rejects
    from detector.scan.run import configured

    staged = publication.path
    scan_dir = staged / "scan"
    config = configured(scan_options.pop("config", None), spec=spec, out_of_core=False)
    out = Path(publication.out) / "scan"
    result = stage_or_rejects(
        inputs, scan_dir, publication.run_id, out, config, keep_reviews=True, **scan_options
    )
    if isinstance(result, InputError):
        # every row rejected: the scan's rejects are this run's output, as for `scan`;
        # no days, no alerts, and the state is not advanced
        return result
    timezone, platform = scan_context(result.summary)
    cases = pl.read_parquet(scan_dir / "cases.parquet", glob=False)
    daily = daily_metrics(result.loaded.reviews, result.scores, cases, timezone)
    files = [{"path": i["path"], "sha256": i["sha256"]} for i in result.summary["inputs"]]
    changed = False
    if st is None:
        alerts, skipped = evaluate_alerts(daily, rule_list, platform)
        new = alerts
    else:
        daily, alerts, new, skipped, changed = _advance(
            st, daily, files, timezone, rule_list, platform
        )
    write_parquet(daily, staged / "daily.parquet")
    write_json(alerts, staged / "alerts.json")
    if changed:
        current = publication.current
        version = publication.prepare()
        st.output = {
            "version": version.name,
            "previous": None if current is None or current == publication.point else current.name,
        }
        commit_state(st)
        stop_point(STATE_COMMITTED_STEP, "monitor state committed")
    return MonitorResult(daily, alerts, new, skipped, timezone, platform, scan_dir)


def _advance(st, daily, files, timezone, rules, platform):
    """Merge a scan's days into the state ``st`` (updated in place, not yet committed);
    the last value says whether the state changed (it is committed only then)."""
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
    return merged, st.alerts, new, skipped, changed
