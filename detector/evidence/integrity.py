"""What lets a reviewer check a packet: row hashes, the scan behind it, the commands to reproduce it."""

from __future__ import annotations

import hashlib
import json
import math
import shlex
from datetime import UTC, datetime

from detector import __version__
from detector.evidence.scanload import ScanBundle
from detector.input.spec import InputSpec

ROW_HASH_RULE = (
    "sha256 of the UTF-8 JSON object {column: value} over the contract columns present "
    "(review_id, shop_id, product_id, user_id, rating, created_at, text, ip, device_id, "
    "delivered_at, order_id, dsr_*) as loaded by detector.input.load.load_reviews; keys sorted, "
    "separators ',' and ':', non-ASCII kept; datetimes as ISO-8601 UTC "
    "'YYYY-MM-DDTHH:MM:SS.ffffffZ', null as null"
)


def _utc_iso(ts: datetime) -> str:
    """The row-hash spelling of a time (UTC, microseconds, ``Z``): independent of the shown zone."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _canon(value):
    if isinstance(value, datetime):
        return _utc_iso(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def row_sha256(row: dict, columns: list[str]) -> str:
    """SHA-256 of one review row (see :data:`ROW_HASH_RULE`)."""
    obj = {c: _canon(row.get(c)) for c in columns}
    text = json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _input_options(spec: InputSpec) -> list[str]:
    """The options that read the input as the scan did (``--preset`` ... ``--until``)."""
    parts = []
    for flag, value in (("--preset", spec.preset), ("--shop", spec.shop)):
        if value is not None:
            parts.append(f"{flag} {shlex.quote(value)}")
    parts.extend(f"--orders {shlex.quote(o)}" for o in spec.orders)
    if spec.timezone is not None:
        parts.append(f"--timezone {shlex.quote(spec.timezone)}")
    if spec.columns:
        mapping = ",".join(f"{k}={v}" for k, v in spec.columns.items())
        parts.append(f"--columns {shlex.quote(mapping)}")
    for flag, value in (("--since", spec.since), ("--until", spec.until)):
        if value:
            parts.append(f"{flag} {shlex.quote(str(value))}")
    return parts


def scan_command(bundle: ScanBundle) -> str:
    """The ``scan`` command line that reproduces the scan behind a packet.

    The input options are the scan's own (``summary.json``'s ``input``, see
    :meth:`detector.input.spec.InputSpec.from_summary`): without its preset,
    shop, order export, zone or column map the same files read differently.
    """
    s = bundle.summary
    par = s.get("parameters") or {}
    parts = ["review-detector scan", *(shlex.quote(i["path"]) for i in bundle.inputs)]
    parts.append("--out SCAN_DIR")
    parts.extend(_input_options(InputSpec.from_summary(s)))
    if par.get("families"):
        parts.append(f"--families {','.join(par['families'])}")
    if (s.get("threshold") or {}).get("method") == "fixed":
        parts.append(f"--threshold {s['threshold']['value']}")
    parts.append(f"--seed {par.get('seed', 0)}")
    return " ".join(parts)


def evidence_command(params: dict) -> str:
    """The ``evidence`` command line of a packet's parameters (:func:`integrity`'s ``params``)."""
    return (
        f"review-detector evidence SCAN_DIR --shop {shlex.quote(params['shop'])} "
        f"--lang {params['lang']} --platform {params['platform']}"
        + (" --redact" if params["redact"] else "")
        + (" --all" if params["all"] else "")
    )


def integrity(
    bundle: ScanBundle, params: dict, columns: list[str], row_hashes: dict[str, str]
) -> dict:
    """``packet.json``'s ``integrity``: engine, inputs, the scan, row hashes, how to reproduce."""
    s = bundle.summary
    return {
        "engine": {
            "name": "review-detector",
            "version": __version__,
            "scan_version": s.get("version"),
        },
        "inputs": bundle.inputs,
        "scan_outputs": bundle.outputs,
        "scan": {
            "parameters": s.get("parameters"),
            "threshold": s.get("threshold"),
            "load": {k: v for k, v in (s.get("load") or {}).items() if k != "cwd"},
            "cases": (s.get("cases") or {}).get("edge_rules"),
        },
        "packet_parameters": params,
        "rows": {
            "rule": ROW_HASH_RULE,
            "columns": columns,
            "sha256": dict(sorted(row_hashes.items())),
        },
        "reproduce": [scan_command(bundle), evidence_command(params)],
    }
