"""packet.html opened in headless Chromium: it renders its key content, offline.

Needs Debian's ``chromium`` (``.ci/run`` installs it); skipped with a message
where it is missing.
"""

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from conftest import CHROMIUM, FLAGS
from PIL import Image

from benchmarks.generator import generate, write_dataset
from detector.cli import main
from detector.scan import run_scan

pytestmark = pytest.mark.browser

WINDOW = (1280, 2400)


def chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    if CHROMIUM is None:
        pytest.skip("headless Chromium not found at /usr/bin/chromium (apt-get install chromium)")
    cmd = [CHROMIUM, *FLAGS, f"--user-data-dir={tmp / 'profile'}", *args]
    return subprocess.run(cmd, capture_output=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def packet(tmp_path_factory):
    if CHROMIUM is None:
        pytest.skip("headless Chromium not found at /usr/bin/chromium (apt-get install chromium)")
    root = tmp_path_factory.mktemp("browser")
    reviews, labels = generate(3000, seed=4)
    data, _ = write_dataset(root / "data", reviews, labels)
    run_scan(data, root / "scan")
    shop = (
        reviews.join(labels, on="review_id")
        .filter(pl.col("attack_type") == "smear")
        .group_by("shop_id")
        .len()
        .sort(["len", "shop_id"], descending=[True, False])["shop_id"][0]
    )
    out = root / "packet"
    assert main(["evidence", str(root / "scan"), "--shop", shop, "--out", str(out), "--quiet"]) == 0
    return root, out, json.loads((out / "packet.json").read_text(encoding="utf-8"))


def test_packet_renders_in_chromium(packet):
    root, out, data = packet
    url = (out / "packet.html").resolve().as_uri()
    dom = chromium(root, "--dump-dom", "--virtual-time-budget=3000", url)
    assert dom.returncode == 0, dom.stderr.decode(errors="replace")[-2000:]
    html = dom.stdout.decode("utf-8")
    # the key content was rendered into the document
    assert data["summary"] in html
    assert f"{data['impact']['rating_after']:.2f}" in html
    for case in data["cases"]:
        assert case["case_id"] in html
    assert "<mark>" in html and 'class="window burst-window"' in html
    assert '<svg class="timeline"' in html
    if len(data["cases"]) >= 2:
        assert 'id="overview"' in html and "data:image/png;base64," in html
    assert "<script" not in html

    screenshot(root, out, url)


def screenshot(root: Path, out: Path, url: str) -> None:
    """A screenshot of ``url`` that shows ink and the red of cited reviews, kept beside the packet."""
    shot = root / "packet.png"
    res = chromium(root, f"--screenshot={shot}", f"--window-size={WINDOW[0]},{WINDOW[1]}", url)
    assert res.returncode == 0 and shot.exists(), res.stderr.decode(errors="replace")[-2000:]
    img = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert img.shape[:2] == (WINDOW[1], WINDOW[0])
    ink = (img.sum(axis=2) < 600).mean()
    assert ink > 0.02, "the screenshot is (nearly) blank"
    red = (img[..., 0] > 170) & (img[..., 1] < 90) & (img[..., 2] < 90)
    assert red.sum() > 500, "no red: the cited reviews / kind labels did not render"
    shutil.copy(shot, out / "screenshot.png")  # kept beside the packet for a human look


def test_packet_prints_to_pdf(packet):
    root, out, _ = packet
    pdf = root / "packet.pdf"
    res = chromium(
        root,
        f"--print-to-pdf={pdf}",
        "--no-pdf-header-footer",
        (out / "packet.html").resolve().as_uri(),
    )
    assert res.returncode == 0 and pdf.exists(), res.stderr.decode(errors="replace")[-2000:]
    body = pdf.read_bytes()
    assert body[:5] == b"%PDF-"
    pages = len(re.findall(rb"/Type\s*/Page(?!s)", body))
    assert pages >= 2, f"{pages} page(s): each case should start a printed page"


@pytest.fixture(scope="module")
def douyin_packet(tmp_path_factory):
    """A packet from a Douyin seller-centre export (xlsx, Chinese headers, naive Beijing times)."""
    if CHROMIUM is None:
        pytest.skip("headless Chromium not found at /usr/bin/chromium (apt-get install chromium)")
    from benchmarks.exports import build_export, write_export

    root = tmp_path_factory.mktemp("douyin")
    export = build_export("douyin", seed=2, n=1500)
    paths = write_export(export, root / "export", fmt="xlsx")
    scan, out = root / "scan", root / "packet"
    argv = ["scan", str(paths["reviews"]), "--out", str(scan), "--preset", "douyin"]
    assert main([*argv, "--shop", "我的店", "--orders", str(paths["orders"]), "--quiet"]) == 0
    argv = ["evidence", str(scan), "--shop", "我的店", "--out", str(out), "--platform", "douyin"]
    assert main([*argv, "--lang", "zh", "--quiet"]) == 0
    return root, out, json.loads((out / "packet.json").read_text(encoding="utf-8"))


def test_douyin_export_packet_renders_in_chromium(douyin_packet):
    root, out, data = douyin_packet
    url = (out / "packet.html").resolve().as_uri()
    dom = chromium(root, "--dump-dom", "--virtual-time-budget=3000", url)
    assert dom.returncode == 0, dom.stderr.decode(errors="replace")[-2000:]
    html = dom.stdout.decode("utf-8")
    assert data["summary"] in html and "Asia/Shanghai (UTC+08:00)" in html
    for case in data["cases"]:
        assert case["case_id"] in html
        for r in case["reviews"][:5]:
            assert r["order_id"] in html and r["reasons"]
            for reason in r["reasons"]:
                assert reason["text"] in html
    screenshot(root, out, url)
