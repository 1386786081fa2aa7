"""Appeal evidence packets (detector/evidence): content, limits, hostile input."""

import hashlib
import json
import os
import re
import shutil
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import polars as pl
import pytest

from benchmarks.generator import generate, write_dataset
from detector.cli import main
from detector.errors import InputError
from detector.evidence import PacketOptions, build_packet, fonts
from detector.evidence.cards import render_cards
from detector.evidence.impact import compute_impact
from detector.evidence.link_reasons import ORDER as LINK_ORDER
from detector.evidence.overview import render_overview
from detector.evidence.packet import SCHEMA, SCHEMA_VERSION
from detector.evidence.platforms import PLATFORMS
from detector.evidence.render_html import render_html
from detector.evidence.safety import Redactor, UnsafePathError, mask_ip, safe_join, safe_name
from detector.evidence.scanload import load_scan
from detector.evidence.spans import highlight, shared_spans
from detector.input.schema import CONTRACT, DSR_COLUMNS
from detector.publish import versions_dir
from detector.scan import run_scan
from features.registry import REGISTRY

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def evidence(*args):
    return main(["evidence", *map(str, args), "--quiet"])


def load_packet(out: Path) -> dict:
    return json.loads((out / "packet.json").read_text(encoding="utf-8"))


def cited_ids(packet: dict) -> set[str]:
    return {r for c in packet["cases"] for r in c["review_ids"]}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A scanned market and the shop hit by its largest smear campaign."""
    root = tmp_path_factory.mktemp("evidence")
    reviews, labels = generate(6000, seed=21)
    data, _ = write_dataset(root / "data", reviews, labels)
    run_scan(data, root / "scan")
    lab = reviews.join(labels, on="review_id")
    top = (
        lab.filter(pl.col("attack_type") == "smear")
        .group_by("campaign_id", "shop_id")
        .len()
        .sort(["len", "campaign_id"], descending=[True, False])
        .row(0, named=True)
    )
    shop = top["shop_id"]
    campaign = set(
        lab.filter((pl.col("campaign_id") == top["campaign_id"]) & (pl.col("shop_id") == shop))[
            "review_id"
        ]
    )
    out = root / "packet-zh"
    assert evidence(root / "scan", "--shop", shop, "--out", out, "--lang", "zh") == 0
    return SimpleNamespace(
        root=root,
        data=data,
        scan=root / "scan",
        reviews=reviews,
        labels=labels,
        lab=lab,
        shop=shop,
        campaign=campaign,
        out=out,
        packet=load_packet(out),
    )


# --------------------------------------------------------------------------- against known campaigns


def test_packet_cites_the_smear_campaign(world):
    p = world.packet
    assert p["schema"] == SCHEMA and p["schema_version"] == SCHEMA_VERSION
    assert p["shop_id"] == world.shop and p["selection"] == "attacks"
    cited = cited_ids(p)
    recall = len(cited & world.campaign) / len(world.campaign)
    fake = set(world.lab.filter(pl.col("is_fake"))["review_id"])
    precision = len(cited & fake) / len(cited)
    assert recall >= 0.8, f"only {recall:.0%} of the smear campaign cited"
    assert precision >= 0.9, f"only {precision:.0%} of cited reviews are planted fakes"
    # the campaign is one smear case, with the evidence a reviewer needs
    hits = [c for c in p["cases"] if set(c["review_ids"]) & world.campaign]
    main_case = max(hits, key=lambda c: len(set(c["review_ids"]) & world.campaign))
    assert main_case["kind"] == "smear" and main_case["kind_label"] == "集中恶意差评"
    assert len(set(main_case["review_ids"]) & world.campaign) >= 0.8 * len(world.campaign)
    ev = main_case["evidence"]
    assert ev["bursts"] and ev["bursts"][0]["p_value"] < 1e-6
    assert ev["bursts"][0]["n_window"] >= ev["bursts"][0]["n_case"]
    assert ev["shared_identities"] and ev["shared_identities"][0]["n_accounts"] >= 2
    assert ev["text_clusters"], "a templated campaign shows its near-identical texts"
    cl = ev["text_clusters"][0]
    m = cl["matches"][0]
    assert m["spans"] and m["reference_spans"]
    for (sa, ea), (sb, eb) in zip(m["reference_spans"], m["spans"], strict=True):
        assert cl["reference"]["text"][sa:ea] == m["text"][sb:eb]  # spans really are shared
    assert {lk["type"] for lk in ev["links"]} <= {
        "ip",
        "net",
        "device",
        "text",
        "burst",
        "ring",
        "user",
    }
    # every cited review has reasons: the registry's claims filled with the review's numbers,
    # or (a review with none of its own) what its links in the case make true of it
    assert all(r["reasons"] for r in main_case["reviews"])
    for r in main_case["reviews"]:
        for reason in r["reasons"]:
            if reason["feature"] is None:
                assert reason["link"] in (*LINK_ORDER, "near") and reason["facts"]["case"]
            else:
                assert REGISTRY.get(reason["feature"]).claim is not None
            assert re.search(r"\d", reason["text"])
    assert all(c["n_negative_at_shop"] > c["n_positive_at_shop"] for c in p["cases"])


def test_impact_is_computed_over_the_shop(world):
    """Recomputed here from the generated frame, independently of the packet code."""
    p = world.packet
    cited = cited_ids(p)
    shop = world.reviews.filter(pl.col("shop_id") == world.shop)
    rating = shop["rating"].to_numpy().astype(float)
    keep = ~np.isin(shop["review_id"].to_numpy(), np.array(sorted(cited)))
    imp = p["impact"]
    assert imp["n_reviews"] == shop.height and imp["n_cited"] == len(cited)
    assert imp["rating_before"] == pytest.approx(rating.mean(), abs=1e-12)
    assert imp["rating_after"] == pytest.approx(rating[keep].mean(), abs=1e-12)
    assert imp["positive_rate_before"] == pytest.approx((rating >= 4).mean(), abs=1e-12)
    assert imp["positive_rate_after"] == pytest.approx((rating[keep] >= 4).mean(), abs=1e-12)
    assert imp["rating_after"] > imp["rating_before"]  # removing a smear helps the shop
    for col in DSR_COLUMNS:
        v = shop[col].to_numpy().astype(float)
        assert imp["dsr"][col]["before"] == pytest.approx(v.mean(), abs=1e-12)
        assert imp["dsr"][col]["after"] == pytest.approx(v[keep].mean(), abs=1e-12)
    # the library function agrees, and DSR is absent when the columns are
    no_dsr = compute_impact(shop.drop(DSR_COLUMNS), cited)
    assert no_dsr["dsr"] == {} and no_dsr["rating_after"] == imp["rating_after"]


def _row_hash(row: dict, columns: list[str]) -> str:
    def canon(v):
        if isinstance(v, datetime):
            return v.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return v

    text = json.dumps(
        {c: canon(row[c]) for c in columns},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(text.encode()).hexdigest()


def test_integrity_lets_anyone_reproduce(world):
    integ = world.packet["integrity"]
    [inp] = integ["inputs"]
    assert Path(inp["path"]).resolve() == world.data.resolve()
    assert inp["sha256"] == hashlib.sha256(world.data.read_bytes()).hexdigest()
    names = {o["name"] for o in integ["scan_outputs"]}
    assert {"summary.json", "scores.parquet", "cases.parquet"} <= names
    for o in integ["scan_outputs"]:
        assert o["sha256"] == hashlib.sha256((world.scan / o["name"]).read_bytes()).hexdigest()
    assert integ["engine"]["name"] == "review-detector" and integ["engine"]["version"]
    assert integ["scan"]["parameters"]["seed"] == 0 and integ["scan"]["threshold"]["value"]
    assert integ["packet_parameters"] == {
        "shop": world.shop,
        "lang": "zh",
        "platform": "generic",
        "redact": False,
        "all": False,
    }
    cols = [c for c in CONTRACT if c in world.reviews.columns]
    assert integ["rows"]["columns"] == cols
    hashes = integ["rows"]["sha256"]
    assert cited_ids(world.packet) <= set(hashes)
    rows = world.reviews.filter(pl.col("review_id").is_in(list(hashes)))
    for row in rows.iter_rows(named=True):
        assert hashes[row["review_id"]] == _row_hash(row, cols)
    assert any("review-detector scan" in line for line in integ["reproduce"])


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def _parse(path: Path) -> _Tags:
    p = _Tags()
    p.feed(path.read_text(encoding="utf-8"))
    return p


def assert_safe_html(path: Path) -> _Tags:
    """No script, handler, frame or external resource anywhere in the page."""
    p = _parse(path)
    names = [t for t, _ in p.tags]
    for bad in ("script", "iframe", "object", "embed", "link", "base", "form", "textarea", "a"):
        assert bad not in names, f"<{bad}> in {path.name}"
    for tag, attrs in p.tags:
        for k, v in attrs.items():
            assert not k.startswith("on"), f"handler {k} on <{tag}>"
            if k in ("src", "href", "xlink:href"):
                assert (v or "").startswith("data:image/png;base64,"), f"external {k}={v!r}"
    csp = [a for t, a in p.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in csp[0]["content"]
    return p


def test_html_is_self_contained_and_complete(world):
    html = world.out / "packet.html"
    p = assert_safe_html(html)
    text = "".join(p.text)
    assert world.packet["summary"] in text
    for c in world.packet["cases"]:
        assert c["case_id"] in text
    classes = " ".join(a.get("class", "") for _, a in p.tags)
    assert "burst-window" in classes and "timeline" in classes
    assert ("mark", {}) in p.tags
    raw = html.read_text(encoding="utf-8")
    assert "http://" not in raw and "https://" not in raw
    assert "@media print" in raw and "@page" in raw
    # files a merchant uploads
    files = world.packet["files"]
    assert files["cards"] and all(
        (world.out / c["file"]).read_bytes()[:8] == PNG_MAGIC for c in files["cards"]
    )
    assert (
        len(world.packet["cases"]) < 2 or (world.out / "overview.png").read_bytes()[:8] == PNG_MAGIC
    )
    lines = (world.out / "appeals.csv").read_text(encoding="utf-8-sig").splitlines()
    assert len(lines) == 1 + len(cited_ids(world.packet))
    assert (world.out / "description.txt").read_text(encoding="utf-8").strip() == world.packet[
        "summary"
    ]


# --------------------------------------------------------------------------- platform limits, redaction


def test_douyin_limits_and_redaction(world):
    out = world.root / "packet-douyin"
    code = evidence(
        world.scan,
        "--shop",
        world.shop,
        "--out",
        out,
        "--platform",
        "douyin",
        "--redact",
        "--all",
        "--lang",
        "en",
    )
    assert code == 0
    p = load_packet(out)
    assert p["selection"] == "all" and p["redacted"]
    assert len(p["cases"]) > 5, "--all should give more cases than douyin has images"
    cards = sorted((out / "cards").glob("*"))
    assert 1 <= len(cards) <= 6
    for c in cards:
        data = c.read_bytes()
        assert data[:8] == PNG_MAGIC and len(data) <= 5 * 1024 * 1024
    assert len(p["summary"]) <= 100
    assert len((out / "description.txt").read_text(encoding="utf-8").strip()) <= 100
    assert all(len(c["appeal_text"]) <= 100 for c in p["cases"])
    assert any("no card" in w for w in p["warnings"])
    assert p["platform"]["max_images"] == 6
    # nothing merchant-facing shows a raw IP, device id or account id
    ids = cited_ids(p) | {r for c in p["cases"] for r in c["related_review_ids"]}
    rows = world.reviews.filter(pl.col("review_id").is_in(list(ids)))
    secrets = (
        set(rows["user_id"]) | set(rows["ip"].drop_nulls()) | set(rows["device_id"].drop_nulls())
    )
    blobs = {
        f.name: f.read_text(encoding="utf-8")
        for f in out.iterdir()
        if f.suffix in (".html", ".json", ".csv", ".txt")
    }
    for name, blob in blobs.items():
        leaked = [s for s in secrets if s in blob]
        assert not leaked, f"{name} leaks {leaked[:3]}"
    assert re.search(r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.x\b", blobs["packet.json"])
    pseudo = re.findall(r"user-[0-9a-f]{6,}", blobs["packet.json"])
    assert pseudo and all(
        u in blobs["packet.html"] for u in set(pseudo) if u in blobs["packet.html"]
    )
    for c in p["cases"]:
        for r in c["reviews"]:
            assert re.fullmatch(r"user-[0-9a-f]{6,}", r["user_id"])


def test_redaction_helpers():
    assert mask_ip("203.0.113.7") == "203.0.113.x"
    assert mask_ip("203.0.113.0/24") == "203.0.113.x/24"
    assert mask_ip("2001:db8:85a3::8a2e:370:7334") == "2001:db8::x"
    assert mask_ip("2001:0db8:0001:0002::/64") == "2001:db8::x/64"
    assert mask_ip("not an ip") == "x"
    r = Redactor(True, salt="s")
    a, b = r.user("u1"), r.user("u2")
    assert a == r.user("u1") and a != b and re.fullmatch(r"user-[0-9a-f]{6}", a)
    assert r.device("d1").startswith("device-")
    assert Redactor(True, salt="other").user("u1") != a  # keyed by the input
    off = Redactor(False)
    assert off.user("u1") == "u1" and off.ip("1.2.3.4") == "1.2.3.4"


# --------------------------------------------------------------------------- refusals and messages


def test_no_case_means_no_packet(world, tmp_path, capsys):
    scan = tmp_path / "scan"
    shutil.copytree(world.scan, scan)
    cases = pl.read_parquet(scan / "cases.parquet")
    cases.clear().write_parquet(scan / "cases.parquet")
    out = tmp_path / "packet"
    assert evidence(scan, "--shop", world.shop, "--out", out) == 3
    assert not out.exists()
    assert "no case harming shop" in capsys.readouterr().err.replace("\n", " ")


def test_unknown_shop_and_missing_scan(world, tmp_path, capsys):
    assert evidence(world.scan, "--shop", "no-such-shop", "--out", tmp_path / "p") == 2
    assert "no-such-shop" in capsys.readouterr().err
    assert evidence(tmp_path, "--shop", world.shop, "--out", tmp_path / "p") == 2
    assert "missing" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()


def test_changed_input_is_refused(world, tmp_path, capsys):
    data = tmp_path / "reviews.parquet"
    shutil.copy(world.data, data)
    scan = tmp_path / "scan"
    shutil.copytree(world.scan, scan)
    summary = json.loads((scan / "summary.json").read_text())
    summary["inputs"][0]["path"] = str(data)
    (scan / "summary.json").write_text(json.dumps(summary))
    df = pl.read_parquet(data)
    first = pl.int_range(pl.len()) == 0
    changed = pl.when(first).then(pl.col("rating") % 5 + 1).otherwise(pl.col("rating"))
    df.with_columns(changed.cast(pl.Int8).alias("rating")).write_parquet(data)
    assert evidence(scan, "--shop", world.shop, "--out", tmp_path / "bad") == 2
    assert "changed since the scan" in capsys.readouterr().err.replace("\n", " ")
    assert not (tmp_path / "bad").exists()


def test_out_dir_is_never_wiped(world, tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.docx").write_text("precious")
    assert evidence(world.scan, "--shop", world.shop, "--out", foreign) == 2
    assert (foreign / "thesis.docx").read_text() == "precious"
    # an earlier packet is replaced, and the same input gives the same packet
    again = tmp_path / "again"
    shutil.copytree(world.out, again)
    (again / "stale.txt").write_text("from an earlier run")
    assert evidence(world.scan, "--shop", world.shop, "--out", again, "--lang", "zh") == 0
    assert not (again / "stale.txt").exists()
    first, second = dict(world.packet), load_packet(again)
    for d in (first, second):
        d.pop("generated_at")
    assert first["cases"] == second["cases"] and first["integrity"] == second["integrity"]
    assert first["summary"] == second["summary"] and first["impact"] == second["impact"]


@pytest.fixture(scope="module")
def bundle(world):
    return load_scan(world.scan)


def test_every_platform_and_language(world, bundle):
    for platform, profile in PLATFORMS.items():
        for lang in ("zh", "en") if platform in ("generic", "jd") else ("zh",):
            packet = build_packet(bundle, PacketOptions(world.shop, lang, platform))
            d = packet.data
            assert d["platform"]["key"] == platform and profile.notes[lang]
            if profile.summary_max_chars:
                assert len(d["summary"]) <= profile.summary_max_chars
                assert all(len(c["appeal_text"]) <= profile.summary_max_chars for c in d["cases"])
            for c in d["cases"]:
                for r in c["reviews"]:
                    if profile.appeal_window_days:
                        assert r["appeal_by"] > r["created_at"]
                    else:
                        assert r["appeal_by"] is None
            html = render_html(packet, None, [])
            assert profile.name[lang] in html and profile.notes[lang][0] in html
            assert cited_ids(d) == cited_ids(world.packet)
    with pytest.raises(InputError):
        build_packet(bundle, PacketOptions(world.shop, "fr"))


def test_without_a_cjk_font_nothing_breaks(world, bundle, monkeypatch):
    monkeypatch.setattr(fonts, "cjk_font", lambda: None)
    packet = build_packet(bundle, PacketOptions(world.shop, "zh", "douyin"))
    cards, warnings = render_cards(packet)
    assert 1 <= len(cards) <= 6 and all(c.png[:8] == PNG_MAGIC for c in cards)
    assert any("fonts-noto-cjk" in w for w in warnings)
    assert render_overview(packet)[:8] == PNG_MAGIC


# --------------------------------------------------------------------------- hostile values

PAYLOADS = (
    '<script>document.title="pwned"</script>',
    "<img src=x onerror=alert(1)>",
    '"><svg onload=alert(2)>',
    "</td></tr></table><iframe src=javascript:alert(3)>",
    "{{ 7*7 }}{% if 1 %}x{% endif %}",
    r"$\frac{1}{0}$ \\ ${x}$",
    '=HYPERLINK("http://evil.example","x")',
    "&lt;b&gt; &amp;",
)


def test_safe_names_and_paths(tmp_path):
    for bad in (
        "../../etc/passwd",
        "/etc/passwd",
        "..",
        ".",
        "",
        "a/b\\c",
        "C:\\x",
        "x\x00y",
        "名字",
        "-rf",
    ):
        name = safe_name(bad)
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name), (bad, name)
        assert "/" not in name and name not in (".", "..")
        path = safe_join(tmp_path, bad)
        assert tmp_path.resolve() in path.parents
    assert safe_name("C-0123456789ab") == "C-0123456789ab"
    assert safe_name("../x") != safe_name("..x")  # changed names carry a hash
    (tmp_path / "link").symlink_to("/")
    with pytest.raises(UnsafePathError):
        safe_join(tmp_path, "link")


def test_highlight_escapes_before_marking():
    text = '<b onclick="x">hi</b> & 千万别买'
    out = str(highlight(text, [[0, 3], [24, 28]]))
    assert out.startswith("<mark>&lt;b </mark>onclick=&#34;x&#34;&gt;hi&lt;/b&gt; &amp; ")
    assert "<b" not in out.replace("<mark>", "")
    sa, sb, sim = shared_spans("千万别买~质量太差了", "千万别买哈，质量太差了")
    assert sa and sb and 0 < sim < 1
    assert [("千万别买~质量太差了"[a:b]) for a, b in sa] == [
        ("千万别买哈，质量太差了"[a:b]) for a, b in sb
    ]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """A market whose smear victim has a hostile id and whose attackers write markup."""
    root = tmp_path_factory.mktemp("hostile")
    reviews, labels = generate(3000, seed=4)
    lab = reviews.join(labels, on="review_id")
    top = (
        lab.filter(pl.col("attack_type") == "smear")
        .group_by("campaign_id", "shop_id")
        .len()
        .sort(["len", "campaign_id"], descending=[True, False])
        .row(0, named=True)
    )
    victim = top["shop_id"]
    shop = '../../s<script>alert("shop")</script>'
    in_campaign = pl.col("review_id").is_in(
        lab.filter(pl.col("campaign_id") == top["campaign_id"])["review_id"].implode()
    )
    k = pl.int_range(pl.len()) % len(PAYLOADS)
    payload = pl.lit(pl.Series(PAYLOADS)).gather(k)
    reviews = reviews.with_columns(
        pl.when(pl.col("shop_id") == victim)
        .then(pl.lit(shop))
        .otherwise(pl.col("shop_id"))
        .alias("shop_id"),
        pl.when(in_campaign)
        .then(pl.col("text") + " " + payload)
        .otherwise(pl.col("text"))
        .alias("text"),
        pl.when(in_campaign)
        .then(pl.lit("<i onmouseover=alert(4)>u") + pl.col("user_id"))
        .otherwise(pl.col("user_id"))
        .alias("user_id"),
        pl.when(in_campaign)
        .then(pl.lit('"><b>') + pl.col("device_id"))
        .otherwise(pl.col("device_id"))
        .alias("device_id"),
    )
    data, _ = write_dataset(root / "data", reviews, labels)
    run_scan(data, root / "scan")
    # a tampered cases.parquet: ids that try to leave the output directory
    cases = pl.read_parquet(root / "scan" / "cases.parquet")
    bad_ids = ["../../../evil-dir/x", "/tmp/evil-abs", "..\\..\\evil", "C-ok\x00../../evil"]
    victim_cases = cases.filter(pl.col("shop_ids").list.contains(shop)).sort(
        "n_reviews", descending=True
    )
    mapping = dict(zip(victim_cases["case_id"].to_list(), bad_ids, strict=False))
    cases.with_columns(pl.col("case_id").replace(mapping)).write_parquet(
        root / "scan" / "cases.parquet"
    )
    return SimpleNamespace(root=root, scan=root / "scan", shop=shop, mapping=mapping)


def test_hostile_values_are_inert(hostile):
    parent = hostile.root
    before = {p for p in parent.rglob("*")}
    out = parent / "out" / "packet"
    assert evidence(hostile.scan, "--shop", hostile.shop, "--out", out) == 0
    new = {p for p in parent.rglob("*")} - before
    versions = versions_dir(out)  # where --out's published versions live, beside it
    for p in new:  # every new file is inside --out (or its versions), under a plain name
        if p == versions or p.parent == versions:
            continue  # the versions directory, its lock, the version --out links to
        assert (
            out.resolve() in p.resolve().parents or p.resolve() == out.resolve() or p == out.parent
        )
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", p.name), p.name
    assert not any("evil" in p.name and p.is_dir() for p in parent.rglob("*"))
    assert not Path("/tmp/evil-abs").exists()

    packet = load_packet(out)
    assert packet["shop_id"] == hostile.shop
    assert set(hostile.mapping.values()) & {c["case_id"] for c in packet["cases"]}
    texts = [r["text"] for c in packet["cases"] for r in c["reviews"]]
    assert any("<script>" in t for t in texts), "the packet should cite the hostile reviews"

    page = assert_safe_html(out / "packet.html")
    shown = "".join(page.text)
    assert '<script>document.title="pwned"</script>' in shown  # visible as text, inert
    assert hostile.shop in shown
    raw = (out / "packet.html").read_text(encoding="utf-8")
    assert "{{ 7*7 }}{% if 1 %}x{% endif %}" in shown  # data is never evaluated as a template
    assert "&lt;img src=x onerror=alert(1)&gt;" in raw
    for line in (out / "appeals.csv").read_text(encoding="utf-8-sig").splitlines()[1:]:
        for cell in line.split(","):
            assert not cell.startswith(("=", "+", "@")), cell
    cards = sorted((out / "cards").iterdir())
    assert cards and all(c.read_bytes()[:8] == PNG_MAGIC for c in cards)
    assert os.path.commonpath([out.resolve(), *(c.resolve() for c in cards)]) == str(out.resolve())


def test_out_of_core_scan_gives_the_same_packet(world, tmp_path, monkeypatch):
    """A packet from an out-of-core scan cites the same reviews with the same evidence."""
    # one generation time for both packets: the cards print it, so their bytes depend on it
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")
    run_scan(world.data, tmp_path / "scan", out_of_core=True, shard_rows=1_000)
    packets = []
    for scan in (world.scan, tmp_path / "scan"):
        out = tmp_path / scan.name / "packet"
        assert evidence(scan, "--shop", world.shop, "--out", out, "--lang", "zh") == 0
        packets.append(load_packet(out))
    a, b = packets
    assert a["generated_at"] == b["generated_at"] == "2026-01-01T00:00:00+00:00"
    # only the scan outputs' own bytes differ (rows of scores/features come in shard order)
    for p in (a, b):
        p["integrity"].pop("scan_outputs")
    assert a == b


def test_source_date_epoch_makes_packets_reproducible(world, tmp_path, monkeypatch, capsys):
    """Two packets built at the same SOURCE_DATE_EPOCH are the same bytes; a bad value is refused."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")
    outs = [tmp_path / "a", tmp_path / "b"]
    for out in outs:
        assert evidence(world.scan, "--shop", world.shop, "--out", out) == 0

    def files(root):
        return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}

    assert files(outs[0]) == files(outs[1])
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "tomorrow")
    capsys.readouterr()
    assert evidence(world.scan, "--shop", world.shop, "--out", tmp_path / "c") == 2
    assert "SOURCE_DATE_EPOCH='tomorrow' is not a Unix time" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()


