"""Row-level validation of input frames against the contract: good rows typed, bad rows with reasons.

One definition for every edge (CLI files, HTTP bodies): types are strict (a JSON object is not a string, `true`
is not a count, a NaN count is not "missing"), counts and dates are bounded by `InputLimits`, strings by the
contract's lengths, and a CSV row cut short by a truncated file is rejected instead of read with defaults.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

import numpy as np
import pandas as pd

from features.contract import (
    DEFAULT_HANDLE_MINUTES,
    DEFAULT_REGION,
    MAX_HANDLE_MINUTES,
    QUARANTINE_EXCERPT_CHARS,
    SERIES_KEY,
    Column,
    InputLimits,
    Kind,
    TableContract,
    contract_for,
)
from features.errors import MissingColumnsError

__all__ = [
    "CUT_ROW_ATTR",
    "FieldError",
    "NewSeriesCap",
    "RejectedRow",
    "Validated",
    "quarantine_copy",
    "validate_frame",
]

CUT_ROW_ATTR = "needcast_cut_last_row"
"""`DataFrame.attrs` key a reader sets on a frame whose last row the file ended inside (value: the reason)."""

_KEY_CONTROL = r"[\x00-\x1f\x7f\ud800-\udfff]"  # ids: no control character (series ids join on \x1f), no surrogate
_TEXT_CONTROL = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]"  # texts may hold tabs and line breaks
_EXPECTED = {"date": "an ISO 8601 date string", "str": "a string", "text": "a string", "int": "a whole number",
             "float": "a number"}


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


@dataclass
class RejectedRow:
    """A row that broke the contract: its 0-based index in the input, its reasons and a bounded copy of its values."""

    index: int
    errors: list[FieldError]
    row: dict[str, object]


@dataclass
class Validated:
    """Typed good rows (contract columns only), the rejected ones, and each good row's 0-based input index."""

    good: pd.DataFrame
    rejected: list[RejectedRow] = field(default_factory=list)
    good_rows: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.good_rows is None:
            self.good_rows = np.arange(len(self.good))


def _json_type(value: object) -> str:
    if isinstance(value, bool | np.bool_):
        return "boolean"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list | tuple | np.ndarray):
        return "array"
    if isinstance(value, int | float | np.number | Decimal):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, date | datetime | np.datetime64):
        return "date"
    return type(value).__name__


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def _type_ok(value: object, dtype: str) -> bool:
    """Whether one non-blank raw value has a type this column accepts (text is parsed later)."""
    if isinstance(value, str):
        return True
    if dtype == "date":
        return isinstance(value, date | datetime | np.datetime64)
    if dtype in ("str", "text"):
        return _is_int(value)  # numeric ids (region codes) are text without loss
    if dtype in ("int", "float"):
        return _is_int(value) or isinstance(value, float | np.floating | Decimal)
    return False


def _as_float(value: object) -> float:
    """A number or numeric text as float; NaN where it is not one (huge integers become inf, out of range)."""
    try:
        return float(value.strip()) if isinstance(value, str) else float(value)
    except (ValueError, OverflowError):
        return math.inf if _is_int(value) else math.nan


class _Checker:
    """Collects (row, field, message) for one frame."""

    def __init__(self) -> None:
        self.errors: dict[int, list[FieldError]] = {}

    def flag(self, mask: pd.Series | np.ndarray, column: str, message: str) -> None:
        for i in np.flatnonzero(np.asarray(mask, dtype=bool)):
            errors = self.errors.setdefault(int(i), [])
            if not any(e.field == column for e in errors):  # one reason per field: the first one found
                errors.append(FieldError(column, message))


