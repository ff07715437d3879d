"""Column names, types and rules of the input contract (CONTRACT §1), defined once and imported everywhere.

Validation (`features.validation`) and the tables (`store.tables`) both derive from these definitions: a
column's type, its length limit and whether it must be present live here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

__all__ = [
    "CHANNEL_CHARS",
    "DEFAULT_HANDLE_MINUTES",
    "DEFAULT_REGION",
    "FEEDBACK",
    "KEY_CHARS",
    "MAX_HANDLE_MINUTES",
    "MAX_TEXT_CHARS",
    "NAME_CHARS",
    "QUARANTINE_EXCERPT_CHARS",
    "SERIES_KEY",
    "SERVICES",
    "USAGE",
    "Column",
    "InputLimits",
    "Kind",
    "TableContract",
    "contract_for",
]

DEFAULT_REGION = "all"
DEFAULT_HANDLE_MINUTES = 15.0
MAX_HANDLE_MINUTES = 24 * 60.0
"""A request longer than a working day at one window is a unit error (hours or seconds), not a duration."""
MAX_TEXT_CHARS = 5000
KEY_CHARS = 200
"""Ids: service, segment, region, feedback id, life event (the width of their table columns)."""
CHANNEL_CHARS = 100
NAME_CHARS = 500
QUARANTINE_EXCERPT_CHARS = 200
"""A rejected value longer than this is kept in quarantine as an excerpt, its length and its sha256."""


class Kind(StrEnum):
    """What an input file holds."""

    usage = "usage"
    feedback = "feedback"
    services = "services"


@dataclass(frozen=True)
class Column:
    """One contract column: name, logical type ("date", "str", "text", "int", "float"), whether it must be present,
    its longest value (strings) and whether a date must fall in the accepted window (`InputLimits`)."""

    name: str
    dtype: str
    required: bool = False
    max_chars: int | None = None
    dated_window: bool = False


@dataclass(frozen=True)
class TableContract:
    """The columns one kind of input file may carry."""

    kind: Kind
    columns: tuple[Column, ...]

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


USAGE = TableContract(
    Kind.usage,
    (
        Column("date", "date", required=True, dated_window=True),
        Column("service", "str", required=True, max_chars=KEY_CHARS),
        Column("segment", "str", required=True, max_chars=KEY_CHARS),
        Column("region", "str", max_chars=KEY_CHARS),
        Column("count", "int"),
    ),
)

FEEDBACK = TableContract(
    Kind.feedback,
    (
        Column("created_at", "date", required=True, dated_window=True),
        Column("text", "text", required=True, max_chars=MAX_TEXT_CHARS),
        Column("id", "str", max_chars=KEY_CHARS),
        Column("segment", "str", max_chars=KEY_CHARS),
        Column("service", "str", max_chars=KEY_CHARS),
        Column("region", "str", max_chars=KEY_CHARS),
        Column("rating", "int"),
        Column("channel", "str", max_chars=CHANNEL_CHARS),
    ),
)

SERVICES = TableContract(
    Kind.services,
    (
        Column("service", "str", required=True, max_chars=KEY_CHARS),
        Column("name", "str", required=True, max_chars=NAME_CHARS),
        Column("description", "text", max_chars=MAX_TEXT_CHARS),
        Column("life_event", "str", max_chars=KEY_CHARS),
        Column("handle_minutes", "float"),
    ),
)

SERIES_KEY = ["service", "segment", "region"]
"""A demand series is one (service, segment, region)."""


@dataclass(frozen=True)
class InputLimits:
    """The configurable bounds of accepted input (settings `NEEDCAST_MAX_COUNT`, `NEEDCAST_MIN_DATE`, ...).

    Counts above `max_count` overflow nothing downstream (a day of a series sums at most a few thousand such
    rows in 64 bits); dates outside [`min_date`, today + `days_ahead`] would stretch every series over centuries
    or move `data_until` into the future. New series are capped because each one costs a model fit at refresh.
    """

    max_count: int = 10**9
    min_date: date = date(2000, 1, 1)
    days_ahead: int = 1
    new_series_per_batch: int = 1000
    new_series_per_day: int = 5000

    def max_date(self, today: date | None = None) -> date:
        """The last accepted day of usage and feedback: today (UTC) plus `days_ahead`."""
        return (today or datetime.now(UTC).date()) + timedelta(days=self.days_ahead)


def contract_for(kind: Kind | str) -> TableContract:
    """The contract of one input kind."""
    return {Kind.usage: USAGE, Kind.feedback: FEEDBACK, Kind.services: SERVICES}[Kind(kind)]
