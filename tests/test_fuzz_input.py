"""Nothing an input holds crashes a scan (issue 14).

Every run of ``review-detector scan`` ends with exit 0 (scored + rejected =
input rows) or exit 2 and a message naming the column and what to do, never
a traceback: columns named like the engine's own, every row rejected, and a
hypothesis fuzz over column names, dtypes and subsets.
"""

from __future__ import annotations

import json

import polars as pl
import pytest

from benchmarks.generator import generate
from detector.cases import CASES_SCHEMA
from detector.cli import main
from detector.contract import NoRowsError, load_reviews
from detector.scan import EXPLANATION_SCHEMA, SCORES_SCHEMA, run_scan
from detector.schema import CONTRACT
from features.prepare import DERIVED
from features.registry import REGISTRY

#: Columns the engine creates on the way (derived, table and join columns) and
#: the columns of its outputs: an input column of any of these names changes nothing.
ENGINE_NAMES = sorted(
    {
        *DERIVED,
        *("_bucket", "_file", "_part", "_h", "_d", "_i", "_first", "_rank", "_total", "_own"),
        *("_linked", "_has_link", "_keep", "_order", "_g", "_u", "_p", "_selected", "row"),
        *("text_cluster", "ring_id", "ring_size", "ring_core", "kind", "start", "end", "n"),
        *("reason", "input_reason", "input_reason_2", "example", "rows", "weight"),
        *SCORES_SCHEMA,
        *EXPLANATION_SCHEMA,
        *CASES_SCHEMA,
        *REGISTRY.features,
    }
    - set(CONTRACT)
)


@pytest.fixture(scope="module")
def market():
    reviews, _ = generate(600, seed=3)
    return reviews


def _engine_columns(df: pl.DataFrame) -> pl.DataFrame:
    """``df`` with a column of every engine name, holding values that would mislead if read."""
    n = df.height
    extra = []
    for i, name in enumerate(ENGINE_NAMES):
        if i % 3 == 0:
            values = pl.Series(name, list(range(n, 0, -1)), dtype=pl.Int64)  # reversed "_rid"s
        elif i % 3 == 1:
            values = pl.Series(name, ["1.1.1.1"] * n)
        else:
            values = pl.Series(name, [j % 2 == 0 for j in range(n)])
        extra.append(values)
    return df.with_columns(extra)


def _scan(path, out, *extra) -> int:
    return main(["scan", str(path), "--out", str(out), "--quiet", *extra])


@pytest.mark.parametrize("mode", ["--in-core", "--out-of-core"])
def test_columns_named_like_the_engines_change_nothing(tmp_path, market, mode):
    plain, named = tmp_path / "plain.parquet", tmp_path / "named.parquet"
    market.write_parquet(plain)
    _engine_columns(market).write_parquet(named)
    assert _scan(plain, tmp_path / "a", mode) == 0
    assert _scan(named, tmp_path / "b", mode) == 0
    for name in ("scores.parquet", "features.parquet", "cases.parquet", "explanations.parquet"):
        a = pl.read_parquet(tmp_path / "a" / name)
        b = pl.read_parquet(tmp_path / "b" / name)
        key = "case_id" if name == "cases.parquet" else a.columns[:2]
        assert b.columns == a.columns, name
        assert b.sort(key).equals(a.sort(key)), name
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert summary["rows"]["scored"] == market.height


def test_rejects_keep_every_input_column_under_its_name(tmp_path, market):
    """The input's own reason columns survive next to ours (``reason`` is the loader's)."""
    df = market.head(20).with_columns(
        pl.lit("theirs").alias("reason"),
        pl.lit("also theirs").alias("input_reason"),
        pl.lit(7, pl.Int8).alias("rating"),
    )
    df.write_parquet(tmp_path / "in.parquet")
    rejected = load_reviews(tmp_path / "in.parquet").rejected
    assert rejected["reason"].unique().to_list() == ["rating 7 outside 1-5"]
    assert rejected["input_reason"].unique().to_list() == ["also theirs"]
    assert rejected["input_reason_2"].unique().to_list() == ["theirs"]


def test_reserved_loader_names_are_refused_with_a_rename(tmp_path, market, capsys):
    market.with_columns(pl.lit(1).alias("__rd_row")).write_parquet(tmp_path / "in.parquet")
    assert _scan(tmp_path / "in.parquet", tmp_path / "out") == 2
    msg = capsys.readouterr().err
    assert "'__rd_row'" in msg and "--columns '__rd_row=NEW_NAME'" in msg
    assert not (tmp_path / "out" / "scores.parquet").exists()
    renamed = ["--columns", "__rd_row=mine"]
    assert _scan(tmp_path / "in.parquet", tmp_path / "out", *renamed) == 0


ALL_REJECTED = {
    "null ratings": (pl.lit(None, pl.Int64).alias("rating"), "null rating"),
    "boolean ratings": (pl.lit(True).alias("rating"), "rating not an integer"),
    "integer created_at": (pl.lit(1_700_000_000).alias("created_at"), "unparseable created_at"),
    "integer ip": (pl.lit(167772161).alias("ip"), "invalid ip"),
}


@pytest.mark.parametrize("mode", ["--in-core", "--out-of-core"])
@pytest.mark.parametrize("case", sorted(ALL_REJECTED))
def test_every_row_rejected_writes_the_rejects_and_exits_2(tmp_path, market, capsys, mode, case):
    column, kind = ALL_REJECTED[case]
    df = market.head(50).with_columns(column)
    df.write_parquet(tmp_path / "in.parquet")
    out = tmp_path / "out"
    out.mkdir()
    (out / "scores.parquet").write_bytes(b"an earlier scan")
    assert _scan(tmp_path / "in.parquet", out, mode) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"every one of the 50 rows in {tmp_path / 'in.parquet'} was rejected" in err
    assert f"50 {kind}" in err and str(out / "rejected.parquet") in err
    assert "Traceback" not in err
    rejected = pl.read_parquet(out / "rejected.parquet")
    assert rejected.height == 50 and rejected["reason"].null_count() == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rows"] == {
        "input": 50,
        "scored": 0,
        "rejected": 50,
        "flagged": 0,
        "flagged_by_direction": {},
    }
    assert summary["rejected_reasons"] == {kind: 50}
    # no earlier scan's scores beside this input's rejects
    assert sorted(p.name for p in out.iterdir()) == ["rejected.parquet", "summary.json"]


def test_every_row_rejected_is_an_error_type_with_the_rows(tmp_path, market):
    market.head(30).with_columns(pl.lit("x").alias("rating")).write_parquet(tmp_path / "in.parquet")
    with pytest.raises(NoRowsError) as info:
        run_scan(tmp_path / "in.parquet", tmp_path / "out")
    assert info.value.exit_code == 2
    assert info.value.rejected.height == 30 and info.value.n_input == 30
