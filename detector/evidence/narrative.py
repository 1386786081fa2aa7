"""The sentences of a case: its explanation in the packet and the text filed with each appeal."""

from __future__ import annotations

from detector.evidence import i18n
from detector.evidence.i18n import KIND
from detector.wording import parse_iso


def explanation(c: dict, lang: str) -> str:
    pol = -1 if c["n_negative_at_shop"] >= c["n_positive_at_shop"] else 1
    pol_txt = i18n.POLARITY[pol][lang]
    labels = [lk["label"] for lk in c["evidence"]["links"][:3]]
    span = i18n.fmt_duration(
        (parse_iso(c["end"]) - parse_iso(c["start"])).total_seconds(),
        lang,
    )
    if lang == "zh":
        sep = "；"
        return (
            f"本店{c['n_cited']}条评价（其中{c['n_negative_at_shop'] if pol < 0 else c['n_positive_at_shop']}条{pol_txt}；"
            f"案件共{c['n_reviews']}条、{c['n_users']}个账号、历时{span}）"
            + (f"，关联依据：{sep.join(labels)}。" if labels else "。")
        )
    return (
        f"{c['n_cited']} review(s) at this shop "
        f"({c['n_negative_at_shop'] if pol < 0 else c['n_positive_at_shop']} {pol_txt}; "
        f"{c['n_reviews']} in the case from {c['n_users']} account(s) over {span})"
        + (f", linked by: {'; '.join(labels)}." if labels else ".")
    )


def appeal_text(case: dict, lang: str, limit: int | None) -> str:
    kind = KIND[case["kind"]][lang]
    top = case["evidence"]["links"][0]["label"] if case["evidence"]["links"] else ""
    n_other = case["n_reviews"] - 1
    revs = case["evidence"]["reviewers"]
    if case["kind"] == "pro_negative" and revs:
        shops = max(r["negative_shops"] for r in revs)
        neg = sum(r["n_negative"] for r in revs)
        if lang == "zh":
            lead = [
                f"本评价属于职业差评师案件{case['case_id']}：涉案账号在{shops}家店铺共留下{neg}条1–2星评价。",
                f"职业差评师案件{case['case_id']}：涉案账号在{shops}家店铺留下{neg}条差评。",
            ]
        else:
            lead = [
                f"Case {case['case_id']}: the account(s) left {neg} 1-2★ reviews at {shops} "
                "shops (professional negative reviewer).",
                f"Case {case['case_id']}: {neg} 1-2★ reviews by the same account(s) at {shops} shops.",
            ]
        return i18n.fit([*lead, *_appeal_candidates(case, lang, kind, top, n_other)], limit)
    return i18n.fit(_appeal_candidates(case, lang, kind, top, n_other), limit)


def _appeal_candidates(case: dict, lang: str, kind: str, top: str, n_other: int) -> list[str]:
    if lang == "zh":
        cands = [
            f"本评价属于{kind}案件{case['case_id']}：与另外{n_other}条评价关联（{top}）。"
            "证据见所附卡片及证据材料。",
            f"本评价属于{kind}案件{case['case_id']}，与另外{n_other}条评价关联（{top}）。",
            f"{kind}案件{case['case_id']}，关联{n_other}条评价。",
        ]
    else:
        cands = [
            f"This review is part of case {case['case_id']} ({kind.lower()}): linked to "
            f"{n_other} other review(s) by {top}. Evidence in the attached card and packet.",
            f"Part of case {case['case_id']} ({kind.lower()}), linked to {n_other} other review(s).",
            f"Case {case['case_id']}: {kind.lower()}.",
        ]
    return cands
