"""Markdown tables of a bench run, and the README section that shows the latest ones."""

from __future__ import annotations

import math
import os
from pathlib import Path

from benchmarks.generator import ATTACK_FAMILIES, TRAPS

START = "<!-- bench:start -->"
END = "<!-- bench:end -->"
DASH = "–"


def _num(x, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return DASH
    return f"{x:.{digits}f}"


def _pct(x) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return DASH
    return f"{100 * x:.1f}%"


def _secs(x) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return DASH
    return f"{x:.2f}" if x < 10 else f"{x:.1f}"


def _mb(x) -> str:
    return DASH if x is None else f"{x:,.0f}"


def _mean_sd(stat, digits: int = 3) -> str:
    if not stat:
        return DASH
    if stat.get("sd") is None:
        return _num(stat["mean"], digits)
    return f"{stat['mean']:.{digits}f} ± {stat['sd']:.{digits}f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def _size_tag(n: int) -> str:
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n / 1000:g}k"


# ----------------------------------------------------------------------------- summary


def summary_table(results: dict) -> list[str]:
    """Methods x datasets: ROC-AUC / AP (synthetic sizes averaged over seeds) and time."""
    q = results.get("quality", {})
    per = q.get("results", {})
    if not per:
        return ["(no quality results)"]
    agg = q.get("aggregate", [])
    columns: list[tuple[str, dict]] = []  # (title, {method: (auc, ap, secs)})
    for n in sorted({a["n_reviews"] for a in agg}):
        rows = {a["method"]: a for a in agg if a["n_reviews"] == n}
        k = max(len(a["datasets"]) for a in rows.values())
        title = f"synthetic {_size_tag(n)} ({k} seed{'s' if k > 1 else ''})"
        columns.append(
            (
                title,
                {
                    m: (
                        (a["roc_auc"] or {}).get("mean"),
                        (a["average_precision"] or {}).get("mean"),
                        (a["seconds"] or {}).get("mean"),
                    )
                    for m, a in rows.items()
                },
            )
        )
    refs: dict[str, dict] = {}
    for name, d in per.items():
        if d["kind"] == "synthetic":
            continue
        cells = {
            m: (e["metrics"]["roc_auc"], e["metrics"]["average_precision"], e["seconds"])
            for m, e in d["methods"].items()
            if e.get("status") == "ok"
        }
        for ref in d.get("references", []):
            key = f"ref:{ref['method']}"
            refs[key] = ref
            cells[key] = (ref.get("roc_auc"), ref.get("average_precision"), ref.get("seconds"))
        columns.append((name, cells))
    methods = q.get("methods", {})
    order = [m for m in methods if any(m in c for _, c in columns)] + list(refs)
    header = ["method"] + [f"{t}: ROC-AUC / AP / s" for t, _ in columns]
    rows = []
    for m in order:
        label = methods[m]["label"] if m in methods else refs[m]["method"] + " †"
        row = [f"**{label}**" if m == "review_detector" else label]
        for _, cells in columns:
            c = cells.get(m)
            row.append(DASH if c is None else f"{_num(c[0])} / {_num(c[1])} / {_secs(c[2])}")
        rows.append(row)
    lines = _table(header, rows)
    lines += [
        "",
        "Seconds: the method alone on data in memory, median of repeated runs (mean over seeds for "
        "generated sets); this is a shared 2-core machine, so read them as ±40 %.",
    ]
    if refs:
        lines.append("")
        lines.append(
            "† quoted, not re-run: "
            + "; ".join(f"{r['method']}: {r['source']}" for r in refs.values())
        )
    return lines


def _run_line(results: dict) -> str:
    git = results.get("git", {})
    commit = (git.get("commit") or "unknown")[:10]
    if git.get("dirty"):
        commit += f" + {len(git.get('changed_files', []))} uncommitted file(s)"
    m = results.get("machine", {})
    v = results.get("versions", {})
    return (
        f"`{results.get('command')}` · {results.get('finished_at', results.get('started_at'))} · "
        f"commit {commit} · {m.get('cpus_usable')} CPUs ({m.get('cpu_model')}), {m.get('memory_gb')} GB · "
        f"review-detector {v.get('review-detector')}, polars {v.get('polars')}, "
        f"scikit-learn {v.get('scikit-learn')}, pyod {v.get('pyod') or 'not installed'} · "
        f"wall time {results.get('wall_seconds')} s"
    )


