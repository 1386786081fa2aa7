"""PNG evidence cards for upload forms.

Card 1 summarises the packet (summary, impact, the cases); each further card
shows one case (what links it, its timeline with the burst marked, shared
identities, the template and its copies). The platform profile bounds the
number of cards and the bytes of each: a card over the byte limit is drawn
again at a lower resolution.

Without a CJK font the cards switch their labels to English and leave review
texts that need CJK glyphs to ``packet.html`` (a warning says so) rather
than print empty boxes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np

from detector.evidence import charts, i18n
from detector.evidence.fonts import cjk_font, needs_cjk, wrap
from detector.evidence.overview import weekly
from detector.evidence.packet import Packet
from detector.evidence.platforms import DEFAULT_MAX_CASE_CARDS

WIDTH, HEIGHT = 1080, 1440


@dataclass
class Card:
    case_id: str | None  # None: the summary card
    png: bytes
    dpi: int


class _Page:
    """Top-down text layout on a figure, in pixels."""

    def __init__(self, fig, font_ok: bool) -> None:
        self.fig = fig
        self.y = 40.0
        self.font_ok = font_ok

    def text(self, s: str, size: float = 13, color: str = charts.INK, bold: bool = False,
             x: float = 48, width_cells: int = 92, max_lines: int | None = None) -> None:
        if not self.font_ok and needs_cjk(s):
            s = "".join(ch if not needs_cjk(ch) else "?" for ch in s)
        for line in wrap(s, width_cells, max_lines):
            self.fig.text(
                x / WIDTH, 1 - self.y / HEIGHT, line, fontsize=size, color=color,
                weight="bold" if bold else "normal", va="top", parse_math=False,
            )
            self.y += size * 1.75
        self.y += 4

    def gap(self, px: float) -> None:
        self.y += px

    def rule(self) -> None:
        self.fig.add_artist(
            plt.Line2D([48 / WIDTH, 1 - 48 / WIDTH], [1 - self.y / HEIGHT] * 2, color=charts.INK, lw=1.5)
        )
        self.y += 12


def _ts(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def _footer(page: _Page, packet: Packet, i: int, n: int, lang: str) -> None:
    d = packet.data
    page.y = HEIGHT - 56
    page.rule()
    page.text(
        f"review-detector {d['integrity']['engine']['version']} · {d['shop_id']} · "
        f"{i18n.t('card_of', lang, i=i, n=n)} · {i18n.fmt_time(_ts(d['generated_at']), lang)} "
        f"{i18n.tz_label(lang)}",
        size=10, color=charts.MUTED,
    )


def _summary_card(packet: Packet, n_cards: int, lang: str, font_ok: bool, dpi: int) -> bytes:
    d = packet.data
    imp = d["impact"]
    with plt.rc_context(charts.rc()):
        fig = charts.new_figure(WIDTH, HEIGHT)
        p = _Page(fig, font_ok)
        p.text(f"{i18n.t('title', lang)} — {i18n.t('shop', lang)} {d['shop_id']}", size=22, bold=True, width_cells=70)
        p.rule()
        p.text(d["summary"] if (font_ok or not needs_cjk(d["summary"])) else "", size=15, width_cells=80)
        p.gap(10)
        p.text(i18n.t("impact", lang), size=16, bold=True)
        rows = [
            (i18n.t("rating", lang), i18n.fmt_num(imp["rating_before"]), i18n.fmt_num(imp["rating_after"])),
            (
                i18n.t("positive_rate", lang),
                i18n.fmt_pct(imp["positive_rate_before"]),
                i18n.fmt_pct(imp["positive_rate_after"]),
            ),
        ] + [
            (i18n.t(k, lang), i18n.fmt_num(v["before"]), i18n.fmt_num(v["after"]))
            for k, v in (imp.get("dsr") or {}).items()
        ]
        p.text(f"{'':<2}{i18n.t('with', lang)}  →  {i18n.t('without', lang)}", size=12, color=charts.MUTED, x=620)
        for label, before, after in rows:
            y = p.y
            p.text(label, size=14)
            p.y = y
            p.text(f"{before:>8}  →  {after}", size=15, bold=True, x=620)
        p.text(i18n.t("impact_note", lang, n=imp["n_reviews"], c=imp["n_cited"]), size=11, color=charts.MUTED)
        p.gap(10)
        p.text(i18n.t("cases", lang), size=16, bold=True)
        for k, c in enumerate(d["cases"][:12], 1):
            links = ", ".join(lk["label"] for lk in c["evidence"]["links"][:2])
            p.text(
                f"{k}. {c['kind_label']} {c['case_id']} — {c['n_cited']} {i18n.t('reviews', lang)}, "
                f"{i18n.fmt_time(_ts(c['start']), lang)[:10]} – {i18n.fmt_time(_ts(c['end']), lang)[:10]}",
                size=13, bold=True, width_cells=96,
            )
            p.text(links, size=11.5, color=charts.MUTED, x=72, width_cells=100, max_lines=2)
            if p.y > HEIGHT - 140:
                break
        if len(d["cases"]) > 12:
            p.text(f"… +{len(d['cases']) - 12}", size=12, color=charts.MUTED)
        if p.y < HEIGHT - 480:
            _shop_chart(fig, packet, p.y + 20, lang)
        _footer(p, packet, 1, n_cards, lang)
        return charts.png_bytes(fig, dpi)


def _local(ts: datetime, lang: str) -> datetime:
    """``ts`` as a naive datetime in the packet's display time zone."""
    return ts.astimezone(i18n.TZ[lang]).replace(tzinfo=None)


