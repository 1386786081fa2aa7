"""IP address parsing and network keys, as Polars expressions.

Everything here is vectorised: regular expressions, lookups and string
concatenation, with no per-row or per-unique-value Python. The rules follow
Python's :mod:`ipaddress` (``ipaddress.ip_address``), which the tests use as
the reference:

* IPv4 is a strict dotted quad: four decimal octets 0-255, ASCII digits only,
  no leading zeros ("01.2.3.4" is invalid, as in Python >= 3.9.5), nothing
  before or after.
* IPv6 is 1-4 hex digits per group, at most one ``::`` standing for at least one
  zero group, an optional embedded IPv4 dotted quad as the last 32 bits
  (``::ffff:1.2.3.4``) and an optional ``%scope`` suffix (``fe80::1%eth0``).

Nothing strips white space: ``" 1.2.3.4"`` is invalid. Callers that read
untidy input strip first (the contract loader does).

Implementation note: intermediate results are bound as fields of a struct with
``struct.with_fields`` so that each step runs once per row; writing the same
logic as nested expressions repeats shared sub-expressions and was ~10x slower.
"""

from __future__ import annotations

import polars as pl

_F = pl.field

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])"
_IPV4 = rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}"
_IPV4_FULL = rf"^{_IPV4}$"
_IPV4_GROUPS = rf"^({_OCTET})\.({_OCTET})\.({_OCTET})\.({_OCTET})$"
# An embedded IPv4 tail of an IPv6 address, with its octets captured.
_IPV4_TAIL = rf":({_OCTET})\.({_OCTET})\.({_OCTET})\.({_OCTET})$"

_HEX = "[0-9a-f]{1,4}"
_V6_FULL = rf"^{_HEX}(?::{_HEX}){{7}}$"
_V6_COMPRESSED = rf"^(?:{_HEX}(?::{_HEX})*)?::(?:{_HEX}(?::{_HEX})*)?$"

# Decimal octet text -> two hex digits, for converting an embedded IPv4 tail.
_OCTET_TEXT = [str(i) for i in range(256)]
_OCTET_HEX = [f"{i:02x}" for i in range(256)]

# Zero groups a "::" stands for, by how many groups it replaces.
_ZERO_RUNS = {k: ":".join(["0"] * k) for k in range(1, 9)}


def _first_longest_zero_run(mask: int) -> tuple[int, int]:
    """(start, length) of the first longest run of zero groups (bit i set = group i is 0).

    Length 0 when the longest run is shorter than 2: Python and RFC 5952 only
    compress runs of two or more groups.
    """
    best_start, best_len, start = 0, 0, None
    for i in range(9):
        if i < 8 and mask >> i & 1:
            start = i if start is None else start
        elif start is not None:
            if i - start > best_len:
                best_start, best_len = start, i - start
            start = None
    return (best_start, best_len) if best_len >= 2 else (0, 0)


_MASKS = list(range(256))
_RUN_START = [_first_longest_zero_run(m)[0] for m in _MASKS]
_RUN_LEN = [_first_longest_zero_run(m)[1] for m in _MASKS]
_GROUPS = [f"g{i}" for i in range(8)]


def _col(expr: pl.Expr | str) -> pl.Expr:
    return pl.col(expr) if isinstance(expr, str) else expr


def _octet_hex(octet: pl.Expr) -> pl.Expr:
    return octet.replace_strict(_OCTET_TEXT, _OCTET_HEX, default=None, return_dtype=pl.String)


