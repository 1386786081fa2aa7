"""Input files: paths resolved into files, and each file opened as a frame.

:func:`resolve_inputs` expands files, directories (hive partitions such as
``dt=2025-01-01/part.parquet`` allowed; :func:`hive_partitions` reads them)
and globs into a sorted list of supported files; :func:`open_table` opens one,
as merchants have them:

* CSV: UTF-8 (a BOM allowed); the separator is sniffed from the first lines;
  title lines above the header row (a seller centre's "评价管理 导出 ..." line)
  are skipped: the header is the first line with two or more non-empty cells.
  Every value is read as text (ids such as ``00123`` keep their zeros). GBK
  and other encodings get an :class:`InputError` that says how to convert.
* Excel (``.xlsx``, ``.xlsm``, ``.xls``): the first sheet, read by calamine
  through fastexcel (the reader ``polars.read_excel(engine="calamine")``
  uses; called directly because polars' read casts integral float columns
  to Int64 and fails on 19-digit order ids stored as numbers). Title rows
  are skipped as in CSV; cell types are kept (text, numbers, datetimes), so
  the loader can tell order ids that Excel stored as rounded numbers.
* Parquet: scanned lazily.
"""

from __future__ import annotations

import codecs
import glob
import logging
import os
import urllib.parse
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from detector.errors import InputError

__all__ = ["SUFFIXES", "hive_partitions", "open_table", "resolve_inputs"]

#: Supported suffixes and the reader of each.
SUFFIXES: dict[str, str] = {
    ".parquet": "parquet",
    ".csv": "csv",
    ".xlsx": "excel",
    ".xlsm": "excel",
    ".xls": "excel",
}
_SEPARATORS = (",", "\t", ";", "|")
_GLOB_CHARS = ("*", "?", "[")
_HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"
_HEAD_LINES = 12  # lines (or sheet rows) searched for the header row

# fastexcel logs a warning per all-empty column (e.g. 追评内容 with no follow-ups)
logging.getLogger("fastexcel").setLevel(logging.ERROR)


def _head_text(path: Path) -> str:
    try:
        with path.open("rb") as fh:
            head = fh.read(1 << 16)
    except OSError as exc:
        raise InputError(f"cannot read input file {path}: {exc.strerror or exc}") from None
    try:
        return codecs.getincrementaldecoder("utf-8-sig")().decode(head, final=False)
    except UnicodeDecodeError:
        raise InputError(
            f"{path} is not UTF-8 text; re-save it as UTF-8 (exports in GBK/GB18030 "
            "can be converted with: iconv -f GB18030 -t UTF-8)"
        ) from None


def _cells(line: str, sep: str) -> list[str]:
    return [c.strip().strip('"').strip() for c in line.split(sep)]


def header_row(rows: list[list[str | None]]) -> int:
    """Index of the header row: the first with two or more non-empty cells (0 if none)."""
    for i, row in enumerate(rows[:_HEAD_LINES]):
        if sum(1 for c in row if c is not None and str(c).strip()) >= 2:
            return i
    return 0


def sniff_csv(path: Path) -> tuple[str, int]:
    """``(separator, title lines to skip)`` of a CSV file; :class:`InputError` if not UTF-8."""
    lines = _head_text(path).split("\n")[:_HEAD_LINES]
    lines = [ln.rstrip("\r") for ln in lines if ln.strip()] or [""]
    counts = {sep: sum(ln.count(sep) for ln in lines) for sep in _SEPARATORS}
    best = max(counts, key=lambda s: counts[s])
    sep = best if counts[best] > 0 else ","
    return sep, header_row([_cells(ln, sep) for ln in lines])


