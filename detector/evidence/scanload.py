"""Read a scan directory back and re-read its input, verified by SHA-256.

A packet quotes review rows; it must quote exactly the rows that were
scanned. The input files named in ``summary.json`` are hashed again and
compared with the hashes recorded at scan time before anything is read.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from detector.cases import CASES_SCHEMA
from detector.errors import InputError
from detector.hashing import file_sha256
from detector.input.load import load_reviews
from detector.input.spec import InputSpec
from detector.scan.config import ScanConfig

SCAN_FILES = ("summary.json", "scores.parquet", "cases.parquet")
#: ``scan --partition-by`` writes scores as a hive-partitioned directory instead.
SCORES_DIR = "scores"


@dataclass
class ScanBundle:
    """A scan's outputs and its re-read, verified input."""

    scan_dir: Path
    summary: dict
    scores: pl.DataFrame
    cases: pl.DataFrame
    reviews: pl.DataFrame
    inputs: list[dict]  # path, sha256 (verified)
    outputs: list[dict]  # name, sha256 of the scan files read
    #: ``review_id`` and the feature values of the flagged reviews (for their reasons' numbers)
    features: pl.DataFrame = field(default_factory=lambda: pl.DataFrame({"review_id": []}))


def _input_paths(summary: dict, scan_dir: Path) -> list[tuple[Path, str]]:
    load = summary.get("load") or {}
    cwd = Path(load["cwd"]) if load.get("cwd") else None
    out = []
    for item in summary.get("inputs") or []:
        path = Path(item["path"])
        if not path.is_absolute() and not path.exists():
            for base in (cwd, scan_dir.parent):
                if base is not None and (base / path).exists():
                    path = base / path
                    break
        out.append((path, item["sha256"]))
    return out


def _resolved(path: str, cwd: str | None, scan_dir: Path) -> str:
    """A relative path recorded in a summary, as the scan saw it (from its working directory)."""
    p = Path(path)
    if p.is_absolute() or p.exists():
        return path
    for base in (Path(cwd) if cwd else None, scan_dir.parent):
        if base is not None and (base / p).exists():
            return str(base / p)
    return path


def _check_complete(root: Path, partitioned: bool) -> None:
    """:class:`InputError` naming the first scan file ``root`` lacks."""
    for name in SCAN_FILES:
        if name == "scores.parquet" and partitioned:
            continue
        if not (root / name).is_file():
            hint = (
                "; re-run `review-detector scan` with this version to produce it"
                if name == "cases.parquet"
                else ""
            )
            raise InputError(f"{root} is not a complete scan directory: {name} is missing{hint}")


def _read_outputs(root: Path, partitioned: bool) -> tuple[dict, pl.DataFrame, pl.DataFrame]:
    """``summary.json``, the scores and the cases of the scan in ``root``."""
    try:
        summary = json.loads((root / "summary.json").read_text(encoding="utf-8"))
        scores = (
            pl.read_parquet(root / SCORES_DIR, hive_partitioning=True, glob=False)
            if partitioned
            else pl.read_parquet(root / "scores.parquet", glob=False)
        )
        cases = pl.read_parquet(root / "cases.parquet", glob=False)
    except Exception as exc:
        raise InputError(f"cannot read the scan in {root}: {exc}") from exc
    missing = [c for c in CASES_SCHEMA if c not in cases.columns]
    if missing:
        raise InputError(f"{root / 'cases.parquet'} lacks columns {missing}; re-run the scan")
    if not summary.get("inputs"):
        raise InputError(f"{root / 'summary.json'} lists no input files")
    return summary, scores, cases


def _verified_inputs(summary: dict, scan_path: Path, root: Path) -> list[dict]:
    """The input files with their SHA-256, each checked against the one the scan recorded."""
    inputs = []
    for path, expected in _input_paths(summary, scan_path):
        if not path.is_file():
            raise InputError(
                f"input file {path} recorded in {root / 'summary.json'} is gone; "
                "the packet must quote the scanned rows, so restore it or re-run the scan"
            )
        actual = file_sha256(path)
        if actual != expected:
            raise InputError(
                f"input file {path} changed since the scan (SHA-256 {actual[:16]}..., "
                f"scan recorded {expected[:16]}...); re-run the scan before building evidence"
            )
        inputs.append({"path": str(path), "sha256": actual})
    return inputs


def _verified_spec(summary: dict, scan_path: Path, root: Path) -> InputSpec:
    """How the scan read its input (its recorded :class:`ScanConfig`), its order exports
    resolved and checked like the inputs."""
    spec = ScanConfig.from_dict(summary).input
    cwd = (summary.get("load") or {}).get("cwd")
    recorded = (summary.get("input") or {}).get("orders_sha256") or {}
    orders = []
    for given in spec.orders:
        path = _resolved(given, cwd, scan_path)
        expected = recorded.get(given)
        if expected is not None and (not Path(path).is_file() or file_sha256(path) != expected):
            raise InputError(
                f"order export {path} recorded in {root / 'summary.json'} is gone or changed "
                "since the scan; restore it or re-run the scan before building evidence"
            )
        orders.append(path)
    return dataclasses.replace(spec, orders=tuple(orders))


def _output_hashes(root: Path, partitioned: bool) -> list[dict]:
    outputs = [
        {"name": n, "sha256": file_sha256(root / n)} for n in SCAN_FILES if (root / n).is_file()
    ]
    if partitioned:
        outputs += [
            {"name": str(p.relative_to(root)), "sha256": file_sha256(p)}
            for p in sorted((root / SCORES_DIR).rglob("*.parquet"))
        ]
    return outputs


def load_scan(scan_dir: str | os.PathLike[str]) -> ScanBundle:
    """Read ``scan_dir`` and its input; :class:`InputError` (exit code 2) on any mismatch.

    ``scan_dir`` is resolved once: every file is read from the one version it
    links to, even while a new scan is being published there.
    """
    root = Path(scan_dir)
    if not root.is_dir():
        raise InputError(f"scan directory not found: {root}")
    scan_path, root = Path(os.path.abspath(root)), root.resolve()
    partitioned = not (root / "scores.parquet").is_file() and (root / SCORES_DIR).is_dir()
    _check_complete(root, partitioned)
    summary, scores, cases = _read_outputs(root, partitioned)
    inputs = _verified_inputs(summary, scan_path, root)
    spec = _verified_spec(summary, scan_path, root)
    loaded = load_reviews([p for p, _ in _input_paths(summary, scan_path)], spec=spec)
    return ScanBundle(
        scan_path,
        summary,
        scores,
        cases,
        loaded.reviews,
        inputs,
        _output_hashes(root, partitioned),
        _flagged_features(root, scores),
    )


def _flagged_features(root: Path, scores: pl.DataFrame) -> pl.DataFrame:
    """Feature values of the flagged reviews (``features.parquet`` or hive ``features/``)."""
    flagged = scores.filter(pl.col("flagged")).select("review_id")
    single, parts = root / "features.parquet", root / "features"
    if single.is_file():
        lf = pl.scan_parquet(single, glob=False)
    elif parts.is_dir():
        lf = pl.scan_parquet(parts, hive_partitioning=True, glob=False)
    else:
        return flagged
    try:
        return lf.join(flagged.lazy(), on="review_id", how="semi").collect()
    except Exception as exc:
        raise InputError(f"cannot read the feature values in {root}: {exc}") from exc
