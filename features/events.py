"""Known events a planner registers (campaigns, law changes, deadlines): validated, stored and removed.

An event is a date range and the services, segments and regions it touches; an empty list means all of
them. Events are plans, known ahead by design: the demand model reads them for the past (to learn their
effect) and for the forecast horizon alike. `features.history.load_events` reads them back as a frame.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum

from sqlalchemy import Engine, delete

from features import tables
from features.errors import NeedcastInputError

__all__ = ["Event", "EventKind", "InvalidEventError", "add_event", "parse_event", "remove_event"]

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


def _date(value: date | str, field: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise InvalidEventError(field, f"{value!r} is not a date in ISO format (YYYY-MM-DD)") from None


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
