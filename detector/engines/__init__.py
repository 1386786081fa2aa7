"""Engines run a scan's stages: :class:`PolarsEngine` on one machine (default),
:class:`RayEngine` on a Ray cluster (``pip install 'review-detector[ray]'``).

See :mod:`detector.engines.base` for the adapter interface.
"""

from detector.engines.base import Engine, get_engine

__all__ = ["Engine", "get_engine", "ENGINES"]

#: Names accepted by ``scan --engine``.
ENGINES = ("polars", "ray")
