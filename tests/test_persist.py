import numpy as np
import pytest

from models.isolation import OneSidedIsolationForest
from models.persist import ModelMismatch, load_model, save_model


def test_save_load_roundtrip_and_checks(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.lognormal(size=(2000, 3))
    m = OneSidedIsolationForest(directions=[1, -1, 1], n_estimators=50).fit(X)
    p = tmp_path / "model.joblib"
    save_model(p, m, ["a", "b", "c"], {"seed": 0})
    loaded = load_model(p, ["a", "b", "c"])
    assert np.array_equal(loaded.model.score_samples(X), m.score_samples(X))
    assert loaded.features == ["a", "b", "c"] and loaded.params == {"seed": 0}
    with pytest.raises(ModelMismatch, match="other features"):
        load_model(p, ["a", "c", "b"])
    import joblib

    joblib.dump({"not": "a model"}, tmp_path / "other.joblib")
    with pytest.raises(ModelMismatch, match="not a review-detector model"):
        load_model(tmp_path / "other.joblib")