def _timeline_axes(fig, view: dict, lang: str):
    s = view["series"]
    ax = fig.add_axes([48 / WIDTH, 0, 1 - 96 / WIDTH, 0.17])
    n = len(s["cited"])
    starts = [_local(datetime.fromtimestamp(s["t0"] + i * s["bin_s"], UTC), lang) for i in range(n)]
    width = s["bin_s"] / 86_400 * 0.9
    other = np.asarray(s["other"])
    cited = np.asarray(s["cited"])
    ax.bar(starts, other, width=width, align="edge", color=charts.GREY, label=i18n.t("legend_other", lang))
    ax.bar(starts, cited, width=width, align="edge", bottom=other, color=charts.RED, label=i18n.t("legend_cited", lang))
    for a, b in s["windows"]:
        x0 = _local(_ts(a), lang)
        x1 = _local(_ts(b), lang)
        ax.axvspan(x0, max(x1, x0), color=charts.RED, alpha=0.12, lw=0)
        ax.axvline(x0, color=charts.RED, lw=0.8, ls=":")
    if s["baseline_per_bin"] is not None:
        ax.axhline(s["baseline_per_bin"], color=charts.INK, lw=1.2, ls="--", label=i18n.t("legend_baseline", lang))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d" if s["bin_s"] < 7 * 86_400 else "%Y-%m"))
    ax.grid(alpha=0.25)
    ax.legend(loc="upper left", fontsize=9)
    ax.set_title(
        f"{i18n.t('timeline', lang)} ({i18n.tz_label(lang)}, 1 bar = {view['bin']})",
        fontsize=11, loc="left", parse_math=False,
    )
    return ax


