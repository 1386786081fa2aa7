"""The input contract's column names and types, shared by every stage.

Kept apart from the loader so that features, the generator and the engines can
name columns without importing the file-reading code.
"""

from __future__ import annotations

import polars as pl

UTC_DATETIME = pl.Datetime("us", "UTC")

#: Columns every input must provide, with the type they have after loading.
REQUIRED: dict[str, pl.DataType] = {
    "review_id": pl.String(),
    "shop_id": pl.String(),
    "product_id": pl.String(),
    "user_id": pl.String(),
    "rating": pl.Int8(),
    "created_at": UTC_DATETIME,
}

#: Columns used when present.
OPTIONAL: dict[str, pl.DataType] = {
    "text": pl.String(),
    "ip": pl.String(),
    "device_id": pl.String(),
    "delivered_at": UTC_DATETIME,
    "order_id": pl.String(),
    "dsr_description": pl.Int8(),
    "dsr_service": pl.Int8(),
    "dsr_logistics": pl.Int8(),
    #: Province or country a review page shows as IP属地: a coarse identity.
    "ip_region": pl.String(),
    #: A masked nickname (``梁***k``) as the export shows it: for display only, never an
    #: account (``user_id`` is then a pseudo-account per order, see detector.input.identities).
    "user_nick": pl.String(),
    #: Order times joined from an order export (``--orders``).
    "paid_at": UTC_DATETIME,
    "shipped_at": UTC_DATETIME,
}

DSR_COLUMNS: tuple[str, ...] = ("dsr_description", "dsr_service", "dsr_logistics")

#: Ground-truth columns a benchmark may carry; they are never used for scoring.
LABEL_COLUMNS: tuple[str, ...] = ("is_fake", "attack_type", "campaign_id", "trap")

CONTRACT: dict[str, pl.DataType] = {**REQUIRED, **OPTIONAL}

#: Optional columns only merchant exports give (read from them, derived or joined from an
#: order export); synthetic markets have none of them.
EXPORT_ONLY: tuple[str, ...] = ("ip_region", "user_nick", "paid_at", "shipped_at")
