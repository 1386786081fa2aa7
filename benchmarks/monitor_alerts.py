"""How `monitor`'s alerts meet the planted events of seller-centre exports.

For each platform and seed, :func:`benchmarks.exports.build_export` plants a
smear burst, a genuine defect batch and a flash sale in one shop's export;
``monitor`` runs on the written files (CSV, with the order export) and its
alerts are compared with the days of the planted events (days as the export
writes them, Beijing time):

- ``smear_alerted``: the smear's days got an attack alert;
- ``attack_alerts_off_smear``: attack alerts whose cases hold no smear review;
- ``defect_alerted``: the defect batch's days got a quality alert;
- ``quality_alerts_on_honest_days``: quality alerts on days with neither smear nor defect;
- ``alerts_on_flash_days``: any alert on a day of the flash sale only.

``python -m benchmarks.monitor_alerts --seeds 1-8 --out benchmarks/results/monitor``
writes ``monitor_alerts.json`` (per export and totals, with the machine,
versions and command). Development seeds are 1-8; the tests use 12.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

from benchmarks.exports import build_export, write_export
from detector import __version__
from detector.input.spec import InputSpec
from detector.monitor import run_monitor

PLATFORMS = ("pdd", "taobao", "jd", "douyin")


def _event_days(export) -> dict[str, set[str]]:
    head = export.headers
    day = pl.col(head["created_at"]).str.slice(0, 10).str.replace_all("/", "-")
    rows = export.truth.join(
        export.reviews.select(pl.col(head["order_id"]).alias("order_id"), day.alias("day")),
        on="order_id",
    )
    return {k: set(rows.filter(pl.col("kind") == k)["day"]) for k in ("smear", "defect", "flash")}


def score_export(plat: str, seed: int, work: Path, n: int = 2000) -> dict:
    """Run ``monitor`` on one generated export and compare its alerts with what was planted."""
    export = build_export(plat, seed=seed, n=n)
    paths = write_export(export, work / f"{plat}-{seed}")
    out = work / f"{plat}-{seed}-out"
    spec = InputSpec(preset=plat, shop="S", orders=(str(paths["orders"]),))
    t0 = time.perf_counter()
    result = run_monitor(paths["reviews"], out, spec=spec)
    seconds = time.perf_counter() - t0
    days = _event_days(export)
    smear_ids = set(export.truth.filter(pl.col("kind") == "smear")["order_id"])
    members = pl.read_parquet(out / "scan" / "cases.parquet").select("case_id", "review_ids")
    attacks = [a for a in result.alerts if a["kind"] == "attack"]
    quality = [a for a in result.alerts if a["kind"] == "quality"]

    def holds_smear(alert: dict) -> bool:
        ids = members.filter(pl.col("case_id").is_in(alert["case_ids"]))["review_ids"].explode()
        return bool(set(ids) & smear_ids)

    flash_only = days["flash"] - days["smear"] - days["defect"]
    return {
        "platform": plat,
        "seed": seed,
        "smear_alerted": any(a["date"] in days["smear"] for a in attacks),
        "attack_alerts_off_smear": sum(not holds_smear(a) for a in attacks),
        "defect_alerted": any(a["date"] in days["defect"] for a in quality),
        "quality_alerts_on_honest_days": sum(
            a["date"] not in days["smear"] | days["defect"] for a in quality
        ),
        "alerts_on_flash_days": [
            (a["date"], a["rule"]) for a in result.alerts if a["date"] in flash_only
        ],
        "alerts": len(result.alerts),
        "seconds": round(seconds, 2),
    }


def _seeds(text: str) -> list[int]:
    lo, _, hi = text.partition("-")
    return list(range(int(lo), int(hi or lo) + 1))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.monitor_alerts", description=__doc__)
    p.add_argument("--seeds", default="1-8", help="seed range, e.g. 1-8")
    p.add_argument("--platforms", default=",".join(PLATFORMS))
    p.add_argument("--out", default="benchmarks/results/monitor")
    args = p.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for seed in _seeds(args.seeds):
            for plat in args.platforms.split(","):
                rows.append(score_export(plat, seed, Path(work)))
                print(json.dumps(rows[-1], ensure_ascii=False), flush=True)
    totals = {
        "exports": len(rows),
        "smear_alerted": sum(r["smear_alerted"] for r in rows),
        "attack_alerts_off_smear": sum(r["attack_alerts_off_smear"] for r in rows),
        "defect_alerted": sum(r["defect_alerted"] for r in rows),
        "quality_alerts_on_honest_days": sum(r["quality_alerts_on_honest_days"] for r in rows),
        "alerts_on_flash_days": sum(len(r["alerts_on_flash_days"]) for r in rows),
    }
    record = {
        "command": " ".join(["python -m benchmarks.monitor_alerts", *(argv or sys.argv[1:])]),
        "version": __version__,
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "polars": pl.__version__,
        "totals": totals,
        "exports": rows,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from detector.atomic import write_json

    write_json(record, out / "monitor_alerts.json")
    print(json.dumps(totals))
    return 0


if __name__ == "__main__":
    sys.exit(main())