def _blank_and_types(values: pd.Series, col: Column, nan_is_blank: bool, check: _Checker) -> pd.Series:
    """Mask of blank values; flags values of a wrong type (returned as blank so later checks skip them)."""
    if values.dtype == bool or str(values.dtype) == "boolean":
        blank = values.isna().to_numpy()
        check.flag(~blank, col.name, f"must be {_EXPECTED[col.dtype]}, not boolean")
        return pd.Series(True, index=values.index)
    if pd.api.types.is_datetime64_any_dtype(values):
        blank = values.isna()
        if col.dtype != "date":
            check.flag(~blank, col.name, f"must be {_EXPECTED[col.dtype]}, not date")
            return pd.Series(True, index=values.index)
        return blank
    if pd.api.types.is_numeric_dtype(values):
        blank = values.isna()
        if col.dtype == "date":
            check.flag(~blank, col.name, f"must be {_EXPECTED[col.dtype]}, not number")
            return pd.Series(True, index=values.index)
        if col.dtype in ("str", "text"):
            numbers = values.astype(float)
            fraction = ~blank & ~(np.isfinite(numbers) & (numbers % 1 == 0))
            check.flag(fraction, col.name, f"must be {_EXPECTED[col.dtype]}, not number")
            return blank | fraction
        return blank
    inferred = pd.api.types.infer_dtype(values, skipna=True)
    isna = values.isna()
    if inferred in ("string", "empty"):
        nan = isna & values.map(lambda v: isinstance(v, float)) if not nan_is_blank and isna.any() else None
        blank = (isna | values.str.strip().eq("")).fillna(True).astype(bool)
        if nan is not None:
            check.flag(nan, col.name, f"must be {_EXPECTED[col.dtype]}, not NaN")
        return blank
    # Mixed Python objects (JSON bodies, JSON Lines, hand-made frames): each value's type is checked.
    blank = np.zeros(len(values), dtype=bool)
    wrong: dict[str, list[int]] = {}
    for i, v in enumerate(values.tolist()):
        if v is None or v is pd.NA or v is pd.NaT:
            blank[i] = True
        elif isinstance(v, float | np.floating) and math.isnan(v):
            blank[i] = True
            if not nan_is_blank:
                wrong.setdefault("NaN", []).append(i)
        elif isinstance(v, str) and not v.strip():
            blank[i] = True
        elif not _type_ok(v, col.dtype):
            blank[i] = True
            wrong.setdefault(_json_type(v), []).append(i)
    for name, rows in wrong.items():
        mask = np.zeros(len(values), dtype=bool)
        mask[rows] = True
        check.flag(mask, col.name, f"must be {_EXPECTED[col.dtype]}, not {name}")
    return pd.Series(blank, index=values.index)


def _parse_dates(values: pd.Series, blank: pd.Series) -> pd.Series:
    """ISO 8601 dates or date-times (text or date objects); time zones are converted to UTC and dropped."""
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = values if values.dt.tz is None else values.dt.tz_convert("UTC").dt.tz_localize(None)
        return parsed.where(~blank).astype("datetime64[ns]")
    text = values.where(~blank)
    if pd.api.types.infer_dtype(text, skipna=True) not in ("string", "empty"):
        text = text.map(lambda v: v.isoformat() if isinstance(v, date | datetime) else (
            str(v) if isinstance(v, np.datetime64) else v), na_action="ignore")
    text = text.astype("string").str.strip()
    parsed = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=True)
    return parsed.dt.tz_localize(None).astype("datetime64[ns]")


def _parse_numbers(values: pd.Series, blank: pd.Series) -> pd.Series:
    """Numbers as float (exact for every accepted count: all integers up to 2**53 are)."""
    if pd.api.types.is_numeric_dtype(values) and values.dtype != bool:
        return values.astype(float).where(~blank)
    if pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
        return pd.to_numeric(values.astype("string").str.strip(), errors="coerce").astype(float).where(~blank)
    numbers = [math.nan if b else _as_float(v) for v, b in zip(values.tolist(), blank.tolist(), strict=True)]
    return pd.Series(numbers, index=values.index, dtype=float)


def _parse_text(values: pd.Series, blank: pd.Series) -> pd.Series:
    def one(v: object) -> object:
        if isinstance(v, str):
            return v.strip()
        if isinstance(v, float | np.floating):
            return str(int(v))
        return str(v)

    values = values.astype(object).where(~blank, None)
    if pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
        return values.str.strip().where(~blank, None).astype(object)
    return values.map(lambda v: None if v is None else one(v)).astype(object)


def _control_characters(text: pd.Series, pattern: str) -> np.ndarray:
    """Rows whose text holds a character of `pattern`; one scan of the whole column first (almost always clean)."""
    present = text.dropna()
    if present.empty or not re.search(pattern, " ".join(present.tolist())):
        return np.zeros(len(text), dtype=bool)
    return text.astype("string").str.contains(pattern, regex=True).fillna(False).to_numpy(dtype=bool)