def _parsed(expr: pl.Expr | str, *, groups: bool) -> pl.Expr:
    """A struct describing each address.

    Fields: ``s`` (input), ``v4`` and ``v6`` (validity), ``scope`` (``%...`` or
    null); with ``groups=True`` also ``g0`` ... ``g7``, the eight IPv6 groups in
    lowercase hex without leading zeros (meaningful only where ``v6``).
    """
    st = pl.struct(_col(expr).cast(pl.String).alias("s"))
    st = st.struct.with_fields(
        v4=_F("s").str.contains(_IPV4_FULL),
        split=_F("s").str.splitn("%", 2),
    )
    st = st.struct.with_fields(
        addr=_F("split").struct.field("field_0"),
        scope_id=_F("split").struct.field("field_1"),  # null without '%'
    )
    # Python splits the scope off at the first '%' and wants a non-empty scope without '%'.
    st = st.struct.with_fields(
        scope=pl.concat_str([pl.lit("%"), _F("scope_id")]),
        scope_ok=(_F("addr") != "")
        & (
            _F("scope_id").is_null()
            | ((_F("scope_id") != "") & ~_F("scope_id").str.contains("%", literal=True))
        ),
    )
    st = st.struct.with_fields(tail=_F("addr").str.extract_groups(_IPV4_TAIL))
    # An embedded IPv4 tail becomes two hex groups; then everything is hex and ':'.
    octet = [_F("tail").struct[i] for i in range(4)]
    converted = pl.concat_str(
        [
            _F("addr").str.replace(rf"{_IPV4}$", ""),
            _octet_hex(octet[0]),
            _octet_hex(octet[1]),
            pl.lit(":"),
            _octet_hex(octet[2]),
            _octet_hex(octet[3]),
        ]
    )
    st = st.struct.with_fields(
        h=pl.when(octet[0].is_not_null()).then(converted).otherwise(_F("addr")).str.to_lowercase()
    )
    st = st.struct.with_fields(parts=_F("h").str.splitn("::", 2))
    st = st.struct.with_fields(
        head=_F("parts").struct.field("field_0"),
        rest=_F("parts").struct.field("field_1"),  # null when there is no "::"
    )

    def n_groups(x: pl.Expr) -> pl.Expr:
        return (
            pl.when(x.is_null() | (x == ""))
            .then(0)
            .otherwise(x.str.count_matches(":", literal=True) + 1)
        )

    st = st.struct.with_fields(n=n_groups(_F("head")) + n_groups(_F("rest")))
    st = st.struct.with_fields(
        v6=_F("scope_ok")
        & (_F("h").str.contains(_V6_FULL) | (_F("h").str.contains(_V6_COMPRESSED) & (_F("n") <= 7)))
    )
    if not groups:
        return st
    zeros = (8 - _F("n")).replace_strict(
        list(_ZERO_RUNS), list(_ZERO_RUNS.values()), default=None, return_dtype=pl.String
    )
    expanded = pl.concat_str(
        [
            pl.when(_F("head") != "").then(_F("head")),
            zeros,
            pl.when(_F("rest") != "").then(_F("rest")),
        ],
        separator=":",
        ignore_nulls=True,
    )
    st = st.struct.with_fields(
        full=pl.when(_F("rest").is_null()).then(_F("h")).otherwise(expanded).str.split_exact(":", 7)
    )
    st = st.struct.with_fields(
        [
            _F("full")
            .struct.field(f"field_{i}")
            .str.strip_chars_start("0")
            .replace("", "0")
            .alias(g)
            for i, g in enumerate(_GROUPS)
        ]
    )
    return st


def _zero_mask(groups: list[pl.Expr]) -> pl.Expr:
    mask = pl.lit(0, pl.Int32)
    for i, g in enumerate(groups):
        mask = mask + (g == "0").cast(pl.Int32) * (1 << i)
    return mask


def _compressed(groups: list[pl.Expr], mask: pl.Expr) -> pl.Expr:
    """Join eight groups with the first longest run of >= 2 zero groups written as '::'.

    ``mask`` is ``_zero_mask(groups)``, passed in so callers can bind it once.
    """
    start = mask.replace_strict(_MASKS, _RUN_START, return_dtype=pl.Int32)
    length = mask.replace_strict(_MASKS, _RUN_LEN, return_dtype=pl.Int32)
    head = pl.concat_str(
        [pl.when(start > i).then(g) for i, g in enumerate(groups)], separator=":", ignore_nulls=True
    )
    tail = pl.concat_str(
        [pl.when(start + length <= i).then(g) for i, g in enumerate(groups)],
        separator=":",
        ignore_nulls=True,
    )
    return (
        pl.when(length >= 2)
        .then(pl.concat_str([head, pl.lit("::"), tail]))
        .otherwise(pl.concat_str(groups, separator=":"))
    )


def ip_is_valid(expr: pl.Expr | str) -> pl.Expr:
    """True for a valid IPv4 dotted quad or IPv6 text, False otherwise, null for null."""
    st = _parsed(expr, groups=False).struct.with_fields(
        out=pl.when(_F("s").is_null()).then(pl.lit(None, pl.Boolean)).otherwise(_F("v4") | _F("v6"))
    )
    return st.struct.field("out")


def ip_version(expr: pl.Expr | str) -> pl.Expr:
    """4 or 6 (Int8); null for null or invalid."""
    st = _parsed(expr, groups=False).struct.with_fields(
        out=pl.when(_F("v4"))
        .then(pl.lit(4, pl.Int8))
        .when(_F("v6"))
        .then(pl.lit(6, pl.Int8))
        .otherwise(pl.lit(None, pl.Int8))
    )
    return st.struct.field("out")


def ipv4_to_int(expr: pl.Expr | str) -> pl.Expr:
    """IPv4 address as UInt32; null for null, invalid or IPv6."""
    octets = _col(expr).str.extract_groups(_IPV4_GROUPS)
    total = pl.lit(0, pl.Int64)
    for i, weight in enumerate((1 << 24, 1 << 16, 1 << 8, 1)):
        total = total + octets.struct[i].cast(pl.Int64) * weight
    return total.cast(pl.UInt32)


