"""Remove stored usage or feedback by source, ingest, id or date range, in one transaction, with an audit row.

Usage rows of a key and day add up across ingests, so removing a source cannot drop whole days: it subtracts
exactly what that source's ingests added (`usage_contributions`) and drops a day only when nothing is left of it.
The source's row hashes go too, so the corrected file can be ingested again. A date range removes whole days
(whatever brought them, rows from before provenance was recorded included).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Connection, Engine, and_, delete, exists, false, func, insert, select, update

from store import tables
from store.engine import write_transaction
from store.provenance import source_key

__all__ = ["DeleteCriteria", "DeleteReport", "NoCriteriaError", "delete_rows"]

KINDS = ("usage", "feedback")


class NoCriteriaError(ValueError):
    """A deletion without any criterion would empty a table: refused."""

    def __init__(self) -> None:
        super().__init__("say what to delete: at least one of --source, --before, --after, --id")


@dataclass(frozen=True)
class DeleteCriteria:
    """What to remove; all given criteria must hold. Dates are exclusive: `before` keeps that day, `after` too.

    `source`: a file path as ingested (or an `api:usage` / `api:feedback` label); `id`: a feedback id, or for
    usage the id of one ingest (`batch` in the ingest's answer)."""

    source: str | None = None
    before: date | None = None
    after: date | None = None
    id: str | None = None

    def is_empty(self) -> bool:
        return self.source is None and self.before is None and self.after is None and self.id is None

    def audited(self) -> dict[str, object]:
        """The criteria as stored in the audit: the source only as its hash."""
        out = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in asdict(self).items() if v is not None}
        if self.source is not None:
            out["source"] = source_key(self.source)
        return out


@dataclass(frozen=True)
class DeleteReport:
    """Rows touched (usage: series-days reduced or removed; feedback: texts) and the amount removed (usage:
    requests subtracted; feedback: texts); `audit_id` is the row in `deletions`."""

    kind: str
    rows: int
    amount: int
    audit_id: int


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def delete_rows(engine: Engine, kind: str, criteria: DeleteCriteria, actor: str) -> DeleteReport:
    """Remove the matching rows of `kind` ("usage" or "feedback") and audit it as done by `actor`."""
    if kind not in KINDS:
        raise ValueError(f"can delete only {' or '.join(KINDS)}, not {kind!r}")
    if criteria.is_empty():
        raise NoCriteriaError()
    with write_transaction(engine) as conn:
        rows, amount = (_delete_usage if kind == "usage" else _delete_feedback)(conn, criteria)
        audit_id = conn.execute(insert(tables.deletions).values(
            at=_now(), actor=actor[:100], kind=kind, criteria=criteria.audited(), rows=rows, amount=amount,
        )).inserted_primary_key[0]
    return DeleteReport(kind, rows, amount, int(audit_id))


def _batches(kind: str, criteria: DeleteCriteria, by_id: bool):
    """A subquery of the ingest ids the criteria name, or None when they name none (dates only)."""
    if criteria.source is None and not by_id:
        return None
    b = tables.ingest_batches
    stmt = select(b.c.id).where(b.c.kind == kind)
    if criteria.source is not None:
        stmt = stmt.where(b.c.source_key == source_key(criteria.source))
    if by_id:
        stmt = stmt.where(b.c.id == criteria.id)
    return stmt


def _day_range(column, criteria: DeleteCriteria) -> list:
    conditions = []
    if criteria.before is not None:
        conditions.append(column < criteria.before)
    if criteria.after is not None:
        conditions.append(column > criteria.after)
    return conditions


def _delete_usage(conn: Connection, criteria: DeleteCriteria) -> tuple[int, int]:
    u, c, s = tables.usage, tables.usage_contributions, tables.usage_sources
    batches = _batches("usage", criteria, by_id=criteria.id is not None)
    if batches is None:  # a date range: whole days go, whatever brought them
        where = and_(*_day_range(u.c.date, criteria))
        rows, amount = conn.execute(select(func.count(), func.coalesce(func.sum(u.c.count), 0)).where(where)).one()
        conn.execute(delete(u).where(where))
        conn.execute(delete(c).where(and_(*_day_range(c.c.date, criteria))))
        conn.execute(delete(s).where(and_(*_day_range(s.c.date, criteria))))
        return int(rows), int(amount)
    selected = and_(c.c.batch_id.in_(batches), *_day_range(c.c.date, criteria))
    rows, amount = conn.execute(select(func.count(), func.coalesce(func.sum(c.c.count), 0)).where(selected)).one()
    same_day = and_(selected, c.c.date == u.c.date, c.c.service == u.c.service, c.c.segment == u.c.segment,
                    c.c.region == u.c.region)
    share = select(func.sum(c.c.count)).where(same_day).scalar_subquery()
    conn.execute(update(u).where(exists().where(same_day)).values(count=u.c.count - share))
    # A day with nothing left is removed (a missing day reads as zero); counts never go below zero.
    conn.execute(delete(u).where(u.c.count <= 0, exists().where(same_day)))
    conn.execute(delete(c).where(selected))
    conn.execute(delete(s).where(s.c.batch_id.in_(batches), *_day_range(s.c.date, criteria)))
    return int(rows), int(amount)


def _delete_feedback(conn: Connection, criteria: DeleteCriteria) -> tuple[int, int]:
    f = tables.feedback
    where = []
    batches = _batches("feedback", criteria, by_id=False)
    if batches is not None:
        where.append(f.c.batch_id.in_(batches))
    if criteria.id is not None:
        where.append(f.c.id == criteria.id)
    if criteria.before is not None:
        where.append(f.c.created_at < datetime.combine(criteria.before, datetime.min.time()))
    if criteria.after is not None:
        if criteria.after >= date.max:
            where.append(false())  # nothing is dated after the last representable day
        else:
            where.append(f.c.created_at >= datetime.combine(criteria.after + timedelta(days=1), datetime.min.time()))
    removed = conn.execute(delete(f).where(and_(*where))).rowcount
    return int(removed), int(removed)