def _read_excel(path: Path) -> pl.DataFrame:
    try:
        import fastexcel
    except ImportError:  # pragma: no cover - a core dependency
        raise InputError(
            f"reading {path} needs fastexcel: pip install fastexcel (or save the sheet as CSV)"
        ) from None
    try:
        reader = fastexcel.read_excel(str(path))
        preview = reader.load_sheet(0, header_row=None, n_rows=_HEAD_LINES, dtypes="string")
        rows = preview.to_polars().rows()
        sheet = reader.load_sheet(0, header_row=header_row(rows), schema_sample_rows=None)
        return sheet.to_polars()
    except Exception as exc:  # fastexcel raises its own types for a bad workbook
        text = str(exc).strip().splitlines()
        raise InputError(
            f"cannot read Excel file {path}: {text[0] if text else type(exc).__name__}; "
            "check that it is a complete .xlsx/.xls workbook (or save the sheet as CSV)"
        ) from exc


def open_table(path: Path) -> pl.LazyFrame:
    """``path`` as a LazyFrame of its columns as stored (CSV: all text)."""
    kind = SUFFIXES[path.suffix.lower()]
    if kind == "parquet":
        return pl.scan_parquet(path, hive_partitioning=False, glob=False)
    if kind == "excel":
        return _read_excel(path).lazy()
    sep, skip = sniff_csv(path)
    return pl.scan_csv(
        path,
        glob=False,  # a file named "x[1].csv" is that file, not a pattern
        separator=sep,
        skip_rows=skip,
        infer_schema=False,  # keep ids such as "00123" as written
        encoding="utf8",
        raise_if_empty=True,
    )


# --------------------------------------------------------------------------- paths


def _supported(path: Path) -> bool:
    return path.suffix.lower() in SUFFIXES


def _expand_dir(root: Path) -> list[Path]:
    """Supported files under ``root``, skipping hidden and ``_``-prefixed names (``_SUCCESS``, temp files)."""
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith((".", "_"))]
        for name in filenames:
            p = Path(dirpath, name)
            if not name.startswith((".", "_")) and _supported(p):
                out.append(p)
    return out


def _expand_glob(text: str) -> list[Path]:
    files: list[Path] = []
    for match in glob.glob(os.path.expanduser(text), recursive=True):
        m = Path(match)
        if m.is_dir():
            files.extend(_expand_dir(m))
        elif m.is_file() and _supported(m):
            files.append(m)
    if not files:
        raise InputError(f"no .parquet, .csv or .xlsx files match {text!r}")
    return files


def _expand(text: str) -> list[Path]:
    """The files one input item names (a file name is taken as written, before any glob)."""
    path = Path(text).expanduser()
    if path.is_dir():
        files = _expand_dir(path)
        if not files:
            raise InputError(f"no .parquet, .csv or .xlsx files under directory {text}")
        return files
    if path.is_file():
        if not _supported(path):
            raise InputError(
                f"unsupported input file {text}: expected a .parquet, .csv, .xlsx or .xls file "
                f"(got '{path.suffix or 'no suffix'}')"
            )
        return [path]
    if any(c in text for c in _GLOB_CHARS):
        return _expand_glob(text)
    if path.exists():
        raise InputError(f"input {text} is neither a file nor a directory")
    raise InputError(f"input path does not exist: {text}")


def resolve_inputs(inputs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Expand files, directories (recursively ``*.parquet`` / ``*.csv``) and globs into a sorted file list.

    Raises :class:`InputError` for a path that does not exist, a directory or glob
    with no Parquet/CSV/Excel file, a file of another type, or a file that cannot be read.
    """
    items = [inputs] if isinstance(inputs, str | os.PathLike) else list(inputs)
    if not items:
        raise InputError("no input given; pass a Parquet, CSV or Excel file, a directory or a glob")
    found: set[Path] = set()
    for item in items:
        files = _expand(os.fspath(item))
        for f in files:
            if not os.access(f, os.R_OK):
                raise InputError(f"cannot read input file {f}: permission denied")
        found.update(files)
    return sorted(found)


def hive_partitions(path: Path) -> dict[str, str | None]:
    """``key=value`` directories directly above ``path``, outermost first (values URL-decoded)."""
    parts: list[tuple[str, str | None]] = []
    for parent in path.parents:
        key, sep, value = parent.name.partition("=")
        if not sep or not key:
            break
        decoded = urllib.parse.unquote(value)
        parts.append((urllib.parse.unquote(key), None if decoded == _HIVE_NULL else decoded))
    return dict(reversed(parts))