def _case_card(packet: Packet, case: dict, k: int, i: int, n_cards: int, lang: str, font_ok: bool, dpi: int) -> bytes:
    view = packet.views[case["case_id"]]
    ev = case["evidence"]
    with plt.rc_context(charts.rc()):
        fig = charts.new_figure(WIDTH, HEIGHT)
        p = _Page(fig, font_ok)
        p.text(f"{i18n.t('case', lang)} {k}: {case['kind_label']}", size=22, bold=True, width_cells=70)
        p.text(f"{case['case_id']} · {i18n.t('shop', lang)} {packet.data['shop_id']}", size=12, color=charts.MUTED)
        p.rule()
        p.text(case["explanation"], size=13.5, width_cells=88, max_lines=4)
        p.gap(4)
        for lk in ev["links"][:4]:
            p.text(f"• {lk['label']}: {lk['n']} {i18n.t('links', lang)}", size=12.5, width_cells=96, max_lines=2)
        # timeline
        ax = _timeline_axes(fig, view["timeline"], lang)
        top = p.y + 30
        ax.set_position([70 / WIDTH, 1 - (top + 230) / HEIGHT, 1 - 110 / WIDTH, 210 / HEIGHT])
        p.y = top + 275
        for b in ev["bursts"][:2]:
            p.text(
                i18n.t(
                    "burst_line", lang, n=b["n_window"], pol=i18n.POLARITY[b["polarity"]][lang],
                    product=b["product_id"], dur=i18n.fmt_duration(b["duration_s"], lang),
                    start=i18n.fmt_time(_ts(b["start"]), lang), end=i18n.fmt_time(_ts(b["end"]), lang),
                    rate=i18n.fmt_rate(b["baseline_per_day"]), expected=i18n.fmt_rate(b["expected"]),
                    p=i18n.fmt_p(b["p_value"]),
                ),
                size=12, width_cells=100, max_lines=3,
            )
        if ev["shared_identities"]:
            p.text(i18n.t("identities", lang), size=15, bold=True)
            for idn in ev["shared_identities"][:5]:
                p.text(
                    f"{i18n.IDENTITY[idn['type']][lang]} {idn['value']}: {idn['n_accounts']} "
                    f"{i18n.t('accounts', lang)} ({', '.join(idn['accounts'][:4])}"
                    f"{' …' if idn['n_accounts'] > 4 else ''})",
                    size=12, width_cells=100, max_lines=2,
                )
        if ev["text_clusters"] and p.y < HEIGHT - 300:
            cl = ev["text_clusters"][0]
            p.text(i18n.t("texts", lang) + f" ({cl['n_reviews']})", size=15, bold=True)
            texts = [cl["reference"]["text"]] + [m["text"] for m in cl["matches"][:2]]
            if not font_ok and any(needs_cjk(x) for x in texts):
                p.text(i18n.t("text_in_html", "en"), size=12, color=charts.MUTED)
            else:
                for j, x in enumerate(texts):
                    if p.y > HEIGHT - 120:
                        break
                    p.text(("▶ " if j == 0 else "• ") + (x or ""), size=12, width_cells=96, max_lines=2,
                           color=charts.INK if j == 0 else charts.MUTED)
        elif ev["reviewers"] and p.y < HEIGHT - 260:
            p.text(i18n.t("reviewers", lang), size=15, bold=True)
            for r in ev["reviewers"][:5]:
                p.text(
                    f"{r['user_id']}: {r['n_reviews']} {i18n.t('n_reviews', lang)}, {r['n_negative']} "
                    f"{i18n.t('n_negative', lang)}, {r['negative_shops']} {i18n.t('neg_shops', lang)}",
                    size=12, width_cells=100,
                )
        _cited_list(p, case, lang)
        _footer(p, packet, i, n_cards, lang)
        return charts.png_bytes(fig, dpi)


