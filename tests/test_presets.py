"""Merchant exports as they are: presets, Excel, time zones, weak identities, order exports."""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.exports import PLATFORMS, build_export, write_export
from detector.cli import main
from detector.errors import InputError
from detector.input.load import load_reviews
from detector.input.spec import InputSpec
from features.pipeline import compute_features
from features.prepare import PER_ACCOUNT, WEAK_USER_REASON, prepare

SCAN_N = 700


def _scan(argv: list[str], capsys) -> tuple[int, str]:
    code = main(["scan", *argv, "--quiet"])
    return code, capsys.readouterr().err


def _csv(path: Path, text: str, encoding: str = "utf-8-sig") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    root = tmp_path_factory.mktemp("exports")
    out = {}
    for platform in PLATFORMS:
        e = build_export(platform, seed=7, n=SCAN_N)
        out[platform] = (e, {f: write_export(e, root / f, f) for f in ("csv", "xlsx")})
    return out


# ----------------------------------------------------------------------------- end to end


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
@pytest.mark.parametrize("platform", PLATFORMS)
def test_each_preset_export_scans_end_to_end(platform, fmt, exports, tmp_path, capsys):
    from detector.evidence.scanload import load_scan

    export, files = exports[platform]
    paths = files[fmt]
    out = tmp_path / "scan"
    argv = [str(paths["reviews"]), "--out", str(out), "--preset", platform, "--shop", "我的店"]
    code, err = _scan([*argv, "--orders", str(paths["orders"])], capsys)
    assert code == 0, err
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    section = summary["input"]
    assert section["preset"] == platform and section["shop"] == "我的店"
    assert section["effective_timezone"] == "Asia/Shanghai"
    assert section["weak_identity"] == ["user_id"]
    assert section["headers"][export.headers["order_id"]] == "order_id"
    assert summary["rows"]["rejected"] == 0 and summary["rows"]["scored"] == export.reviews.height
    assert "review_delay_minutes" in summary["signals"]["used"]  # receipt times joined
    withheld = {u["feature"] for u in summary["signals"]["unavailable"]}
    assert PER_ACCOUNT <= withheld
    scores = pl.read_parquet(out / "scores.parquet")
    # order ids are unique per row: they are the review ids, all 19 digits kept
    assert set(scores["review_id"]) == set(export.truth["order_id"])
    bundle = load_scan(out)  # evidence re-reads the export (and the orders) as scanned
    assert bundle.reviews.height == export.reviews.height
    assert bundle.reviews["shop_id"].unique().to_list() == ["我的店"]
    assert bundle.reviews["user_nick"].str.contains(r"\*").all()


def test_scan_with_a_spec_runs_out_of_core_and_incrementally(exports, tmp_path, capsys):
    _, files = exports["pdd"]
    common = ["--preset", "pdd", "--orders", str(files["csv"]["orders"])]
    code, err = _scan([str(files["csv"]["reviews"]), "--out", str(tmp_path / "a"), *common], capsys)
    assert code == 0, err
    code, err = _scan(
        [str(files["csv"]["reviews"]), "--out", str(tmp_path / "b"), "--out-of-core", *common],
        capsys,
    )
    assert code == 0, err
    for d in ("a", "b"):
        summary = json.loads((tmp_path / d / "summary.json").read_text(encoding="utf-8"))
        assert summary["input"]["headers"]["订单编号"] == "order_id"
        assert summary["input"]["weak_identity"] == ["user_id"]
    a = pl.read_parquet(tmp_path / "a" / "scores.parquet").sort("review_id")
    b = pl.read_parquet(tmp_path / "b" / "scores.parquet").sort("review_id")
    assert a["review_id"].equals(b["review_id"])
    assert (a["score"] - b["score"]).abs().max() < 1e-9
    state = tmp_path / "state"
    code, err = _scan(
        [str(files["csv"]["reviews"]), "--out", str(tmp_path / "c"), "--incremental", str(state)]
        + common,
        capsys,
    )
    assert code == 0, err
    summary = json.loads((tmp_path / "c" / "summary.json").read_text(encoding="utf-8"))
    assert summary["input"]["preset"] == "pdd" and summary["input"]["weak_identity"] == ["user_id"]


