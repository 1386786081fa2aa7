"""Saving and loading fitted scorers with the feature list and engine version.

A model is only valid for the features it was fitted on, in that order, and
for the feature definitions of the version that fitted it; both are stored
beside it and checked on load.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import joblib

from detector import __version__
from detector.atomic import atomic_path
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
) -> None:
    """Write ``model`` with its feature list, engine version and parameters, atomically."""
    payload = {
        "format": FORMAT,
        "version": __version__,
        "features": list(features),
        "params": dict(params or {}),
        "model": model,
    }
    with atomic_path(path) as tmp:
        joblib.dump(payload, tmp, compress=3)


def load_model(
    path: str | os.PathLike[str], features: list[str] | None = None, strict_version: bool = True
) -> SavedModel:
    """Load a model saved by :func:`save_model`.

    Parameters
    ----------
    features : list of str, optional
        The features the caller will score with; they must equal the saved
        list (same names, same order).
    strict_version : bool
        Refuse a model fitted by another engine version (feature definitions
        may have changed).
    """
    payload = joblib.load(path)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ModelMismatch(f"{path} is not a review-detector model file (format {FORMAT})")
    if strict_version and payload["version"] != __version__:
        raise ModelMismatch(
            f"{path} was fitted by review-detector {payload['version']}, this is {__version__}; refit it"
        )
    if features is not None and list(features) != payload["features"]:
        missing = sorted(set(payload["features"]) - set(features))
        extra = sorted(set(features) - set(payload["features"]))
        raise ModelMismatch(
            f"{path} was fitted on other features (missing now: {missing or 'none'}, new: {extra or 'none'}); refit it"
        )
    return SavedModel(payload["model"], payload["features"], payload["version"], payload["params"])
