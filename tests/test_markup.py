"""Every user-controlled string is printed as text, never as Rich markup (issue 14).

Review texts, review/shop/user ids, paths and column names carry ``[/]`` (a
closing tag with nothing open: a ``MarkupError`` if parsed) and
``[bold red]x[/]`` (rendered as a bold "x" if parsed); scan progress, the scan
summary, evidence output and the errors must show them literally.
"""

from __future__ import annotations

import io

import polars as pl
import pytest
from rich.console import Console

from benchmarks.generator import generate
from detector import cli
from detector.progress import ScanProgress

CLOSE = "[/]"
STYLED = "[bold red]x[/]"


@pytest.fixture()
def consoles(monkeypatch):
    """The CLI's consoles captured, wide enough that no id is folded, with the
    progress display on (as on a terminal)."""
    buf = io.StringIO()
    for name in ("out", "err"):
        monkeypatch.setattr(cli, name, Console(file=buf, width=400, color_system=None))
    monkeypatch.setattr(
        ScanProgress,
        "create",
        classmethod(lambda cls, quiet=False, console=None: cls(enabled=not quiet, console=console)),
    )
    return buf


def _run(buf: io.StringIO, *args: str) -> tuple[int, str]:
    buf.seek(0)
    buf.truncate()
    code = cli.main(list(args))
    return code, buf.getvalue()


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """A generated market whose every id, text, a column name and the paths carry markup."""
    reviews, _ = generate(1500, seed=3)
    # and a small shop of its own, with nothing to file
    quiet = reviews.head(3).with_columns(
        ("q" + pl.col("review_id")).alias("review_id"),
        pl.lit("quiet").alias("shop_id"),
        ("q" + pl.col("user_id")).alias("user_id"),
        ("q" + pl.col("product_id")).alias("product_id"),
        pl.lit(5, pl.Int8).alias("rating"),
    )
    reviews = pl.concat([reviews, quiet]).with_columns(
        (CLOSE + pl.col("review_id") + STYLED).alias("review_id"),
        ("[bold]" + pl.col("shop_id") + CLOSE).alias("shop_id"),
        (CLOSE + pl.col("user_id")).alias("user_id"),
        (STYLED + " " + pl.col("text")).alias("text"),
        pl.lit("carried").alias(f"note{CLOSE}"),
        pl.lit("carried").alias(STYLED),
    )
    root = tmp_path_factory.mktemp("markup")
    # "[/]" cannot be inside one file name: it spans a directory and the file
    path = root / "[bold]in[" / "]reviews.parquet"
    path.parent.mkdir()
    reviews.write_parquet(path)
    return reviews, path, root


def test_scan_with_progress_and_summary_shows_markup_literally(consoles, hostile):
    reviews, path, root = hostile
    out = root / "[bold]out[" / "]scan"
    code, printed = _run(consoles, "scan", str(path), "--out", str(out))
    assert code == 0, printed
    assert "MarkupError" not in printed
    assert str(out) in printed  # the summary names where the results are, as written
    assert STYLED in printed  # quoted ids and texts are shown, not rendered
    assert (out / "scores.parquet").exists()


def test_evidence_output_and_errors_show_markup_literally(consoles, hostile):
    reviews, path, root = hostile
    scan = root / "[red]ev[" / "]scan"
    assert _run(consoles, "scan", str(path), "--out", str(scan), "--quiet")[0] == 0
    cases = pl.read_parquet(scan / "cases.parquet", glob=False)
    in_cases = set(cases.explode("shop_ids")["shop_ids"].drop_nulls().to_list())

    # a shop with a packet to build: its id is printed in the packet summary
    for shop in sorted(in_cases):
        code, printed = _run(
            consoles,
            "evidence",
            str(scan),
            "--shop",
            shop,
            "--out",
            str(root / "pk"),
            "--lang",
            "en",
        )
        if code == 0:
            break
    assert code == 0, printed
    assert shop in printed and "MarkupError" not in printed

    # a shop without a case (exit 3) and an unknown shop (exit 2): their errors quote it
    quiet = f"[bold]quiet{CLOSE}"
    assert quiet not in in_cases
    code, printed = _run(consoles, "evidence", str(scan), "--shop", quiet, "--out", str(root / "q"))
    assert code == 3 and quiet in printed
    unknown = f"{CLOSE}nope{STYLED}"
    code, printed = _run(
        consoles, "evidence", str(scan), "--shop", unknown, "--out", str(root / "u")
    )
    assert code == 2 and repr(unknown) in printed


def test_errors_quote_paths_columns_and_values_literally(consoles, hostile, tmp_path):
    reviews, _, _ = hostile
    bad = tmp_path / "[bold]bad[" / "]file.parquet"
    bad.parent.mkdir()
    reviews.rename({"rating": f"[bold]评分{CLOSE}"}).write_parquet(bad)
    code, printed = _run(consoles, "scan", str(bad), "--out", str(tmp_path / "o"), "--quiet")
    assert code == 2
    assert str(bad) in printed and f"[bold]评分{CLOSE}" in printed

    rejected = tmp_path / "[red]all[" / "]rejected.parquet"
    rejected.parent.mkdir()
    value = f"{CLOSE}x[bold]"  # no space: the loader quotes a rating without its spaces
    reviews.head(10).with_columns(pl.lit(value).alias("rating")).write_parquet(rejected)
    code, printed = _run(consoles, "scan", str(rejected), "--out", str(tmp_path / "r"), "--quiet")
    assert code == 2
    assert f"rating '{value}' is not an integer" in printed and str(rejected) in printed
