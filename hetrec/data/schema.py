"""Validated CSV reading shared by the loaders.

Every check is vectorised (a boolean mask, then ``np.flatnonzero(mask)[0]`` for the first
bad row) and every failure is a one-line :class:`HetrecError` naming file, row and column.
Rows count as in a spreadsheet: the header is row 1, the first data row is row 2
(a quoted field spanning lines shifts later row numbers; the Goodbooks and MovieLens files have none).
"""
from __future__ import annotations

import io
import os
import re
import warnings
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from hetrec.errors import HetrecError, where

# Column kinds: "int" = required integer id, "float" = required number,
# "float?" = number or empty (NaN), "str" = text, empty -> "".
KINDS = ("int", "float", "float?", "str")


def first_row(mask: np.ndarray) -> int:
    """File row (header = 1) of the first True in a per-data-row mask."""
    return int(np.flatnonzero(mask)[0]) + 2


def read_bytes(path: str | os.PathLike, *, what: str = "file") -> bytes:
    """Read a file that must exist, be non-empty and be valid UTF-8 (a leading BOM is dropped)."""
    path = Path(path)
    if not path.is_file():
        raise HetrecError(f"{path}: {what} not found; check the directory or the file name")
    data = path.read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if not data.strip():
        raise HetrecError(f"{path}: file is empty; expected a CSV header and data rows")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        row = data.count(b"\n", 0, e.start) + 1
        raise HetrecError(
            f"{where(path, row)}: invalid UTF-8 byte 0x{data[e.start]:02x} at byte {e.start}; "
            "re-save the file as UTF-8"
        ) from None
    return data


def header(path: str | os.PathLike, *, sep: str = ",") -> list[str]:
    """Column names of a CSV file (stripped), for loaders that take every column."""
    try:
        return pd.read_csv(io.BytesIO(read_bytes(path)), nrows=0, sep=sep).columns.map(str).str.strip().tolist()
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise HetrecError(f"{where(path, 1)}: unreadable CSV header ({e}); check the file format") from None


def read_csv(path: str | os.PathLike, columns: Mapping[str, str], *,
             optional: Mapping[str, str] | None = None, allow_empty: bool = False, sep: str = ",") -> pd.DataFrame:
    """Read ``path`` keeping only ``columns`` (required) and any ``optional`` ones present.

    ``columns``/``optional`` map column name -> kind (see ``KINDS``). Returns a DataFrame
    with a RangeIndex aligned with data rows (index i is file row i + 2): ints as int64,
    floats as float64, text as str with empty cells as "". Extra columns are ignored; a row with
    more fields than the header is an error (pandas would drop or shift them). Integers are read exactly.
    """
    path = Path(path)
    optional = dict(optional or {})
    data = read_bytes(path)
    try:
        header = pd.read_csv(io.BytesIO(data), nrows=0, sep=sep).columns.map(str).str.strip()
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise HetrecError(f"{where(path, 1)}: unreadable CSV header ({e}); check the file format") from None
    for name in columns:
        if name not in header:
            raise HetrecError(
                f"{where(path, 1, name)}: required column missing (found: {', '.join(header)}); "
                "add the column or fix the header"
            )
    wanted = {**{k: v for k, v in optional.items() if k in header}, **columns}
    text = [k for k, v in wanted.items() if v == "str"]
    try:  # every column is parsed (not usecols): a row with more fields than the header must be an error
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            df = pd.read_csv(io.BytesIO(data), index_col=False, dtype={c: str for c in text},
                             keep_default_na=False, na_values=[""], skipinitialspace=True, engine="c", sep=sep)
    except pd.errors.ParserWarning:  # pandas' message when the first data row is the long one
        raise _extra_fields(path, 2, len(header)) from None
    except (pd.errors.ParserError, ValueError) as e:
        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(e))
        if m:
            raise _extra_fields(path, int(m.group(2)), int(m.group(1)), int(m.group(3))) from None
        raise HetrecError(f"{path}: malformed CSV ({str(e).strip()}); fix the reported line") from None
    df.columns = df.columns.map(str).str.strip()
    df = df[[c for c in df.columns if c in wanted]]
    if len(df) == 0 and not allow_empty:
        raise HetrecError(f"{path}: no data rows below the header; the file needs at least one row")
    out = {}
    for name, kind in wanted.items():
        if kind not in KINDS:
            raise ValueError(f"unknown column kind {kind!r} for {name!r}; use one of {KINDS}")
        out[name] = _convert(df[name], kind, path, name)
    return pd.DataFrame(out)


def convert(col: pd.Series, kind: str, path: str | os.PathLike, name: str) -> pd.Series:
    """Convert one column read as text (``read_csv`` kind "str", index = data row) to ``kind``."""
    return _convert(col.replace("", np.nan) if kind != "str" else col, kind, Path(path), name)


def _extra_fields(path: Path, row: int, expected: int, saw: int | None = None) -> HetrecError:
    saw_text = f"{saw} fields" if saw else "more fields"
    return HetrecError(f"{where(path, row)}: {saw_text} but the header has {expected}; "
                       "quote fields that contain commas or remove the extra ones")


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
EXACT_FLOAT = 2**53  # float64 holds every integer below this exactly, and not all above


