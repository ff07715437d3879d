"""Column names and rules of the input contract (CONTRACT §1), defined once and imported everywhere."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "DEFAULT_HANDLE_MINUTES",
    "DEFAULT_REGION",
    "FEEDBACK",
    "SERVICES",
    "USAGE",
    "Column",
    "Kind",
    "TableContract",
    "contract_for",
]

DEFAULT_REGION = "all"
DEFAULT_HANDLE_MINUTES = 15.0
MAX_TEXT_CHARS = 5000


class Kind(StrEnum):
    """What an input file holds."""

    usage = "usage"
    feedback = "feedback"
    services = "services"


@dataclass(frozen=True)
class Column:
    """One contract column: its name, logical type and whether it must be present."""

    name: str
    dtype: str  # "date", "str", "int", "float"
    required: bool = False


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


USAGE = TableContract(
    Kind.usage,
    (
        Column("date", "date", required=True),
        Column("service", "str", required=True),
        Column("segment", "str", required=True),
        Column("region", "str"),
        Column("count", "int"),
    ),
)

FEEDBACK = TableContract(
    Kind.feedback,
    (
        Column("created_at", "date", required=True),
        Column("text", "str", required=True),
        Column("id", "str"),
        Column("segment", "str"),
        Column("service", "str"),
        Column("region", "str"),
        Column("rating", "int"),
        Column("channel", "str"),
    ),
)

SERVICES = TableContract(
    Kind.services,
    (
        Column("service", "str", required=True),
        Column("name", "str", required=True),
        Column("description", "str"),
        Column("life_event", "str"),
        Column("handle_minutes", "float"),
    ),
)

SERIES_KEY = ["service", "segment", "region"]
"""A demand series is one (service, segment, region)."""


def contract_for(kind: Kind | str) -> TableContract:
    """The contract of one input kind."""
    return {Kind.usage: USAGE, Kind.feedback: FEEDBACK, Kind.services: SERVICES}[Kind(kind)]