def test_xls_export_reads_as_the_csv_does(exports, tmp_path):
    """An Excel 97-2003 .xls (written by xlwt, read by calamine) loads as the same CSV does."""
    pytest.importorskip("xlwt", reason="writing the .xls fixture needs xlwt (the dev extra)")
    export, files = exports["jd"]
    xls = write_export(export, tmp_path, "xls", title_row=True)
    assert xls["reviews"].read_bytes()[:8] == bytes.fromhex("d0cf11e0a1b11ae1")  # OLE2 (BIFF)
    spec = InputSpec(preset="jd", orders=(str(xls["orders"]),))
    got = load_reviews(xls["reviews"], spec=spec)
    want = load_reviews(
        files["csv"]["reviews"], spec=InputSpec(preset="jd", orders=(str(files["csv"]["orders"]),))
    )
    assert got.rejected.height == 0
    assert got.reviews.equals(want.reviews)  # 19-digit order ids, naive Beijing times alike
    assert got.headers == want.headers


def test_a_corrupt_xls_is_a_clear_error(tmp_path):
    path = tmp_path / "cut.xls"
    path.write_bytes(bytes.fromhex("d0cf11e0a1b11ae1") + b"not really a workbook")
    with pytest.raises(InputError, match=r"cannot read Excel file .*cut\.xls"):
        load_reviews(path, spec=InputSpec(preset="jd"))


# ----------------------------------------------------------------------------- time zones

TAOBAO = (
    "订单编号,评价时间,评价等级,评价内容,买家昵称,商品ID\n"
    "4012345678901234567,2025-03-04 12:30:01,好评,很好,梁***k,6001\n"
    "4012345678901234568,2025/3/4 23:59,差评,不好,t***9,6001\n"
)


def test_naive_beijing_time_round_trips(tmp_path):
    path = _csv(tmp_path / "taobao.csv", TAOBAO)
    spec = InputSpec(preset="taobao", shop="s")
    out = load_reviews(path, spec=spec)
    assert out.reviews["created_at"].to_list() == [
        datetime(2025, 3, 4, 4, 30, 1, tzinfo=UTC),
        datetime(2025, 3, 4, 15, 59, tzinfo=UTC),
    ]
    shown = out.reviews["created_at"].dt.convert_time_zone(spec.effective_timezone)
    assert shown.dt.strftime("%Y-%m-%d %H:%M:%S").to_list() == [
        "2025-03-04 12:30:01",
        "2025-03-04 23:59:00",
    ]
    tokyo = load_reviews(path, spec=InputSpec(preset="taobao", shop="s", timezone="Asia/Tokyo"))
    assert tokyo.reviews["created_at"][0] == datetime(2025, 3, 4, 3, 30, 1, tzinfo=UTC)
    # naive --since/--until are in the same zone
    late = load_reviews(path, spec=InputSpec(preset="taobao", shop="s", since="2025-03-04 13:00"))
    assert late.reviews["order_id"].to_list() == ["4012345678901234568"]


def test_summary_records_the_zone_packets_show_times_in(tmp_path):
    from detector.scan import ScanConfig, run_scan

    e = build_export("jd", seed=1, n=300)
    paths = write_export(e, tmp_path, "csv")
    spec = InputSpec(preset="jd", shop="京东店")
    result = run_scan(paths["reviews"], tmp_path / "scan", spec=spec, config=ScanConfig(seed=1))
    assert result.summary["input"]["effective_timezone"] == "Asia/Shanghai"
    first = e.reviews.row(0, named=True)
    stored = result.loaded.reviews.filter(pl.col("order_id") == first["订单号"])["created_at"]
    back = stored.dt.convert_time_zone("Asia/Shanghai").dt.strftime("%Y-%m-%d %H:%M:%S")
    assert back.item() == first["评价时间"]


def test_bad_timezone_exits_2_naming_it(tmp_path, capsys):
    path = _csv(tmp_path / "t.csv", TAOBAO)
    code, err = _scan([str(path), "--out", str(tmp_path / "o"), "--timezone", "Beijing/8"], capsys)
    assert code == 2 and "Beijing/8" in err and "Traceback" not in err


# ----------------------------------------------------------------------------- mapping


