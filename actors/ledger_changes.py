"""The changes of an HR ledger as values, so that several go to the ledger together (``HrStore.apply``): a hold,
and the moves a decision or a cancellation makes — with what each answers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

from .audit import DecisionAudit

__all__ = ["LIVE", "MOVES", "NOT_ALLOWED", "Change", "Hold", "HoldResult", "Move", "OpResult", "valid_days"]

NOT_ALLOWED = "not_allowed"  # a move asked by someone who may not decide the request: nothing changed
LIVE = ("held", "committed")  # a request whose days are spoken for
# by kind of move: from each status it moves a request, the status it moves it to and the ledger rows that
# writes (kind, delta per day); and the statuses that mean it is done already (a retry changes nothing)
MOVES: dict[str, tuple[dict[str, tuple[str, tuple[str, int] | None]], tuple[str, ...]]] = {
    "commit": ({"held": ("committed", ("take", -1))}, ("committed",)),
    "release": ({"held": ("released", None)}, ("released",)),
    "cancel": ({"committed": ("cancelled", ("return", +1)), "held": ("released", None)}, ("cancelled", "released")),
}


@dataclass(frozen=True, slots=True)
class HoldResult:
    ok: bool
    reason: str | None
    balance: int
    available: int


@dataclass(frozen=True, slots=True)
class OpResult:
    ok: bool
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Hold:
    """Hold ``days`` for a request, or say why not; a refused hold writes nothing."""

    request_id: str
    employee: str
    days: tuple[date, ...]

    def __post_init__(self) -> None:
        if not self.request_id or not self.employee:
            raise ValueError(f"a hold needs a request id and an employee, got {self.request_id!r}, {self.employee!r}")


@dataclass(frozen=True, slots=True)
class Move:
    """``commit`` (held → committed, the days taken), ``release`` (held → released) or ``cancel`` (committed →
    cancelled, the days returned; held → released). ``by``: who decided or cancelled, as the runtime stamped
    it (None: a driver). ``decision``: the manager's, recorded with a commit or a release. ``may``: the
    employees whose requests ``by`` may decide (a request the ledger does not know: any of them); None: no
    check. A move refused for it changes nothing and answers ``NOT_ALLOWED``."""

    kind: Literal["commit", "release", "cancel"]
    request_id: str
    by: str | None = None
    decision: DecisionAudit | None = None
    may: frozenset[str] | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("commit", "release", "cancel"):
            raise ValueError(f"a move is commit, release or cancel, not {self.kind!r}")
        if self.kind == "cancel" and self.decision is not None:
            raise ValueError("a cancellation carries no decision: it marks the one recorded")


Change = Hold | Move


def valid_days(days: Sequence[date]) -> bool:
    """Some days, each once, none on a weekend."""
    return bool(days) and len(set(days)) == len(days) and all(d.weekday() < 5 for d in days)