# ----------------------------------------------------------------------------- full report


def _method_rows(d: dict) -> list[list[str]]:
    rows = []
    for mid, e in d["methods"].items():
        label = f"**{e['label']}**" if mid == "review_detector" else e["label"]
        if e.get("status") != "ok":
            rows.append([label, f"{e.get('status')}: {e.get('error', '')}"] + [""] * 9)
            continue
        m = e["metrics"]
        t = m["at_threshold"]
        secs = _secs(e["seconds"])
        runs = e.get("seconds_runs", [])
        if len(runs) > 1:  # the spread says how noisy the shared machine was
            secs += f" ({_secs(min(runs))}–{_secs(max(runs))})"
        rows.append(
            [
                label,
                _num(m["roc_auc"]),
                _num(m["average_precision"]),
                _num(m["precision_at_k"].get("100")),
                _num(m["precision_at_n_fake"]),
                _pct(t["recall"]),
                _pct(t["precision"]),
                _pct(t["flag_rate"]),
                secs,
                _mb(e["peak_rss_mb"]),
                _mb(e["base_rss_mb"]),
            ]
        )
    for ref in d.get("references", []):
        rows.append(
            [f"{ref['method']} †", _num(ref.get("roc_auc")), _num(ref.get("average_precision"))]
            + [DASH] * 5
            + [_secs(ref.get("seconds")), DASH, DASH]
        )
    return rows


METHOD_HEADER = [
    "method",
    "ROC-AUC",
    "AP",
    "P@100",
    "P@#fake",
    "recall @thr",
    "precision @thr",
    "flag rate",
    "time s (min–max)",
    "peak MB",
    "base MB",
]


def _family_rows(d: dict) -> list[list[str]]:
    rows = []
    for mid, e in d["methods"].items():
        if e.get("status") != "ok":
            continue
        pf = e["metrics"]["per_family"]
        row = [f"**{e['label']}**" if mid == "review_detector" else e["label"]]
        for fam in ATTACK_FAMILIES:
            f = pf.get(fam)
            row.append(
                DASH
                if f is None
                else f"{_num(f['roc_auc'])} / {_num(f['average_precision'])} / {_pct(f['recall_at_threshold'])}"
            )
        rows.append(row)
    return rows


def _trap_rows(d: dict) -> list[list[str]]:
    rows = []
    for mid, e in d["methods"].items():
        if e.get("status") != "ok":
            continue
        m = e["metrics"]
        row = [f"**{e['label']}**" if mid == "review_detector" else e["label"]]
        for t in TRAPS:
            x = m["per_trap"].get(t)
            row.append(
                DASH
                if x is None
                else f"{_pct(x['flag_rate'])} / {_pct(x['flag_rate_at_n_fake'])} / {_num(x['roc_auc_fake_vs_trap'])}"
            )
        h = m.get("honest_outside_traps")
        row.append(
            DASH if h is None else f"{_pct(h['flag_rate'])} / {_pct(h['flag_rate_at_n_fake'])}"
        )
        rows.append(row)
    return rows


def _halves_rows(d: dict) -> list[list[str]]:
    rows = []
    for mid, m in d.get("methods", {}).items():
        h = m.get("halves")
        if m.get("status") != "ok" or not h:
            continue
        label = f"**{m['label']}**" if mid == "review_detector" else m["label"]
        rows.append(
            [label]
            + [f"{_num(h[k]['roc_auc'])} / {_num(h[k]['average_precision'])}" for k in ("A", "B")]
        )
    return rows


