"""YelpChi (Rayana & Akoglu, KDD 2015) converted to the input contract.

The file is the metadata of 67,395 Chicago hotel and restaurant reviews,
gzip-compressed, one review per line, space-separated::

    user prod rating label date
    201 0 5.0 1 2011-06-08

``label`` is ``-1`` for a review Yelp's filter removed (taken as fake) and
``1`` for a recommended one. The data is never copied into the repository: it
is read from ``../shared/data/yelpchi/metadata.gz`` relative to the repository
root, or from the path in the ``REVIEW_DETECTOR_YELPCHI`` environment variable.

Conversion: ``review_id`` is the 0-based row index as a string, ``user_id`` and
``product_id`` are the numeric ids as strings, ``shop_id`` = ``product_id`` (a
Yelp business is both the shop and the product), ``rating`` an integer 1-5,
``created_at`` the date at 00:00 UTC (dates are only known to the day). There
is no text, IP, device or delivery time, so only the feature families that need
just ids, ratings and times run.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
from pathlib import Path

import numpy as np
import polars as pl

from detector.input.schema import REQUIRED

ENV_VAR = "REVIEW_DETECTOR_YELPCHI"
REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PATH = REPO_ROOT.parent / "shared" / "data" / "yelpchi" / "metadata.gz"
SOURCE = "Rayana & Akoglu, 'Collective Opinion Spam Detection', KDD 2015 (YelpChi metadata)"

#: UGFraud's SpEagle as measured on this machine type before the project started
#: (see ``/work/shared/notes/measurements.md``); quoted for its running time. The
#: benchmark also runs SpEagle itself (``benchmarks.speagle``) side by side.
SPEAGLE_REFERENCE = {
    "method": "SpEagle via UGFraud (quoted)",
    "roc_auc": 0.766,
    "average_precision": 0.302,
    "seconds": 102.0,
    "source": (
        "measured before the project started on a 2-core / 24 GB machine of this kind "
        "(shared notes, measurements.md: 'Detection quality on YelpChi'); "
        "quoted for UGFraud's running time; the row 'SpEagle' is the same method run in "
        "this benchmark"
    ),
}


def product_halves(product_ids: pl.Series) -> np.ndarray:
    """0 or 1 per review: which half of the businesses (by MD5 of the id) it belongs to.

    Reporting a method on each half shows whether a figure holds across
    businesses or is carried by a few; the split is fixed (MD5, not a
    version-dependent Polars hash).
    """
    uniq = product_ids.unique().sort()
    half = {p: hashlib.md5(p.encode()).digest()[0] & 1 for p in uniq.to_list()}
    lookup = pl.DataFrame({"p": uniq, "h": [half[p] for p in uniq.to_list()]})
    return (
        pl.DataFrame({"p": product_ids})
        .join(lookup, on="p", how="left", maintain_order="left")["h"]
        .to_numpy()
    )


def yelpchi_path() -> Path:
    """Where the YelpChi metadata is expected (the env var wins)."""
    env = os.environ.get(ENV_VAR)
    return Path(env).expanduser() if env else DEFAULT_PATH


def available(path: str | os.PathLike[str] | None = None) -> bool:
    """True when the metadata file exists."""
    return Path(path or yelpchi_path()).is_file()


def load_yelpchi(path: str | os.PathLike[str] | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Read YelpChi metadata into ``(reviews, labels)``.

    ``reviews`` has the required contract columns with contract types;
    ``labels`` has ``review_id``, ``is_fake``, ``attack_type``, ``campaign_id``
    and ``trap`` like the generator's labels (the last three all null: YelpChi
    says only *that* a review was filtered).

    Raises
    ------
    FileNotFoundError
        When the file is absent.
    ValueError
        When a line does not have five fields or a label is not -1 / 1.
    """
    p = Path(path or yelpchi_path())
    if not p.is_file():
        raise FileNotFoundError(f"YelpChi metadata not found at {p} (set {ENV_VAR})")
    with gzip.open(p, "rb") as fh:
        raw_bytes = fh.read()
    raw = pl.read_csv(
        io.BytesIO(raw_bytes),
        separator=" ",
        has_header=False,
        new_columns=["user", "prod", "rating", "label", "date"],
        schema_overrides={
            "user": pl.String,
            "prod": pl.String,
            "rating": pl.Float64,
            "label": pl.Int64,
            "date": pl.String,
        },
    )
    if raw.width != 5:
        raise ValueError(f"{p}: expected 5 space-separated fields per line, got {raw.width}")
    bad = raw.filter(~pl.col("label").is_in([-1, 1]))
    if bad.height:
        raise ValueError(f"{p}: {bad.height} rows with a label other than -1 / 1")
    frame = raw.with_row_index("_row").select(
        pl.col("_row").cast(pl.String).alias("review_id"),
        pl.col("prod").alias("shop_id"),
        pl.col("prod").alias("product_id"),
        pl.col("user").alias("user_id"),
        pl.col("rating").round(0).cast(pl.Int8).alias("rating"),
        pl.col("date")
        .str.to_date("%Y-%m-%d")
        .cast(pl.Datetime("us"))
        .dt.replace_time_zone("UTC")
        .alias("created_at"),
        (pl.col("label") == -1).alias("is_fake"),
    )
    reviews = frame.select([pl.col(c).cast(t) for c, t in REQUIRED.items()])
    labels = frame.select(
        "review_id",
        "is_fake",
        pl.lit(None, dtype=pl.String).alias("attack_type"),
        pl.lit(None, dtype=pl.String).alias("campaign_id"),
        pl.lit(None, dtype=pl.String).alias("trap"),
    )
    return reviews, labels
