from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detector.errors import InputError
from detector.input.files import resolve_inputs
from detector.input.headers import parse_column_map
from detector.input.load import LoadedInput, load_reviews, scan_reviews
from detector.input.schema import CONTRACT, LABEL_COLUMNS, REQUIRED, UTC_DATETIME
from detector.input.spec import InputSpec


def rows(n: int = 3, **overrides) -> dict[str, list]:
    """``n`` valid reviews as columns; keyword arguments replace whole columns."""
    data = {
        "review_id": [f"r{i}" for i in range(n)],
        "shop_id": ["s1"] * n,
        "product_id": [f"p{i % 2}" for i in range(n)],
        "user_id": [f"u{i}" for i in range(n)],
        "rating": [5] * n,
        "created_at": [f"2025-01-0{1 + i % 9} 10:00:00" for i in range(n)],
    }
    data.update(overrides)
    return data


def write(path: Path, data: dict[str, list] | pl.DataFrame) -> Path:
    df = data if isinstance(data, pl.DataFrame) else pl.DataFrame(data, strict=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".csv":
        df.write_csv(path)
    else:
        df.write_parquet(path)
    return path


def assert_accounted(out: LoadedInput) -> None:
    assert out.n_input == out.reviews.height + out.rejected.height
    assert "_reject_reason" not in out.reviews.columns
    assert out.rejected.columns[0] == "review_id"
    assert out.rejected.columns[-1] == "reason"
    assert out.rejected["reason"].null_count() == 0
    for name, dtype in out.reviews.schema.items():
        if name in CONTRACT:
            assert dtype == CONTRACT[name], name


# ----------------------------------------------------------------------------- bad rows


def test_each_bad_row_is_rejected_with_its_reason(tmp_path):
    data = {
        "review_id": [
            "ok1",
            "k1",
            "k2",
            "k3",
            "rt1",
            "rt2",
            "rt3",
            "rt4",
            "t1",
            "t2",
            "ok1",
            "ip1",
            "d1",
            "d2",
            "dl1",
            "ok2",
        ],
        "shop_id": [
            "s",
            "s",
            "s",
            None,
            "s",
            "s",
            "s",
            "s",
            "s",
            "s",
            "s",
            "s",
            "s",
            "s",
            "s",
            "s",
        ],
        "product_id": [
            "p",
            "p",
            "  ",
            "p",
            "p",
            "p",
            "p",
            "p",
            "p",
            "p",
            "p",
            "p",
            "p",
            "p",
            "p",
            "p",
        ],
        "user_id": [
            "u",
            None,
            "u",
            "u",
            "u",
            "u",
            "u",
            "u",
            "u",
            "u",
            "u",
            "u",
            "u",
            "u",
            "u",
            "u",
        ],
        "rating": [
            "5",
            "5",
            "5",
            "5",
            "7",
            "4.5",
            "",
            "abc",
            "5",
            "5",
            "5",
            "5",
            "5",
            "5",
            "5",
            "5.0",
        ],
        "created_at": [
            "2025-01-02 13:04:05",
            "2025-01-02",
            "2025-01-02",
            "2025-01-02",
            "2025-01-02",
            "2025-01-02",
            "2025-01-02",
            "2025-01-02",
            "2025-13-45",
            None,
            "2025-01-03",
            "2025-01-02",
            "2025-01-02",
            "2025-01-02",
            "2025-01-02",
            "2025-01-02",
        ],
        "ip": [
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            "999.1.1.1",
            "::1",
            None,
            None,
            "1.2.3.4",
        ],
        "dsr_service": [None] * 12 + [9, 2.5, None, 5],
        "delivered_at": [None] * 14 + ["yesterday", "2025-01-03T08:00:00Z"],
    }
    out = load_reviews(write(tmp_path / "reviews.parquet", data))
    assert_accounted(out)
    assert out.n_input == 16
    assert out.reviews["review_id"].to_list() == ["ok1", "ok2"]
    reasons = dict(zip(out.rejected["review_id"], out.rejected["reason"], strict=False))
    assert out.rejected.filter(pl.col("review_id") == "k3")["reason"].item() == "null shop_id"
    assert reasons["k1"] == "null user_id"
    assert reasons["k2"] == "empty product_id"
    assert reasons["rt1"] == "rating 7 outside 1-5"
    assert reasons["rt2"] == "rating '4.5' is not an integer"
    assert reasons["rt3"] == "null rating"
    assert reasons["rt4"] == "rating 'abc' is not an integer"
    assert reasons["t1"] == "unparseable created_at '2025-13-45'"
    assert reasons["t2"] == "null created_at"
    dup = out.rejected.filter(pl.col("review_id") == "ok1")
    assert dup["reason"].item() == "duplicate review_id (first kept)"
    assert dup["created_at"].item() == "2025-01-03"  # the later copy is the one rejected
    assert reasons["ip1"] == "invalid ip '999.1.1.1'"
    assert reasons["d1"] == "dsr_service 9 outside 1-5"
    assert reasons["d2"] == "dsr_service '2.5' is not an integer"
    assert reasons["dl1"] == "unparseable delivered_at 'yesterday'"
    # rejected rows keep what was read, as strings
    assert set(out.rejected.schema.values()) == {pl.String}
    assert out.rejected.filter(pl.col("review_id") == "rt2")["rating"].item() == "4.5"
    # valid rows are normalised
    ok2 = out.reviews.filter(pl.col("review_id") == "ok2").row(0, named=True)
    assert ok2["rating"] == 5
    assert ok2["dsr_service"] == 5
    assert ok2["delivered_at"] == datetime(2025, 1, 3, 8, tzinfo=UTC)
    assert out.present_optional == ["ip", "delivered_at", "dsr_service"]


def test_first_reason_wins_in_documented_order(tmp_path):
    data = rows(
        2,
        review_id=["a", "b"],
        user_id=[None, "u"],
        rating=[9, 9],
        created_at=["bad", "bad"],
        ip=["nope", "nope"],
    )
    out = load_reviews(write(tmp_path / "x.parquet", data))
    assert out.rejected["reason"].to_list() == ["null user_id", "rating 9 outside 1-5"]


def test_duplicate_keeps_first_valid_copy_in_input_order_across_files(tmp_path):
    write(tmp_path / "a.parquet", rows(2, review_id=["x", "y"], rating=[9, 5]))
    write(tmp_path / "b.parquet", rows(2, review_id=["x", "y"], user_id=["later", "later"]))
    out = load_reviews(tmp_path)
    assert_accounted(out)
    # x: the first copy is bad for another reason, so the second (valid) copy is kept
    kept = dict(zip(out.reviews["review_id"], out.reviews["user_id"], strict=True))
    assert kept == {"y": "u1", "x": "later"}
    assert sorted(out.rejected["reason"].to_list()) == [
        "duplicate review_id (first kept)",
        "rating 9 outside 1-5",
    ]


def test_keys_are_stripped_and_rows_keep_input_order(tmp_path):
    data = rows(4, review_id=["\t0042", "b ", "c", "a"], user_id=[" u1", "u2", "u3", "u4"])
    out = load_reviews(write(tmp_path / "r.parquet", data))
    assert out.reviews["review_id"].to_list() == ["0042", "b", "c", "a"]
    assert out.reviews["user_id"][0] == "u1"


# ----------------------------------------------------------------------------- types


def test_integer_and_float_ids_become_strings(tmp_path):
    data = rows(
        3,
        review_id=[101, 102, 103],
        shop_id=[7, 7, 7],
        product_id=[1.0, 2.0, 3.0],
        user_id=[9_000_000_001, 9_000_000_002, 9_000_000_003],
        rating=[5.0, 4.0, 1.0],
        order_id=[1, None, 3],
    )
    out = load_reviews(write(tmp_path / "ids.parquet", data))
    assert_accounted(out)
    df = out.reviews
    assert df["review_id"].to_list() == ["101", "102", "103"]
    assert df["product_id"].to_list() == ["1", "2", "3"]
    assert df["user_id"][0] == "9000000001"
    assert df["rating"].to_list() == [5, 4, 1]
    assert df["order_id"].to_list() == ["1", None, "3"]
    assert all(df.schema[c] == REQUIRED[c] for c in REQUIRED)


def test_iso_strings_with_offsets_are_converted_to_utc(tmp_path):
    stamps = [
        "2025-01-02 13:04:05",
        "2025-01-02T13:04:05+08:00",
        "2025-01-02",
        "2025-01-02T13:04:05.250Z",
        "2025-01-02 13:04:05 +0800",
        "2025/01/02 13:04",
    ]
    out = load_reviews(write(tmp_path / "t.parquet", rows(len(stamps), created_at=stamps)))
    assert out.rejected.height == 0
    assert out.reviews.schema["created_at"] == UTC_DATETIME
    assert out.reviews["created_at"].to_list() == [
        datetime(2025, 1, 2, 13, 4, 5, tzinfo=UTC),
        datetime(2025, 1, 2, 5, 4, 5, tzinfo=UTC),
        datetime(2025, 1, 2, tzinfo=UTC),
        datetime(2025, 1, 2, 13, 4, 5, 250000, tzinfo=UTC),
        datetime(2025, 1, 2, 5, 4, 5, tzinfo=UTC),
        datetime(2025, 1, 2, 13, 4, tzinfo=UTC),
    ]


def test_date_and_datetime_columns_accepted(tmp_path):
    d = pl.DataFrame(rows(2)).with_columns(
        created_at=pl.Series([date(2025, 1, 2), date(2025, 1, 3)])
    )
    out = load_reviews(write(tmp_path / "d.parquet", d))
    assert out.reviews["created_at"].to_list() == [
        datetime(2025, 1, 2, tzinfo=UTC),
        datetime(2025, 1, 3, tzinfo=UTC),
    ]
    local = pl.DataFrame(rows(1)).with_columns(
        created_at=pl.Series([datetime(2025, 1, 2, 8)])
        .dt.replace_time_zone("Asia/Shanghai")
        .dt.cast_time_unit("ns"),
        delivered_at=pl.Series([datetime(2025, 1, 1, 12)]),  # naive: taken as UTC
    )
    out = load_reviews(write(tmp_path / "dt.parquet", local))
    row = out.reviews.row(0, named=True)
    assert row["created_at"] == datetime(2025, 1, 2, 0, tzinfo=UTC)
    assert row["delivered_at"] == datetime(2025, 1, 1, 12, tzinfo=UTC)
    assert out.reviews.schema["delivered_at"] == UTC_DATETIME


def test_extra_and_label_columns_carried_through(tmp_path):
    data = pl.DataFrame(rows(3)).with_columns(
        is_fake=pl.Series([True, False, None]),
        attack_type=pl.Series(["none", "burst", None]),
        campaign_id=pl.Series([None, 4, 4], dtype=pl.Int32),
        trap=pl.Series([False, False, True]),
        note=pl.Series(["a", "b", "c"]),
        tags=pl.Series([["x"], [], ["y", "z"]]),
        text=pl.Series(["好", "很好", None]),
    )
    out = load_reviews(write(tmp_path / "l.parquet", data))
    df = out.reviews
    assert df.columns == [*REQUIRED, "text", *LABEL_COLUMNS, "note", "tags"]
    assert df.schema["is_fake"] == pl.Boolean
    assert df.schema["campaign_id"] == pl.Int32
    assert df.schema["tags"] == pl.List(pl.String)
    assert df["is_fake"].to_list() == [True, False, None]
    assert df["tags"].to_list() == [["x"], [], ["y", "z"]]
    assert out.present_optional == ["text"]


def test_rejected_keeps_other_columns_as_strings(tmp_path):
    data = pl.DataFrame(rows(2, rating=[5, 0])).with_columns(
        campaign_id=pl.Series([1, 2]), tags=pl.Series([["a"], ["b"]])
    )
    out = load_reviews(write(tmp_path / "x.parquet", data))
    rej = out.rejected
    assert rej.columns == [*REQUIRED, "campaign_id", "tags", "reason"]
    assert rej.schema["campaign_id"] == pl.String
    assert rej.schema["tags"] == pl.List(pl.String)  # not castable: kept as is
    assert rej.row(0, named=True)["rating"] == "0"


def test_files_with_different_column_types_combine(tmp_path):
    write(tmp_path / "a.parquet", rows(2, review_id=[1, 2], extra=[1, 2]))
    write(tmp_path / "b.csv", rows(2, review_id=["3", "4"], extra=["x", "y"], ip=["1.2.3.4", None]))
    out = load_reviews(tmp_path)
    assert out.reviews["review_id"].to_list() == ["1", "2", "3", "4"]
    assert out.reviews["ip"].to_list() == [None, None, "1.2.3.4", None]
    assert out.reviews.schema["extra"] == pl.String
    assert [p.name for p in out.files] == ["a.parquet", "b.csv"]


# ----------------------------------------------------------------------------- CSV and mapping

SELLER_EXPORT = (
    "订单号,评价时间,评分,评价内容,买家,商品ID,店铺\n"
    "00123,2025-01-02 13:04:05,5,很好用，推荐,张三,9001,旗舰店\n"
    '00124,2025-01-02T20:00:00+08:00,1,"差评,再也不买",李四,9001,旗舰店\n'
    "00125,2025-01-03,五星,一般,王五,9002,旗舰店\n"
)
SELLER_MAP = "订单号=review_id,评价时间=created_at,评分=rating,评价内容=text,买家=user_id,商品ID=product_id,店铺=shop_id"


@pytest.mark.parametrize("bom", [False, True])
def test_csv_with_chinese_headers_and_mapping(tmp_path, bom):
    path = tmp_path / "评价导出.csv"
    path.write_bytes(("\ufeff" if bom else "").encode() + SELLER_EXPORT.encode("utf-8"))
    out = load_reviews(path, columns=parse_column_map(SELLER_MAP))
    assert_accounted(out)
    assert out.reviews["review_id"].to_list() == ["00123", "00124", "00125"]  # zeros kept
    assert out.reviews["product_id"].to_list() == ["9001", "9001", "9002"]
    assert out.reviews["text"][1] == "差评,再也不买"
    assert out.reviews["created_at"][1] == datetime(2025, 1, 2, 12, tzinfo=UTC)
    assert out.reviews["rating"].to_list() == [5, 1, 5]  # 五星 is a rating word
    assert out.rejected.height == 0
    assert out.present_optional == ["text"]


def test_missing_column_names_it_and_suggests_mapping(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text(SELLER_EXPORT, encoding="utf-8")
    partial = "订单号=review_id,评价时间=created_at,买家=user_id,商品ID=product_id,店铺=shop_id"
    with pytest.raises(InputError) as err:
        load_reviews(path, columns=parse_column_map(partial))
    msg = str(err.value)
    assert "missing required column 'rating'" in msg
    assert "reviews.csv" in msg
    assert "--columns '评分=rating'" in msg
    assert "评分" in msg.split("found columns:")[1]
    assert err.value.exit_code == 2


def test_missing_column_in_parquet_raises_from_scan_too(tmp_path):
    data = rows(2)
    del data["created_at"]
    path = write(tmp_path / "nocreated.parquet", data)
    with pytest.raises(
        InputError, match="missing required column 'created_at' in .*nocreated.parquet"
    ):
        scan_reviews(path)


def test_parse_column_map():
    assert parse_column_map(None) == {}
    assert parse_column_map("  ") == {}
    assert parse_column_map("订单号=order_id, 评价时间 = created_at,") == {
        "订单号": "order_id",
        "评价时间": "created_at",
    }
    assert parse_column_map("评分＝rating，买家=user_id") == {"评分": "rating", "买家": "user_id"}


@pytest.mark.parametrize(
    "spec",
    ["评分", "评分=", "=rating", "a=b=c", "a=rating,a=user_id", "a=rating,b=rating"],
)
def test_bad_column_map_spec(spec):
    with pytest.raises(InputError):
        parse_column_map(spec)


def test_mapping_onto_an_existing_column_is_an_error(tmp_path):
    path = write(tmp_path / "x.parquet", pl.DataFrame(rows(1)).with_columns(score=pl.lit(4)))
    with pytest.raises(InputError, match="'rating'"):
        load_reviews(path, columns={"score": "rating"})


def test_non_utf8_csv(tmp_path):
    path = tmp_path / "gbk.csv"
    path.write_bytes(SELLER_EXPORT.encode("gb18030"))
    with pytest.raises(InputError, match="gbk.csv.*UTF-8"):
        load_reviews(path, columns=parse_column_map(SELLER_MAP))


# ----------------------------------------------------------------------------- bad files


def test_corrupt_parquet(tmp_path):
    write(tmp_path / "good.parquet", rows(2))
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(InputError, match="bad.parquet"):
        load_reviews(tmp_path)


def test_truncated_parquet(tmp_path):
    good = write(tmp_path / "good.parquet", rows(50))
    blob = good.read_bytes()
    (tmp_path / "cut.parquet").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(InputError, match="cut.parquet"):
        load_reviews(tmp_path / "cut.parquet")


def test_nonexistent_path(tmp_path):
    with pytest.raises(InputError, match="does not exist: .*nope.parquet"):
        load_reviews(tmp_path / "nope.parquet")


def test_empty_glob_and_empty_dir(tmp_path):
    with pytest.raises(InputError, match=r"no \.parquet, \.csv or \.xlsx files match"):
        resolve_inputs(str(tmp_path / "*.parquet"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no .parquet, .csv or .xlsx files under"):
        resolve_inputs(tmp_path / "empty")


def test_unsupported_file_type(tmp_path):
    (tmp_path / "r.json").write_text("{}")
    with pytest.raises(InputError, match="unsupported input file"):
        resolve_inputs(tmp_path / "r.json")


def test_empty_input(tmp_path):
    path = write(
        tmp_path / "empty.parquet", pl.DataFrame(rows(0), schema=dict.fromkeys(rows(0), pl.String))
    )
    with pytest.raises(InputError, match="no review rows"):
        load_reviews(path)
    (tmp_path / "zero.csv").write_text("")
    with pytest.raises(InputError, match="zero.csv"):
        load_reviews(tmp_path / "zero.csv")


# ----------------------------------------------------------------------------- directories, globs, windows


def hive(tmp_path: Path) -> Path:
    root = tmp_path / "reviews"
    for day in (1, 2, 3):
        data = rows(
            2,
            review_id=[f"d{day}a", f"d{day}b"],
            created_at=[f"2025-01-0{day} 01:00:00", f"2025-01-0{day} 23:00:00"],
        )
        write(root / f"dt=2025-01-0{day}" / "part-0.parquet", data)
    (root / "_SUCCESS").write_text("")
    (root / ".hidden.parquet").write_bytes(b"junk")
    return root


def test_directory_with_hive_partitions(tmp_path):
    root = hive(tmp_path)
    out = load_reviews(root)
    assert_accounted(out)
    assert [p.parent.name for p in out.files] == ["dt=2025-01-01", "dt=2025-01-02", "dt=2025-01-03"]
    assert out.reviews["review_id"].to_list() == ["d1a", "d1b", "d2a", "d2b", "d3a", "d3b"]
    assert (
        out.reviews["dt"].to_list() == ["2025-01-01"] * 2 + ["2025-01-02"] * 2 + ["2025-01-03"] * 2
    )


def test_glob_and_list_of_inputs(tmp_path):
    root = hive(tmp_path)
    files = resolve_inputs(str(root / "dt=2025-01-0[12]" / "*.parquet"))
    assert [p.parent.name for p in files] == ["dt=2025-01-01", "dt=2025-01-02"]
    assert resolve_inputs(str(root / "**" / "*.parquet")) == resolve_inputs(root)
    both = resolve_inputs([root / "dt=2025-01-03", str(root / "dt=2025-01-01" / "part-0.parquet")])
    assert [p.parent.name for p in both] == ["dt=2025-01-01", "dt=2025-01-03"]
    out = load_reviews(str(root / "dt=*" / "*.parquet"))
    assert out.reviews.height == 6


def test_since_until_half_open_and_partition_pruning(tmp_path):
    root = hive(tmp_path)
    # a partition far outside the window is never opened
    write(root / "dt=2024-06-01" / "part-0.parquet", rows(1))
    (root / "dt=2024-06-01" / "part-1.parquet").write_bytes(b"not parquet")
    out = load_reviews(root, since="2025-01-02 00:00:00", until=datetime(2025, 1, 3, 1, tzinfo=UTC))
    assert out.reviews["review_id"].to_list() == ["d2a", "d2b"]
    assert out.n_input == 2
    assert all("2024-06-01" not in str(p) for p in out.files)
    # until is exclusive (d3a is at 2025-01-03 01:00 UTC); offsets in the bounds are honoured
    out = load_reviews(root, since="2025-01-02T09:00:01+08:00", until="2025-01-03T09:00:01+08:00")
    assert out.reviews["review_id"].to_list() == ["d2b", "d3a"]


def test_window_keeps_rows_without_time_as_rejected(tmp_path):
    path = write(tmp_path / "w.parquet", rows(3, created_at=["2025-01-01", None, "2025-02-01"]))
    out = load_reviews(path, since="2025-01-15")
    assert out.reviews["review_id"].to_list() == ["r2"]
    assert out.rejected["reason"].to_list() == ["null created_at"]
    assert out.n_input == 2


def test_window_filter_reaches_the_parquet_scan(tmp_path):
    df = pl.DataFrame(rows(4)).with_columns(
        pl.col("created_at").str.to_datetime().dt.replace_time_zone("Asia/Shanghai")
    )
    path = write(tmp_path / "typed.parquet", df)
    lf, files = scan_reviews(path, since="2025-01-03", until="2025-01-04")
    plan = lf.explain()
    scan = plan[plan.index("Parquet SCAN") :]
    assert "created_at" in scan.split("SELECTION:")[1]
    out = lf.collect()
    assert out["review_id"].to_list() == ["r2"]
    assert files == [path]


def test_window_bounds_validated(tmp_path):
    path = write(tmp_path / "x.parquet", rows(2))
    with pytest.raises(InputError, match="since"):
        load_reviews(path, since="last tuesday")
    with pytest.raises(InputError, match="empty time window"):
        load_reviews(path, since="2025-02-01", until="2025-01-01")
    with pytest.raises(InputError, match="no review rows"):
        load_reviews(path, since="2030-01-01")


def test_scan_reviews_is_lazy_with_reject_reason(tmp_path):
    path = write(tmp_path / "x.parquet", rows(3, rating=[5, 6, 4]))
    lf, files = scan_reviews(path)
    assert isinstance(lf, pl.LazyFrame)
    schema = lf.collect_schema()
    assert schema["_reject_reason"] == pl.String
    assert schema["rating"] == pl.Int8
    assert schema["created_at"] == UTC_DATETIME
    assert lf.collect()["_reject_reason"].to_list() == [None, "rating 6 outside 1-5", None]
    assert files == [path]


# ----------------------------------------------------------------------------- two paths agree

_messy = st.fixed_dictionaries(
    {
        "review_id": st.sampled_from(["a", "b", "c", " a", "", None]),
        "user_id": st.sampled_from(["u1", "u2", " ", None]),
        "rating": st.sampled_from([1, 5, 0, 9, None]),
        "rating_f": st.sampled_from([1.0, 4.5, float("nan"), float("inf"), None]),
        "created_at": st.sampled_from(
            [datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 3, 1, tzinfo=UTC), None]
        ),
        "created_txt": st.sampled_from(["2025-01-02 10:00", "2025/1/3", "soon", "", None]),
        "ip": st.sampled_from(["1.2.3.4", "300.1.1.1", " ", None]),
        "dsr_service": st.sampled_from([5, 7, None]),
    }
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    files=st.lists(st.lists(_messy, min_size=1, max_size=8), min_size=1, max_size=3),
    float_rating=st.booleans(),
    text_time=st.booleans(),
)
def test_rejects_and_reasons_match_the_one_pass_reference(
    tmp_path_factory, files, float_rating, text_time
):
    # load_reviews flags rows, then words the reasons of rejected rows in a
    # second pass; scan_reviews words every row in one pass: same verdicts.
    root = tmp_path_factory.mktemp("paths")
    for i, recs in enumerate(files):
        df = pl.DataFrame(recs, schema_overrides={"rating_f": pl.Float64, "rating": pl.Int64})
        df = df.with_columns(
            pl.lit("s").alias("shop_id"),
            pl.lit("p").alias("product_id"),
            (pl.col("rating_f") if float_rating else pl.col("rating")).alias("rating"),
            (pl.col("created_txt") if text_time else pl.col("created_at")).alias("created_at"),
        ).drop("rating_f", "created_txt")
        write(root / f"f{i}.parquet", df)
    lf, _ = scan_reviews(root)
    ref = lf.collect()
    out = load_reviews(root)
    assert_accounted(out)
    assert out.rejected["reason"].to_list() == ref["_reject_reason"].drop_nulls().to_list()
    valid = ref.filter(pl.col("_reject_reason").is_null()).drop("_reject_reason")
    assert out.reviews.equals(valid)


def test_a_repeated_id_is_rejected_as_duplicate_before_late_problems(tmp_path):
    data = rows(3, review_id=["a", "a", "b"], ip=["1.2.3.4", "999.1.1.1", "999.1.1.1"])
    out = load_reviews(write(tmp_path / "x.parquet", data))
    assert_accounted(out)
    assert out.rejected["reason"].to_list() == [
        "duplicate review_id (first kept)",
        "invalid ip '999.1.1.1'",
    ]


# ----------------------------------------------------------------------------- InputSpec


def test_input_spec_round_trips_through_its_dict():
    spec = InputSpec(
        columns={"评分": "rating"},
        preset="taobao",
        shop="旗舰店",
        timezone="Asia/Tokyo",
        orders=("orders.xlsx",),
        since=datetime(2025, 1, 2, tzinfo=UTC),
        until="2025-02-01",
    )
    record = spec.to_dict()
    assert record["since"] == "2025-01-02T00:00:00+00:00"
    assert record["orders"] == ["orders.xlsx"]
    back = InputSpec.from_dict({**record, "added_later": 1})
    assert back.to_dict() == record
    assert back.effective_timezone == "Asia/Tokyo"
    assert InputSpec(preset="jd").effective_timezone == "Asia/Shanghai"
    assert InputSpec().effective_timezone == "UTC"


@pytest.mark.parametrize(
    "kwargs, named", [({"preset": "amazon"}, "amazon"), ({"timezone": "Mars/Base"}, "Mars/Base")]
)
def test_input_spec_rejects_unknown_preset_and_zone(kwargs, named):
    with pytest.raises(InputError, match=named):
        InputSpec(**kwargs)


def test_summary_records_the_input_spec_and_evidence_rereads_it(tmp_path):
    from detector.evidence.scanload import load_scan
    from detector.scan import ScanConfig, run_scan

    path = write(tmp_path / "in.parquet", rows(40, user_id=[f"u{i % 7}" for i in range(40)]))
    spec = InputSpec(since="2025-01-02", until="2025-01-09")
    result = run_scan(path, tmp_path / "scan", spec=spec, config=ScanConfig(n_estimators=20))
    section = result.summary["input"]
    assert {k: section[k] for k in spec.to_dict()} == spec.to_dict()
    assert section["effective_timezone"] == "UTC"
    assert section["weak_identity"] == []
    bundle = load_scan(tmp_path / "scan")
    assert bundle.reviews["review_id"].sort().to_list() == (
        result.loaded.reviews["review_id"].sort().to_list()
    )
    assert bundle.reviews["created_at"].min() >= datetime(2025, 1, 2, tzinfo=UTC)


def test_xlsx_with_typed_cells_reads_naive_times_in_the_zone(tmp_path):
    import xlsxwriter

    path = tmp_path / "评价.xlsx"
    with xlsxwriter.Workbook(path) as wb:
        ws = wb.add_worksheet()
        stamp = wb.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        ws.write_row(
            0, 0, ["review_id", "shop_id", "product_id", "user_id", "rating", "created_at"]
        )
        ws.write_row(1, 0, ["r1", "s", "00123", "u1"])
        ws.write_number(1, 4, 5)
        ws.write_datetime(1, 5, datetime(2025, 3, 4, 12, 30, 1), stamp)
        ws.write_row(2, 0, ["r2", "s", "00124", "u2", "四星", "2025/3/5 08:00"])
    out = load_reviews(path, spec=InputSpec(timezone="Asia/Shanghai"))
    assert out.reviews["product_id"].to_list() == ["00123", "00124"]
    assert out.reviews["rating"].to_list() == [5, 4]
    assert out.reviews["created_at"].to_list() == [
        datetime(2025, 3, 4, 4, 30, 1, tzinfo=UTC),
        datetime(2025, 3, 5, 0, 0, tzinfo=UTC),
    ]
    # a naive Parquet timestamp is in the zone too; aware ones keep their own
    naive = pl.DataFrame(rows(1)).with_columns(
        pl.col("created_at").str.to_datetime().alias("created_at")
    )
    got = load_reviews(write(tmp_path / "n.parquet", naive), spec=InputSpec(timezone="Asia/Tokyo"))
    assert got.reviews["created_at"][0] == datetime(2025, 1, 1, 1, tzinfo=UTC)


def test_the_first_copy_rule_keeps_the_earliest_eligible_copy():
    from detector.input.rejects import is_later_copy

    rows = pl.DataFrame(
        {
            "review_id": ["a", "a", "a", "b", "b", "c"],
            "order": [2, 0, 1, 5, 5, 3],
            "ok": [True, False, True, True, True, True],
        }
    )
    later = rows.select(is_later_copy(pl.col("order"), pl.col("ok")).alias("x"))["x"]
    # a: the ineligible row 0 is no copy, so the row at order 1 is first; b: ties are not later
    assert later.to_list() == [True, False, False, False, False, False]
    plain = rows.select(is_later_copy(pl.col("order")).alias("x"))["x"]
    assert plain.to_list() == [True, False, True, False, False, False]
