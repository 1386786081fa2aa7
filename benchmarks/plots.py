"""PNG figures of a bench run (matplotlib's object API, no pyplot state, no display needed)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import polars as pl
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from benchmarks import metrics
from detector.atomic import atomic_path

_MAX_POINTS = 4000


def _save(fig: Figure, path: Path) -> Path:
    FigureCanvasAgg(fig)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    return Path(path)


def _thin(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if x.shape[0] <= _MAX_POINTS:
        return x, y
    idx = np.unique(np.linspace(0, x.shape[0] - 1, _MAX_POINTS).astype(np.int64))
    return x[idx], y[idx]


def pr_curves(
    path: Path,
    dataset: str,
    labels: pl.DataFrame,
    by_method: Mapping[str, Mapping[str, np.ndarray]],
    references: Sequence[Mapping] = (),
) -> Path:
    """Precision-recall curve of every method on one dataset (AP in the legend)."""
    y = labels["is_fake"].to_numpy().astype(bool)
    fig = Figure(figsize=(7, 5))
    ax = fig.add_subplot()
    for label, out in by_method.items():
        p, r, _ = metrics.pr_curve(y, out["scores"])
        ap = metrics.average_precision(y, out["scores"])
        rr, pp = _thin(r, p)
        ax.step(rr, pp, where="post", label=f"{label} (AP {ap:.3f})", linewidth=1.4)
    ax.axhline(y.mean(), color="grey", linestyle=":", linewidth=1, label=f"chance ({y.mean():.3f})")
    for ref in references:
        if ref.get("average_precision") is not None:
            ax.axhline(
                ref["average_precision"],
                color="black",
                linestyle="--",
                linewidth=0.8,
                label=f"{ref['method']}: AP {ref['average_precision']:.3f} (quoted, no curve)",
            )
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_title(f"Precision-recall, {dataset} ({y.sum():,} fake of {y.size:,})")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, frameon=False)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def score_distributions(
    path: Path,
    dataset: str,
    labels: pl.DataFrame,
    by_method: Mapping[str, Mapping[str, np.ndarray]],
) -> Path:
    """Per method: score histograms of fake, honest and (when labelled) honest-trap reviews."""
    y = labels["is_fake"].to_numpy().astype(bool)
    trap = labels["trap"].is_not_null().to_numpy() if "trap" in labels.columns else np.zeros_like(y)
    k = len(by_method)
    cols = min(3, k)
    rows = math.ceil(k / cols)
    fig = Figure(figsize=(4.2 * cols, 3.2 * rows))
    groups = [
        ("honest", ~y & ~trap, "tab:blue"),
        ("honest trap", ~y & trap, "tab:orange"),
        ("fake", y, "tab:red"),
    ]
    for i, (label, out) in enumerate(by_method.items()):
        ax = fig.add_subplot(rows, cols, i + 1)
        s = np.asarray(out["scores"], dtype=np.float64)
        finite = s[np.isfinite(s)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        bins = np.linspace(lo, hi if hi > lo else lo + 1.0, 50)
        for name, mask, colour in groups:
            vals = s[mask & np.isfinite(s)]
            if vals.size:
                ax.hist(
                    vals,
                    bins=bins,
                    density=True,
                    histtype="step",
                    color=colour,
                    linewidth=1.3,
                    label=f"{name} ({vals.size:,})",
                )
        ax.set_yscale("log")
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("score (higher = more suspicious)", fontsize=8)
        ax.tick_params(labelsize=7)
        if i == 0:
            ax.legend(fontsize=7)
    fig.suptitle(f"Score distributions, {dataset} (density, log scale)")
    fig.tight_layout()
    return _save(fig, path)


def time_vs_size(path: Path, points: Sequence[Mapping]) -> Path:
    """Wall time against number of reviews, one line per method (log-log)."""
    fig = Figure(figsize=(7, 5))
    ax = fig.add_subplot()
    by_label: dict[str, dict[int, list[float]]] = {}
    for p in points:
        by_label.setdefault(p["label"], {}).setdefault(int(p["n_reviews"]), []).append(
            float(p["seconds"])
        )
    for label, by_n in by_label.items():
        ns = sorted(by_n)
        secs = [float(np.median(by_n[n])) for n in ns]
        ax.plot(ns, secs, marker="o", label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("reviews")
    ax.set_ylabel("seconds (median over seeds)")
    ax.set_title("Wall time vs size")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    return _save(fig, path)