def test_unknown_mapping_key_lists_the_files_headers(tmp_path, capsys):
    path = _csv(tmp_path / "t.csv", TAOBAO)
    argv = [str(path), "--out", str(tmp_path / "o"), "--preset", "taobao"]
    code, err = _scan([*argv, "--columns", "评分=rating"], capsys)
    assert code == 2
    assert "'评分'" in err and "评价时间" in err and "买家昵称" in err
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_preset_headers_match_tolerantly_and_columns_override(tmp_path):
    text = (
        "订单编号（子订单）, 评价 时间 ,评分,用户昵称,商品ID,买家留言\n"
        "4012345678901234567,2025-03-04 12:30:01,5,梁***k,6001,快点发货\n"
    )
    path = _csv(tmp_path / "t.csv", text)
    out = load_reviews(path, spec=InputSpec(preset="tmall", shop="s"))
    assert out.reviews["order_id"].to_list() == ["4012345678901234567"]
    assert out.headers["订单编号（子订单）"] == "order_id"
    assert out.headers["评价 时间"] == "created_at"
    over = load_reviews(
        path, spec=InputSpec(preset="tmall", shop="s", columns={"买家留言": "text"})
    )
    assert over.reviews["text"].to_list() == ["快点发货"]


def test_title_row_above_the_headers_is_skipped(tmp_path):
    e = build_export("douyin", seed=4, n=120)
    for fmt in ("csv", "xlsx"):
        paths = write_export(e, tmp_path / fmt, fmt, title_row=True)
        out = load_reviews(paths["reviews"], spec=InputSpec(preset="douyin", shop="s"))
        assert out.reviews.height == 120 and out.rejected.height == 0


# ----------------------------------------------------------------------------- values


def test_rating_words_are_mapped_as_documented(tmp_path):
    words = [
        "好评",
        "中评",
        "差评",
        "五星",
        "四星",
        "三星",
        "二星",
        "一星",
        "4星",
        "★★★★★",
        "5分",
        "非常棒",
    ]
    lines = ["订单编号,评价时间,评分,用户昵称,商品ID"] + [
        f"40123456789012345{i:02d},2025-03-04 12:30:01,{w},u{i},6001" for i, w in enumerate(words)
    ]
    path = _csv(tmp_path / "w.csv", "\n".join(lines) + "\n")
    out = load_reviews(path, spec=InputSpec(preset="jd", shop="s"))
    assert out.reviews["rating"].to_list() == [5, 3, 1, 5, 4, 3, 2, 1, 4, 5, 5]
    assert out.rejected["reason"].to_list() == ["rating '非常棒' is not an integer"]


def test_masked_ip_keeps_the_network_it_reveals(tmp_path):
    text = "review_id,shop_id,product_id,user_id,rating,created_at,ip\n" + "".join(
        f"r{i},s,p,u{i},5,2025-03-04 12:00:00,{ip}\n"
        for i, ip in enumerate(["117.136.*.*", "117.136.5.*", "1.2.3.4", "117.136.x.x", "1.2.*"])
    )
    out = load_reviews(_csv(tmp_path / "ip.csv", text))
    assert out.reviews["ip"].to_list() == ["117.136.*.*", "117.136.5.*", "1.2.3.4", "117.136.*.*"]
    assert out.rejected["reason"].to_list() == ["invalid ip '1.2.*'"]
    keys = prepare(out.reviews.lazy()).sort("_rid").select("ip", "_ip", "_net").collect()
    assert keys["_net"].to_list() == [
        "117.136.0.0/16",
        "117.136.5.0/24",
        "1.2.3.0/24",
        "117.136.0.0/16",
    ]
    assert keys["_ip"].to_list() == [None, None, "1.2.3.4", None]


def test_ip_region_is_read_as_an_optional_column(tmp_path):
    text = "订单编号,评价时间,评分,用户昵称,商品ID,IP属地\n4012345678901234567,2025-03-04 12:30:01,5,梁***k,6001,广东\n"
    out = load_reviews(_csv(tmp_path / "r.csv", text), spec=InputSpec(preset="jd"))
    assert out.reviews["ip_region"].to_list() == ["广东"]
    assert "ip_region" in out.present_optional
    assert out.reviews["shop_id"].to_list() == ["shop"]  # a preset without --shop: one shop


#: IP属地 as exports write it, and as read.
_REGIONS = [
    ("广东", "广东"),
    ("广东省", "广东"),
    (" 上海市 ", "上海"),
    ("北京", "北京"),
    ("广西壮族自治区", "广西"),
    ("新疆维吾尔自治区", "新疆"),
    ("内蒙古自治区", "内蒙古"),
    ("中国香港", "香港"),
    ("香港特别行政区", "香港"),
    ("ＩＰ属地：浙江省", "浙江"),
    ("美国", "美国"),
    ("未知", None),
    ("", None),
    ("-", None),
]
_REGION_HEADERS = ("IP属地", "IP归属地", "属地", "评价属地", "ip属地（省份）")


