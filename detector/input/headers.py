"""A file's headers onto contract names: ``--columns``, the preset, and what to say when one is missing.

``--columns`` keys match a header exactly (after trimming) or tolerantly
(:func:`detector.input.presets.header_key`); the preset maps the headers left,
onto the contract columns neither ``--columns`` nor a header already names.
A ``--columns`` key that names no header of any input file is an error listing
the file's headers; a missing required column is an error suggesting the
``--columns`` item to add (:data:`HEADER_HINTS`).
"""

from __future__ import annotations

import re
from pathlib import Path

from detector.errors import InputError
from detector.input.presets import header_key, match_headers
from detector.input.schema import CONTRACT

__all__ = [
    "HEADER_HINTS",
    "check_mapping_keys",
    "clean_header",
    "header_renames",
    "missing_message",
    "parse_column_map",
]

#: Headers seen in seller-centre exports, used only to suggest a --columns mapping.
HEADER_HINTS: dict[str, tuple[str, ...]] = {
    "review_id": ("评价ID", "评价id", "评价编号", "评论ID", "评论id", "评论编号", "评价单号"),
    "shop_id": ("店铺", "店铺ID", "店铺id", "店铺编号", "店铺名称", "商家", "商家ID"),
    "product_id": ("商品ID", "商品id", "商品编号", "宝贝ID", "宝贝id", "商品", "SKU", "sku"),
    "user_id": ("买家", "买家ID", "买家id", "买家昵称", "用户ID", "用户id", "用户", "会员名"),
    "rating": ("评分", "星级", "评价星级", "商品评分", "打分"),
    "created_at": ("评价时间", "评论时间", "创建时间", "时间"),
    "text": ("评价内容", "评论内容", "内容"),
    "order_id": ("订单号", "订单编号", "订单ID", "订单id"),
    "ip": ("IP", "IP地址", "ip地址"),
    "device_id": ("设备ID", "设备id", "设备号"),
    "delivered_at": ("签收时间", "收货时间"),
}


def parse_column_map(spec: str | None) -> dict[str, str]:
    """Parse ``"订单号=order_id,评价时间=created_at"`` into ``{"订单号": "order_id", ...}``.

    Items are separated by ``,`` (or a full-width ``，`` or a newline); white space
    around names is ignored, empty items are skipped. A missing ``=``, an empty
    name, a header given twice or two headers onto one name raise
    :class:`InputError`.
    """
    if spec is None or not spec.strip():
        return {}
    mapping: dict[str, str] = {}
    for raw_item in re.split(r"[,，\n]", spec):
        item = raw_item.strip()
        if not item:
            continue
        source, sep, target = item.replace("＝", "=").partition("=")
        source, target = source.strip().lstrip("\ufeff"), target.strip()
        if not sep or not source or not target or "=" in target:
            raise InputError(
                f"bad column mapping item {item!r} in --columns {spec!r}; "
                "write it as 'FILE_HEADER=contract_name', e.g. '评分=rating,评价时间=created_at'"
            )
        if source in mapping:
            raise InputError(f"column mapping names header {source!r} twice in --columns {spec!r}")
        if target in mapping.values():
            others = [s for s, t in mapping.items() if t == target]
            raise InputError(
                f"column mapping maps both {others[0]!r} and {source!r} onto {target!r} "
                f"in --columns {spec!r}; keep one"
            )
        mapping[source] = target
    return mapping


def clean_header(name: str) -> str:
    """A header without the stray white space and BOM exports leave around it."""
    return name.strip().lstrip("\ufeff").strip()


def header_renames(names: list[str], read) -> tuple[dict[str, str], set[str]]:
    """``{header as in the file: name after mapping}`` and the --columns keys found.

    ``read`` is a :class:`detector.input.spec.ReadOptions` (its ``mapping`` and ``preset``).
    """
    clean = {n: clean_header(n) for n in names}
    by_key: dict[str, str] = {}
    for n in names:
        by_key.setdefault(header_key(clean[n]), n)
    explicit: dict[str, str] = {}
    given: set[str] = set()
    for key, target in read.mapping.items():
        hit = next((n for n in names if clean[n] == key or n == key), None)
        hit = hit or by_key.get(header_key(key))
        if hit is not None:
            explicit[hit] = target
            given.add(key)
    auto: dict[str, str] = {}
    if read.preset is not None:
        named = set(explicit.values()) | {clean[n] for n in names if clean[n] in CONTRACT}
        synonyms = {c: v for c, v in read.preset.headers.items() if c not in named}
        auto = match_headers([n for n in names if n not in explicit], synonyms)
    renames = {n: explicit.get(n) or auto.get(n) or clean[n] for n in names}
    return renames, given


def missing_message(
    path: Path, missing: list[str], found: list[str], mapping: dict[str, str]
) -> str:
    """What to say when required columns are missing: the ``--columns`` items to add."""
    pairs = []
    used = set(mapping)
    for name in missing:
        hint = next((h for h in HEADER_HINTS.get(name, ()) if h in found and h not in used), None)
        used.add(hint or "")
        pairs.append(f"{hint or 'YOUR_HEADER'}={name}")
    names = ", ".join(f"'{m}'" for m in missing)
    shown = ", ".join(found) if found else "(none)"
    if len(missing) == 1:
        what, it = f"missing required column {names}", "it"
    else:
        what, it = f"missing required columns {names}", "them"
    extra = ""
    if "shop_id" in missing:
        extra = "; an export of one shop needs no shop column: pass --shop NAME"
    return (
        f"{what} in {path}; map {it} with --columns '{','.join(pairs)}'{extra} "
        f"(found columns: {shown})"
    )


def check_mapping_keys(mapping: dict[str, str], plans: list) -> None:
    """:class:`InputError` for a ``--columns`` key that names a header of no input file.

    ``plans`` are :class:`detector.input.plan.FilePlan` (their ``given`` keys, ``headers``).
    """
    found = set().union(*(p.given for p in plans)) if plans else set()
    unknown = [k for k in mapping if k not in found]
    if not unknown:
        return
    first = plans[0]
    raise InputError(
        f"--columns names header {unknown[0]!r}, which no input file has; the headers of "
        f"{first.path} are: {', '.join(first.headers) or '(none)'}. Spell it as the file "
        "does, or leave it out"
    )
