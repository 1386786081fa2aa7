"""A CJK-capable font for matplotlib, or ``None`` (callers then avoid CJK text).

Looked up once: the families matplotlib already knows, then the files
``fc-list :lang=zh`` reports (fonts installed after matplotlib built its
cache). Install one with ``apt-get install fonts-noto-cjk``.

Pillow draws a character its font lacks as an empty box; :func:`drawable`
replaces such characters first: an emoji by a visible placeholder
(:data:`EMOJI_PLACEHOLDER`: ``[表情]``, as Chinese platforms themselves
show emoji in plain text, or ``[emoji]``), an invisible joiner or modifier
by nothing, anything else by ``?``. Colour emoji fonts are bitmap fonts
Pillow cannot mix into a line of text, so none is used.
"""

from __future__ import annotations

import functools
import subprocess
import unicodedata

PREFERRED = (
    "Noto Sans CJK SC",
    "Noto Sans CJK JP",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Microsoft YaHei",
    "PingFang SC",
    "SimHei",
    "Noto Serif CJK SC",
    "AR PL UMing CN",
)


def _fc_files() -> list[str]:
    """Font files ``fc-list :lang=zh`` reports (sans-serif first)."""
    try:
        out = subprocess.run(
            ["fc-list", ":lang=zh", "file"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    files = {line.split(":", 1)[0].strip() for line in out.splitlines() if line.strip()}
    return sorted(files, key=lambda p: ("Sans" not in p, "Bold" in p, p))


@functools.lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """The family name of a CJK font matplotlib can use, or ``None``.

    Files reported by fontconfig are registered with matplotlib first (its
    cache may predate them; the bold face is often missing from it).
    """
    import logging

    from matplotlib import font_manager

    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    for path in _fc_files():
        if "Sans" in path or "Hei" in path:
            try:
                font_manager.fontManager.addfont(path)
            except Exception:  # an unreadable font file: skip it
                continue
    known = {f.name for f in font_manager.fontManager.ttflist}
    for name in PREFERRED:
        if name in known:
            return name
    for path in _fc_files():
        try:
            font_manager.fontManager.addfont(path)
            return font_manager.FontProperties(fname=path).get_name()
        except Exception:
            continue
    return None


def needs_cjk(text: str | None) -> bool:
    """Whether ``text`` has characters outside Latin-1 (DejaVu covers the rest poorly)."""
    return bool(text) and any(ord(ch) > 0x2FF for ch in text)


def cell_width(ch: str) -> int:
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def wrap(text: str | None, width: int, max_lines: int | None = None) -> list[str]:
    """Wrap ``text`` at ``width`` cells (CJK characters count two), breaking anywhere."""
    lines: list[str] = []
    for para in (text or "").splitlines() or [""]:
        cur, w = "", 0
        for ch in para:
            cw = cell_width(ch)
            if w + cw > width and cur:
                lines.append(cur)
                cur, w = "", 0
            cur += ch
            w += cw
        lines.append(cur)
    if max_lines is not None and len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][: max(len(lines[-1]) - 1, 0)] + "…"
    return lines


def _face_index(path: str, family: str) -> int:
    from PIL import ImageFont

    for i in range(16):
        try:
            if ImageFont.truetype(path, 12, index=i).getname()[0] == family:
                return i
        except OSError:
            break
    return 0


def pil_font(size: int, bold: bool = False, mono: bool = False):
    """A Pillow font: the CJK font when there is one, else matplotlib's bundled DejaVu."""
    return _pil_font(None if mono else cjk_font(), size, bold, mono)


@functools.lru_cache(maxsize=64)
def _pil_font(family: str | None, size: int, bold: bool, mono: bool):
    import os

    import matplotlib
    from matplotlib import font_manager
    from PIL import ImageFont

    if family is not None:
        path = font_manager.findfont(
            font_manager.FontProperties(family=family, weight="bold" if bold else "normal"),
            fallback_to_default=False,
        )
        try:
            return ImageFont.truetype(path, size, index=_face_index(path, family))
        except OSError:
            pass
    name = "DejaVuSansMono" if mono else "DejaVuSans"
    name += "-Bold.ttf" if bold else ".ttf"
    return ImageFont.truetype(os.path.join(matplotlib.get_data_path(), "fonts", "ttf", name), size)


#: What an emoji the font cannot draw is shown as (the first one the font can draw).
EMOJI_PLACEHOLDER = ("[表情]", "[emoji]")


@functools.lru_cache(maxsize=16)
def _codepoints(path: str, index: int) -> frozenset[int] | None:
    """The characters a font file maps to glyphs, or ``None`` when its table cannot be read."""
    from fontTools.ttLib import TTFont

    try:
        with TTFont(path, fontNumber=index, lazy=True) as font:
            return frozenset(font.getBestCmap() or ())
    except Exception:  # an unreadable table: assume the font draws everything
        return None


def _covered(font) -> frozenset[int] | None:
    path = getattr(font, "path", None)
    return _codepoints(path, getattr(font, "index", 0)) if isinstance(path, str) else None


def covers(font, text: str) -> bool:
    """Whether ``font`` has a glyph for every visible character of ``text``."""
    cps = _covered(font)
    return cps is None or all(ord(ch) in cps or ch.isspace() for ch in text)


def _is_emoji(ch: str) -> bool:
    cp = ord(ch)
    return cp >= 0x1F000 or (0x2190 <= cp <= 0x2BFF and unicodedata.category(ch) == "So")


def _invisible(ch: str) -> bool:
    """Joiners, variation selectors, skin-tone and tag modifiers: parts of an emoji sequence."""
    cp = ord(ch)
    return unicodedata.category(ch) in ("Mn", "Me", "Cf") or 0x1F3FB <= cp <= 0x1F3FF


def drawable(text: str, font) -> str:
    """``text`` with every character ``font`` has no glyph for replaced (see the module docstring).

    An emoji sequence (emoji joined by ZWJ, with variation selectors and skin tones)
    is drawn whole or replaced whole by one placeholder: half of ``❤️‍🔥`` is not the emoji.
    """
    cps = _covered(font)
    if cps is None:
        return text
    placeholder = next((p for p in EMOJI_PLACEHOLDER if covers(font, p)), "?")
    out: list[str] = []
    run: list[str] = []

    def flush() -> None:
        if run and all(ord(c) in cps for c in run):
            out.append("".join(run))
        elif run and (not out or out[-1] != placeholder):  # one placeholder for a run of emoji
            out.append(placeholder)
        run.clear()

    for ch in text:
        if _is_emoji(ch) or (run and _invisible(ch)):
            run.append(ch)
            continue
        flush()
        if ord(ch) in cps or ch.isspace():
            out.append(ch)
        elif not _invisible(ch):
            out.append("?")
    flush()
    return "".join(out)


def font_for(text: str, size: int, bold: bool = False, mono: bool = False):
    """:func:`pil_font`, but the proportional (CJK) face when the monospace one lacks a glyph."""
    font = pil_font(size, bold, mono)
    if mono and not covers(font, text):
        return pil_font(size, bold, False)
    return font
