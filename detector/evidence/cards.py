"""PNG evidence cards for upload forms.

Card 1 summarises the packet (summary, impact, the cases, the shop's rating
with and without the cited reviews); each further card shows one case (what
links it, its timeline with the burst marked, shared identities, the
template and its copies, the cited review ids). The platform profile bounds
the number of cards and the bytes of each: a card over the byte limit is
scaled down until it fits.

Text is drawn with Pillow (an order of magnitude faster than matplotlib
text), charts with matplotlib. Without a CJK font the cards switch their
labels to English and replace characters they cannot draw, and a warning
points to ``packet.html``, which is unaffected.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
from PIL import Image, ImageDraw

from detector.evidence import charts, fonts, i18n
from detector.evidence.fonts import needs_cjk, pil_font
from detector.evidence.overview import weekly
from detector.evidence.packet import Packet
from detector.evidence.platforms import DEFAULT_MAX_CASE_CARDS
from detector.evidence.safety import printable

WIDTH, HEIGHT = 1080, 1440
#: Punctuation that may not start a line (kept on the previous line instead).
_NO_LINE_START = set("，。；：！？、）」』》】〕…,.;:!?)]}%")
MARGIN = 48
FOOTER = 64


@dataclass
class Card:
    case_id: str | None  # None: the summary card
    png: bytes
    scale: float  # 1.0, or the factor it was scaled by to meet the byte limit


def _ts(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def _local(ts: datetime, zone) -> datetime:
    """``ts`` as a naive datetime in the packet's display time zone (the scan's)."""
    return ts.astimezone(zone).replace(tzinfo=None)


class _Page:
    """Top-down text layout on a Pillow image."""

    def __init__(self, font_ok: bool) -> None:
        self.img = Image.new("RGB", (WIDTH, HEIGHT), "white")
        self.draw = ImageDraw.Draw(self.img)
        self.y = 40
        self.font_ok = font_ok
        self._widths: dict[tuple[int, bool, bool, str], float] = {}

    def font(self, s: str, size: int, bold: bool = False, mono: bool = False):
        """The face ``s`` is drawn in (:func:`fonts.font_for`)."""
        return fonts.font_for(printable(s or ""), size, bold, mono)

    def _clean(self, s: str, font=None) -> str:
        """``s`` as it can be drawn in ``font``: no control character, no glyph missing."""
        s = fonts.drawable(printable(s), font if font is not None else pil_font(16))
        if self.font_ok:
            return s
        return "".join("?" if needs_cjk(ch) else ch for ch in s)

    def _width(self, font, key, ch: str) -> float:
        k = (*key, ch)
        w = self._widths.get(k)
        if w is None:
            w = self._widths[k] = font.getlength(ch)
        return w

    def wrap(
        self, s: str, size: int, bold: bool, width: float, max_lines: int | None, mono: bool = False
    ) -> list[str]:
        font = self.font(s, size, bold, mono)
        key = (size, bold, mono, font.path)
        lines: list[str] = []
        for para in self._clean(s or "", font).splitlines() or [""]:
            cur, w = "", 0.0
            for ch in para:
                cw = self._width(font, key, ch)
                if w + cw > width and cur and ch not in _NO_LINE_START:
                    lines.append(cur)
                    cur, w = "", 0.0
                cur += ch
                w += cw
            lines.append(cur)
        if max_lines is not None and len(lines) > max_lines:
            lines = lines[:max_lines]
            lines[-1] = lines[-1][:-1] + "…"
        return lines

    def text(
        self,
        s: str,
        size: int = 20,
        color: str = charts.INK,
        bold: bool = False,
        x: int = MARGIN,
        width: float | None = None,
        max_lines: int | None = None,
        mono: bool = False,
    ) -> None:
        width = width if width is not None else WIDTH - MARGIN - x
        font = self.font(s, size, bold, mono)
        for line in self.wrap(s, size, bold, width, max_lines, mono):
            self.draw.text((x, self.y), line, font=font, fill=color)
            self.y += int(size * 1.45)
        self.y += 4

    def at(
        self,
        x: int,
        y: int,
        s: str,
        size: int = 16,
        color: str = charts.INK,
        bold: bool = False,
        mono: bool = False,
    ) -> None:
        font = self.font(s, size, bold, mono)
        self.draw.text((x, y), self._clean(s, font), font=font, fill=color)

    def rule(self, y: int | None = None, width: int = 2) -> None:
        y = self.y if y is None else y
        self.draw.line([(MARGIN, y), (WIDTH - MARGIN, y)], fill=charts.INK, width=width)
        if y == self.y:
            self.y += 14

    def paste(self, png: bytes, x: int, y: int) -> int:
        chart = Image.open(io.BytesIO(png)).convert("RGB")
        self.img.paste(chart, (x, y))
        return chart.height

    def room(self) -> int:
        return HEIGHT - FOOTER - self.y

    def png(self) -> bytes:
        buf = io.BytesIO()
        self.img.save(buf, format="PNG", compress_level=6)
        return buf.getvalue()


def _footer(p: _Page, packet: Packet, i: int, n: int, lang: str) -> None:
    d = packet.data
    y = HEIGHT - FOOTER + 6
    p.rule(y)
    p.at(
        MARGIN,
        y + 12,
        f"review-detector {d['integrity']['engine']['version']} · {d['shop_id']} · "
        f"{i18n.t('card_of', lang, i=i, n=n)} · {i18n.fmt_time(_ts(d['generated_at']), packet.zone)} "
        f"{i18n.tz_label(packet.zone)} · packet.json",
        size=15,
        color=charts.MUTED,
    )


# --------------------------------------------------------------------------- charts


def _chart_png(draw_fn, width: int, height: int) -> bytes:
    with plt.rc_context(charts.rc()):
        fig = charts.new_figure(width, height)
        draw_fn(fig)
        return charts.png_bytes(fig)


def _timeline_chart(view: dict, lang: str, zone, width: int, height: int) -> bytes:
    s = view["series"]

    def draw(fig):
        ax = fig.add_axes([0.06, 0.14, 0.92, 0.74])
        n = len(s["cited"])
        starts = [
            _local(datetime.fromtimestamp(s["t0"] + i * s["bin_s"], UTC), zone) for i in range(n)
        ]
        width_days = s["bin_s"] / 86_400 * 0.9
        other = np.asarray(s["other"])
        cited = np.asarray(s["cited"])
        ax.bar(
            starts,
            other,
            width=width_days,
            align="edge",
            color=charts.GREY,
            label=i18n.t("legend_other", lang),
        )
        ax.bar(
            starts,
            cited,
            width=width_days,
            align="edge",
            bottom=other,
            color=charts.RED,
            label=i18n.t("legend_cited", lang),
        )
        for a, b in s["windows"]:
            x0, x1 = _local(_ts(a), zone), _local(_ts(b), zone)
            ax.axvspan(x0, max(x1, x0), color=charts.RED, alpha=0.12, lw=0)
        if s["baseline_per_bin"] is not None:
            ax.axhline(
                s["baseline_per_bin"],
                color=charts.INK,
                lw=1.2,
                ls="--",
                label=i18n.t("legend_baseline", lang),
            )
        ax.xaxis.set_major_formatter(
            mdates.DateFormatter("%m-%d" if s["bin_s"] < 7 * 86_400 else "%Y-%m")
        )
        ax.grid(alpha=0.25)
        ax.legend(loc="upper left", fontsize=9)
        ax.set_title(
            f"{i18n.t('timeline', lang)} ({i18n.tz_label(zone)}, 1 = {view['bin']})",
            fontsize=11,
            loc="left",
            parse_math=False,
        )

    return _chart_png(draw, width, height)


def _shop_chart(packet: Packet, lang: str, width: int, height: int) -> bytes | None:
    w = weekly(packet.timeline)
    if w.height < 2:
        return None
    x = [_local(ts, packet.zone) for ts in w["created_at"].to_list()]

    def draw(fig):
        ax = fig.add_axes([0.07, 0.12, 0.9, 0.76])
        ax2 = ax.twinx()
        ax2.bar(x, w["cited"].to_list(), width=6, color=charts.RED, alpha=0.25)
        ax2.set_ylim(0, max(max(w["cited"].to_list()), 1) * 3)
        ax2.set_yticks([])
        ax.plot(x, w["rating_with"].to_list(), color=charts.RED, lw=1.8, label=i18n.t("with", lang))
        ax.plot(
            x,
            w["rating_without"].to_list(),
            color=charts.GREEN,
            lw=1.8,
            ls="--",
            label=i18n.t("without", lang),
        )
        ax.set_zorder(ax2.get_zorder() + 1)
        ax.patch.set_visible(False)
        ax.set_title(i18n.t("rating", lang), fontsize=11, loc="left", parse_math=False)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower left", fontsize=9)
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m"))

    return _chart_png(draw, width, height)


# --------------------------------------------------------------------------- cards


def _impact_rows(p: _Page, imp: dict, lang: str) -> None:
    """The shop's rating, positive rate and DSR with and without the cited reviews."""
    rows = [
        (
            i18n.t("rating", lang),
            i18n.fmt_num(imp["rating_before"]),
            i18n.fmt_num(imp["rating_after"]),
        ),
        (
            i18n.t("positive_rate", lang),
            i18n.fmt_pct(imp["positive_rate_before"]),
            i18n.fmt_pct(imp["positive_rate_after"]),
        ),
    ] + [
        (i18n.t(k, lang), i18n.fmt_num(v["before"]), i18n.fmt_num(v["after"]))
        for k, v in (imp.get("dsr") or {}).items()
    ]
    p.at(640, p.y, i18n.t("with", lang), size=18, color=charts.MUTED)
    p.at(820, p.y, i18n.t("without", lang), size=18, color=charts.MUTED)
    p.y += 30
    for label, before, after in rows:
        p.at(MARGIN, p.y, label, size=22)
        p.at(640, p.y, before, size=24, bold=True)
        p.at(820, p.y, after, size=24, bold=True, color=charts.GREEN)
        p.y += 36
    p.text(
        i18n.t(
            "impact_note", lang, n=i18n.fmt_rate(imp["n_reviews"]), c=i18n.fmt_rate(imp["n_cited"])
        ),
        size=17,
        color=charts.MUTED,
    )


