"""foundations.database.read_only: a transaction that only reads. On SQLite it does not wait
for the write lock another writer holds; on both databases a write in it is refused, and
the connection it used writes again afterwards (issue 16)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from foundations.database import read_only, transaction
from foundations.models import RelayCursor


def test_a_write_in_a_read_only_transaction_is_refused(sessions: sessionmaker[Session]) -> None:
    with pytest.raises(DBAPIError), read_only(sessions) as session:
        session.add(RelayCursor(name="read-only", last_seq=1))
        session.flush()
    with transaction(sessions) as session:  # the pooled connection writes again
        session.add(RelayCursor(name="after", last_seq=2))
    with read_only(sessions) as session:
        names = set(session.execute(select(RelayCursor.name)).scalars())
    assert "read-only" not in names and "after" in names


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_on_sqlite_a_reader_does_not_wait_for_the_writer(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as writer:
        writer.add(RelayCursor(name="uncommitted", last_seq=1))
        writer.flush()  # the write lock is held until this block ends
        seen: list[int] = []

        def read() -> None:
            with read_only(sessions) as session:
                seen.append(session.execute(select(func.count()).select_from(RelayCursor)).one()[0])

        reader = threading.Thread(target=read)
        reader.start()
        reader.join(timeout=5)
        assert not reader.is_alive()  # it did not queue behind the writer
        assert seen == [0]  # the last commit, not the writer's row