def validate_frame(
    frame: pd.DataFrame,
    kind: Kind | str,
    source: str = "input",
    *,
    limits: InputLimits | None = None,
    nan_is_blank: bool = True,
    today: date | None = None,
) -> Validated:
    """Check every row of `frame`; raises MissingColumnsError when a required column is absent.

    `nan_is_blank`: whether a float NaN means "no value" (files: pandas' own marker) or is a wrong value (JSON
    bodies, where a missing key is None and NaN can only have been sent).
    """
    kind = Kind(kind)
    limits = limits or InputLimits()
    contract: TableContract = contract_for(kind)
    missing = [c for c in contract.required if c not in frame.columns]
    if missing:
        raise MissingColumnsError(source, missing, list(map(str, frame.columns)))
    cut_reason = frame.attrs.get(CUT_ROW_ATTR)
    frame = frame.reset_index(drop=True)
    if frame.columns.duplicated().any():
        frame = frame.loc[:, ~frame.columns.duplicated()]
    n = len(frame)
    check = _Checker()
    out = pd.DataFrame(index=frame.index)
    blanks: dict[str, pd.Series] = {}

    for col in contract.columns:
        values = frame[col.name] if col.name in frame.columns else pd.Series([None] * n, index=frame.index,
                                                                             dtype=object)
        blank = _blank_and_types(values, col, nan_is_blank, check)
        blanks[col.name] = blank
        if col.required:  # after a type error, which stays the field's reason
            check.flag(blank, col.name, "required value is empty")
        if col.dtype == "date":
            parsed = _parse_dates(values, blank)
            check.flag(~blank & parsed.isna(), col.name, "not an ISO 8601 date or date-time (years 1678..2261)")
            if col.dated_window:
                lo, hi = pd.Timestamp(limits.min_date), pd.Timestamp(limits.max_date(today))
                day = parsed.dt.normalize()
                check.flag((day < lo).fillna(False), col.name,
                           f"before {lo.date()}, the first accepted day (NEEDCAST_MIN_DATE)")
                check.flag((day > hi).fillna(False), col.name,
                           f"after {hi.date()}, the last accepted day (today + NEEDCAST_MAX_DAYS_AHEAD)")
            out[col.name] = parsed
        elif col.dtype in ("int", "float"):
            numbers = _parse_numbers(values, blank)
            finite = np.isfinite(numbers.fillna(0.0))
            if col.dtype == "int":
                check.flag(~blank & (numbers.isna() | ~finite | (numbers.fillna(0) % 1 != 0)), col.name,
                           "not a whole number")
            else:
                check.flag(~blank & (numbers.isna() | ~finite), col.name, "not a number")
            out[col.name] = numbers.where(finite)
        else:
            text = _parse_text(values, blank)
            if col.max_chars is not None:
                lengths = text.str.len().fillna(0).to_numpy(dtype=np.int64)
                check.flag(lengths > col.max_chars, col.name, f"longer than {col.max_chars} characters")
            control = _control_characters(text, _TEXT_CONTROL if col.dtype == "text" else _KEY_CONTROL)
            check.flag(control, col.name, "contains a control character or invalid Unicode")
            out[col.name] = text

    if kind == Kind.usage:
        count = out["count"]
        check.flag((~blanks["count"] & ((count < 0) | (count > limits.max_count))).fillna(False), "count",
                   f"must be from 0 to {limits.max_count} (NEEDCAST_MAX_COUNT)")
        out["count"] = count.where(~blanks["count"], 1.0)
        out["region"] = out["region"].fillna(DEFAULT_REGION)
    elif kind == Kind.feedback:
        rating = out["rating"]
        check.flag((rating.notna() & ~rating.between(1, 5)).fillna(False), "rating", "must be an integer from 1 to 5")
    elif kind == Kind.services:
        minutes = out["handle_minutes"]
        check.flag((minutes.notna() & ((minutes <= 0) | (minutes > MAX_HANDLE_MINUTES))).fillna(False),
                   "handle_minutes", f"must be > 0 and at most {MAX_HANDLE_MINUTES:g}")
        out["handle_minutes"] = minutes.fillna(DEFAULT_HANDLE_MINUTES)

    if cut_reason and n:
        check.flag(np.arange(n) == n - 1, str(frame.columns[-1]), str(cut_reason))

    bad_index = sorted(check.errors)
    raw_rows = frame.iloc[bad_index].to_dict("records") if bad_index else []
    rejected = [RejectedRow(i, check.errors[i], quarantine_copy(raw)) for i, raw in zip(bad_index, raw_rows,
                                                                                          strict=True)]
    keep = np.setdiff1d(np.arange(n), np.asarray(bad_index, dtype=int))
    good = out.iloc[keep].reset_index(drop=True)
    for col in contract.columns:
        if col.dtype == "int":
            good[col.name] = good[col.name].astype("Int64")
    return Validated(good=good, rejected=rejected, good_rows=keep)


