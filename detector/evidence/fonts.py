"""A CJK-capable font for matplotlib, or ``None`` (callers then avoid CJK text).

Looked up once: the families matplotlib already knows, then the files
``fc-list :lang=zh`` reports (fonts installed after matplotlib built its
cache). Install one with ``apt-get install fonts-noto-cjk``.
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