def _case_list(p: _Page, packet: Packet, lang: str) -> None:
    """One line per case (as many as fit, at least three) and what links it."""
    cases = packet.data["cases"]
    shown = 0
    for k, c in enumerate(cases, 1):
        if p.room() < 420 and shown >= 3:
            break
        links = ", ".join(lk["label"] for lk in c["evidence"]["links"][:2])
        p.text(
            f"{k}. {c['kind_label']} {c['case_id']} — {c['n_cited']} {i18n.t('reviews', lang)}, "
            f"{i18n.fmt_time(_ts(c['start']), packet.zone)[:10]} – "
            f"{i18n.fmt_time(_ts(c['end']), packet.zone)[:10]}",
            size=20,
            bold=True,
            max_lines=2,
        )
        p.text(links, size=17, color=charts.MUTED, x=MARGIN + 28, max_lines=2)
        shown += 1
    if shown < len(cases):
        p.text(f"… +{len(cases) - shown}", size=18, color=charts.MUTED)


def _summary_card(packet: Packet, n_cards: int, lang: str, font_ok: bool) -> bytes:
    d = packet.data
    p = _Page(font_ok)
    p.text(
        f"{i18n.t('title', lang)} — {i18n.t('shop', lang)} {d['shop_id']}",
        size=36,
        bold=True,
        max_lines=2,
    )
    p.rule()
    p.text(d["summary"], size=24, max_lines=5)
    p.y += 10
    p.text(i18n.t("impact", lang), size=26, bold=True)
    _impact_rows(p, d["impact"], lang)
    p.y += 8
    p.text(i18n.t("cases", lang), size=26, bold=True)
    _case_list(p, packet, lang)
    if p.room() >= 300:
        h = min(p.room() - 20, 420)
        png = _shop_chart(packet, lang, WIDTH - 2 * MARGIN, h)
        if png:
            p.paste(png, MARGIN, p.y + 10)
    _footer(p, packet, 1, n_cards, lang)
    return p.png()


