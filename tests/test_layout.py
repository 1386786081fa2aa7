"""The package layout the README promises: no import cycle inside ``detector/``, and
``features/`` and ``models/`` know nothing of ``detector/`` or ``benchmarks/``."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[1]


def _modules(package: str) -> dict[str, Path]:
    out = {}
    for p in (ROOT / package).rglob("*.py"):
        parts = p.relative_to(ROOT).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    return out


def _imports(path: Path, known: set[str]) -> set[str]:
    """Modules of ``known`` that ``path`` imports, at any depth (deferred imports count too).

    ``from package import submodule`` imports the submodule (and, as Python runs it,
    the package's ``__init__``, which counts only when a name of it is imported).
    """
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            subs = {f"{node.module}.{a.name}" for a in node.names} & known
            found |= subs
            if len(subs) < len(node.names):
                found.add(node.module)
    return found


def test_no_import_cycle_inside_detector():
    mods = _modules("detector")
    g = nx.DiGraph()
    for name, path in mods.items():
        g.add_node(name)
        g.add_edges_from((name, m) for m in _imports(path, set(mods)) & set(mods) if m != name)
    cycles = [sorted(c) for c in nx.strongly_connected_components(g) if len(c) > 1]
    assert not cycles, cycles


def test_features_and_models_import_nothing_from_detector_or_benchmarks():
    for package in ("features", "models"):
        for name, path in _modules(package).items():
            bad = {
                m for m in _imports(path, set()) if m.split(".")[0] in ("detector", "benchmarks")
            }
            assert not bad, (name, sorted(bad))
