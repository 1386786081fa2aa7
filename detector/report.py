"""Readable terminal summaries of a scan, in the user's language.

Every value that comes from the input (ids, texts, paths) is printed as plain
text (Rich :class:`~rich.text.Text`, never markup), lines are printed with
``soft_wrap`` so that nothing is broken mid-word outside a terminal, reasons
are the registry's claims with each review's numbers, and the summary ends
with the command to run next (which shop to pass to ``evidence``).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import polars as pl
from rich.console import Console
from rich.text import Text

from detector import wording
from detector.cases import ATTACK_KINDS
from detector.evidence.i18n import KIND, feature_text

MSG = {
    "scored": {
        "en": "{scored} reviews scored, {rejected} rejected, {flagged} flagged ({by_dir}); "
        "threshold {thr} ({method}), {secs} s",
        "zh": "已评分{scored}条评价，拒收{rejected}条，标记可疑{flagged}条（{by_dir}）；"
        "阈值{thr}（{method}），用时{secs}秒",
    },
    "boost": {"en": "suspicious praise", "zh": "可疑好评"},
    "attack": {"en": "suspicious criticism", "zh": "可疑差评"},
    "none": {"en": "none", "zh": "无"},
    "unavailable": {
        "en": "not measured (the input has no {cols} column): {what}",
        "zh": "未计算（输入缺少 {cols} 列）：{what}",
    },
    "labels": {
        "en": "against the planted labels: precision {p}, recall {r} ({tp} of {n} planted fakes flagged)",
        "zh": "对照植入标签：精确率{p}，召回率{r}（{n}条植入的虚假评价中标记了{tp}条）",
    },
    "cases": {"en": "largest {n} cases", "zh": "最大的{n}起案件"},
    "case_line": {
        "en": "{case}  {kind}: {n} reviews at {shops} shop(s), {start} – {end}",
        "zh": "{case}  {kind}：{n}条评价，涉及{shops}家店铺，{start} – {end}",
    },
    "top": {
        "en": "most suspicious review of each top case",
        "zh": "各主要案件中最可疑的评价（most suspicious review of each top case）",
    },
    "review_line": {
        "en": "{rid}  {stars}★  score {score}  shop {shop}",
        "zh": "{rid}  {stars}星  可疑分{score}  店铺{shop}",
    },
    "no_claim": {
        "en": "flagged through the reviews it is linked to (no signal of its own in its tail)",
        "zh": "因关联评价可疑而被标记（自身没有处于可疑区间的信号）",
    },
    "times": {"en": "times in {zone}", "zh": "时间均为{zone}"},
    "next": {
        "en": "next: build the appeal packet for {shop}:",
        "zh": "下一步：为店铺{shop}生成申诉材料：",
    },
    "next_none": {
        "en": "no case attacks a shop (smear or professional negative reviewer): nothing to appeal",
        "zh": "没有针对店铺的攻击案件（恶意差评或职业差评师）：无需申诉",
    },
    "results": {"en": "results in {out}: {files}", "zh": "结果位于 {out}：{files}"},
}


def msg(key: str, lang: str, **kw) -> str:
    """The ``lang`` terminal message ``key`` with its placeholders filled."""
    return wording.say(MSG, key, lang, **kw)


def _say(console: Console, text: str | Text, style: str | None = None) -> None:
    """One plain-text line, never parsed as markup, never broken by Rich."""
    line = text if isinstance(text, Text) else Text(text, style=style or "")
    console.print(line, soft_wrap=True, highlight=False)


def _short(text: str | None, n: int) -> str:
    text = (text or "").replace("\n", " ")
    return text if len(text) <= n else text[: n - 1] + "…"


def _quoted_rows(result, ids: pl.Series) -> pl.DataFrame:
    """``review_id``, ``rating`` and ``text`` (when the input has it) of the reviews ``ids``.

    Taken from the scan's reviews when it kept them, else read back from its
    input files (a large scan frees its texts once the features are built).
    """
    reviews = result.loaded.reviews
    if reviews.height == 0 and result.loaded.files:
        from detector.input.load import scan_reviews
        from detector.input.spec import InputSpec

        spec = InputSpec.from_summary(result.summary)
        lf, _ = scan_reviews(result.loaded.files, spec=spec)
        names = lf.collect_schema().names()
        cols = [c for c in ("review_id", "rating", "text") if c in names]
        # the first copy of an id is the one that was scanned
        return (
            lf.filter(pl.col("review_id").is_in(ids.implode()))
            .select(cols)
            .collect()
            .unique("review_id", keep="first", maintain_order=True)
        )
    cols = [c for c in ("review_id", "rating", "text") if c in reviews.columns]
    return reviews.select(cols).join(pl.DataFrame({"review_id": ids}), on="review_id", how="semi")


def _claims(result, head: pl.DataFrame, lang: str, zone) -> dict[str, list[dict]]:
    """Reasons of ``head`` worded with their numbers (in-core scans: from the link keys)."""
    fr = result.features
    if fr is None or fr.keys is None:
        return {}
    return wording.reason_texts(
        fr.keys, fr.frame.drop("_rid"), head.select("review_id", "reasons"), lang, zone
    )


def _next_shop(cases: pl.DataFrame) -> str | None:
    """The shop most hit by attack cases of two or more reviews (the packet to build first)."""
    hit = (
        cases.filter(pl.col("kind").is_in(list(ATTACK_KINDS)) & (pl.col("n_reviews") >= 2))
        .select("shop_ids", "n_reviews")
        .explode("shop_ids")
        .group_by("shop_ids")
        .agg(pl.col("n_reviews").sum())
        .sort(["n_reviews", "shop_ids"], descending=[True, False])
    )
    return hit["shop_ids"][0] if hit.height else None


def _print_counts(console: Console, s: dict, lang: str) -> None:
    rows = s["rows"]
    by_dir = ", ".join(
        f"{MSG[k][lang] if k in MSG else k}: {wording.human(v)}"
        for k, v in rows["flagged_by_direction"].items()
    )
    _say(console, "")
    _say(
        console,
        msg(
            "scored",
            lang,
            scored=wording.human(rows["scored"]),
            rejected=wording.human(rows["rejected"]),
            flagged=wording.human(rows["flagged"]),
            by_dir=by_dir or MSG["none"][lang],
            thr=wording.human(s["threshold"]["value"], 3),
            method=s["threshold"]["method"],
            secs=wording.human(round(s["timings_s"]["total"], 1)),
        ),
        "bold",
    )
    if s["signals"]["unavailable"]:
        missing = sorted({c for u in s["signals"]["unavailable"] for c in u["missing_columns"]})
        sep = "；" if lang == "zh" else "; "
        what = sep.join(feature_text(u["feature"], lang) for u in s["signals"]["unavailable"])
        _say(console, msg("unavailable", lang, cols=", ".join(missing), what=what))


def print_scan_summary(
    console: Console,
    result,
    out_dir: Path,
    labels: pl.DataFrame | None = None,
    top: int = 8,
    lang: str = "en",
) -> None:
    """Counts, the largest cases, the most suspicious reviews with their reasons, what to run next."""
    s = result.summary
    zone = wording.scan_zone(s)
    _print_counts(console, s, lang)
    if labels is not None:
        joined = result.scores.join(labels.select("review_id", "is_fake"), on="review_id")
        tp = joined.filter(pl.col("flagged") & pl.col("is_fake")).height
        fl = joined.filter(pl.col("flagged")).height
        fakes = joined.filter(pl.col("is_fake")).height
        p, r = wording.fixed(tp / max(fl, 1)), wording.fixed(tp / max(fakes, 1))
        _say(console, msg("labels", lang, p=p, r=r, tp=wording.human(tp), n=wording.human(fakes)))
    flagged = result.scores.filter(pl.col("flagged"))
    cases_path = out_dir / "cases.parquet"
    all_cases = pl.read_parquet(cases_path, glob=False) if cases_path.exists() else None
    if flagged.height and all_cases is not None and all_cases.height:
        cases = all_cases.sort(["n_reviews", "case_id"], descending=[True, False]).head(top)
        _say(console, "")
        _say(console, msg("cases", lang, n=cases.height), "bold underline")
        for c in cases.iter_rows(named=True):
            line = msg(
                "case_line",
                lang,
                case=c["case_id"],
                kind=KIND[c["kind"]][lang],
                n=wording.human(c["n_reviews"]),
                shops=wording.human(len(c["shop_ids"])),
                start=wording.fmt_time(c["start"], zone),
                end=wording.fmt_time(c["end"], zone),
            )
            _say(console, line)
        _say(console, msg("times", lang, zone=wording.zone_label(zone)), "dim")
    if flagged.height:
        _print_top_reviews(console, result, flagged, top, lang, zone)
    _print_next(console, all_cases, out_dir, lang)


def _print_top_reviews(console, result, flagged, top, lang, zone) -> None:
    head = (
        flagged.sort(["score", "review_id"], descending=[True, False])
        .unique("case_id", keep="first", maintain_order=True)
        .head(top)
    )
    head = head.join(_quoted_rows(result, head["review_id"]), on="review_id", how="left").sort(
        ["score", "review_id"], descending=[True, False]
    )
    shops = {}
    fr = result.features
    if fr is not None and fr.keys is not None:
        shops = dict(
            fr.keys.filter(pl.col("review_id").is_in(head["review_id"].implode()))
            .select("review_id", "shop_id")
            .iter_rows()
        )
    claims = _claims(result, head, lang, zone)
    _say(console, "")
    _say(console, MSG["top"][lang], "bold underline")
    for r in head.iter_rows(named=True):
        _say(
            console,
            msg(
                "review_line",
                lang,
                rid=r["review_id"],
                stars=r["rating"],
                score=wording.fixed(r["score"], 3),
                shop=shops.get(r["review_id"], "?"),
            ),
            "bold",
        )
        if r.get("text"):
            _say(console, f"  “{_short(r['text'], 60)}”")
        said = claims.get(r["review_id"])
        if said:
            for c in said[:3]:
                _say(console, f"  · {c['text']}")
        elif r["reasons"]:  # an out-of-core scan: the registry's explanation, without numbers
            for name in r["reasons"][:3]:
                _say(console, f"  · {feature_text(name, lang)}")
        else:
            _say(console, f"  · {MSG['no_claim'][lang]}")


def _dir_part(name: str) -> str:
    """``name`` as one directory name: separators, control and shell-hostile characters replaced."""
    part = re.sub(r'[\\/\x00-\x1f\x7f:*?"<>|\s]', "_", name).strip("._")
    return part[:60] or "shop"


def _print_next(console: Console, cases: pl.DataFrame | None, out_dir: Path, lang: str) -> None:
    files = ", ".join(p.name for p in sorted(out_dir.iterdir()) if not p.name.startswith("."))
    _say(console, "")
    _say(console, msg("results", lang, out=str(out_dir), files=files))
    shop = _next_shop(cases) if cases is not None else None
    if shop is None:
        _say(console, msg("next_none", lang))
        return
    packet = out_dir.parent / f"{out_dir.name}-packet-{_dir_part(shop)}"
    _say(console, msg("next", lang, shop=shop), "bold")
    cmd = (
        f"  review-detector evidence {shlex.quote(str(out_dir))} --shop {shlex.quote(shop)} "
        f"--out {shlex.quote(str(packet))} --lang {lang}"
    )
    _say(console, cmd)