def _ablation_rows(d: dict) -> list[list[str]]:
    rows = []
    for a in d.get("ablation", []):
        if a.get("status") != "ok":
            rows.append(
                [a["variant"], f"{a.get('status')}: {a.get('reason') or a.get('error', '')}"]
                + [""] * 8
            )
            continue
        pf = a.get("per_family_roc_auc", {})
        rows.append(
            [
                a["variant"],
                str(a["features"]),
                _num(a["roc_auc"]),
                ("" if a["variant"] == "all families" else f"{a['delta_roc_auc']:+.3f}"),
                _num(a["average_precision"]),
                ("" if a["variant"] == "all families" else f"{a['delta_average_precision']:+.3f}"),
                _pct(a["recall_at_threshold"]),
                _pct(a["flag_rate"]),
                " / ".join(_num(pf.get(f), 2) for f in ATTACK_FAMILIES) if pf else DASH,
                _secs(a["seconds"]),
            ]
        )
    return rows


def _aggregate_section(q: dict) -> list[str]:
    agg = q.get("aggregate", [])
    if not agg or all(len(a["datasets"]) < 2 for a in agg):
        return []
    lines = ["## Generated sets, mean ± sd over seeds", ""]
    for n in sorted({a["n_reviews"] for a in agg}):
        rows = [a for a in agg if a["n_reviews"] == n]
        lines.append(f"### {_size_tag(n)} reviews ({', '.join(rows[0]['datasets'])})")
        lines.append("")
        table = []
        for a in rows:
            table.append(
                [
                    f"**{a['label']}**" if a["method"] == "review_detector" else a["label"],
                    _mean_sd(a["roc_auc"]),
                    _mean_sd(a["average_precision"]),
                    _mean_sd(a["precision_at_n_fake"]),
                    _mean_sd(a["recall_at_threshold"], 2),
                    _mean_sd(a["precision_at_threshold"], 2),
                    " / ".join(
                        _num((a["per_family_roc_auc"].get(f) or {}).get("mean"))
                        for f in ATTACK_FAMILIES
                    ),
                    " / ".join(_pct((a["trap_flag_rate"].get(t) or {}).get("mean")) for t in TRAPS),
                    _secs((a["seconds"] or {}).get("mean")),
                    _mb((a["peak_rss_mb"] or {}).get("mean")),
                ]
            )
        lines += _table(
            [
                "method",
                "ROC-AUC",
                "AP",
                "P@#fake",
                "recall @thr",
                "precision @thr",
                "ROC-AUC " + " / ".join(ATTACK_FAMILIES),
                "flag rate " + " / ".join(TRAPS),
                "time s",
                "peak MB",
            ],
            table,
        )
        lines.append("")
    return lines


