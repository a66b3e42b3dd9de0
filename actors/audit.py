"""The audit trail of manager decisions: what was decided, on what team cover, by whom and when.

The manager sends a ``DecisionAudit`` with its ``Commit`` or ``Release``; the hr agent records it in the
same SQLite transaction as the change it makes, naming as decider the sender the runtime stamped on the
message (never a field of the message), and marks the record when an approved request is cancelled. One
row per request id: recording a decision again changes nothing, so a redelivered message is harmless.
The functions below run inside a transaction of ``HrStore``, which owns the database (SQLite or PostgreSQL:
the queries are written for both).
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, TypeAdapter

from cluster import Sql

from .coverage import DayCover

__all__ = ["DRIVER", "SCHEMA", "DecisionAudit", "DecisionRecord", "TeamCover", "decision_row", "mark_cancelled",
           "record", "select"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS decisions (
    request_id TEXT PRIMARY KEY, employee TEXT NOT NULL, days TEXT NOT NULL, approved INTEGER NOT NULL,
    reason TEXT, detail TEXT NOT NULL, teams TEXT NOT NULL, decided_by TEXT NOT NULL, decided_at TEXT NOT NULL,
    cancelled_by TEXT, cancelled_at TEXT);
CREATE INDEX IF NOT EXISTS decisions_by_employee ON decisions (employee, decided_at);
"""

DRIVER = "driver"  # the decider when the runtime stamped no agent: the message came from a driver


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TeamCover(_Record):
    """One team's answer to the reservation, and each requested day's cover as the team found it."""

    team: str
    reserved: bool
    reason: str | None = None
    days: list[DayCover] = []

    @property
    def short_days(self) -> list[date]:
        """The days that would have dropped the team below its minimum on duty."""
        return [cover.day for cover in self.days if cover.short]


class DecisionAudit(_Record):
    """What the manager decided and on what grounds. Who decided and when are for hr to stamp."""

    employee: str
    days: list[date]
    approved: bool
    reason: str | None = None
    detail: str = ""
    teams: list[TeamCover] = []


class DecisionRecord(DecisionAudit):
    request_id: str
    decided_by: str
    decided_at: datetime
    cancelled_by: str | None = None
    cancelled_at: datetime | None = None


_DAYS = TypeAdapter(list[date])
_TEAMS = TypeAdapter(list[TeamCover])
_COLUMNS = ("request_id", "employee", "days", "approved", "reason", "detail", "teams", "decided_by", "decided_at",
            "cancelled_by", "cancelled_at")


def record(db: Sql, request_id: str, decision: DecisionAudit, decided_by: str | None, at: str) -> None:
    """Record the decision unless one is already recorded for this request (no result is read: on a server
    the statement goes with the rest of its transaction)."""
    db.execute(
        f"INSERT INTO decisions ({', '.join(_COLUMNS[:9])}) VALUES ({', '.join('?' * 9)}) "
        "ON CONFLICT (request_id) DO NOTHING",
        (request_id, *decision_row(decision, decided_by, at)),
    )


def decision_row(decision: DecisionAudit, decided_by: str | None, at: str) -> tuple:
    """The columns of a decision's row after its request id, up to ``decided_at``, as stored."""
    return (decision.employee, _DAYS.dump_json(decision.days).decode(), int(decision.approved), decision.reason,
            decision.detail, _TEAMS.dump_json(decision.teams).decode(), decided_by or DRIVER, at)


def mark_cancelled(db: Sql, request_id: str, cancelled_by: str | None, at: str) -> None:
    """Note who cancelled an approved request, once."""
    db.execute("UPDATE decisions SET cancelled_by = ?, cancelled_at = ? "
               "WHERE request_id = ? AND approved != 0 AND cancelled_at IS NULL",
               (cancelled_by or DRIVER, at, request_id))


def select(db: Sql, employee: str | None = None, request_id: str | None = None) -> list[DecisionRecord]:
    """The decisions matching both filters (``None`` matches all), oldest first."""
    rows = db.execute(
        f"SELECT {', '.join(_COLUMNS)} FROM decisions WHERE (CAST(? AS TEXT) IS NULL OR employee = ?) "
        "AND (CAST(? AS TEXT) IS NULL OR request_id = ?) ORDER BY decided_at, request_id",
        (employee, employee, request_id, request_id),
    ).fetchall()
    return [DecisionRecord(**dict(zip(_COLUMNS, row, strict=True)) | {
        "days": _DAYS.validate_json(row[2]), "approved": bool(row[3]), "teams": _TEAMS.validate_json(row[6])})
        for row in rows]
