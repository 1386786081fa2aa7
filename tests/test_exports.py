"""The seller-centre export fixtures (benchmarks/exports.py) look like real exports."""

from __future__ import annotations

import time
from datetime import datetime

import polars as pl
import pytest

from benchmarks.exports import PLATFORMS, build_export, write_export


@pytest.mark.parametrize("platform", PLATFORMS)
def test_export_has_the_shape_of_a_seller_centre_export(platform):
    e = build_export(platform, seed=5, n=1500)
    headers = set(e.reviews.columns)
    assert "评价时间" in headers and "评价内容" in headers
    assert not any("评价ID" in h or "店铺" in h or h.upper() == "IP" for h in headers)
    assert all(dt == pl.String for dt in e.reviews.dtypes)
    order_header = e.headers["order_id"]
    ids = e.reviews[order_header]
    assert ids.str.len_chars().min() == 19 and ids.str.contains(r"^[0-9]+$").all()
    assert ids.n_unique() == ids.len()
    nick = e.reviews[e.headers["user"]]
    assert nick.str.contains(r"^.\*\*\*.$").all()
    # masked nicknames collide: one nickname, several buyers
    buyers = e.truth.select("order_id", "buyer").join(
        e.reviews.select(pl.col(order_header).alias("order_id"), nick.alias("nick")), on="order_id"
    )
    per_nick = buyers.group_by("nick").agg(pl.col("buyer").n_unique().alias("n"))
    assert per_nick["n"].max() >= 2
    has_dsr = any(h.startswith(("物流评分", "服务评分")) for h in headers)
    assert has_dsr == (platform in ("pdd", "douyin"))
    ratings = set(e.reviews[e.headers["rating"]].unique().to_list())
    if platform == "taobao":
        assert ratings <= {"好评", "中评", "差评"} and "差评" in ratings
    else:
        assert ratings <= {"1", "2", "3", "4", "5"}


def test_planted_groups_have_the_tells_they_are_documented_with():
    e = build_export("douyin", seed=11, n=2500)
    p = e.params
    fmt = "%Y/%m/%d %H:%M:%S"
    rows = e.reviews.select(
        pl.col("订单编号").alias("order_id"),
        pl.col("评价时间").str.to_datetime(fmt).alias("t"),
        pl.col("商品评分").cast(pl.Int64).alias("rating"),
        pl.col("商品ID").alias("product"),
    )
    orders = e.orders.select(
        pl.col("订单编号").alias("order_id"),
        pl.col("签收时间").str.to_datetime("%Y-%m-%d %H:%M:%S").alias("received"),
        pl.col("下单时间").str.to_datetime("%Y-%m-%d %H:%M:%S").alias("ordered"),
    )
    df = rows.join(e.truth, on="order_id").join(orders, on="order_id")
    smear = df.filter(pl.col("kind") == "smear")
    assert smear.height == p["smear_size"] and smear["is_fake"].all()
    assert smear["rating"].max() <= 2
    span_h = (smear["t"].max() - smear["t"].min()).total_seconds() / 3600
    assert span_h <= p["smear_hours"] + 0.01
    delay_min = ((smear["t"] - smear["received"]).dt.total_seconds() / 60).median()
    assert delay_min < 4 * p["smear_delay_min"] + 2
    defect = df.filter(pl.col("kind") == "defect")
    assert defect["product"].n_unique() == 1 and not defect["is_fake"].any()
    assert defect["rating"].max() <= 3
    assert (defect["t"] - defect["received"]).dt.total_seconds().median() > 3600
    flash = df.filter(pl.col("kind") == "flash")
    assert flash["rating"].min() >= 4 and flash["product"].n_unique() == 1
    order_span_h = (flash["ordered"].max() - flash["ordered"].min()).total_seconds() / 3600
    assert order_span_h <= p["flash_order_hours"] + 0.01
    honest = df.filter(pl.col("kind") == "honest")
    assert honest.height > 0.8 * df.height
    # texts vary in the defect batch
    texts = e.reviews.join(e.truth, left_on="订单编号", right_on="order_id")
    by_kind = texts.group_by("kind").agg(pl.col("评价内容").n_unique().alias("n"), pl.len())
    share = {k: n / m for k, n, m in by_kind.rows()}
    assert share["defect"] > 0.8


def test_seed_decides_everything_and_build_is_fast():
    t0 = time.perf_counter()
    a = build_export("jd", seed=3, n=3000)
    elapsed = time.perf_counter() - t0
    b = build_export("jd", seed=3, n=3000)
    c = build_export("jd", seed=4, n=3000)
    assert a.reviews.equals(b.reviews) and a.orders.equals(b.orders) and a.truth.equals(b.truth)
    assert a.params != c.params
    assert elapsed < 2.0


def test_written_files_csv_bom_and_xlsx(tmp_path):
    e = build_export("taobao", seed=2, n=300)
    csv = write_export(e, tmp_path / "c", "csv")
    assert csv["reviews"].read_bytes()[:3] == b"\xef\xbb\xbf"
    back = pl.read_csv(csv["reviews"], infer_schema=False)
    assert back.columns[0].lstrip("\ufeff") == "评价时间"
    assert back["订单编号"].to_list() == e.reviews["订单编号"].to_list()
    xlsx = write_export(e, tmp_path / "x", "xlsx", title_row=True)
    import fastexcel

    sheet = fastexcel.read_excel(str(xlsx["reviews"])).load_sheet(0, header_row=1)
    df = sheet.to_polars()
    assert df["订单编号"].to_list() == e.reviews["订单编号"].to_list()  # text, all 19 digits
    first = datetime.strptime(e.reviews["评价时间"][0], "%Y-%m-%d %H:%M:%S")
    assert df["评价时间"][0] == first.strftime("%Y-%m-%d %H:%M:%S")
