"""Imported once by the bench's forkserver: compile PyOD's numba kernels before any child forks.

Every measured run is a child forked from the forkserver; without this each
child would spend seconds compiling HBOS's kernels again. Only numpy and numba
run here (no Polars: its thread pool must not exist before a fork).
"""

from __future__ import annotations

import importlib.util

import numpy as np


def warm() -> None:
    if importlib.util.find_spec("pyod") is None:
        return
    from pyod.models.ecod import ECOD
    from pyod.models.hbos import HBOS

    X = np.random.default_rng(0).normal(size=(300, 6))
    # numba specialises on memory layout: Polars' to_numpy() gives Fortran order
    for arr in (X, np.asfortranarray(X)):
        for cls in (ECOD, HBOS):
            try:
                cls().fit(arr)
            except Exception:  # warming is an optimisation, never a failure
                pass


warm()
