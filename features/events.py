"""Known events a planner registers (campaigns, law changes, deadlines): validated, stored and removed.

An event is a date range and the services, segments and regions it touches; an empty list means all of
them. Events are plans, known ahead by design: the demand model reads them for the past (to learn their
effect) and for the forecast horizon alike. `store.reads.load_events` reads them back as a frame.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from types import SimpleNamespace

import pandas as pd
from sqlalchemy import Engine, delete, select

from features.errors import MissingColumnsError, NeedcastInputError
from features.ingest import IngestReport, _quarantine
from features.validation import FieldError, RejectedRow
from store import tables

__all__ = ["EVENT_FILE_COLUMNS", "Event", "EventKind", "InvalidEventError", "add_event", "ingest_events",
           "parse_event", "parse_events_frame", "remove_event"]

_MAX_NAME = 300
_MAX_ID = 200  # the length of service, segment and region columns


class EventKind(StrEnum):
    """What sort of event it is (listed for planners; every kind feeds the same event features)."""

    campaign = "campaign"  # a proactive notification or information campaign
    law_change = "law_change"
    deadline = "deadline"  # e.g. the end of a declaration period
    other = "other"


class InvalidEventError(NeedcastInputError):
    """One field of an event a planner gave is wrong."""

    def __init__(self, field: str, reason: str) -> None:
        self.field, self.reason = field, reason
        super().__init__(f"{field}: {reason}")


@dataclass(frozen=True)
class Event:
    """A validated event; empty `services`, `segments` or `regions` mean every one."""

    name: str
    start: date
    end: date
    kind: EventKind = EventKind.campaign
    services: tuple[str, ...] = ()
    segments: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2199, 12, 31)
"""The dates an event may take (pandas and the models handle these; anything else is a typo)."""


def _date(value: date | str, field: str) -> date:
    if not isinstance(value, date):
        try:
            value = date.fromisoformat(str(value).strip())
        except ValueError:
            raise InvalidEventError(field, f"{value!r} is not a date in ISO format (YYYY-MM-DD)") from None
    if not FIRST_DAY <= value <= LAST_DAY:
        raise InvalidEventError(field, f"{value.isoformat()} is not between {FIRST_DAY} and {LAST_DAY}")
    return value


def _ids(values: Iterable[str] | None, field: str) -> tuple[str, ...]:
    """Stripped, de-duplicated ids in the given order."""
    out: list[str] = []
    for value in values or ():
        text = str(value).strip()
        if not text:
            raise InvalidEventError(field, "an empty id; leave the option out to mean all")
        if len(text) > _MAX_ID:
            raise InvalidEventError(field, f"{text[:40]!r}... is longer than {_MAX_ID} characters")
        if text not in out:
            out.append(text)
    return tuple(out)


def parse_event(name: str, start: date | str, end: date | str, kind: EventKind | str = EventKind.campaign,
                services: Iterable[str] | None = None, segments: Iterable[str] | None = None,
                regions: Iterable[str] | None = None) -> Event:
    """An `Event` from a planner's input, or `InvalidEventError` naming the field and the reason."""
    name = (name or "").strip()
    if not name:
        raise InvalidEventError("name", "must not be empty")
    if len(name) > _MAX_NAME:
        raise InvalidEventError("name", f"is longer than {_MAX_NAME} characters")
    first, last = _date(start, "start"), _date(end, "end")
    if last < first:
        raise InvalidEventError("end", f"{last.isoformat()} is before start {first.isoformat()}")
    try:
        kind = EventKind(kind)
    except ValueError:
        raise InvalidEventError("kind", f"{kind!r} is not one of {', '.join(EventKind)}") from None
    return Event(name, first, last, kind, _ids(services, "service"), _ids(segments, "segment"),
                 _ids(regions, "region"))