def ip_normalized(expr: pl.Expr | str) -> pl.Expr:
    """Canonical text: IPv4 as is, IPv6 lowercase and compressed like ``str(ipaddress.ip_address(x))``.

    A scope suffix is kept verbatim. IPv4-mapped addresses take the hex form of
    Python <= 3.12 (``::ffff:102:304``). Null for null or invalid.
    """
    st = _parsed(expr, groups=True)
    groups = [_F(g) for g in _GROUPS]
    st = st.struct.with_fields(mask=_zero_mask(groups))
    st = st.struct.with_fields(
        out=pl.when(_F("v4"))
        .then(_F("s"))
        .when(_F("v6"))
        .then(pl.concat_str([_compressed(groups, _F("mask")), _F("scope")], ignore_nulls=True))
        .otherwise(pl.lit(None, pl.String))
    )
    return st.struct.field("out")


def ip_prefix(expr: pl.Expr | str) -> pl.Expr:
    """Network key: IPv4 /24 as ``"203.0.113.0/24"``, IPv6 /64 as ``"2001:db8:0:1::/64"``.

    The IPv6 key is the compressed network address, equal to
    ``str(ipaddress.ip_network(f"{ip}/64", strict=False))``, so every spelling of
    one /64 gives one key; the scope is ignored. An IPv4-mapped IPv6 address
    (``::ffff:a.b.c.d``) gets the /24 key of its IPv4 address: they all share
    the single /64 ``::/64`` and would otherwise look like one network.
    Null for null or invalid.
    """
    st = _parsed(expr, groups=True)
    net = [_F(g) for g in _GROUPS[:4]] + [pl.lit("0")] * 4
    st = st.struct.with_fields(
        mask=_zero_mask(net),
        mapped=pl.all_horizontal([_F(g) == "0" for g in _GROUPS[:5]]) & (_F("g5") == "ffff"),
        hi=_F("g6").str.to_integer(base=16, strict=False),
        lo=_F("g7").str.to_integer(base=16, strict=False),
    )
    mapped = pl.concat_str(
        [
            (_F("hi") // 256).cast(pl.String),
            pl.lit("."),
            (_F("hi") % 256).cast(pl.String),
            pl.lit("."),
            (_F("lo") // 256).cast(pl.String),
            pl.lit(".0/24"),
        ]
    )
    st = st.struct.with_fields(
        out=pl.when(_F("v4"))
        .then(_F("s").str.replace(r"\.[0-9]+$", ".0/24"))
        .when(_F("v6") & _F("mapped"))
        .then(mapped)
        .when(_F("v6"))
        .then(pl.concat_str([_compressed(net, _F("mask")), pl.lit("/64")]))
        .otherwise(pl.lit(None, pl.String))
    )
    return st.struct.field("out")


# --------------------------------------------------------------------------- masked addresses

#: A masked IPv4 address as review pages show it: the leading octets, the rest
#: ``*`` (or ``x``/``X``/``**``): ``117.136.*.*`` reveals a /16, ``117.136.5.*`` a /24.
_MASK = r"(?:\*+|[xX]+)"
_MASKED_16 = rf"^({_OCTET})\.({_OCTET})\.{_MASK}\.{_MASK}$"
_MASKED_24 = rf"^({_OCTET})\.({_OCTET})\.({_OCTET})\.{_MASK}$"


def ip_masked(expr: pl.Expr | str) -> pl.Expr:
    """Canonical masked IPv4 text (``"117.136.*.*"``, ``"117.136.5.*"``); null when not masked."""
    e = _col(expr)
    return pl.coalesce(
        e.str.extract_groups(_MASKED_24)
        .struct.with_fields(
            out=pl.concat_str([_F("1"), _F("2"), _F("3"), pl.lit("*")], separator=".")
        )
        .struct.field("out"),
        e.str.extract_groups(_MASKED_16)
        .struct.with_fields(
            out=pl.concat_str([_F("1"), _F("2"), pl.lit("*"), pl.lit("*")], separator=".")
        )
        .struct.field("out"),
    )


def masked_prefix(expr: pl.Expr | str) -> pl.Expr:
    """Network key of a canonical masked address: ``"117.136.0.0/16"``, ``"117.136.5.0/24"``.

    The /24 key equals :func:`ip_prefix` of any full address in it, so a masked
    and a full address of one /24 share a network; a /16 key is its own.
    """
    e = _col(expr)
    return (
        pl.when(e.str.ends_with(".*.*"))
        .then(e.str.replace(r"\.\*\.\*$", ".0.0/16"))
        .otherwise(e.str.replace(r"\.\*$", ".0/24"))
    )