def _burst_lines(p: _Page, bursts: list[dict], lang: str, zone) -> None:
    for b in bursts[:2]:
        p.text(
            i18n.t(
                "burst_line",
                lang,
                n=b["n_window"],
                pol=i18n.POLARITY[b["polarity"]][lang],
                product=b["product_id"],
                dur=i18n.fmt_duration(b["duration_s"], lang),
                start=i18n.fmt_time(_ts(b["start"]), zone),
                end=i18n.fmt_time(_ts(b["end"]), zone),
                rate=i18n.fmt_rate(b["baseline_per_day"]),
                expected=i18n.fmt_rate(b["expected"]),
                p=i18n.fmt_p(b["p_value"], lang),
            ),
            size=18,
            max_lines=3,
        )


def _identity_lines(p: _Page, ev: dict, lang: str) -> None:
    if ev["shared_identities"] and p.room() > 200:
        p.text(i18n.t("identities", lang), size=24, bold=True)
        for idn in ev["shared_identities"][:5]:
            p.text(
                f"{i18n.IDENTITY[idn['type']][lang]} {idn['value']}: {idn['n_accounts']} "
                f"{i18n.t('accounts', lang)} ({', '.join(idn['accounts'][:4])}"
                f"{' …' if idn['n_accounts'] > 4 else ''})",
                size=17,
            )