def _bad(path: Path, name: str, col: pd.Series, i: int, why: str) -> HetrecError:
    raw = col.iloc[i]
    shown = "an empty cell" if pd.isna(raw) or str(raw).strip() == "" else f"'{str(raw).strip()}'"
    return HetrecError(f"{where(path, i + 2, name)}: {shown} {why}; fix or remove the row")


def _exact_int(col: pd.Series, path: Path, name: str) -> pd.Series:
    """An integer column as int64, exactly: never through float64 beyond 2^53 and never wrapping past int64
    (an id of 2^53 + 1 must not merge with 2^53, nor 2^63 turn negative)."""
    not_int = "is not an integer id"
    too_big = "does not fit a 64-bit integer (ids and timestamps lie in [-2^63, 2^63 - 1])"
    dt = col.dtype
    if pd.api.types.is_integer_dtype(dt) and not isinstance(dt, pd.BooleanDtype):
        if pd.api.types.is_unsigned_integer_dtype(dt):  # pandas reads 2^63 .. 2^64 - 1 as uint64
            over = col.to_numpy() > np.uint64(INT64_MAX)
            if over.any():
                raise _bad(path, name, col, int(np.flatnonzero(over)[0]), too_big)
        return col.astype(np.int64)
    if pd.api.types.is_float_dtype(dt):  # written with a decimal point ("3.0"), or empty cells
        v = col.to_numpy(dtype=np.float64, na_value=np.nan)
        for bad, why in ((~np.isfinite(v) | (v != np.round(v)), not_int),
                         (np.abs(v) >= EXACT_FLOAT, "is too large to read exactly with a decimal point; "
                                                    "write it as a plain integer")):
            if bad.any():
                raise _bad(path, name, col, int(np.flatnonzero(bad)[0]), why)
        return pd.Series(v.astype(np.int64), index=col.index)
    # text (some cell is not a number, or beyond 64 bits): each cell read exactly as a Python int
    text = col.astype(object).where(col.notna(), "").map(str).str.strip()
    ok = text.str.fullmatch(r"[+-]?\d+(\.0*)?").to_numpy(dtype=bool)
    if not ok.all():
        raise _bad(path, name, col, int(np.flatnonzero(~ok)[0]), not_int)
    values = [int(t.split(".")[0]) for t in text]
    over = np.array([not (INT64_MIN <= x <= INT64_MAX) for x in values])
    if over.any():
        raise _bad(path, name, col, int(np.flatnonzero(over)[0]), too_big)
    return pd.Series(np.array(values, dtype=np.int64), index=col.index)


def _convert(col: pd.Series, kind: str, path: Path, name: str) -> pd.Series:
    """Convert one column, raising on the first bad cell."""
    if kind == "str":
        return col.fillna("").astype(str).str.strip()
    if kind == "int":
        return _exact_int(col, path, name)
    values = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    missing = col.isna().to_numpy()
    bad = np.isinf(values) | (np.isnan(values) & ~missing if kind == "float?" else np.isnan(values))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raw = "" if missing[i] else str(col.iloc[i])
        expected = {"float": "a finite number", "float?": "a finite number or empty"}[kind]
        shown = f"'{raw}'" if raw else "an empty cell"
        raise HetrecError(f"{where(path, i + 2, name)}: {shown} is not {expected}; fix or remove the row")
    return pd.Series(values, index=col.index)


def check_range(df: pd.DataFrame, column: str, lo: float, hi: float, path: str | os.PathLike) -> None:
    """Every value of ``column`` lies in [lo, hi], else name the first row outside."""
    v = df[column].to_numpy()
    bad = (v < lo) | (v > hi)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise HetrecError(
            f"{where(path, i + 2, column)}: value {v[i]:g} outside the declared range [{lo:g}, {hi:g}]; "
            "fix the row or declare the right rating range"
        )


def check_known(ids: pd.Series, known: pd.Series | np.ndarray, path: str | os.PathLike, column: str,
                catalogue: str) -> None:
    """Every id in ``ids`` appears in ``known``, else name the first unknown one."""
    bad = ~np.isin(ids.to_numpy(), np.asarray(known))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise HetrecError(
            f"{where(path, i + 2, column)}: id {ids.iloc[i]} is not in {catalogue} "
            f"({int(bad.sum())} rows affected); add it there or remove these rows"
        )


def check_unique(df: pd.DataFrame, columns: list[str], path: str | os.PathLike) -> None:
    """No repeated key in a catalogue file (a repeated id would be ambiguous)."""
    dup = df.duplicated(columns, keep="first").to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        key = ", ".join(f"{c}={df[c].iloc[i]}" for c in columns)
        raise HetrecError(f"{where(path, i + 2, columns[0])}: repeated {key}; each id must appear once")


def drop_duplicate_pairs(df: pd.DataFrame, keys: list[str]) -> tuple[pd.DataFrame, int]:
    """Keep the last row of each repeated key (a re-rating replaces the earlier one)."""
    dup = df.duplicated(keys, keep="last").to_numpy()
    return df[~dup], int(dup.sum())


def fingerprints(*paths: str | os.PathLike) -> dict[str, str]:
    """File name -> content hash for the manifest."""
    from hetrec.artifacts import file_fingerprint

    return {Path(p).name: file_fingerprint(p) for p in paths}
