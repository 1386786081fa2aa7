"""Readable terminal summaries of a scan (rich tables)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from features.registry import REGISTRY


def _short(text: str | None, n: int) -> str:
    text = (text or "").replace("\n", " ")
    return text if len(text) <= n else text[: n - 1] + "…"


def _quoted_rows(result, ids: pl.Series) -> pl.DataFrame:
    """``review_id``, ``rating`` and ``text`` (when the input has it) of the reviews ``ids``.

    Taken from the scan's reviews when it kept them, else read back from its
    input files (a large scan frees its texts once the features are built).
    """
    reviews = result.loaded.reviews
    if reviews.height == 0 and result.loaded.files:
        from detector.contract import InputSpec, scan_reviews

        spec = InputSpec.from_summary(result.summary)
        lf, _ = scan_reviews(result.loaded.files, spec=spec)
        names = lf.collect_schema().names()
        cols = [c for c in ("review_id", "rating", "text") if c in names]
        # the first copy of an id is the one that was scanned
        return (
            lf.filter(pl.col("review_id").is_in(ids.implode()))
            .select(cols)
            .collect()
            .unique("review_id", keep="first", maintain_order=True)
        )
    cols = [c for c in ("review_id", "rating", "text") if c in reviews.columns]
    return reviews.select(cols).join(pl.DataFrame({"review_id": ids}), on="review_id", how="semi")


def print_scan_summary(
    console: Console, result, out_dir: Path, labels: pl.DataFrame | None = None, top: int = 8
) -> None:
    """Counts, the largest cases, the most suspicious reviews with reasons, and the files written."""
    s = result.summary
    rows = s["rows"]
    by_dir = ", ".join(f"{k}: {v:,}" for k, v in rows["flagged_by_direction"].items()) or "none"
    console.print(
        f"\n[bold]{rows['scored']:,}[/] reviews scored, [bold]{rows['rejected']:,}[/] rejected, "
        f"[bold red]{rows['flagged']:,}[/] flagged ({by_dir}); threshold "
        f"{s['threshold']['value']:.3f} ({s['threshold']['method']}), {s['timings_s']['total']:.1f} s"
    )
    if s["signals"]["unavailable"]:
        missing = sorted({c for u in s["signals"]["unavailable"] for c in u["missing_columns"]})
        console.print(
            f"signals unavailable (no {', '.join(missing)} column): "
            + ", ".join(u["feature"] for u in s["signals"]["unavailable"])
        )
    if labels is not None:
        joined = result.scores.join(labels.select("review_id", "is_fake"), on="review_id")
        tp = joined.filter(pl.col("flagged") & pl.col("is_fake")).height
        fl = joined.filter(pl.col("flagged")).height
        fakes = joined.filter(pl.col("is_fake")).height
        console.print(
            f"against the planted labels: precision {tp / max(fl, 1):.2f}, recall {tp / max(fakes, 1):.2f} "
            f"({tp:,} of {fakes:,} planted fakes flagged)"
        )
    flagged = result.scores.filter(pl.col("flagged"))
    used: list[str] = []
    cases_path = out_dir / "cases.parquet"
    if flagged.height and cases_path.exists():
        cases = (
            pl.read_parquet(cases_path, glob=False)
            .sort(["n_reviews", "case_id"], descending=[True, False])
            .head(top)
        )
        reasons = (
            flagged.select("case_id", "reasons")
            .explode("reasons")
            .drop_nulls()
            .group_by("case_id", "reasons")
            .len()
            .sort(["case_id", "len", "reasons"], descending=[False, True, False])
            .group_by("case_id", maintain_order=True)
            .agg(pl.col("reasons").head(3))
        )
        cases = cases.join(reasons, on="case_id", how="left")
        table = Table(title=f"largest {cases.height} cases", title_justify="left")
        for c in ("case", "kind", "reviews", "shops", "from", "to", "main reasons"):
            table.add_column(c, overflow="fold")
        for r in cases.iter_rows(named=True):
            rs = r["reasons"] or []
            used += rs
            table.add_row(
                r["case_id"],
                r["kind"],
                str(r["n_reviews"]),
                str(len(r["shop_ids"])),
                f"{r['start']:%Y-%m-%d %H:%M}",
                f"{r['end']:%Y-%m-%d %H:%M}",
                ", ".join(rs),
            )
        console.print(table)
    if flagged.height:
        head = (
            flagged.sort(["score", "review_id"], descending=[True, False])
            .unique("case_id", keep="first", maintain_order=True)
            .head(top)
        )
        head = head.join(_quoted_rows(result, head["review_id"]), on="review_id", how="left").sort(
            ["score", "review_id"], descending=[True, False]
        )
        table = Table(title="most suspicious review of each top case", title_justify="left")
        for c in ("review", "★", "score", "direction", "reasons", "text"):
            table.add_column(c, overflow="fold")
        for r in head.iter_rows(named=True):
            used += r["reasons"]
            table.add_row(
                escape(r["review_id"]),  # ids and texts are the input's: never markup
                str(r["rating"]),
                f"{r['score']:.3f}",
                r["direction"],
                ", ".join(r["reasons"][:3]),
                escape(_short(r.get("text"), 24)),
            )
        console.print(table)
        legend = Table(show_header=False, box=None, padding=(0, 1))
        for name in dict.fromkeys(used):
            legend.add_row(f"[bold]{name}[/]", REGISTRY.describe(name).en)
        console.print(legend)
    console.print(
        f"results in [bold]{escape(str(out_dir))}[/]: "
        + escape(", ".join(p.name for p in sorted(out_dir.iterdir()) if not p.name.startswith(".")))
    )
