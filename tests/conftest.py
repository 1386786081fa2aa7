"""Shared fixtures: small generated review sets with fixed seeds."""

from __future__ import annotations

import pytest

from benchmarks.generator import generate


@pytest.fixture(scope="session")
def small_market():
    """8,000 generated reviews (seed 21) with every attack family and trap."""
    return generate(8_000, seed=21)


@pytest.fixture(scope="session")
def small_market_path(tmp_path_factory, small_market):
    reviews, labels = small_market
    d = tmp_path_factory.mktemp("market")
    reviews.write_parquet(d / "reviews.parquet")
    labels.write_parquet(d / "labels.parquet")
    return d