def test_packet_directory_has_a_plain_directorys_mode(world, tmp_path):
    """The packet is staged in a temporary directory (mkdtemp: 0700) but is meant to be shared."""
    plain = tmp_path / "plain"
    plain.mkdir()
    assert (world.out.stat().st_mode & 0o777) == (plain.stat().st_mode & 0o777)


CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def test_control_characters_and_emoji_reach_no_output_as_they_are(hostile, tmp_path, monkeypatch):
    """NUL, ESC and bidi overrides from ids and texts are shown as U+FFFD; emoji never as boxes."""
    from PIL import ImageDraw

    from detector.evidence import write_packet

    packet = build_packet(load_scan(hostile.scan), PacketOptions(shop=hostile.shop, lang="zh"))
    case = packet.data["cases"][0]
    bad_id = case["case_id"] + "\x00../x"
    packet.views[bad_id] = packet.views.pop(case["case_id"])
    case["case_id"] = bad_id
    emoji = "差评👍🏻❤️‍🔥😀"
    for r in case["reviews"]:
        r["review_id"] = "r\x00" + r["review_id"] + "\x1b[31m"
        r["text"] = f"{emoji}\x00\u202egpj.exe\x07 {r['text']}"
    for cl in case["evidence"]["text_clusters"]:
        cl["reference"]["text"] = emoji + "\x00" + cl["reference"]["text"]
    drawn = []
    real_text = ImageDraw.ImageDraw.text

    def text(self, xy, s, *args, font=None, **kw):
        drawn.append((s, font))
        return real_text(self, xy, s, *args, font=font, **kw)

    monkeypatch.setattr(ImageDraw.ImageDraw, "text", text)
    write_packet(packet, tmp_path / "p")
    for name in ("packet.html", "appeals.csv", "description.txt"):
        shown = (tmp_path / "p" / name).read_text(encoding="utf-8")
        assert not CONTROL.search(shown), (name, CONTROL.search(shown))
    html = (tmp_path / "p" / "packet.html").read_text(encoding="utf-8")
    assert "r\ufffd" + packet.data["cases"][0]["reviews"][0]["review_id"][2:-5] in html
    assert "\ufffd[31m" in html  # shown, not dropped: ids that differ only there still differ
    assert drawn
    for s, font in drawn:
        assert not CONTROL.search(s), s
        assert fonts.covers(font, s), f"{s!r} has characters {font.path} draws as boxes"
    if fonts.cjk_font():  # without one, the cards leave every review text to packet.html
        assert any("[表情]" in s for s, _ in drawn), "the emoji were not shown as a placeholder"
    else:
        assert not any("gpj.exe" in s for s, _ in drawn), "a text was drawn with no font for it"


