"""Whose notifications an account sees and acts on: the one place the rule lives, for the
console's pages, its API, the audit search and ``encompass review --la`` (docs/councils.md).

- A single-council deployment (no ``ENCOMPASS_COUNCILS_DIR``): everyone sees everything,
  as always (:data:`EVERYTHING`).
- A deployment of several councils: an account sees the notifications of the member
  councils it carries (``console_users.councils``, comma-separated LA codes), and no
  others. An account with none sees nothing: it fails closed. Rows with no council (made
  before councils were configured) are seen by the lead council's accounts only.

A notification outside the scope is, to the account, a notification that does not exist:
the console answers 404, never 403, so that its existence does not leak.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, false, or_, true

from foundations.councils import LA_CODE, Councils
from foundations.models import Notification


@dataclass(frozen=True)
class Scope:
    """``councils`` None: every notification. Otherwise the LA codes seen; ``lead``: also
    the rows with no council (the lead council's accounts)."""

    councils: frozenset[str] | None = None
    lead: bool = False

    @property
    def everything(self) -> bool:
        return self.councils is None

    def allows(self, council: str | None) -> bool:
        if self.councils is None:
            return True
        if council is None:
            return self.lead
        return council in self.councils

    def condition(self) -> ColumnElement[bool]:
        """The SQL condition on ``notifications.council`` (join or query Notification)."""
        if self.councils is None:
            return true()
        parts: list[ColumnElement[bool]] = []
        if self.councils:
            parts.append(Notification.council.in_(sorted(self.councils)))
        if self.lead:
            parts.append(Notification.council.is_(None))
        return or_(*parts) if parts else false()

    def describe(self) -> str:
        if self.councils is None:
            return "all"
        return ",".join(sorted(self.councils)) + (
            " (and rows with no council)" if self.lead else ""
        )


EVERYTHING = Scope()
NOTHING = Scope(frozenset())


def parse_la_codes(text: str | Iterable[str] | None) -> tuple[str, ...]:
    """``"850, 851"`` (or a list) as LA codes, each once, in order; ``ValueError`` names a
    code that is not three digits."""
    parts = text.split(",") if isinstance(text, str) else list(text or ())
    codes: list[str] = []
    for part in (str(p).strip() for p in parts):
        if not part:
            continue
        if not LA_CODE.match(part):
            raise ValueError(f"{part[:20]!r} is not an LA code (three digits, e.g. 850)")
        if part not in codes:
            codes.append(part)
    return tuple(codes)


def stored_la_codes(text: str | None) -> tuple[str, ...]:
    """An account's councils as stored; anything unreadable is dropped (fails closed)."""
    out: list[str] = []
    for part in (text or "").split(","):
        part = part.strip()
        if LA_CODE.match(part) and part not in out:
            out.append(part)
    return tuple(out)


def scope_for(councils: Councils, account_councils: str | Iterable[str] | None) -> Scope:
    """The scope of an account (or of ``--la``) in this deployment: everything when it is
    one council; else its member councils only (a code that is not a member adds nothing)."""
    if not councils.scoped:
        return EVERYTHING
    given = (
        stored_la_codes(account_councils)
        if isinstance(account_councils, str) or account_councils is None
        else stored_la_codes(",".join(account_councils))
    )
    codes = frozenset(c for c in given if c in councils.members)
    return Scope(codes, lead=councils.lead.la_code in codes)