_QUARANTINE_COLUMNS = 50


def quarantine_copy(row: dict[object, object]) -> dict[str, object]:
    """A JSON-safe, bounded copy of one raw row: long values become an excerpt with their length and sha256.

    A rejected 20 MB text would otherwise be stored whole; the hash still tells two rejected values apart.
    """
    copy: dict[str, object] = {}
    for key, value in list(row.items())[:_QUARANTINE_COLUMNS]:
        copy[_excerpt(str(key), 100) if len(str(key)) > 100 else str(key)] = _plain(value)
    if len(row) > _QUARANTINE_COLUMNS:
        copy["..."] = f"{len(row) - _QUARANTINE_COLUMNS} more columns"
    return copy


def _excerpt(text: str, chars: int = QUARANTINE_EXCERPT_CHARS) -> str:
    return text[:chars] + "…"


def _plain(value: object) -> object:
    """One raw value as JSON (for the quarantine): bounded, finite, no Python reprs of arbitrary size."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float | np.floating):
        if math.isnan(value):
            return None
        return float(value) if math.isfinite(value) else str(value)
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if _is_int(value):
        return int(value) if abs(int(value)) < 2**53 else str(value)[:40]
    text = value if isinstance(value, str) else str(value)
    if len(text) <= QUARANTINE_EXCERPT_CHARS:
        return text
    try:
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    except UnicodeEncodeError:  # pragma: no cover - surrogatepass encodes every str
        digest = ""
    from text.redaction import redact_pii  # on a margin past the cut, so no phone or name is left half-masked

    return {"excerpt": _excerpt(redact_pii(text[: QUARANTINE_EXCERPT_CHARS + 64])), "chars": len(text),
            "sha256": digest}


class NewSeriesCap:
    """Rejects usage rows that would open more new series than allowed (per batch, and what is left of the day).

    Each series costs a model fit and a forecast at every refresh: 10,000 one-row series in one request turn a
    15 s refresh into minutes. `known` holds the stored series keys; the first new keys of the input are let in.
    """

    def __init__(self, known: set[tuple[str, str, str]], per_batch: int, left_today: int) -> None:
        self.known = known
        self.allowed = max(0, min(per_batch, left_today))
        self.per_batch, self.left_today = per_batch, left_today
        self.opened: set[tuple[str, str, str]] = set()

    def apply(self, validated: Validated) -> Validated:
        good = validated.good
        if good.empty:
            return validated
        keys = list(zip(*(good[c].tolist() for c in SERIES_KEY), strict=True))
        over = np.zeros(len(keys), dtype=bool)
        for i, key in enumerate(keys):
            if key in self.known or key in self.opened:
                continue
            if len(self.opened) < self.allowed:
                self.opened.add(key)
            else:
                over[i] = True
        if not over.any():
            return validated
        reason = (f"would open a new series beyond the {self.per_batch} allowed per batch "
                  f"(NEEDCAST_MAX_NEW_SERIES_PER_BATCH)" if self.allowed == self.per_batch else
                  f"would open a new series beyond the {self.left_today} left today "
                  f"(NEEDCAST_MAX_NEW_SERIES_PER_DAY)")
        rows = validated.good_rows
        rejected = [RejectedRow(int(rows[i]), [FieldError("service", reason)],
                                quarantine_copy({k: _plain_typed(v) for k, v in good.iloc[i].items()}))
                    for i in np.flatnonzero(over)]
        merged = sorted([*validated.rejected, *rejected], key=lambda r: r.index)
        return Validated(good[~over].reset_index(drop=True), merged, rows[~over])


def _plain_typed(value: object) -> object:
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return None if value is pd.NA else value
