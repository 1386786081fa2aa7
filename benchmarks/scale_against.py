"""Scale side by side: this checkout's scan against another revision's, in one run.

``review-detector bench --suite scale --against REF`` calls :func:`run_against`.
Timings on a shared machine drift by tens of percent within minutes, so two
separate runs of :func:`benchmarks.scale.run_scale` cannot show a regression of
a few percent. Here both revisions scan the *same* generated files (this
checkout's generator), one after the other, alternating which goes first, and
the result is the median of the per-pair ratios (this / REF) next to the
median seconds and the largest peak memory of each.

REF is checked out in a temporary ``git worktree`` and run with
``PYTHONPATH`` pointing at it: the same interpreter and installed packages, only
the project's code differs.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path

from benchmarks.scale import (
    generate_in_child,
    run_measured,
    scan_command,
)

ROOT = Path(__file__).resolve().parents[1]
MODES = ("in-core", "out-of-core")
#: Pairs per size (each pair: one scan by either revision).
PAIRS = {100_000: 3, 1_000_000: 3, 10_000_000: 2}


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def _checkout(ref: str, where: Path) -> str:
    """Check ``ref`` out at ``where`` (detached worktree); its full commit id."""
    commit = _git("rev-parse", "--verify", f"{ref}^{{commit}}")
    _git("worktree", "add", "--detach", "--force", str(where), commit)
    return commit


def _scan(tree: Path, data: Path, out: Path, mode: str) -> dict:
    """One measured scan of ``data`` by the code at ``tree``."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    cmd = scan_command(data / "reviews", out, extra=[f"--{mode}"])
    res = run_measured(cmd, env=env)
    shutil.rmtree(out, ignore_errors=True)
    if res["returncode"]:
        raise RuntimeError(f"scan by {tree} failed ({res['returncode']}): {res['stderr'][-800:]}")
    return {k: res[k] for k in ("seconds", "peak_gb")}


def _row(n: int, mode: str, pairs: list[tuple[dict, dict]]) -> dict:
    """Medians, peaks and the median of per-pair ratios (this / ref) of one size and mode."""

    def ratio(key: str) -> float:
        return round(statistics.median(a[key] / b[key] for a, b in pairs), 3)

    return {
        "reviews": n,
        "mode": mode,
        "pairs": [{"this": a, "ref": b} for a, b in pairs],
        "this_seconds": round(statistics.median(a["seconds"] for a, _ in pairs), 2),
        "ref_seconds": round(statistics.median(b["seconds"] for _, b in pairs), 2),
        "time_ratio": ratio("seconds"),
        "this_peak_gb": max(a["peak_gb"] for a, _ in pairs),
        "ref_peak_gb": max(b["peak_gb"] for _, b in pairs),
        "memory_ratio": ratio("peak_gb"),
    }


def run_against(ref: str, out_dir, sizes=(1_000_000, 10_000_000), pairs=None, log=print) -> dict:
    """Scan generated sets of each size with this checkout and with ``ref``, interleaved.

    Parameters
    ----------
    ref : str
        Any git revision of this repository.
    out_dir : path
        Where ``scale_against.json`` and ``scale_against.md`` go.
    sizes : sequence of int
        Generated set sizes (every size scanned in core and out of core).
    pairs : int or sequence of int, optional
        Pairs of scans per size and mode, one for all sizes or one per size
        (default :data:`PAIRS`). ``scale_against.json`` is rewritten after every
        size and mode, so a stopped run keeps what it measured.
    """
    from benchmarks.runner import environment

    per_size = _pairs_per_size(sizes, pairs)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    env = environment()
    work = Path(tempfile.mkdtemp(prefix="rd-against-"))
    ref_tree = work / "ref"
    try:
        commit = _checkout(ref, ref_tree)
        result = {**env, "suite": "scale-against", "ref": ref, "ref_commit": commit, "rows": []}
        for n in sizes:
            data = work / f"n{n}"
            generate_in_child(n, data)
            for mode in MODES:
                done: list[tuple[dict, dict]] = []
                for i in range(per_size[n]):
                    # alternate who goes first: a slow spell lands on both alike
                    order = (ROOT, ref_tree) if i % 2 == 0 else (ref_tree, ROOT)
                    got = {t: _scan(t, data, work / "out", mode) for t in order}
                    done.append((got[ROOT], got[ref_tree]))
                    log(f"{n:>10,} {mode:<11} pair {i + 1}: {got[ROOT]} vs {got[ref_tree]}")
                result["rows"].append(_row(n, mode, done))
                _write(result, out_dir)
            shutil.rmtree(data, ignore_errors=True)
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(ref_tree)])
        shutil.rmtree(work, ignore_errors=True)
    return result


def _pairs_per_size(sizes, pairs) -> dict[int, int]:
    """Pairs of scans for each size: ``pairs`` for all, one per size, or :data:`PAIRS`."""
    if pairs is None:
        return {n: PAIRS.get(n, 2) for n in sizes}
    if isinstance(pairs, int):
        return dict.fromkeys(sizes, pairs)
    if len(pairs) != len(sizes):
        raise ValueError(
            f"{len(pairs)} pair counts for {len(sizes)} sizes: give one, or one per size"
        )
    return dict(zip(sizes, pairs, strict=True))


def _write(result: dict, out_dir: Path) -> None:
    """Write the JSON and the table atomically (a reader never sees half a file)."""
    for name, text in (
        ("scale_against.json", json.dumps(result, indent=2) + "\n"),
        ("scale_against.md", render(result)),
    ):
        tmp = out_dir / f".{name}.tmp"
        tmp.write_text(text)
        tmp.replace(out_dir / name)


def render(result: dict) -> str:
    """The side-by-side table in Markdown."""
    m = result["machine"]
    machine = (
        f"{m.get('cpu_count')} CPUs ({m.get('cpu_model')}), {m.get('memory_gb')} GB, "
        f"load {m.get('load_average_at_start', ['?'])[0]:.1f} at the start"
    )
    lines = [
        f"# Scale against {result['ref']} ({result['ref_commit'][:10]})",
        "",
        f"`{result['command']}` · {result['started_at']} · this commit "
        f"{(result['git'] or {}).get('commit', '?')[:10]} · {machine}",
        "",
        "Both revisions scan the same files, alternating who goes first; ratios are "
        "medians of the per-pair ratios (this / ref).",
        "",
        "| reviews | mode | pairs | this s | ref s | time ratio | this GB | ref GB | memory ratio |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['reviews']:,} | {r['mode']} | {len(r['pairs'])} | {r['this_seconds']} | "
            f"{r['ref_seconds']} | {r['time_ratio']} | {r['this_peak_gb']} | {r['ref_peak_gb']} | "
            f"{r['memory_ratio']} |"
        )
    return "\n".join(lines) + "\n"