def render_markdown(results: dict) -> str:
    """The whole ``results.md``."""
    q = results.get("quality", {})
    lines = ["# review-detector benchmark", "", _run_line(results), ""]
    if results.get("quick"):
        lines += [
            "> `--quick`: the CI smoke suite (one generated set"
            + (" and YelpChi" if "yelpchi" in q.get("results", {}) else "")
            + "). The full suite (`review-detector bench`) reports more sizes and seeds.",
            "",
        ]
    lines += ["## Summary", ""] + summary_table(results) + [""]
    meas = q.get("measurement")
    if meas:
        lines += [
            "How to read: every method scores every review of the same data in the same run; "
            "all figures come from `benchmarks/metrics.py`.",
            "",
            f"- Metrics: {meas['metrics']}. P@#fake is precision among the top (number of fakes) reviews. "
            "'@thr' figures use each method's own flag decision (threshold rule per method below).",
            f"- Time: {meas['time']}.",
            f"- Memory: {meas['memory']}. Isolation: {meas['isolation']}.",
            f"- Seeds: generated sets use reporting seeds {results.get('seeds')} (development uses 0-9); "
            f"model seed {results.get('model_seed')}.",
            "",
            "| method | what it is | flag decision |",
            "|---|---|---|",
        ]
        for m in q.get("methods", {}).values():
            lines.append(f"| {m['label']} | {m['description']} | {m['threshold_rule']} |")
        lines.append("")
    lines += _aggregate_section(q)
    for name, d in q.get("results", {}).items():
        lines += [f"## {name}", ""]
        meta = next((m for m in q.get("datasets", []) if m["name"] == name), {})
        desc = f"{d['n_reviews']:,} reviews, {d['n_fake']:,} fake ({100 * d['n_fake'] / d['n_reviews']:.1f}%)"
        if meta.get("attack_counts"):
            desc += "; " + ", ".join(f"{k} {v:,}" for k, v in meta["attack_counts"].items())
        if meta.get("trap_counts"):
            desc += "; traps " + ", ".join(f"{k} {v:,}" for k, v in meta["trap_counts"].items())
        lines += [f"{desc}. Source: {meta.get('source', '?')}.", ""]
        lines += _table(METHOD_HEADER, _method_rows(d)) + [""]
        if d.get("references"):
            lines += [
                "† " + "; ".join(f"{r['method']}: {r['source']}" for r in d["references"]),
                "",
            ]
        halves = _halves_rows(d)
        if halves:
            lines += [
                "By half of the businesses (MD5 of the business id; `benchmarks/yelpchi.py`): "
                "ROC-AUC / AP on each half",
                "",
            ]
            lines += _table(["method", "half A", "half B"], halves) + [""]
        fam = _family_rows(d)
        if d["kind"] == "synthetic" and fam:
            lines += [
                "Per attack family (that family's fakes vs all honest reviews): ROC-AUC / AP / recall at threshold",
                "",
            ]
            lines += _table(["method", *ATTACK_FAMILIES], fam) + [""]
            lines += [
                "Honest traps: flag rate at the method's threshold / flag rate when flagging as many reviews "
                "as there are fakes / ROC-AUC of fakes vs that trap (last column: honest reviews in no trap)",
                "",
            ]
            lines += _table(["method", *TRAPS, "honest, no trap"], _trap_rows(d)) + [""]
        if d.get("ablation"):
            lines += [
                "Ablation of review-detector: each feature family, each node kind of the "
                "review graph and the propagation removed",
                "",
            ]
            lines += _table(
                [
                    "variant",
                    "features",
                    "ROC-AUC",
                    "Δ",
                    "AP",
                    "Δ",
                    "recall @thr",
                    "flag rate",
                    "ROC-AUC " + " / ".join(ATTACK_FAMILIES),
                    "time s",
                ],
                _ablation_rows(d),
            ) + [""]
    if results.get("outputs"):
        pngs = [o for o in results["outputs"] if o.endswith(".png")]
        if pngs:
            lines += ["## Plots", ""] + [f"![{p}]({p})" for p in pngs] + [""]
    skipped = q.get("skipped", [])
    scale = results.get("scale", {})
    if skipped or q.get("warnings") or scale.get("status") not in (None, "ok"):
        lines += ["## Skipped and warnings", ""]
        lines += [f"- skipped {s['what']}: {s['reason']}" for s in skipped]
        lines += [f"- warning: {w}" for w in q.get("warnings", [])]
        if scale.get("status") not in (None, "ok"):
            lines.append(f"- scale suite {scale['status']}: {scale.get('reason', '')}")
        lines.append("")
    if scale.get("status") == "ok":
        lines += _scale_section(scale)
    m = results.get("matrix") or {}
    if m.get("status") == "ok":
        lines += [
            "## Scenario matrix",
            "",
            f"{m['cells_meeting_target']} of {m['cells']} cells meet their target on seeds "
            f"{m['seeds']}: see [matrix.md](matrix.md) (`benchmarks/matrix.py`).",
            "",
        ]
    return "\n".join(lines).rstrip() + "\n"


