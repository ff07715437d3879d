"""Segment and region catalogues: names per language (and a parent region) for the codes usage carries.

A catalogue file has `segment` (or `region`), `name_ru`, `name_en` and, for regions, an optional `parent`.
Good rows replace the stored ones by code; bad rows are quarantined with their reasons; re-ingesting the
same file changes nothing.
"""

from __future__ import annotations

from enum import StrEnum

import pandas as pd
from sqlalchemy import Engine, select

from features.errors import MissingColumnsError
from features.ingest import IngestReport, _quarantine
from features.validation import FieldError, RejectedRow
from store import tables

__all__ = ["CatalogueKind", "ingest_catalogue", "validate_catalogue"]

_MAX_CODE = 200
_MAX_NAME = 500


class CatalogueKind(StrEnum):
    """Which catalogue a file holds; the value is also the code column's name in the singular."""

    segments = "segments"
    regions = "regions"

    @property
    def code(self) -> str:
        return self.value[:-1]

    @property
    def columns(self) -> list[str]:
        return [self.code, "name_ru", "name_en", *(["parent"] if self is CatalogueKind.regions else [])]

    @property
    def table(self):
        return tables.segment_names if self is CatalogueKind.segments else tables.region_names


def _text(value: object) -> str | None:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    text = str(value).strip()
    return text or None


def validate_catalogue(frame: pd.DataFrame, kind: CatalogueKind | str,
                       source: str = "input") -> tuple[list[dict], list[RejectedRow]]:
    """Good rows (dicts of the catalogue's columns; the last row of a code wins) and rejected rows.

    A row needs its code and at least one name; a parent must differ from the region itself.
    """
    kind = CatalogueKind(kind)
    missing = [c for c in (kind.code,) if c not in frame.columns]
    if missing or not ({"name_ru", "name_en"} & set(frame.columns)):
        raise MissingColumnsError(source, missing or ["name_ru or name_en"], list(frame.columns))
    good: dict[str, dict] = {}
    rejected: list[RejectedRow] = []
    for index, raw in enumerate(frame.to_dict("records")):
        row = {c: _text(raw.get(c)) for c in kind.columns}
        errors = []
        if row[kind.code] is None:
            errors.append(FieldError(kind.code, "must not be empty"))
        elif len(row[kind.code]) > _MAX_CODE:
            errors.append(FieldError(kind.code, f"is longer than {_MAX_CODE} characters"))
        if row["name_ru"] is None and row["name_en"] is None:
            errors.append(FieldError("name_ru", "name_ru or name_en must be given"))
        for column in ("name_ru", "name_en"):
            if row[column] is not None and len(row[column]) > _MAX_NAME:
                errors.append(FieldError(column, f"is longer than {_MAX_NAME} characters"))
        if kind is CatalogueKind.regions and row["parent"] is not None:
            if row["parent"] == row["region"]:
                errors.append(FieldError("parent", "a region cannot be its own parent"))
            elif len(row["parent"]) > _MAX_CODE:
                errors.append(FieldError("parent", f"is longer than {_MAX_CODE} characters"))
        if errors:
            rejected.append(RejectedRow(index, errors, {k: _text(v) for k, v in raw.items()}))
        else:
            good[row[kind.code]] = row
    return list(good.values()), rejected


def ingest_catalogue(engine: Engine, frame: pd.DataFrame, kind: CatalogueKind | str,
                     source: str = "input") -> IngestReport:
    """Validate and store a catalogue in one transaction: new and changed rows count as accepted."""
    kind = CatalogueKind(kind)
    good, rejected = validate_catalogue(frame, kind, source)
    t = kind.table
    accepted = dups = 0
    with engine.begin() as conn:
        stored = {r[0]: tuple(r) for r in conn.execute(select(*(t.c[c] for c in kind.columns))).all()}
        for row in good:
            old = stored.get(row[kind.code])
            if old is None:
                conn.execute(t.insert().values(**row))
            elif old != tuple(row[c] for c in kind.columns):
                conn.execute(t.update().where(t.c[kind.code] == row[kind.code]).values(**row))
            else:
                dups += 1
                continue
            accepted += 1
        _quarantine(conn, kind, source, rejected)
    return IngestReport(kind.value, source, len(frame), accepted, dups, rejected)