def _cited_list(p: _Page, case: dict, lang: str) -> None:
    """The cited review ids in three columns, as many as fit above the footer."""
    if p.y > HEIGHT - 170:
        return
    p.text(f"{i18n.t('cited_reviews', lang)} ({case['n_cited']})", size=15, bold=True)
    rows = int((HEIGHT - 90 - p.y) // 21)
    cols = 3
    room = rows * cols
    reviews = case["reviews"]
    shown = reviews if len(reviews) <= room else reviews[: room - 1]
    for j, r in enumerate(shown):
        x = 48 + (j // rows) * 330
        y = p.y + (j % rows) * 21
        p.fig.text(
            x / WIDTH, 1 - y / HEIGHT,
            f"{r['review_id']}  {i18n.fmt_time(_ts(r['created_at']), lang)}  {r['rating']}★",
            fontsize=10.5, color=charts.INK, va="top", parse_math=False, family="DejaVu Sans Mono",
        )
    if len(shown) < len(reviews):
        j = len(shown)
        p.fig.text(
            (48 + (j // rows) * 330) / WIDTH, 1 - (p.y + (j % rows) * 21) / HEIGHT,
            i18n.t("not_shown", lang, n=len(reviews) - len(shown)),
            fontsize=10.5, color=charts.MUTED, va="top", parse_math=False,
        )


def _shop_chart(fig, packet: Packet, top: float, lang: str) -> None:
    """Trailing rating with and without the cited reviews, and cited reviews per week."""
    w = weekly(packet.timeline)
    if w.height < 2:
        return
    x = [_local(ts, lang) for ts in w["created_at"].to_list()]
    ax = fig.add_axes([80 / WIDTH, 1 - (top + 330) / HEIGHT, 1 - 140 / WIDTH, 300 / HEIGHT])
    ax.plot(x, w["rating_with"].to_list(), color=charts.RED, lw=1.8, label=i18n.t("with", lang))
    ax.plot(x, w["rating_without"].to_list(), color=charts.GREEN, lw=1.8, ls="--",
            label=i18n.t("without", lang))
    ax.set_title(i18n.t("rating", lang), fontsize=11, loc="left", parse_math=False)
    ax.grid(alpha=0.3)
    ax2 = ax.twinx()
    ax2.bar(x, w["cited"].to_list(), width=6, color=charts.RED, alpha=0.25,
            label=i18n.t("legend_cited", lang))
    ax2.set_ylim(0, max(max(w["cited"].to_list()), 1) * 3)
    ax2.set_yticks([])
    ax.set_zorder(ax2.get_zorder() + 1)
    ax.patch.set_visible(False)
    ax.legend(loc="lower left", fontsize=9)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m"))


def render_cards(packet: Packet) -> tuple[list[Card], list[str]]:
    """The cards for ``packet`` within its platform's limits, and warnings."""
    warnings: list[str] = []
    font_ok = cjk_font() is not None
    lang = packet.options.lang if font_ok else "en"
    if not font_ok and packet.options.lang == "zh":
        warnings.append(
            "no CJK font found: cards are labelled in English and omit Chinese texts "
            "(install fonts-noto-cjk); packet.html is unaffected"
        )
    profile = packet.profile
    cases = packet.data["cases"]
    max_cases = (profile.max_images - 1) if profile.max_images else DEFAULT_MAX_CASE_CARDS
    shown = cases[:max_cases]
    if len(cases) > len(shown):
        warnings.append(
            f"{len(cases) - len(shown)} case(s) have no card ({profile.key}: at most "
            f"{len(shown) + 1} images); they are in packet.html and packet.json"
        )
    n = len(shown) + 1
    limit = profile.max_image_bytes
    out: list[Card] = []
    jobs = [(None, lambda dpi: _summary_card(packet, n, lang, font_ok, dpi))] + [
        (c["case_id"], lambda dpi, c=c, k=k: _case_card(packet, c, k, k + 1, n, lang, font_ok, dpi))
        for k, c in enumerate(shown, 1)
    ]
    for case_id, draw in jobs:
        dpi = 100
        png = draw(dpi)
        while limit is not None and len(png) > limit and dpi > 40:
            dpi = int(dpi * 0.7)
            png = draw(dpi)
        if limit is not None and len(png) > limit:
            raise RuntimeError(f"card for {case_id or 'summary'} exceeds {limit} bytes even at {dpi} dpi")
        out.append(Card(case_id, png, dpi))
    return out, warnings
