"""Matplotlib set-up shared by the cards and the overview (Agg, no display).

Review text may contain ``$``: every text is drawn with ``parse_math=False``
so nothing in a review is read as mathtext.
"""

from __future__ import annotations

import io
import warnings

import matplotlib

matplotlib.use("Agg", force=False)

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from detector.evidence import fonts  # noqa: E402

RED = "#c62828"
GREY = "#9aa3b2"
INK = "#1d2330"
MUTED = "#5b6475"
GREEN = "#1b7f3b"


def font_family() -> list[str]:
    """Font family list: a CJK font first when one exists, then DejaVu Sans."""
    cjk = fonts.cjk_font()
    return [cjk, "DejaVu Sans"] if cjk else ["DejaVu Sans"]


def new_figure(width_px: int, height_px: int, dpi: int = 100) -> Figure:
    fig = plt.figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi)
    fig.patch.set_facecolor("white")
    return fig


def png_bytes(fig: Figure, dpi: int = 100) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # missing-glyph warnings when no CJK font exists
        fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
    plt.close(fig)
    return buf.getvalue()


def rc() -> dict:
    return {
        "font.family": font_family(),
        "axes.unicode_minus": False,
        "axes.edgecolor": MUTED,
        "axes.labelcolor": INK,
        "xtick.color": MUTED,
        "ytick.color": MUTED,
        "text.usetex": False,
    }