@pytest.mark.parametrize("platform", PLATFORMS)
def test_ip_region_is_read_from_each_presets_headers_and_normalised(platform, tmp_path):
    e = build_export(platform, seed=11, n=80)
    reviews = e.reviews.drop("IP属地", strict=False)
    raw = [_REGIONS[i % len(_REGIONS)][0] for i in range(reviews.height)]
    want = [_REGIONS[i % len(_REGIONS)][1] for i in range(reviews.height)]
    header = _REGION_HEADERS[PLATFORMS.index(platform) % len(_REGION_HEADERS)]
    reviews = reviews.with_columns(pl.Series(header, raw))
    path = tmp_path / "r.csv"
    path.write_bytes(b"\xef\xbb\xbf" + reviews.write_csv().encode("utf-8"))
    out = load_reviews(path, spec=InputSpec(preset=platform))
    assert out.rejected.height == 0 and out.headers[header] == "ip_region"
    order = e.headers["order_id"]
    got = dict(zip(out.reviews["order_id"], out.reviews["ip_region"], strict=True))
    assert [got[o] for o in reviews[order]] == want


_REGION_TEXT = st.builds(
    lambda pre, name, suffix, pad: f"{pad}{pre}{name}{suffix}{pad}",
    st.sampled_from(["", "IP属地:", "ＩＰ属地：", "中国"]),
    st.sampled_from(["广东", "上海", "黑龙江", "内蒙古", "香港", "美国", "未知", "湖北"]),
    st.sampled_from(["", "省", "市", "自治区", "特别行政区"]),
    st.sampled_from(["", " ", "\u3000"]),
)


@settings(max_examples=60, deadline=None)
@given(texts=st.lists(_REGION_TEXT, min_size=1, max_size=20))
def test_region_names_read_once_are_read_the_same_again(texts):
    from detector.input.values import region_text

    once = pl.DataFrame({"r": texts}).select(region_text(pl.col("r")))["r"]
    twice = pl.DataFrame({"r": once}).select(region_text(pl.col("r")))["r"]
    assert once.to_list() == twice.to_list()
    assert not once.drop_nulls().str.contains(r"\s|省$|自治区$|^IP|^中国.").any()


# ----------------------------------------------------------------------------- identities


def _nick_rows(nicks: list[str]) -> str:
    """A file in contract names (no preset): masked nicknames are detected by their ``*``."""
    lines = ["order_id,created_at,rating,user_id,product_id,text"]
    for i, nick in enumerate(nicks):
        lines.append(
            f"40123456789012{i:05d},2025-03-0{1 + i % 5} 1{i % 10}:00:00,1,{nick},600{i % 3},差{i}"
        )
    return "\n".join(lines) + "\n"


def test_masked_nicknames_are_not_accounts(tmp_path):
    nicks = ["梁***k"] * 12 + ["t***9"] * 8
    out = load_reviews(_csv(tmp_path / "n.csv", _nick_rows(nicks)), spec=InputSpec(shop="s"))
    assert out.weak_identity == ["user_id"]
    assert out.reviews["user_nick"].to_list() == nicks
    assert out.reviews["user_id"].n_unique() == len(nicks)  # one pseudo-account per order
    assert out.reviews["user_id"].str.starts_with("order:").all()
    fr = compute_features(out.reviews)
    assert not PER_ACCOUNT & set(fr.features)
    assert all(fr.unavailable[f] == [WEAK_USER_REASON] for f in PER_ACCOUNT)
    assert "rating_deviation" in fr.features  # product-level history stays
    # the same file with real account names keeps the per-account features
    plain = load_reviews(
        _csv(tmp_path / "p.csv", _nick_rows(["梁小k"] * 12 + ["tom9"] * 8)),
        spec=InputSpec(shop="s"),
    )
    assert plain.weak_identity == [] and "user_nick" not in plain.reviews.columns
    assert PER_ACCOUNT <= set(compute_features(plain.reviews).features)


