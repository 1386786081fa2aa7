"""The side-by-side scale comparison: per-pair ratios, its table and the CLI's guard."""

import pytest

from benchmarks import bench_cli
from benchmarks.scale_against import _row, render


def test_row_takes_the_median_of_per_pair_ratios():
    pairs = [
        ({"seconds": 10.0, "peak_gb": 1.0}, {"seconds": 20.0, "peak_gb": 1.0}),
        ({"seconds": 30.0, "peak_gb": 2.0}, {"seconds": 10.0, "peak_gb": 1.0}),
        ({"seconds": 12.0, "peak_gb": 1.5}, {"seconds": 12.0, "peak_gb": 1.0}),
    ]
    row = _row(1000, "in-core", pairs)
    # ratios 0.5, 3.0, 1.0: the median is robust to the slow spell of pair 2
    assert row["time_ratio"] == 1.0
    assert row["memory_ratio"] == 1.5
    assert (row["this_seconds"], row["ref_seconds"]) == (12.0, 12.0)
    assert (row["this_peak_gb"], row["ref_peak_gb"]) == (2.0, 1.0)
    table = render(
        {
            "ref": "main",
            "ref_commit": "a" * 40,
            "command": "review-detector bench --suite scale --against main",
            "started_at": "2026-12-04T00:00:00+00:00",
            "git": {"commit": "b" * 40},
            "machine": {
                "cpu_count": 2,
                "cpu_model": "x",
                "memory_gb": 8,
                "load_average_at_start": [1.0],
            },
            "rows": [row],
        }
    )
    assert "| 1,000 | in-core | 3 | 12.0 | 12.0 | 1.0 | 2.0 | 1.0 | 1.5 |" in table


def test_against_needs_the_scale_suite(tmp_path):
    import argparse

    p = argparse.ArgumentParser()
    bench_cli.add_arguments(p)
    args = p.parse_args(["--suite", "matrix", "--against", "main", "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="--suite scale"):
        bench_cli.main_bench(args, log=lambda s: None)