def _scale_section(scale: dict) -> list[str]:
    """End-to-end scans from :mod:`benchmarks.scale` (its own measurement: whole CLI run)."""
    lines = [
        "## Scale",
        "",
        "End-to-end `review-detector scan` runs by `benchmarks/scale.py` (read, features, score, "
        "cases, write; wall time and peak RSS of the whole process tree). Each size is scanned "
        "several times, the runs of all sizes interleaved: wall s is the median of the runs "
        "(all runs listed), peak GB the largest. See `scale.json` and `time_vs_size.png`.",
        "",
    ]
    rows = []
    for r in scale.get("sizes") or []:
        if not isinstance(r, dict):
            continue
        q = r.get("quality") or {}
        ok = r.get("returncode", 0) == 0
        runs = r.get("runs") or []
        each = " (" + ", ".join(_secs(x["seconds"]) for x in runs) + ")" if len(runs) > 1 else ""
        capped = any("memory_cap_gb" in x for x in runs)
        mode = str(r.get("mode", "in-core"))
        if capped:
            mode += f", capped at {max(x.get('memory_cap_gb', 0) for x in runs):g} GB"
        rows.append(
            [
                f"{r.get('reviews', 0):,}",
                f"{r.get('engine', '')} ({mode})",
                (_secs(r.get("seconds")) + each) if ok else f"failed (exit {r.get('returncode')})",
                DASH if r.get("peak_gb") is None else f"{r['peak_gb']:.2f}",
                _num(q.get("roc_auc")),
                _num(q.get("ap")),
                {True: "yes", False: "no"}.get(r.get("meets_target"), DASH),
            ]
        )
    y = scale.get("yelpchi")
    if isinstance(y, dict) and "seconds" in y:
        q = y.get("quality") or {}
        rows.append(
            [
                f"YelpChi {y.get('reviews', 0):,}",
                str(y.get("engine", "")),
                _secs(y.get("seconds")),
                DASH if y.get("peak_gb") is None else f"{y['peak_gb']:.2f}",
                _num(q.get("roc_auc")),
                _num(q.get("ap")),
                DASH,
            ]
        )
    if rows:
        lines += _table(
            ["reviews", "engine", "wall s", "peak GB", "ROC-AUC", "AP", "meets target"], rows
        )
        growth = scale.get("growth_1m_to_10m")
        if isinstance(growth, dict) and "time" in growth:  # results of one mode only
            growth = {"in-core": growth}
        for mode, g in (growth or {}).items():
            lines += [
                "",
                f"Growth 1M -> 10M, {mode} (medians): {g['time']:.2f}x time, "
                f"{g['memory']:.2f}x memory (limit {g['limit']:g}x time).",
            ]
        c = scale.get("memory_capped")
        if isinstance(c, dict) and "in_core" in c:
            ooc = c.get("out_of_core") or []
            done = [x for x in ooc if x.get("returncode") == 0]
            lines += [
                "",
                f"Under a {c['memory_cap_gb']:g} GB memory cap (cgroup), {c['reviews']:,} reviews: "
                + (
                    "the in-core scan "
                    + (
                        "fit"
                        if c.get("in_core_fits")
                        else f"was killed (exit {c['in_core']['returncode']})"
                    )
                    + f" after {_secs(c['in_core']['seconds'])} s; "
                )
                + f"the out-of-core scan completed {len(done)} of {len(ooc)} times"
                + (f" (peak {max(x['peak_gb'] for x in done):.2f} GB)." if done else "."),
            ]
    else:
        lines.append("See results.json (`scale`).")
    return lines + [""]


# ----------------------------------------------------------------------------- README


def _link(out_dir, name: str, readme: Path, what: str) -> str:
    """`` what: [path](path).`` for ``out_dir/name`` relative to the README, or "" outside its tree."""
    if out_dir is None:
        return ""
    try:
        rel = os.path.relpath(Path(out_dir).resolve() / name, readme.resolve().parent)
    except ValueError:  # other drive on Windows
        return ""
    return "" if rel.startswith("..") else f" {what}: [{rel}]({rel})."


def readme_section(results: dict, out_dir: str | os.PathLike[str] | None, readme: Path) -> str:
    """What goes between the README markers: the summary table and where it came from."""
    lines = summary_table(results)
    where = _link(
        out_dir,
        "results.md",
        readme,
        "Full tables, per-family and trap figures, ablation and plots",
    )
    lines += ["", f"Latest run: {_run_line(results)}.{where}"]
    return "\n".join(lines)


def update_readme(path: str | os.PathLike[str], results: dict, out_dir=None) -> bool:
    """Replace the text between ``START`` and ``END`` in ``path``; False if the markers are absent."""
    return _replace_section(path, START, END, lambda p: readme_section(results, out_dir, p))


