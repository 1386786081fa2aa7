"""The shop overview: rating and positive rate over time, with and without the cited reviews."""

from __future__ import annotations

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import polars as pl

from detector.evidence import charts, fonts
from detector.evidence.packet import Packet

#: Trailing window, in weeks, of the rating and positive-rate curves.
TRAILING_WEEKS = 4

_LABELS = {
    "en": {
        "title": "Shop {shop}: rating and positive rate over time",
        "rating": "mean rating (★, trailing 4 weeks)",
        "pos": "positive rate (4-5★, trailing 4 weeks)",
        "cited": "cited reviews per week",
        "with": "with the cited reviews",
        "without": "without them",
    },
    "zh": {
        "title": "店铺 {shop}：评分与好评率走势",
        "rating": "平均评分（星，近4周）",
        "pos": "好评率（4–5星，近4周）",
        "cited": "每周被引用评价数",
        "with": "含被引用评价",
        "without": "剔除后",
    },
}


def weekly(timeline: pl.DataFrame) -> pl.DataFrame:
    """Per week: trailing mean rating and positive rate with and without cited reviews."""
    df = timeline.sort("created_at").with_columns(
        (pl.col("rating") >= 4).cast(pl.Int64).alias("_pos"),
        (~pl.col("cited")).cast(pl.Int64).alias("_keep"),
        pl.col("rating").cast(pl.Int64),
    )
    w = (
        df.group_by_dynamic("created_at", every="1w")
        .agg(
            pl.len().alias("n"),
            pl.col("rating").sum().alias("r"),
            pl.col("_pos").sum().alias("p"),
            pl.col("_keep").sum().alias("n_keep"),
            (pl.col("rating") * pl.col("_keep")).sum().alias("r_keep"),
            (pl.col("_pos") * pl.col("_keep")).sum().alias("p_keep"),
            pl.col("cited").sum().alias("cited"),
        )
        .sort("created_at")
    )
    roll = {
        c: pl.col(c).rolling_sum(TRAILING_WEEKS, min_samples=1)
        for c in ("n", "r", "p", "n_keep", "r_keep", "p_keep")
    }
    return w.with_columns(**{f"_{k}": v for k, v in roll.items()}).select(
        "created_at",
        "cited",
        (pl.col("_r") / pl.col("_n")).alias("rating_with"),
        (pl.col("_r_keep") / pl.col("_n_keep")).alias("rating_without"),
        (pl.col("_p") / pl.col("_n")).alias("pos_with"),
        (pl.col("_p_keep") / pl.col("_n_keep")).alias("pos_without"),
    )


def render_overview(packet: Packet) -> bytes:
    """The overview PNG."""
    lang = packet.options.lang if fonts.cjk_font() else "en"
    lab = _LABELS[lang]
    w = weekly(packet.timeline)
    x = w["created_at"].dt.replace_time_zone(None).to_list()
    with plt.rc_context(charts.rc()):
        fig = charts.new_figure(1200, 820)
        axes = fig.subplots(3, 1, sharex=True, gridspec_kw={"height_ratios": [3, 3, 2]})
        fig.suptitle(
            lab["title"].format(shop=packet.data["shop_id"]), fontsize=15, parse_math=False
        )
        for ax, col, ylab in ((axes[0], "rating", lab["rating"]), (axes[1], "pos", lab["pos"])):
            ax.plot(x, w[f"{col}_with"].to_list(), color=charts.RED, lw=1.8, label=lab["with"])
            ax.plot(
                x,
                w[f"{col}_without"].to_list(),
                color=charts.GREEN,
                lw=1.8,
                ls="--",
                label=lab["without"],
            )
            ax.set_title(ylab, fontsize=11, loc="left", parse_math=False)
            ax.grid(alpha=0.3)
            ax.legend(loc="lower left", fontsize=9)
        axes[1].yaxis.set_major_formatter(lambda v, _: f"{100 * v:.0f}%")
        axes[2].bar(x, w["cited"].to_list(), width=6, color=charts.RED)
        axes[2].set_title(lab["cited"], fontsize=11, loc="left", parse_math=False)
        axes[2].grid(alpha=0.3)
        axes[2].xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m"))
        fig.tight_layout()
        return charts.png_bytes(fig)
