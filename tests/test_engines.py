"""Engines give the reference engine's values: Polars (process pool) and Ray (local mode).

The Ray tests are opt-in: ``pytest -m ray`` (they need ``pip install -e '.[ray]'``
and take about a minute: one local Ray with 2 CPUs for the whole session).
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from conftest import write_months

from benchmarks.generator import generate
from detector.engines import Engine, get_engine
from detector.engines.polars_engine import PolarsEngine
from detector.scan import ScanConfig, run_scan
from models.isolation import OneSidedIsolationForest

CONFIG = ScanConfig(n_estimators=60)


@pytest.fixture(scope="module")
def market(tmp_path_factory):
    reviews, labels = generate(3_000, seed=5)
    root = tmp_path_factory.mktemp("engines")
    write_months(reviews, root / "in")
    return root / "in", reviews


def _assert_same(a, b, tol=1e-9):
    fa, fb = a.features.frame, b.features.frame
    assert fa.columns == fb.columns
    assert fa["review_id"].to_list() == fb["review_id"].to_list()
    for c in fa.columns[2:]:
        d = np.abs(fa[c].to_numpy() - fb[c].to_numpy())
        assert d.max() <= tol, f"feature {c} differs by {d.max()}"
    sa, sb = a.scores, b.scores
    assert sa["review_id"].to_list() == sb["review_id"].to_list()
    assert np.abs(sa["score"].to_numpy() - sb["score"].to_numpy()).max() <= tol
    assert sa["flagged"].to_list() == sb["flagged"].to_list()
    assert sa["reasons"].to_list() == sb["reasons"].to_list()
    assert a.threshold == pytest.approx(b.threshold, abs=tol)


def test_get_engine_names():
    assert isinstance(get_engine("polars"), PolarsEngine)
    assert type(get_engine("reference")) is Engine
    eng = PolarsEngine()
    assert get_engine(eng) is eng
    with pytest.raises(ValueError, match="unknown engine"):
        get_engine("spark")
    with pytest.raises(ValueError, match="address"):
        get_engine("polars", address="auto")


@pytest.mark.parametrize("n", [3_000, 30_000])
def test_pool_scoring_is_bit_identical(n):
    rng = np.random.default_rng(0)
    # rounded values repeat, so 30k rows take the de-duplicated path the pool serves
    X = np.round(rng.lognormal(size=(n, 5)), 1)
    X[:40, 0] += 10
    model = OneSidedIsolationForest(n_estimators=40, random_state=1).fit(X)
    with PolarsEngine(workers=2, pool_min_rows=100) as eng:
        s = eng.score_samples(model, X)
        base, contrib = eng.contributions(model, X[:200])
    assert np.array_equal(s, model.score_samples(X))
    ref_base, ref_contrib = model.contributions(X[:200])
    assert base == ref_base
    assert np.array_equal(contrib, ref_contrib)


def test_polars_engine_matches_reference(market, tmp_path):
    inputs, _ = market
    ref = run_scan(inputs, tmp_path / "ref", config=CONFIG, engine="reference")
    with PolarsEngine(workers=2, pool_min_rows=500) as eng:
        pol = run_scan(inputs, tmp_path / "pol", config=CONFIG, engine=eng)
        assert eng._pool is not None  # the pool really scored
    _assert_same(ref, pol, tol=0.0)
    assert pol.summary["engine"]["name"] == "polars"


def test_engine_closes_pool_on_interrupt(market, tmp_path, monkeypatch):
    inputs, _ = market
    import detector.scan.run as scan_mod

    eng = PolarsEngine(workers=2, pool_min_rows=500)

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(scan_mod, "build_cases", boom)
    with pytest.raises(KeyboardInterrupt):
        run_scan(inputs, tmp_path / "out", config=CONFIG, engine=eng)
    eng.close()
    assert eng._pool is None and eng._tmp is None
    out = tmp_path / "out"
    assert not out.exists() or not any(p.name.startswith(".") for p in out.iterdir())


# --------------------------------------------------------------------------- Ray (opt-in)


@pytest.fixture(scope="session")
def ray_local(request):
    """One local Ray (2 CPUs) for the session; only when asked for with ``-m ray``."""
    if "ray" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("opt-in: run with pytest -m ray")
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.data")
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    if started:
        ray.shutdown()


@pytest.mark.ray
def test_ray_engine_matches_polars(ray_local, market, tmp_path):
    inputs, _ = market
    pol = run_scan(inputs, tmp_path / "pol", config=CONFIG, engine="polars")
    eng = get_engine("ray", num_partitions=2)
    try:
        ray_res = run_scan(inputs, tmp_path / "ray", config=CONFIG, engine=eng)
    finally:
        eng.close()
    assert ray_local.is_initialized()  # the engine does not stop a Ray it did not start
    _assert_same(pol, ray_res)
    desc = ray_res.summary["engine"]
    assert desc["name"] == "ray"
    # the per-group window work and the big aggregates ran on Ray, not the driver
    on_ray = {job for p in desc["passes"] for job in p["jobs"]}
    assert {"user_stats", "bursts", "ip_bursts", "product_ratings", "coreview_pairs"} <= on_ray
    assert {"device_stats", "text_windows"} <= on_ray
    assert len(desc["passes"]) == 3  # users, shop blocks, devices: one shuffle each
    assert "bursts" not in desc.get("fallbacks", {})
    assert "load" not in desc.get("fallbacks", {})
    # the same files on disk
    for name in ("scores.parquet", "features.parquet"):
        a = pl.read_parquet(tmp_path / "pol" / name)
        b = pl.read_parquet(tmp_path / "ray" / name)
        assert a.columns == b.columns and a.height == b.height


def test_scoring_workers_end_when_the_scan_is_killed(tmp_path):
    """A scan killed outright (say for memory) leaves no scoring workers behind."""
    import os
    import signal
    import subprocess
    import sys
    import time

    psutil = pytest.importorskip("psutil")
    code = (
        "import time\n"
        "from detector.engines.polars_engine import PolarsEngine, ping_worker\n"
        "e = PolarsEngine(workers=2)\n"
        "e._get_pool().submit(ping_worker).result()\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        workers = psutil.Process(child.pid).children(recursive=True)
        assert workers
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        deadline = time.time() + 15
        while time.time() < deadline and any(
            w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers
        ):
            time.sleep(0.2)
        alive = [w.pid for w in workers if w.is_running() and w.status() != psutil.STATUS_ZOMBIE]
        assert alive == []
    finally:
        child.kill()


def test_progress_given_with_an_engine_shows_the_scan(market, tmp_path):
    """``run_scan(engine=<Engine>, progress=...)``: the stages go to the progress given."""
    from detector.progress import ScanProgress

    class Recording(ScanProgress):
        def __init__(self):
            super().__init__()
            self.names = []

        def stage(self, name, total=None, unit="rows"):
            self.names.append(name)
            return super().stage(name, total, unit)

    inputs, _ = market
    progress = Recording()
    run_scan(inputs, tmp_path / "out", config=CONFIG, engine=Engine(), progress=progress)
    assert {"load", "features", "fit", "score", "cases", "write"} <= set(progress.names)


def test_engines_declare_what_they_can_do():
    from detector.engines import engine_class

    assert engine_class("polars").supports_out_of_core and Engine.supports_out_of_core
    assert engine_class("ray").supports_out_of_core is False
    assert engine_class("ray").joins_cluster and not engine_class("polars").joins_cluster
    Engine().warm(10**6)  # a no-op on engines without workers
