"""Text cells a spreadsheet would run as a formula (CSV or XLSX injection) are made plain text.

A segment or service named `=HYPERLINK("http://evil", "click")` opens as a live formula in Excel and
LibreOffice. OWASP's rule: a cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return gets a
leading apostrophe, which spreadsheets show as text. Numbers are left alone (a negative number is a
number, not a formula); only text columns are touched.
"""

from __future__ import annotations

import pandas as pd

__all__ = ["FORMULA_START", "guard_cell", "guard_frame"]

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def guard_cell(value: object) -> object:
    """`value` with an apostrophe in front when it is text a spreadsheet would evaluate."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def guard_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` whose text columns are guarded cell by cell."""
    text = [c for c in frame.columns if frame[c].dtype == object or pd.api.types.is_string_dtype(frame[c])]
    return frame.assign(**{c: frame[c].map(guard_cell) for c in text}) if text else frame
