"""Engines run a scan's stages: :class:`PolarsEngine` on one machine (default),
:class:`RayEngine` on a Ray cluster (``pip install 'review-detector[ray]'``).

See :mod:`detector.engines.base` for the adapter interface.
"""

from detector.engines.base import Engine
from detector.progress import ScanProgress

__all__ = ["Engine", "get_engine", "engine_class", "ENGINES"]

#: Names accepted by ``scan --engine``.
ENGINES = ("polars", "ray")


def get_engine(
    name: str | Engine | None = "polars",
    address: str | None = None,
    progress: ScanProgress | None = None,
    **options,
) -> Engine:
    """An engine by name: ``"polars"`` (default, one machine) or ``"ray"``.

    ``address`` is the Ray cluster (``"auto"``, ``"ray://head:10001"``); without it
    Ray starts in local mode on this machine. An :class:`Engine` is returned as it is,
    showing its stages on ``progress`` when one is given.
    """
    if isinstance(name, Engine):
        if progress is not None:
            name.progress = progress
        return name
    cls = engine_class(name)
    if address and not cls.joins_cluster:
        raise ValueError("--address only applies to --engine ray")
    where = {"address": address} if cls.joins_cluster else {}
    return cls(progress=progress, **where, **options)


def engine_class(name: str | None = "polars") -> type[Engine]:
    """The engine class of a name, without starting it (its capabilities are class attributes)."""
    name = (name or "polars").lower()
    if name == "polars":
        from detector.engines.polars_engine import PolarsEngine

        return PolarsEngine
    if name == "ray":
        from detector.engines.ray_engine import RayEngine

        return RayEngine
    if name == "reference":
        return Engine
    raise ValueError(f"unknown engine {name!r}; choose 'polars' or 'ray'")
