"""A new SQLite database is made with 16 KiB pages, whether the migrations or the broker's
engine make its file; a database made before keeps its pages and works as it did.

Why (docs/performance.md, "The first roll's pages"): in a write transaction every page
read first looks for a newer copy in the write-ahead log, so the first roll of a national
directory costs with the square of its pages."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from sqlalchemy import text

from foundations.database import PAGE_BYTES, make_engine, upgrade


def page_size(path: Path) -> int:
    with closing(sqlite3.connect(path)) as connection:
        (size,) = connection.execute("PRAGMA page_size").fetchone()
    return int(size)


def test_the_migrations_make_a_new_database_with_16_kib_pages(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    upgrade(f"sqlite:///{path}")
    assert PAGE_BYTES == 16_384
    assert page_size(path) == PAGE_BYTES


def test_the_engine_makes_a_new_database_with_them_too(tmp_path: Path) -> None:
    path = tmp_path / "engine.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE t (x INTEGER)"))
    finally:
        engine.dispose()
    assert page_size(path) == PAGE_BYTES


def test_a_database_made_before_keeps_its_pages_and_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with closing(sqlite3.connect(path)) as old, old:
        old.execute("PRAGMA page_size=4096")
        old.execute("CREATE TABLE t (x INTEGER)")
        old.execute("INSERT INTO t VALUES (1), (2)")
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO t VALUES (3)"))
            total = connection.execute(text("SELECT sum(x) FROM t")).scalar_one()
            mode = connection.execute(text("PRAGMA journal_mode")).scalar_one()
    finally:
        engine.dispose()
    assert (total, mode) == (6, "wal")
    assert page_size(path) == 4096