def _texts_or_reviewers(p: _Page, ev: dict, lang: str, font_ok: bool) -> None:
    """The case's first template and two copies, else its accounts' activity."""
    if ev["text_clusters"] and p.room() > 220:
        cl = ev["text_clusters"][0]
        p.text(f"{i18n.t('texts', lang)} ({cl['n_reviews']})", size=24, bold=True)
        texts = [cl["reference"]["text"]] + [m["text"] for m in cl["matches"][:2]]
        if not font_ok and any(needs_cjk(x) for x in texts):
            p.text(i18n.t("text_in_html", "en"), size=17, color=charts.MUTED)
        else:
            for j, x in enumerate(texts):
                p.text(
                    ("▶ " if j == 0 else "• ") + (x or ""),
                    size=18,
                    max_lines=2,
                    color=charts.INK if j == 0 else charts.MUTED,
                )
    elif ev["reviewers"] and p.room() > 220:
        p.text(i18n.t("reviewers", lang), size=24, bold=True)
        for r in ev["reviewers"][:5]:
            p.text(
                f"{r['user_id']}: {r['n_reviews']} {i18n.t('n_reviews', lang)}, {r['n_negative']} "
                f"{i18n.t('n_negative', lang)}, {r['negative_shops']} {i18n.t('neg_shops', lang)}",
                size=17,
            )


def _case_card(
    packet: Packet, case: dict, k: int, i: int, n_cards: int, lang: str, font_ok: bool
) -> bytes:
    view = packet.views[case["case_id"]]
    ev = case["evidence"]
    p = _Page(font_ok)
    p.text(f"{i18n.t('case', lang)} {k}: {case['kind_label']}", size=36, bold=True)
    p.text(
        f"{case['case_id']} · {i18n.t('shop', lang)} {packet.data['shop_id']}",
        size=18,
        color=charts.MUTED,
    )
    p.rule()
    p.text(case["explanation"], size=21, max_lines=4)
    for lk in ev["links"][:4]:
        p.text(f"• {lk['label']}: {lk['n']} {i18n.t('links', lang)}", size=18, max_lines=2)
    p.y += 6
    chart = _timeline_chart(view["timeline"], lang, packet.zone, WIDTH - 2 * MARGIN, 300)
    p.y += p.paste(chart, MARGIN, p.y)
    p.y += 8
    _burst_lines(p, ev["bursts"], lang, packet.zone)
    _identity_lines(p, ev, lang)
    _texts_or_reviewers(p, ev, lang, font_ok)
    _cited_list(p, case, lang, packet.zone)
    _footer(p, packet, i, n_cards, lang)
    return p.png()


