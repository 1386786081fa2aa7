"""Saving and loading fitted scorers with the feature list and engine version.

A model is only valid for the features it was fitted on, in that order, and
for the feature definitions of the version that fitted it; both are stored
beside it and checked on load. The version is the caller's (the engine's):
models know nothing of the orchestration that uses them.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import joblib

from models.isolation import OneSidedIsolationForest

FORMAT = 1


class ModelMismatch(ValueError):
    """A saved model does not fit the data or engine it is used with."""


@dataclass
class SavedModel:
    """A fitted scorer and what it was fitted on."""

    model: OneSidedIsolationForest
    features: list[str]
    version: str
    params: dict


def save_model(
    path: str | os.PathLike[str],
    model: OneSidedIsolationForest,
    features: list[str],
    params: dict | None = None,
    version: str = "",
) -> None:
    """Write ``model`` with its feature list, engine ``version`` and parameters, atomically
    (a temporary sibling renamed into place: a reader never sees half a model)."""
    payload = {
        "format": FORMAT,
        "version": version,
        "features": list(features),
        "params": dict(params or {}),
        "model": model,
    }
    final = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    try:
        joblib.dump(payload, tmp, compress=3)
        os.replace(tmp, final)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_model(
    path: str | os.PathLike[str], features: list[str] | None = None, version: str | None = None
) -> SavedModel:
    """Load a model saved by :func:`save_model`.

    Parameters
    ----------
    features : list of str, optional
        The features the caller will score with; they must equal the saved
        list (same names, same order).
    version : str, optional
        Refuse a model fitted by another engine version (feature definitions
        may have changed); any version when None.
    """
    payload = joblib.load(path)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ModelMismatch(f"{path} is not a review-detector model file (format {FORMAT})")
    if version is not None and payload["version"] != version:
        raise ModelMismatch(
            f"{path} was fitted by review-detector {payload['version']}, this is {version}; refit it"
        )
    if features is not None and list(features) != payload["features"]:
        missing = sorted(set(payload["features"]) - set(features))
        extra = sorted(set(features) - set(payload["features"]))
        raise ModelMismatch(
            f"{path} was fitted on other features (missing now: {missing or 'none'}, new: {extra or 'none'}); refit it"
        )
    return SavedModel(payload["model"], payload["features"], payload["version"], payload["params"])