def _replace_section(path, start: str, end: str, body) -> bool:
    """Put ``body(path)`` between the ``start`` and ``end`` markers of ``path`` (atomically)."""
    from detector.atomic import write_text

    p = Path(path)
    if not p.is_file():
        return False
    text = p.read_text(encoding="utf-8")
    i = text.find(start)
    j = text.find(end, i + len(start)) if i >= 0 else -1
    if i < 0 or j < 0:
        return False
    new = text[: i + len(start)] + "\n" + body(p) + "\n" + text[j:]
    if new != text:
        write_text(new, p)
    return True


# ----------------------------------------------------------------------------- scenario matrix

MATRIX_START = "<!-- matrix:start -->"
MATRIX_END = "<!-- matrix:end -->"


def _cell_fig(r: dict | None, targets: dict) -> str:
    """ROC-AUC / AP / precision / recall of a cell, a ✗ after each figure below its target."""
    if r is None:
        return DASH

    def mark(key):
        v = r.get(key)
        if key not in targets:
            return _num(v, 2)
        miss = v is None or (isinstance(v, float) and math.isnan(v)) or v < targets[key]
        return _num(v, 2) + ("✗" if miss else "")

    return " / ".join(
        [mark("roc_auc"), _num(r.get("average_precision"), 2), mark("precision"), mark("recall")]
    )


def matrix_tables(res: dict) -> list[str]:
    """The family x variant table, the single-signal table and the honest crowds' table."""
    from benchmarks.matrix import ATTACK_VARIANTS, HONEST_TRAP

    t = res.get("targets", {})
    by = {(r["family"], r["variant"]): r for r in res.get("summary", [])}
    fams = [f for f in ATTACK_FAMILIES if any(k[0] == f for k in by)]
    lines: list[str] = []
    if fams:
        lines += [
            "Attack families × evasions: ROC-AUC / AP / flagged precision / recall, means over seeds "
            f"(✗: below the target ROC-AUC {t.get('roc_auc')}, precision {t.get('precision')}, "
            f"recall {t.get('recall')})",
            "",
        ]
        rows = [
            [v] + [_cell_fig(by.get((f, v)), t) for f in fams]
            for v in ATTACK_VARIANTS
            if any((f, v) in by for f in fams)
        ]
        lines += _table(["variant", *fams], rows) + [""]
    sig = [r for r in res.get("summary", []) if r["kind"] == "signal"]
    if sig:
        feat = res.get("signal_feature", {})
        lines += [
            "Single strong signal: campaigns honest-looking in every way but one tell",
            "",
        ]
        rows = [
            [
                r["variant"],
                f"`{feat.get(r['variant'], '?')}`",
                _num(r.get("tell_auc"), 3),
                f"{_num(r['recall'], 2)} (min {_num(r['min_recall'], 2)})",
                _num(r["precision"], 2),
                _num(r["roc_auc"], 3),
                _num(r["average_precision"], 3),
                _top(r),
            ]
            for r in sig
        ]
        lines += _table(
            [
                "tell",
                "feature",
                "feature's own ROC-AUC",
                "engine recall",
                "precision",
                "engine ROC-AUC",
                "AP",
                "best single feature",
            ],
            rows,
        ) + [""]
    hon = [r for r in res.get("summary", []) if r["kind"] == "honest"]
    if hon:
        lines += [
            f"Honest crowds (3-12 % of the reviews, beside all four attack families): flag rate of the "
            f"crowd, mean (max over seeds); target ≤ {_pct(t.get('trap_flag_rate'))}",
            "",
        ]
        rows = [
            [
                r["variant"],
                f"`{HONEST_TRAP.get(r['variant'], '?')}`",
                f"{_pct(r['target_flag_rate'])} ({_pct(r['max_target_flag_rate'])})"
                + ("" if r["meets_target"] else " ✗"),
                _pct(r["honest_flag_rate"]),
                _top(r),
                _cell_fig(r, {}),
            ]
            for r in hon
        ]
        lines += _table(
            [
                "crowd",
                "trap label",
                "crowd flagged",
                "all honest flagged",
                "feature most raised on the crowd (ROC-AUC vs other honest)",
                "attacks: ROC-AUC / AP / P / R",
            ],
            rows,
        ) + [""]
    return lines


