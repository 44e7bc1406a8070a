"""foundations.database.per_transaction: computed once per transaction, again in the next
one, and again after an import forgets it (issue 16)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from foundations.database import forget_per_transaction, per_transaction, transaction


def test_once_per_transaction_and_again_in_the_next(sessions: sessionmaker[Session]) -> None:
    made: list[int] = []

    def make() -> int:
        made.append(1)
        return len(made)

    with transaction(sessions) as session:
        session.execute(text("SELECT 1"))
        assert per_transaction(session, "k", make) == 1
        assert per_transaction(session, "k", make) == 1
        forget_per_transaction(session)
        assert per_transaction(session, "k", make) == 2
    with transaction(sessions) as session:
        session.execute(text("SELECT 1"))
        assert per_transaction(session, "k", make) == 3
    with sessions() as session:  # no transaction yet: nothing is kept
        assert per_transaction(session, "k", make) == 4
