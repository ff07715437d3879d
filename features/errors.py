"""Domain errors of the input side, turned into CLI or HTTP messages at the edges."""

from __future__ import annotations


class NeedcastInputError(ValueError):
    """Base of every error caused by what a user gave us."""


class UnsupportedFormatError(NeedcastInputError):
    def __init__(self, path: str) -> None:
        super().__init__(f"{path}: unsupported file type (use .csv, .csv.gz, .parquet, .jsonl or .json)")


class MissingColumnsError(NeedcastInputError):
    """A required column is absent from a file: nothing is ingested."""

    def __init__(self, source: str, missing: list[str], found: list[str]) -> None:
        self.missing, self.found = missing, found
        super().__init__(
            f"{source}: missing required column(s) {', '.join(missing)}; "
            f"found: {', '.join(found) if found else '(none)'}"
        )


class InvalidRowError(NeedcastInputError):
    """One field of one row breaks the contract."""

    def __init__(self, row: int, column: str, reason: str) -> None:
        self.row, self.column, self.reason = row, column, reason
        super().__init__(f"row {row}, column {column}: {reason}")
