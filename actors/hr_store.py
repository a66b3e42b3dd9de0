"""HrStore: the system of record for balances, in SQLite or in a PostgreSQL schema (``cluster.Database``).

The balance is never a stored number: it is the sum of the ledger (a grant for the starting balance,
-1 per committed day, +1 per day of an approved request that is cancelled). Changes (``actors.ledger_changes``)
go in one transaction, several together if asked together (``apply``), each seeing those before it; every
change is idempotent by request id, so a redelivered message changes nothing. In PostgreSQL the changes run in
functions made with the schema (``actors.ledger_functions``): one round trip per transaction.
A manager's decision is recorded (``actors.audit``) in the transaction of the commit or release it caused,
and the cancellation of an approved request in the transaction that returns its days. Every change takes the
ledger's one write lock, so two writers (a ghost of a lost host and its successor) never interleave.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

from cluster import Database, PostgresDatabase, Sql, SqliteDatabase

from . import audit, ledger_functions
from .audit import DecisionAudit, DecisionRecord
from .ledger_changes import LIVE, MOVES, NOT_ALLOWED, Change, Hold, HoldResult, Move, OpResult, valid_days

__all__ = ["HoldResult", "HrStore", "OpResult", "RequestRecord", "UnknownEmployee"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS employees (id TEXT PRIMARY KEY, starting_balance INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS requests (
    request_id TEXT PRIMARY KEY, employee TEXT NOT NULL REFERENCES employees(id),
    status TEXT NOT NULL CHECK (status IN ('held', 'committed', 'released', 'cancelled')),
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS request_days (
    request_id TEXT NOT NULL REFERENCES requests(request_id), employee TEXT NOT NULL, day TEXT NOT NULL,
    PRIMARY KEY (request_id, day));
CREATE INDEX IF NOT EXISTS request_days_by_employee ON request_days (employee, day);
CREATE INDEX IF NOT EXISTS requests_by_employee ON requests (employee, status);
CREATE TABLE IF NOT EXISTS ledger (
    id {serial}, employee TEXT NOT NULL, request_id TEXT, day TEXT, delta INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('grant', 'take', 'return')), at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS ledger_by_employee ON ledger (employee);
"""

_BALANCE = "SELECT COALESCE(SUM(delta), 0) FROM ledger WHERE employee = ?"
# from the employee's few held requests (an index), not from every day the employee ever asked for
_HELD = ("SELECT COUNT(*) FROM requests r JOIN request_days d USING (request_id) "
         "WHERE r.employee = ? AND r.status = 'held'")
# what a hold depends on, in one query of one text whatever the number of days (the days as a JSON array): each
# text a connection has run stays prepared in its cache, some 8 KB, and a host keeps a thousand ledgers open
_HOLD_LOOKS = (
    f"SELECT (SELECT 1 FROM employees WHERE id = ?), ({_BALANCE}), ({_HELD}), (SELECT 1 FROM requests WHERE "
    "request_id = ?), (SELECT 1 FROM request_days d JOIN requests r USING (request_id) WHERE d.employee = ? AND "
    "r.status IN ('held', 'committed') AND d.day IN (SELECT value FROM json_each(?)) LIMIT 1)")


class UnknownEmployee(KeyError):
    def __str__(self) -> str:
        return f"unknown employee {self.args[0]!r}"


@dataclass(frozen=True, slots=True)
class RequestRecord:
    request_id: str
    employee: str
    status: str
    days: tuple[date, ...]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


# A ledger file's pages and SQLite's own page cache of it. A host keeps the ledger of each of its hr agents open, a
# thousand and more at once for a large org, so what one open ledger holds is what counts: its cache is capped at
# 32 KiB, in pages of 1 KiB (SQLite's 4 KiB pages hold a small ledger's dozen tables and indexes in 16 pages, 66 KB,
# before any cap applies). Measured in one process (2026-12-05 18:44 UTC): 300 ledgers of 56 requests each held
# 151 KiB of SQLite's memory with 4 KiB pages and a 256 KiB cap, 95 KiB so; 7 of 1,400 requests 321 and 95 KiB; a
# change cost the same either way (the OS keeps the file's pages).
LEDGER_CACHE_KIB = 32
LEDGER_PAGE_BYTES = 1024


