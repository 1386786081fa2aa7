"""YelpChi metadata -> input contract."""

from __future__ import annotations

import gzip

import polars as pl
import pytest

from benchmarks import yelpchi
from detector.input.load import load_reviews
from detector.input.schema import REQUIRED


def _write(path, lines):
    with gzip.open(path, "wt", encoding="ascii") as fh:
        fh.write("\n".join(lines) + "\n")
    return path


def test_conversion_on_a_small_file(tmp_path):
    p = _write(
        tmp_path / "metadata.gz",
        ["201 0 5.0 1 2011-06-08", "202 0 3.0 -1 2011-08-30", "201 7 1.0 -1 2009-06-26"],
    )
    reviews, labels = yelpchi.load_yelpchi(p)
    assert reviews.schema == pl.Schema(REQUIRED)
    assert reviews["review_id"].to_list() == ["0", "1", "2"]
    assert reviews["user_id"].to_list() == ["201", "202", "201"]
    assert reviews["product_id"].to_list() == ["0", "0", "7"]
    assert reviews["shop_id"].to_list() == reviews["product_id"].to_list()
    assert reviews["rating"].to_list() == [5, 3, 1]
    assert str(reviews["created_at"][1]) == "2011-08-30 00:00:00+00:00"
    assert labels["review_id"].to_list() == ["0", "1", "2"]
    assert labels["is_fake"].to_list() == [False, True, True]  # -1 = filtered = fake
    assert labels.select(pl.col("attack_type", "campaign_id", "trap").null_count()).row(0) == (
        3,
        3,
        3,
    )


def test_bad_label_and_missing_file(tmp_path):
    with pytest.raises(ValueError, match="label"):
        yelpchi.load_yelpchi(_write(tmp_path / "bad.gz", ["1 2 5.0 0 2011-06-08"]))
    with pytest.raises(FileNotFoundError, match=yelpchi.ENV_VAR):
        yelpchi.load_yelpchi(tmp_path / "absent.gz")
    assert not yelpchi.available(tmp_path / "absent.gz")


def test_env_var_overrides_the_path(monkeypatch, tmp_path):
    monkeypatch.setenv(yelpchi.ENV_VAR, str(tmp_path / "x.gz"))
    assert yelpchi.yelpchi_path() == tmp_path / "x.gz"
    monkeypatch.delenv(yelpchi.ENV_VAR)
    assert yelpchi.yelpchi_path() == yelpchi.DEFAULT_PATH
    assert yelpchi.DEFAULT_PATH.parts[-4:] == ("shared", "data", "yelpchi", "metadata.gz")


needs_data = pytest.mark.skipif(
    not yelpchi.available(), reason=f"YelpChi not found at {yelpchi.yelpchi_path()}"
)


@needs_data
def test_real_file_matches_the_published_counts(tmp_path):
    reviews, labels = yelpchi.load_yelpchi()
    assert reviews.height == labels.height == 67_395
    assert int(labels["is_fake"].sum()) == 8_919  # 13.2 % filtered
    assert reviews["review_id"].n_unique() == reviews.height
    assert reviews["rating"].min() >= 1 and reviews["rating"].max() <= 5
    assert (reviews["created_at"].dt.hour() == 0).all()
    assert reviews["user_id"].n_unique() > 30_000
    assert reviews["product_id"].n_unique() > 100
    # the contract loader accepts every row as converted
    path = tmp_path / "yelpchi.parquet"
    reviews.write_parquet(path)
    loaded = load_reviews(path)
    assert loaded.rejected.height == 0
    assert loaded.reviews.height == reviews.height
    assert loaded.reviews.select(list(REQUIRED)).equals(reviews)


@needs_data
def test_quality_floors_on_yelpchi():
    """Issue #3's figures, no labels used: ROC-AUC >= 0.75, AP >= 0.27, above the single-review flag."""
    from benchmarks.metrics import average_precision, roc_auc
    from detector.scan import score_reviews

    reviews, labels = yelpchi.load_yelpchi()
    sr = score_reviews(reviews)
    y = (
        sr.scores.select("review_id")
        .join(labels, on="review_id", how="left", maintain_order="left")["is_fake"]
        .to_numpy()
    )
    s = sr.scores["score"].to_numpy()
    assert sr.graph_kinds[:2] == ["user", "product"]  # metadata only: SpEagle's review graph
    auc, ap = roc_auc(y, s), average_precision(y, s)
    single = reviews.select(pl.len().over("user_id") == 1).to_series().to_numpy().astype(float)
    assert auc >= 0.75 and ap >= 0.27, (auc, ap)
    assert auc > roc_auc(y, single) and ap > average_precision(y, single)


@needs_data
def test_speagle_baseline_reproduces_the_published_toolbox_figures():
    """The re-implemented SpEagle gives UGFraud's 0.766 / 0.302 on YelpChi."""
    from benchmarks.metrics import average_precision, roc_auc
    from benchmarks.speagle import speagle_scores

    reviews, labels = yelpchi.load_yelpchi()
    s = speagle_scores(reviews)
    y = labels["is_fake"].to_numpy()
    assert abs(roc_auc(y, s) - 0.766) < 0.005
    assert abs(average_precision(y, s) - 0.302) < 0.005
