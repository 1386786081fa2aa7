"""Readable terminal summaries of a scan (rich tables)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from rich.console import Console
from rich.table import Table

from features.registry import REGISTRY


def print_scan_summary(
    console: Console, result, out_dir: Path, labels: pl.DataFrame | None = None, top: int = 10
) -> None:
    """Counts, the most suspicious flagged reviews with their reasons, and the files written."""
    s = result.summary
    rows = s["rows"]
    console.print(
        f"\n[bold]{rows['scored']:,}[/] reviews scored, [bold]{rows['rejected']:,}[/] rejected, "
        f"[bold red]{rows['flagged']:,}[/] flagged "
        f"({', '.join(f'{k}: {v:,}' for k, v in rows['flagged_by_direction'].items()) or 'none'}); "
        f"threshold {s['threshold']['value']:.3f} ({s['threshold']['method']}), {s['timings_s']['total']:.1f} s"
    )
    if s["signals"]["unavailable"]:
        missing = sorted({c for u in s["signals"]["unavailable"] for c in u["missing_columns"]})
        console.print(
            f"signals unavailable (missing columns {', '.join(missing)}): "
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
    flagged = result.scores.filter(pl.col("flagged")).sort("score", descending=True).head(top)
    if flagged.height:
        reviews = result.loaded.reviews
        cols = [c for c in ("review_id", "shop_id", "rating", "text") if c in reviews.columns]
        flagged = flagged.join(reviews.select(cols), on="review_id", how="left").sort(
            "score", descending=True
        )
        table = Table(title=f"top {flagged.height} flagged reviews", show_lines=False)
        for c in ("review", "shop", "★", "score", "direction", "reasons", "text"):
            table.add_column(c, overflow="fold")
        for r in flagged.iter_rows(named=True):
            reasons = "\n".join(f"{n}: {REGISTRY.get(n).en}" for n in r["reasons"][:3])
            text = (r.get("text") or "")[:40]
            table.add_row(
                r["review_id"],
                r.get("shop_id", ""),
                str(r["rating"]),
                f"{r['score']:.3f}",
                r["direction"],
                reasons,
                text,
            )
        console.print(table)
    console.print(
        f"results in [bold]{out_dir}[/]: "
        + ", ".join(p.name for p in sorted(out_dir.iterdir()) if not p.name.startswith("."))
    )
