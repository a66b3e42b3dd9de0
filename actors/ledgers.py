"""Where a run's HR ledgers are: one SQLite file per department under a directory, or one schema per department
in a PostgreSQL database that every node reaches (named after the run, so runs keep apart in one database)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cluster import PostgresDatabase, is_postgres, node_path, postgres_schemas, redacted

from .hr_store import HrStore

__all__ = ["Ledgers", "hr_db_path"]

_HR = "/hr-"  # between the run and the department in a schema's name


def hr_db_path(hr_dir: str | Path, department: str) -> Path:
    return node_path(hr_dir) / f"hr-{department}.db"


@dataclass(frozen=True, slots=True)
class Ledgers:
    """``location``: a directory, or a ``postgresql://`` URL; ``run``: the run's name (its namespace), which
    names the schemas in PostgreSQL (a directory is the run's own already)."""

    location: str
    run: str

    def __post_init__(self) -> None:
        if not self.location or not self.run:
            raise ValueError(f"ledgers need a location and a run, got {self.location!r} and {self.run!r}")

    @property
    def remote(self) -> bool:
        return is_postgres(self.location)

    def open(self, department: str) -> HrStore:
        """The department's ledger, made if it is not there."""
        if self.remote:
            return HrStore(PostgresDatabase(self.location, f"{self.run}{_HR}{department}"))
        return HrStore(hr_db_path(self.location, department))

    def where(self, department: str) -> str:
        if self.remote:
            return f"{redacted(self.location)} schema {self.run}{_HR}{department}"
        return str(hr_db_path(self.location, department))

    def departments(self) -> list[str]:
        """The departments that have a ledger here, sorted."""
        if self.remote:
            prefix = f"{self.run}{_HR}"
            return [schema[len(prefix):] for schema in postgres_schemas(self.location, prefix)]
        return sorted(path.name[3:-3] for path in node_path(self.location).glob("hr-*.db"))
