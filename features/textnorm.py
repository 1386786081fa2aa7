"""Text normalisation for template matching, as Polars expressions.

Two reviews are "the same text" for template detection when they agree after
folding full-width characters, case, and dropping everything that is not a
letter (punctuation, emoji, digits, white space). Chinese has no word
boundaries, so similarity is measured on characters, never on tokens.
"""

from __future__ import annotations

import polars as pl

_FULL = [chr(c) for c in range(0xFF01, 0xFF5F)] + ["\u3000"]
_HALF = [chr(c - 0xFEE0) for c in range(0xFF01, 0xFF5F)] + [" "]

#: Texts platforms fill in for buyers who wrote nothing, and one-word praise.
#: They repeat word for word among honest buyers and never count as templates.
PLATFORM_DEFAULTS: tuple[str, ...] = (
    "此用户没有填写评价",
    "此用户没有填写评价内容",
    "此用户未填写评价内容",
    "该用户未填写评价",
    "该用户未填写评价内容",
    "用户未填写评价内容",
    "系统默认好评",
    "默认好评",
    "评价方未及时做出评价系统默认好评",
    "好评",
    "好评好评",
    "五星好评",
    "非常好",
    "很好",
    "不错",
    "满意",
    "thisuserdidnotleaveareview",
    "thisuserdidnotfillinthereview",
    "good",
    "verygood",
    "great",
    "ok",
    "nice",
)

#: Normalised texts shorter than this are too short to be evidence of a template.
MIN_TEMPLATE_CHARS = 6


def normalize_text(expr: pl.Expr) -> pl.Expr:
    """Fold width and case, keep letters only."""
    return expr.str.replace_many(_FULL, _HALF).str.to_lowercase().str.replace_all(r"[^\p{L}]+", "")


def is_template_candidate(norm: pl.Expr) -> pl.Expr:
    """True when a normalised text is long enough and not a platform default."""
    return (norm.str.len_chars() >= MIN_TEMPLATE_CHARS) & ~norm.is_in(list(PLATFORM_DEFAULTS))
