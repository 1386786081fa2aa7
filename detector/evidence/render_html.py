"""``packet.html``: one self-contained page a platform reviewer reads in seconds.

Rendered with Jinja2 and autoescaping on: every value from the scan is
escaped and shown without control characters (:func:`~detector.evidence.safety.printable`);
only :func:`detector.evidence.spans.highlight` produces markup, from escaped segments. A Content-Security-Policy meta tag forbids scripts and every
network fetch, so even a slip in escaping could neither run code nor call
out. Charts are inline SVG drawn from :attr:`Packet.views`; the overview is a
``data:`` PNG. No external resource is referenced.
"""

from __future__ import annotations

import base64

import jinja2
from markupsafe import Markup

from detector.evidence import i18n
from detector.evidence.packet import Packet
from detector.evidence.safety import printable
from detector.evidence.spans import highlight
from detector.wording import parse_iso


def _shown(value):
    """Every printed value without control characters (a NUL from an id, an ESC from a text)."""
    if isinstance(value, Markup):
        return Markup(printable(str(value)))  # removes no markup: controls are never part of it
    return printable(value) if isinstance(value, str) else value


_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("detector.evidence", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    finalize=_shown,
)


def _time(value: str | None, zone) -> str:
    if not value:
        return ""
    return i18n.fmt_time(parse_iso(value), zone)


def render_html(packet: Packet, overview_png: bytes | None, cards: list[str]) -> str:
    """The HTML text of ``packet`` (``overview_png`` embedded when given)."""
    lang = packet.options.lang
    d = packet.data
    return _ENV.get_template("packet.html.j2").render(
        d=d,
        views=packet.views,
        lang=lang,
        platform_name=packet.profile.name[lang],
        notes=packet.profile.notes.get(lang, []),
        overview_b64=base64.b64encode(overview_png).decode("ascii") if overview_png else None,
        cards=cards,
        tz=i18n.tz_label(packet.zone),
        t=lambda key, **kw: i18n.t(key, lang, **kw),
        edge_label=lambda k: i18n.EDGE[k][lang],
        identity_label=lambda k: i18n.IDENTITY[k][lang],
        polarity=lambda p: i18n.POLARITY[p][lang],
        time=lambda v: _time(v, packet.zone),
        duration=lambda s: i18n.fmt_duration(s, lang),
        pct=i18n.fmt_pct,
        num=i18n.fmt_num,
        rate=i18n.fmt_rate,
        pval=lambda p: i18n.fmt_p(p, lang),
        hl=highlight,
        kind_desc=lambda k: i18n.KIND_DESC[k][lang],
        ring_hours=int(i18n.COREVIEW_WINDOW_S // 3600),
        max_pairs=6,
        max_rows=200,
    )