CITED_SIZE = 15
CITED_GAP = 28


def _cited_line(r: dict, zone, lang: str) -> str:
    past = f" {i18n.t('appeal_past_short', lang)}" if r.get("appeal_past") else ""
    return (
        f"{r['review_id']}  {i18n.fmt_time(_ts(r['created_at']), zone)[2:]}  {r['rating']}★{past}"
    )


def _cited_list(p: _Page, case: dict, lang: str, zone) -> None:
    """The cited review ids in as many columns as their longest line allows, as many as fit.

    Columns are as wide as the widest line measured in the card's font, so a
    19-digit order id never runs into the next column.
    """
    if p.room() < 90:
        return
    p.text(f"{i18n.t('cited_reviews', lang)} ({case['n_cited']})", size=24, bold=True)
    line = 24
    rows = max((p.room() - 10) // line, 1)
    reviews = case["reviews"]
    texts = [_cited_line(r, zone, lang) for r in reviews]
    usable = WIDTH - 2 * MARGIN
    fonts_of = [p.font(x, CITED_SIZE, mono=True) for x in texts]
    widths = (f.getlength(p._clean(x, f)) for x, f in zip(texts, fonts_of, strict=True))
    col_w = max(widths, default=0) + CITED_GAP
    n_cols = max(int(usable // col_w), 1)
    if col_w > usable:  # one line wider than the card: wrap it instead (never cut an id)
        for x in texts[:rows]:
            p.text(x, size=CITED_SIZE, mono=True)
        return
    room = rows * n_cols
    shown = texts if len(texts) <= room else texts[: room - 1]
    for j, x in enumerate(shown):
        p.at(
            MARGIN + int((j // rows) * col_w),
            p.y + (j % rows) * line,
            x,
            size=CITED_SIZE,
            mono=True,
        )
    if len(shown) < len(texts):
        j = len(shown)
        p.at(
            MARGIN + int((j // rows) * col_w),
            p.y + (j % rows) * line,
            i18n.t("not_shown", lang, n=len(texts) - len(shown)),
            size=CITED_SIZE,
            color=charts.MUTED,
        )
    p.y += min(len(shown) + 1, rows) * line


def _fit(png: bytes, limit: int | None) -> tuple[bytes, float]:
    """``png`` scaled down (in steps of 0.8) until it is at most ``limit`` bytes."""
    scale = 1.0
    while limit is not None and len(png) > limit:
        scale *= 0.8
        if scale < 0.2:
            raise RuntimeError(f"a card cannot be brought under {limit} bytes")
        img = Image.open(io.BytesIO(png))
        small = img.resize((int(WIDTH * scale), int(HEIGHT * scale)), Image.LANCZOS)
        buf = io.BytesIO()
        small.save(buf, format="PNG", optimize=True)
        png = buf.getvalue()
    return png, scale


def render_cards(packet: Packet) -> tuple[list[Card], list[str]]:
    """The cards for ``packet`` within its platform's limits, and warnings."""
    warnings: list[str] = []
    font_ok = fonts.cjk_font() is not None
    lang = packet.options.lang if font_ok else "en"
    if not font_ok and packet.options.lang == "zh":
        warnings.append(
            "no CJK font found: cards are labelled in English and cannot show Chinese text "
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
    out = [Card(None, *_fit(_summary_card(packet, n, lang, font_ok), profile.max_image_bytes))]
    for k, c in enumerate(shown, 1):
        png = _case_card(packet, c, k, k + 1, n, lang, font_ok)
        out.append(Card(c["case_id"], *_fit(png, profile.max_image_bytes)))
    return out, warnings