class HrStore:
    """One department's ledger in ``db``, or in the SQLite file at a path."""

    def __init__(self, db: Database | str | Path) -> None:
        self.db = (SqliteDatabase(db, cache_kib=LEDGER_CACHE_KIB, page_bytes=LEDGER_PAGE_BYTES)
                   if isinstance(db, str | Path) else db)
        self.where = self.db.where
        self._on_server = isinstance(self.db, PostgresDatabase)
        self.db.script(_SCHEMA + audit.SCHEMA + (ledger_functions.SCHEMA if self._on_server else ""))

    @property
    def remote(self) -> bool:
        """Its calls go to a server: an agent makes them off its event loop."""
        return self.db.remote

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> HrStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- changes ------------------------------------------------------------------------------
    def add_employees(self, balances: Mapping[str, int]) -> None:
        with self.db.transaction() as db:
            known = dict(db.execute("SELECT id, starting_balance FROM employees").fetchall())
            for employee, balance in balances.items():
                if employee in known:
                    if known[employee] != balance:
                        raise ValueError(f"employee {employee!r} already has starting balance {known[employee]}")
                    continue
                db.execute("INSERT INTO employees VALUES (?, ?)", (employee, balance))
                db.execute("INSERT INTO ledger (employee, delta, kind, at) VALUES (?, ?, 'grant', ?)",
                           (employee, balance, _now()))

    def apply(self, changes: Sequence[Change]) -> list[HoldResult | OpResult]:
        """``changes`` in one transaction, in order, each seeing those before it; what each answers. On a
        PostgreSQL server it is one call of the schema's function: one round trip, whatever their number."""
        if self._on_server:
            return ledger_functions.apply(self.db, changes)
        with self.db.transaction() as db:
            return [self._hold(db, change) if isinstance(change, Hold) else self._move(db, change)
                    for change in changes]

    def place_hold(self, request_id: str, employee: str, days: Sequence[date]) -> HoldResult:
        """Hold ``days`` for a request, or say why not; a refused hold writes nothing."""
        return self.apply([Hold(request_id, employee, tuple(days))])[0]

    # ``decided_by`` and ``cancelled_by`` are agent ids as the runtime stamped them; None is the driver.
    def commit(self, request_id: str, decision: DecisionAudit | None = None, decided_by: str | None = None) -> OpResult:
        return self.apply([Move("commit", request_id, decided_by, decision)])[0]

    def release(self, request_id: str, decision: DecisionAudit | None = None,
                decided_by: str | None = None) -> OpResult:
        return self.apply([Move("release", request_id, decided_by, decision)])[0]

    def cancel(self, request_id: str, cancelled_by: str | None = None) -> OpResult:
        """Cancel an approved request (reversing its ledger and marking its decision) or release a held one."""
        return self.apply([Move("cancel", request_id, cancelled_by)])[0]

    def record_decision(self, request_id: str, decision: DecisionAudit, decided_by: str | None) -> bool:
        """Record a decision on its own; whether it was new (a request keeps its first decision)."""
        with self.db.transaction() as db:
            new = db.execute("SELECT 1 FROM decisions WHERE request_id = ?", (request_id,)).fetchone() is None
            audit.record(db, request_id, decision, decided_by, _now())
            return new

    def _hold(self, db: Sql, hold: Hold) -> HoldResult:
        # what the hold depends on in one query
        request_id, employee, days = hold.request_id, hold.employee, hold.days
        wanted = [d.isoformat() for d in days]
        known, balance, held, existing, overlap = db.execute(
            _HOLD_LOOKS, (employee, employee, employee, request_id, employee, json.dumps(wanted))).fetchone()
        if known is None:
            return HoldResult(False, "unknown_employee", 0, 0)
        refuse = lambda reason: HoldResult(False, reason, balance, balance - held)  # noqa: E731
        if existing is not None:  # a request asked again (a redelivery): the same answer, or a conflict
            found = self._request(db, request_id)
            if found.employee != employee or sorted(found.days) != sorted(days):
                return refuse("duplicate_request")
            return HoldResult(found.status in LIVE, None if found.status in LIVE else found.status,
                              balance, balance - held)
        if not valid_days(days):
            return refuse("invalid_dates")
        if overlap:
            return refuse("overlap")
        if balance - held < len(days):
            return refuse("insufficient_balance")
        now = _now()
        db.execute("INSERT INTO requests VALUES (?, ?, 'held', ?, ?)", (request_id, employee, now, now))
        db.executemany("INSERT INTO request_days VALUES (?, ?, ?)", [(request_id, employee, d) for d in wanted])
        return HoldResult(True, None, balance, balance - held - len(days))

    def _move(self, db: Sql, move: Move) -> OpResult:
        """Move a request on; its decision is recorded (or its cancellation marked) in the same transaction if
        it moved or had already moved, so what the audit says happened, happened (a refused move records
        nothing)."""
        moves, done = MOVES[move.kind]
        row = db.execute("SELECT employee, status FROM requests WHERE request_id = ?", (move.request_id,)).fetchone()
        if move.may is not None and (row[0] not in move.may if row is not None else not move.may):
            return OpResult(False, NOT_ALLOWED)
        if row is None:
            return OpResult(False, "unknown_request")
        if row[1] not in done:
            if row[1] not in moves:
                return OpResult(False, f"request is {row[1]}")
            target, ledger = moves[row[1]]
            db.execute("UPDATE requests SET status = ?, updated_at = ? WHERE request_id = ?",
                       (target, _now(), move.request_id))
            if ledger is not None:
                kind, delta = ledger
                db.execute(
                    "INSERT INTO ledger (employee, request_id, day, delta, kind, at) SELECT employee, "
                    "request_id, day, CAST(? AS INTEGER), ?, ? FROM request_days WHERE request_id = ?",
                    (delta, kind, _now(), move.request_id),
                )
        if move.decision is not None:
            audit.record(db, move.request_id, move.decision, move.by, _now())
        if move.kind == "cancel":
            audit.mark_cancelled(db, move.request_id, move.by, _now())
        return OpResult(True)  # moved now, or already: a retry changes nothing

    # --- queries ------------------------------------------------------------------------------
    def _check(self, db: Sql, employee: str) -> None:
        if db.execute("SELECT 1 FROM employees WHERE id = ?", (employee,)).fetchone() is None:
            raise UnknownEmployee(employee)

    def _balance(self, db: Sql, employee: str) -> int:
        return db.execute(_BALANCE, (employee,)).fetchone()[0]

    def _held(self, db: Sql, employee: str) -> int:
        return db.execute(_HELD, (employee,)).fetchone()[0]

    def balance(self, employee: str) -> int:
        with self.db.reading() as db:
            self._check(db, employee)
            return self._balance(db, employee)

    def held_days(self, employee: str) -> int:
        with self.db.reading() as db:
            self._check(db, employee)
            return self._held(db, employee)

    def available(self, employee: str) -> int:
        return self.balance(employee) - self.held_days(employee)

    def starting_balance(self, employee: str) -> int:
        with self.db.reading() as db:
            self._check(db, employee)
            return db.execute("SELECT starting_balance FROM employees WHERE id = ?", (employee,)).fetchone()[0]

    def request(self, request_id: str) -> RequestRecord | None:
        """One request by its key (an index lookup: this runs on every hold)."""
        with self.db.reading() as db:
            return self._request(db, request_id)

    def _request(self, db: Sql, request_id: str) -> RequestRecord | None:
        row = db.execute("SELECT employee, status FROM requests WHERE request_id = ?", (request_id,)).fetchone()
        if row is None:
            return None
        days = db.execute("SELECT day FROM request_days WHERE request_id = ?", (request_id,)).fetchall()
        return RequestRecord(request_id, row[0], row[1], tuple(sorted(date.fromisoformat(d) for (d,) in days)))

    def requests(self, status: str | None = None) -> list[RequestRecord]:
        with self.db.reading() as db:
            rows = db.execute(
                "SELECT r.request_id, r.employee, r.status, d.day FROM requests r LEFT JOIN request_days d "
                "USING (request_id) WHERE (CAST(? AS TEXT) IS NULL OR r.status = ?) ORDER BY r.request_id",
                (status, status),
            ).fetchall()
        found: dict[str, tuple[str, str, list[date]]] = {}
        for request_id, employee, state, day in rows:
            days = found.setdefault(request_id, (employee, state, []))[2]
            if day is not None:
                days.append(date.fromisoformat(day))
        return [RequestRecord(request_id, employee, state, tuple(sorted(days)))
                for request_id, (employee, state, days) in found.items()]

    def decisions(self, employee: str | None = None, request_id: str | None = None) -> list[DecisionRecord]:
        """Manager decisions recorded here, oldest first; an employee this store does not know is an error."""
        with self.db.reading() as db:
            if employee is not None:
                self._check(db, employee)
            return audit.select(db, employee, request_id)

    def committed_days(self, employee: str) -> list[date]:
        with self.db.reading() as db:
            self._check(db, employee)
            return self._committed(db, employee)

    def _committed(self, db: Sql, employee: str) -> list[date]:
        rows = db.execute("SELECT d.day FROM request_days d JOIN requests r USING (request_id) "
                          "WHERE d.employee = ? AND r.status = 'committed' ORDER BY d.day", (employee,)).fetchall()
        return [date.fromisoformat(day) for (day,) in rows]

    def reconcile(self) -> list[str]:
        """Invariant violations, each naming the employee and an example; empty means all is well."""
        problems = []
        with self.db.reading() as db:
            for employee, starting in db.execute("SELECT id, starting_balance FROM employees").fetchall():
                balance = self._balance(db, employee)
                committed = self._committed(db, employee)
                if balance < 0:
                    problems.append(f"{employee}: balance {balance} is negative")
                if balance != starting - len(committed):
                    problems.append(f"{employee}: ledger says {balance}, starting {starting} - {len(committed)} "
                                    f"committed days = {starting - len(committed)}")
                doubled = sorted({d for d in committed if committed.count(d) > 1})
                if doubled:
                    problems.append(f"{employee}: {doubled[0]} committed more than once")
            stray = db.execute(
                "SELECT l.employee, l.request_id, l.kind, r.status FROM ledger l LEFT JOIN requests r "
                "USING (request_id) WHERE l.kind != 'grant' AND (r.status IS NULL OR (l.kind = 'take' AND "
                "r.status NOT IN ('committed', 'cancelled')) OR (l.kind = 'return' AND r.status != 'cancelled')) "
                "ORDER BY l.id LIMIT 5").fetchall()
        problems += [f"{e}: ledger row '{kind}' for request {rid} which is {status}" for e, rid, kind, status in stray]
        return problems