def test_emoji_placeholder_replaces_what_the_font_cannot_draw():
    font = fonts.pil_font(18)
    shown = fonts.drawable("好👍🏻❤️‍🔥x\x00", font)
    assert fonts.covers(font, shown.replace("\x00", ""))
    assert "👍" not in shown and "🔥" not in shown and "\u200d" not in shown
    assert shown.count("[表情]" if fonts.cjk_font() else "[emoji]") == 1


def test_load_scan_reads_the_input_as_the_scan_was_told(tmp_path):
    """The packet's reviews are re-read with the scan's recorded configuration (preset, shop,
    time zone from summary.json via ScanConfig.from_dict), without the flags repeated."""
    from benchmarks.exports import build_export

    export = build_export("jd", seed=4, n=400)
    export.reviews.write_csv(tmp_path / "reviews.csv")
    flags = ["--preset", "jd", "--shop", "S9", "--timezone", "Asia/Tokyo"]
    scan = tmp_path / "scan"
    assert main(["scan", str(tmp_path / "reviews.csv"), "--out", str(scan), "--quiet", *flags]) == 0
    bundle = load_scan(scan)
    scores = pl.read_parquet(scan / "scores.parquet")
    assert set(bundle.reviews["shop_id"]) == {"S9"}
    assert sorted(bundle.reviews["review_id"]) == sorted(scores["review_id"])
    shown = pl.read_csv(tmp_path / "reviews.csv", infer_schema=False)[export.headers["created_at"]]
    local = bundle.reviews["created_at"].dt.convert_time_zone("Asia/Tokyo")
    assert local.dt.strftime("%Y-%m-%d %H:%M:%S").is_in(shown.implode()).all()
