"""SqliteDatabase: the page size of a file it makes, and a file made before keeping its own."""

from __future__ import annotations

from pathlib import Path

from cluster import SqliteDatabase


def _page_size(db: SqliteDatabase) -> int:
    with db.reading() as sql:
        return sql.execute("PRAGMA page_size").fetchone()[0]


def test_a_file_made_with_page_bytes_has_pages_of_that_size(tmp_path: Path) -> None:
    db = SqliteDatabase(tmp_path / "small.db", page_bytes=1024)
    db.script("CREATE TABLE t (x INTEGER)")
    assert _page_size(db) == 1024
    db.close()


def test_a_file_made_before_keeps_its_page_size(tmp_path: Path) -> None:
    first = SqliteDatabase(tmp_path / "kept.db")
    first.script("CREATE TABLE t (x INTEGER)")
    first.close()
    again = SqliteDatabase(tmp_path / "kept.db", page_bytes=1024)
    assert _page_size(again) == 4096
    again.close()