def test_review_id_is_the_order_id_of_each_orders_first_review(tmp_path):
    unique = load_reviews(_csv(tmp_path / "u.csv", TAOBAO), spec=InputSpec(preset="taobao"))
    assert unique.reviews["review_id"].to_list() == unique.reviews["order_id"].to_list()
    # a second child order of ...567, reviewed later but listed first, and a row without order
    later = "4012345678901234567,2025-03-05 08:00:00,中评,一般,梁***k,6002\n"
    no_order = ",2025-03-05 09:00:00,好评,好,t***9,6002\n"
    head, body = TAOBAO.split("\n", 1)
    two_items = f"{head}\n{later}{body}{no_order}"
    derived = load_reviews(_csv(tmp_path / "d.csv", two_items), spec=InputSpec(preset="taobao"))
    ids = derived.reviews["review_id"].to_list()
    orders = derived.reviews["order_id"].to_list()
    assert orders[:3] == ["4012345678901234567", "4012345678901234567", "4012345678901234568"]
    assert ids[1:3] == orders[1:3]  # the first review of each order keeps the order id
    assert ids[0].startswith(orders[0] + "-") and len(ids[0]) == len(orders[0]) + 9
    assert ids[3].startswith("r") and len(ids[3]) == 17
    # child orders of one order share their buyer
    users = derived.reviews["user_id"].to_list()
    assert users[0] == users[1] == "order:4012345678901234567" and users[2] != users[0]


_ROW = st.tuples(
    st.sampled_from(["4012345678901234567", "4012345678901234568", ""]),
    st.integers(1, 5),
    st.sampled_from(["很好", "差", "一般般", "物流快"]),
    st.sampled_from(["梁***k", "t***9"]),
    st.sampled_from(["6001", "6002"]),
    st.integers(0, 23),
)
_HEAD = "订单编号,评价时间,评分,评价内容,买家昵称,商品ID"


def _ids_of(parts: list[list[tuple]], **spec) -> dict[tuple, str]:
    """Review id of each row, the rows written as one CSV file per part and loaded together."""
    with tempfile.TemporaryDirectory() as d:
        paths = []
        for i, part in enumerate(parts):
            lines = [_HEAD] + [
                f"{o},2025-03-04 {h:02d}:00:00,{r},{t},{n},{p}" for o, r, t, n, p, h in part
            ]
            paths.append(str(_csv(Path(d) / f"part-{i}.csv", "\n".join(lines) + "\n")))
        out = load_reviews(paths, spec=InputSpec(preset="tmall", shop="s", **spec))
    assert out.rejected.height == 0
    df = out.reviews
    keys = zip(
        df["order_id"].fill_null("").to_list(),
        df["rating"].to_list(),
        df["text"].to_list(),
        df["user_nick"].to_list(),
        df["product_id"].to_list(),
        df["created_at"].dt.convert_time_zone("Asia/Shanghai").dt.hour().to_list(),
        strict=True,
    )
    return dict(zip(keys, df["review_id"].to_list(), strict=True))