def add_event(engine: Engine, event: Event) -> int:
    """Store `event`; returns its id."""
    with engine.begin() as conn:
        result = conn.execute(tables.events.insert().values(
            name=event.name, kind=event.kind.value, start=event.start, end=event.end,
            services=list(event.services), segments=list(event.segments), regions=list(event.regions),
            created_at=datetime.now(UTC).replace(tzinfo=None),
        ))
    return int(result.inserted_primary_key[0])


def remove_event(engine: Engine, event_id: int) -> bool:
    """Delete one event; False when no event has that id."""
    with engine.begin() as conn:
        return conn.execute(delete(tables.events).where(tables.events.c.id == event_id)).rowcount > 0


EVENT_FILE_COLUMNS = ["name", "start", "end", "kind", "services", "segments", "regions"]
"""Columns of an events file; `services`, `segments`, `regions` are `;`-separated lists (empty: all)."""


def _split(value: object) -> list[str]:
    if _blank(value):
        return []
    return [part.strip() for part in str(value).split(";") if part.strip()]


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, float) and pd.isna(value)) or not str(value).strip()


def parse_events_frame(frame: pd.DataFrame,
                       source: str = "input") -> tuple[list[tuple[int, Event]], list[RejectedRow]]:
    """Events of a file's rows (with their 0-based row index) and the rejected rows with their reasons."""
    missing = [c for c in ("name", "start", "end") if c not in frame.columns]
    if missing:
        raise MissingColumnsError(source, missing, list(frame.columns))
    good, rejected = [], []
    for index, raw in enumerate(frame.to_dict("records")):
        try:
            text = {c: "" if _blank(raw.get(c)) else str(raw[c]).strip() for c in ("name", "start", "end", "kind")}
            event = parse_event(text["name"], text["start"], text["end"], text["kind"] or EventKind.campaign,
                                _split(raw.get("services")), _split(raw.get("segments")), _split(raw.get("regions")))
        except InvalidEventError as exc:
            column = {"service": "services", "segment": "segments", "region": "regions"}.get(exc.field, exc.field)
            rejected.append(RejectedRow(index, [FieldError(column, exc.reason)],
                                        {k: None if _blank(v) else str(v) for k, v in raw.items()}))
            continue
        good.append((index, event))
    return good, rejected


def _same(row, event: Event) -> bool:
    return (row.name == event.name and row.start == event.start and row.end == event.end
            and row.kind == event.kind.value and tuple(row.services or ()) == event.services
            and tuple(row.segments or ()) == event.segments and tuple(row.regions or ()) == event.regions)


def ingest_events(engine: Engine, frame: pd.DataFrame, source: str = "input") -> IngestReport:
    """Store a file's events in one transaction: an event stored with the same fields is a duplicate (so
    re-ingesting a file adds nothing); bad rows are quarantined."""
    good, rejected = parse_events_frame(frame, source)
    accepted = dups = 0
    with engine.begin() as conn:
        stored = conn.execute(select(tables.events)).all()
        now = datetime.now(UTC).replace(tzinfo=None)
        for _, event in good:
            if any(_same(row, event) for row in stored):
                dups += 1
                continue
            conn.execute(tables.events.insert().values(
                name=event.name, kind=event.kind.value, start=event.start, end=event.end,
                services=list(event.services), segments=list(event.segments), regions=list(event.regions),
                created_at=now))
            stored.append(_as_row(event))
            accepted += 1
        _quarantine(conn, _EventsKind(), source, rejected)
    return IngestReport("events", source, len(frame), accepted, dups, rejected)


class _EventsKind:
    """The quarantine's `kind` of rejected event rows."""

    value = "events"


def _as_row(event: Event) -> SimpleNamespace:
    """A stored-row look-alike of `event`, for duplicate checks within one file."""
    return SimpleNamespace(name=event.name, start=event.start, end=event.end, kind=event.kind.value,
                           services=list(event.services), segments=list(event.segments),
                           regions=list(event.regions))
