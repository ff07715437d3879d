"""Read input files (CSV, CSV.gz, Parquet, JSON Lines) into raw frames; the format comes from the extension."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from features.errors import NeedcastInputError, UnsupportedFormatError

__all__ = ["read_table"]


def read_table(path: Path) -> pd.DataFrame:
    """Every column as read, values untouched (validation parses them); column names stripped."""
    name = path.name.lower()
    if not path.exists():
        raise NeedcastInputError(f"{path}: no such file")
    try:
        if name.endswith((".csv", ".csv.gz")):
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8")
        elif name.endswith(".parquet"):
            frame = pd.read_parquet(path)
        elif name.endswith((".jsonl", ".jsonl.gz", ".ndjson", ".json")):
            frame = pd.read_json(path, lines=not name.endswith(".json"), dtype=False)
        else:
            raise UnsupportedFormatError(str(path))
    except (UnicodeDecodeError, ValueError, pd.errors.ParserError, OSError) as exc:
        if isinstance(exc, NeedcastInputError):
            raise
        raise NeedcastInputError(f"{path}: cannot be read as {path.suffix} ({type(exc).__name__}: {exc})") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame
