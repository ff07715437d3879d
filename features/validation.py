"""Row-level validation of input frames against the contract: good rows typed, bad rows with reasons."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.contract import (
    DEFAULT_HANDLE_MINUTES,
    DEFAULT_REGION,
    MAX_TEXT_CHARS,
    Kind,
    TableContract,
    contract_for,
)
from features.errors import MissingColumnsError

__all__ = ["FieldError", "RejectedRow", "Validated", "validate_frame"]


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


@dataclass
class RejectedRow:
    """A row that broke the contract: its 0-based index in the input, its reasons and raw values."""

    index: int
    errors: list[FieldError]
    row: dict[str, object]


@dataclass
class Validated:
    """Typed good rows (contract columns only) and the rejected ones."""

    good: pd.DataFrame
    rejected: list[RejectedRow] = field(default_factory=list)


def _blank(values: pd.Series) -> pd.Series:
    return values.isna() | values.astype(str).str.strip().eq("")


def _parse_dates(values: pd.Series) -> pd.Series:
    """ISO 8601 dates or date-times; time zones are converted to UTC and dropped."""
    text = values.astype("string").str.strip()
    parsed = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=True)
    return parsed.dt.tz_localize(None)


def _parse_ints(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Integers (also `3.0`); returns values and a mask of entries that are not whole numbers."""
    numbers = pd.to_numeric(values.astype("string").str.strip(), errors="coerce")
    bad = numbers.isna() | ~np.isfinite(numbers.astype(float).fillna(0)) | (numbers.fillna(0) % 1 != 0)
    return numbers, bad


def validate_frame(frame: pd.DataFrame, kind: Kind | str, source: str = "input") -> Validated:
    """Check every row of `frame`; raises MissingColumnsError when a required column is absent."""
    contract: TableContract = contract_for(kind)
    missing = [c for c in contract.required if c not in frame.columns]
    if missing:
        raise MissingColumnsError(source, missing, list(map(str, frame.columns)))
    frame = frame.reset_index(drop=True)
    n = len(frame)
    errors: dict[int, list[FieldError]] = {}
    out = pd.DataFrame(index=frame.index)

    def flag(mask: pd.Series, column: str, message: str) -> None:
        for i in np.flatnonzero(mask.to_numpy()):
            errors.setdefault(int(i), []).append(FieldError(column, message))

    for col in contract.columns:
        present = col.name in frame.columns
        values = frame[col.name] if present else pd.Series([None] * n, index=frame.index, dtype=object)
        blank = _blank(values)
        if col.required:
            flag(blank, col.name, "required value is empty")
        if col.dtype == "date":
            parsed = _parse_dates(values)
            flag(~blank & parsed.isna(), col.name, "not an ISO 8601 date or date-time")
            out[col.name] = parsed
        elif col.dtype == "int":
            numbers, bad = _parse_ints(values)
            flag(~blank & bad, col.name, "not a whole number")
            out[col.name] = numbers
        elif col.dtype == "float":
            numbers = pd.to_numeric(values.astype("string").str.strip(), errors="coerce")
            flag(~blank & numbers.isna(), col.name, "not a number")
            out[col.name] = numbers
        else:
            out[col.name] = values.where(~blank, None).map(lambda v: None if v is None else str(v).strip())

    if kind == Kind.usage:
        count_blank = out["count"].isna() & _blank(frame["count"]) if "count" in frame else out["count"].isna()
        flag(~count_blank & (out["count"] < 0).fillna(False), "count", "must be >= 0")
        out["count"] = out["count"].where(~count_blank, 1)
        out["region"] = out["region"].fillna(DEFAULT_REGION)
    elif kind == Kind.feedback:
        length = out["text"].fillna("").str.len()
        flag(length > MAX_TEXT_CHARS, "text", f"longer than {MAX_TEXT_CHARS} characters")
        rating = out["rating"]
        flag(rating.notna() & ~rating.between(1, 5), "rating", "must be an integer from 1 to 5")
    elif kind == Kind.services:
        minutes = out["handle_minutes"]
        flag(minutes.notna() & (minutes <= 0), "handle_minutes", "must be > 0")
        out["handle_minutes"] = minutes.fillna(DEFAULT_HANDLE_MINUTES)

    bad_index = sorted(errors)
    rejected = [
        RejectedRow(i, errors[i], {k: _plain(v) for k, v in frame.iloc[i].to_dict().items()}) for i in bad_index
    ]
    good = out.drop(index=bad_index).reset_index(drop=True)
    for col in contract.columns:
        if col.dtype == "int":
            good[col.name] = good[col.name].astype("Int64")
    return Validated(good=good, rejected=rejected)


def _plain(value: object) -> object:
    """A JSON-safe copy of one raw value (for the quarantine)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    return str(value)