def _top(r: dict) -> str:
    name = r.get("top_feature")
    return DASH if not name else f"`{name}` {_num(r.get('top_feature_auc'), 2)}"


def _matrix_run_line(res: dict) -> str:
    seeds = res.get("seeds", [])
    return (
        f"{len(res.get('cells', []))} cells × {len(seeds)} {res.get('seed_kind', '')} seeds "
        f"({', '.join(str(s) for s in seeds)}) × {res.get('n_reviews', 0):,} reviews; "
        f"real text: {res.get('notes', {}).get('real_text_source', '?')}; "
        f"{sum(1 for r in res.get('summary', []) if r['meets_target'])} of "
        f"{len(res.get('summary', []))} cells meet their target"
        + (
            f"; load average {load[0]:.1f} at the start (a shared machine: seconds are noisy)"
            if (load := res.get("machine", {}).get("load_average_at_start"))
            else ""
        )
    )


def render_matrix(res: dict) -> str:
    """The whole ``matrix.md``."""
    lines = ["# review-detector scenario matrix", "", _run_line(res), "", _matrix_run_line(res), ""]
    lines += [
        "Every cell is its own generated market (`benchmarks/matrix.py`: parameters drawn per seed, "
        "the drawn values in matrix.json `parameters`); the engine scores every review and flags by "
        "its own label-free threshold; figures from `benchmarks/metrics.py`.",
        "",
    ]
    lines += matrix_tables(res)
    worst = sorted(
        (r for r in res.get("summary", []) if r["kind"] != "honest"),
        key=lambda r: (r.get("recall") or 0) * (r.get("precision") or 0),
    )[:8]
    if worst:
        lines += ["## Worst cells (lowest precision × recall)", ""]
        lines += _table(
            ["cell", "ROC-AUC (min)", "AP", "precision (min)", "recall (min)"],
            [
                [
                    f"{r['family']}/{r['variant']}",
                    f"{_num(r['roc_auc'])} ({_num(r['min_roc_auc'])})",
                    _num(r["average_precision"]),
                    f"{_num(r['precision'], 2)} ({_num(r['min_precision'], 2)})",
                    f"{_num(r['recall'], 2)} ({_num(r['min_recall'], 2)})",
                ]
                for r in worst
            ],
        ) + [""]
    lines += ["## Every cell and seed", ""]
    lines += _table(
        [
            "cell",
            "seed",
            "fakes",
            "target",
            "ROC-AUC",
            "AP",
            "precision",
            "recall",
            "crowd flagged",
            "traps flagged",
            "best single feature",
            "s",
        ],
        [
            [
                f"{r['family']}/{r['variant']}",
                str(r["seed"]),
                f"{r['n_fake']:,}",
                f"{r['n_target']:,}",
                _num(r["roc_auc"]),
                _num(r["average_precision"]),
                _num(r["precision"], 2),
                _num(r["recall"], 2),
                _pct(r["target_flag_rate"]),
                _pct(r["trap_flag_rate"]),
                _top(r),
                _secs(r["seconds"]),
            ]
            for r in res.get("rows", [])
        ],
    ) + [""]
    if res.get("warnings"):
        lines += ["## Warnings", ""] + [f"- {w}" for w in res["warnings"]] + [""]
    return "\n".join(lines).rstrip() + "\n"


def update_matrix_readme(path: str | os.PathLike[str], res: dict, out_dir=None) -> bool:
    """Put the matrix tables between ``MATRIX_START`` and ``MATRIX_END`` in ``path``."""

    def body(p: Path) -> str:
        where = _link(out_dir, "matrix.md", p, "Every cell and seed, drawn parameters")
        lines = matrix_tables(res)
        lines += [f"Run: {_run_line(res)}; {_matrix_run_line(res)}.{where}"]
        return "\n".join(lines)

    return _replace_section(path, MATRIX_START, MATRIX_END, body)
