"""Seller-centre exports end to end: export -> scan -> evidence, as a merchant runs them.

Each preset's export (CSV with BOM and .xlsx, Chinese headers, naive Beijing
times, 19-digit order ids, masked nicknames, an order export) gets a packet
whose times are the export's own; on Douyin exports the packet cites the
planted smear and not the genuine defect batch or the flash sale.
"""

from __future__ import annotations

import csv
import io
import json
import shlex
from datetime import datetime

import polars as pl
import pytest

from benchmarks.exports import PLATFORMS, build_export, write_export
from benchmarks.packets import SHOP, run_packet
from detector.cli import main

#: The platform form each preset's merchant files with (Tmall appeals go through Taobao's).
FORM = {"taobao": "taobao", "tmall": "taobao", "jd": "jd", "pdd": "pdd", "douyin": "douyin"}
#: Naive export time formats (see benchmarks.exports).
TIME_FORMAT = {"pdd": "%Y/%m/%d %H:%M", "douyin": "%Y/%m/%d %H:%M:%S"}


@pytest.mark.parametrize("platform", PLATFORMS)
def test_each_presets_export_gets_a_packet_with_the_exports_times(platform, tmp_path):
    export = build_export(platform, seed=3, n=1500)
    fmt = "xlsx" if platform in ("jd", "douyin") else "csv"
    paths = write_export(export, tmp_path / "export", fmt=fmt)
    scan, packet = tmp_path / "scan", tmp_path / "packet"
    argv = ["scan", str(paths["reviews"]), "--out", str(scan), "--preset", platform]
    assert main([*argv, "--shop", SHOP, "--orders", str(paths["orders"]), "--quiet"]) == 0
    code = main(
        ["evidence", str(scan), "--shop", SHOP, "--out", str(packet), "--quiet"]
        + ["--platform", FORM[platform], "--lang", "zh"]
    )
    assert code == 0
    data = json.loads((packet / "packet.json").read_text(encoding="utf-8"))
    assert data["timezone"] == "Asia/Shanghai" and data["cases"]
    h = export.headers
    shown = dict(export.reviews.select(h["order_id"], h["created_at"]).iter_rows())
    fmt_in = TIME_FORMAT.get(platform, "%Y-%m-%d %H:%M:%S")
    rows = list(csv.DictReader(io.StringIO((packet / "appeals.csv").read_text("utf-8-sig"))))
    by_order = {r["order_id"]: r for r in rows}
    html = (packet / "packet.html").read_text(encoding="utf-8")
    for c in data["cases"]:
        for r in c["reviews"]:
            # the export's naive Beijing time, unchanged, with its offset stated
            naive = datetime.strptime(shown[r["order_id"]], fmt_in)
            assert r["created_at"] == naive.isoformat() + "+08:00"
            assert by_order[r["order_id"]]["created_at"] == r["created_at"]
            assert naive.strftime("%Y-%m-%d %H:%M") in html
            assert len(r["order_id"]) == 19 and r["order_id"] in html
    assert "Asia/Shanghai" in html


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
@pytest.mark.parametrize("seed", [1, 2])
def test_douyin_packet_cites_the_smear_not_the_defect_batch_or_the_flash_sale(seed, fmt, tmp_path):
    run = run_packet("douyin", seed, fmt, tmp_path)
    assert run.recall >= 0.85, run.line()
    assert run.precision >= 0.90, run.line()
    assert run.defect + run.flash <= 2, run.line()


def test_masked_nicknames_are_never_shared_identity_evidence(tmp_path):
    export = build_export("douyin", seed=2, n=1500)
    paths = write_export(export, tmp_path / "export", fmt="csv")
    scan = tmp_path / "scan"
    argv = ["scan", str(paths["reviews"]), "--out", str(scan), "--preset", "douyin"]
    assert main([*argv, "--shop", SHOP, "--orders", str(paths["orders"]), "--quiet"]) == 0
    summary = json.loads((scan / "summary.json").read_text(encoding="utf-8"))
    assert "user_id" in summary["input"]["weak_identity"]
    cases = pl.read_parquet(scan / "cases.parquet")
    types = set(cases["edge_types"].explode().drop_nulls().to_list())
    assert not types & {"user", "ring"}, types


def test_the_packets_scan_command_reproduces_the_scan(tmp_path):
    """The command a packet prints keeps the preset, shop, orders, zone and column map."""
    export = build_export("douyin", seed=2, n=1500)
    paths = write_export(export, tmp_path / "export", fmt="csv")
    text_header = export.headers["text"]
    options = ["--preset", "douyin", "--shop", SHOP, "--orders", str(paths["orders"])]
    options += ["--timezone", "Asia/Shanghai", "--columns", f"{text_header}=text"]
    scan, packet = tmp_path / "scan", tmp_path / "packet"
    assert main(["scan", str(paths["reviews"]), "--out", str(scan), *options, "--quiet"]) == 0
    assert main(["evidence", str(scan), "--shop", SHOP, "--out", str(packet), "--quiet"]) == 0
    data = json.loads((packet / "packet.json").read_text(encoding="utf-8"))
    command = shlex.split(data["integrity"]["reproduce"][0])
    assert command[:2] == ["review-detector", "scan"]
    for flag, value in zip(options[::2], options[1::2], strict=True):
        assert command[command.index(flag) + 1] == value, flag
    again = tmp_path / "again"
    argv = [str(again) if a == "SCAN_DIR" else a for a in command[1:]]
    assert main([*argv, "--quiet"]) == 0
    for name in ("scores.parquet", "cases.parquet"):
        assert pl.read_parquet(again / name).equals(pl.read_parquet(scan / name)), name