@settings(max_examples=25, deadline=None)
@given(rows=st.lists(_ROW, min_size=2, max_size=12, unique=True), data=st.data())
def test_derived_review_ids_do_not_depend_on_split_row_order_or_window(rows, data):
    whole = _ids_of([rows])
    assert len(set(whole.values())) == len(rows)
    # the same rows shuffled and split into files (an export in parts) get the same ids
    order = data.draw(st.permutations(range(len(rows))))
    shuffled = [rows[i] for i in order]
    cuts = sorted(data.draw(st.lists(st.integers(0, len(rows)), max_size=3)))
    bounds = [0, *cuts, len(rows)]
    parts = [shuffled[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
    assert _ids_of([p for p in parts if p]) == whole
    # a time window leaves the ids of the rows inside it as they are
    since = data.draw(st.integers(0, 23))
    inside = {k: v for k, v in whole.items() if k[5] >= since}
    if inside:
        window = _ids_of([rows], since=f"2025-03-04T{since:02d}:00:00")
        assert window == inside


@settings(max_examples=25, deadline=None)
@given(rows=st.lists(_ROW, min_size=2, max_size=12, unique=True), cut=st.integers(1, 23))
def test_a_redownload_with_later_reviews_keeps_the_earlier_ids(rows, cut):
    """An incremental scan's case: the export of the first hours, then the export again with
    later reviews, some of them second reviews of orders already seen (a 追评 row)."""
    early = [r for r in rows if r[5] < cut]
    if not early:
        return
    before = _ids_of([early])
    after = _ids_of([rows])
    assert {k: after[k] for k in before} == before  # the earlier reviews are duplicates
    new = {v for k, v in after.items() if k not in before}
    assert not new & set(before.values())  # a later review never takes an earlier one's id


def test_one_file_of_a_larger_input_gets_the_ids_of_the_whole(tmp_path):
    """Loaders that read file by file pass first_reviews of the whole input."""
    from detector.input.plan import first_reviews

    a = _csv(tmp_path / "a.csv", TAOBAO)
    later = "4012345678901234567,2025-03-06 08:00:00,好评,追评也很好,梁***k,6001\n"
    b = _csv(tmp_path / "b.csv", TAOBAO.split("\n", 1)[0] + "\n" + later)
    spec = InputSpec(preset="taobao")
    whole = load_reviews([a, b], spec=spec).reviews
    assert whole["review_id"].n_unique() == 3
    first = first_reviews([a, b], spec)
    one = load_reviews(b, spec=spec, first_reviews=first).reviews
    alone = load_reviews(b, spec=spec).reviews
    assert one["review_id"].to_list() == whole["review_id"].to_list()[2:]
    assert alone["review_id"].to_list() == ["4012345678901234567"]  # alone, it is the first


# ----------------------------------------------------------------------------- bad input


def _gbk(tmp_path):
    return [str(_csv(tmp_path / "gbk.csv", TAOBAO, encoding="gb18030")), "--preset", "taobao"]


def _rounded(tmp_path):
    e = build_export("jd", seed=3, n=60)
    return [str(write_export(e, tmp_path, "xlsx", rounded_ids=True)["reviews"]), "--preset", "jd"]


def _rounded_csv(tmp_path):
    text = TAOBAO.replace("4012345678901234567", "4.01235E+18")
    return [str(_csv(tmp_path / "r.csv", text)), "--preset", "taobao"]


def _no_orders_file(tmp_path):
    path = _csv(tmp_path / "t.csv", TAOBAO)
    return [str(path), "--preset", "taobao", "--orders", str(tmp_path / "orders.xlsx")]


def _orders_without_id(tmp_path):
    path = _csv(tmp_path / "t.csv", TAOBAO)
    orders = _csv(tmp_path / "o.csv", "下单时间,金额\n2025-03-01 10:00:00,19.9\n")
    return [str(path), "--preset", "taobao", "--orders", str(orders)]


def _no_shop(tmp_path):
    text = "review_id,product_id,user_id,rating,created_at\nr1,p,u,5,2025-03-04\n"
    return [str(_csv(tmp_path / "g.csv", text))]


def _broken_xlsx(tmp_path):
    (tmp_path / "cut.xlsx").write_bytes(b"PK\x03\x04 not really a workbook")
    return [str(tmp_path / "cut.xlsx"), "--preset", "jd"]


def _header_only_xlsx(tmp_path):
    import xlsxwriter

    with xlsxwriter.Workbook(tmp_path / "head.xlsx") as wb:
        wb.add_worksheet().write_row(0, 0, ["订单号", "评价时间", "评分", "用户昵称", "商品编号"])
    return [str(tmp_path / "head.xlsx"), "--preset", "jd"]


@pytest.mark.parametrize(
    "make, named",
    [
        (_header_only_xlsx, "no review rows in"),
        (_gbk, "UTF-8"),
        (_rounded, "订单号"),
        (_rounded_csv, "4.01235E+18"),
        (_no_orders_file, "orders.xlsx"),
        (_orders_without_id, "下单时间"),
        (_no_shop, "--shop"),
        (_broken_xlsx, "cut.xlsx"),
    ],
)
def test_bad_merchant_input_exits_2_with_a_message(make, named, tmp_path, capsys):
    code, err = _scan([*make(tmp_path), "--out", str(tmp_path / "out")], capsys)
    assert code == 2, err
    assert named in err and "Traceback" not in err


def test_rounded_order_ids_name_row_and_value(tmp_path):
    e = build_export("jd", seed=3, n=60)
    path = write_export(e, tmp_path, "xlsx", rounded_ids=True)["reviews"]
    with pytest.raises(InputError, match=r"data row 1: .*rounded|rounded .*data row 1"):
        load_reviews(path, spec=InputSpec(preset="jd"))
