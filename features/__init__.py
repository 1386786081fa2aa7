"""The feature stage: the registry (:mod:`features.registry`) and the modules that fill it.

Importing the package, or any module of it such as ``features.registry``, imports
every feature module, and each registers its tables and steps: ``REGISTRY`` is
complete whatever was imported first. Feature modules import ``features.registry``,
never this package's names, so this makes no import cycle.
"""

from features import (  # noqa: F401
    burst,
    cooccurrence,
    history,
    identity,
    prompt,
    rating,
    region,
    text,
)
from features.registry import REGISTRY

__all__ = ["REGISTRY"]
