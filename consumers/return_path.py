"""Return paths of our own (VERP): each e-mail goes with an envelope sender that names it, so
the bounce that comes back to that address says which e-mail failed, for which address.

With ``ENCOMPASS_BOUNCE_ADDRESS=bounces@council.example``, a notification to a DSL goes from
``bounces+n<id>.<hint>.<mac>@council.example`` and an escalation step's e-mail (a reminder, a
retraction, an alert) from ``bounces+s<step id>.<mac>@council.example``:

- ``<id>`` is the notification id without its ``N-``; ``<hint>`` is 4 hex digits of the
  SHA-256 of the address it went to, which tells the school's addresses apart;
- ``<mac>`` is HMAC-SHA256, with this purpose's key (``foundations.purpose_keys``), over the
  kind, the id and the whole address it went to, 80 bits in lowercase base32.

A bounce to an address whose signature does not verify for the address the e-mail really
went to is a forgery (or not ours): it changes nothing. Everything is lowercase letters,
digits, ``-`` and ``.``, so it survives mail systems that lowercase addresses; a token is 42
characters after the ``+`` (for a notification id), so with a local part of up to 20 the
return path stays within RFC 5321's 64.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.utils import parseaddr
from typing import Literal

from consumers.acknowledge import load_secret_key
from foundations.purpose_keys import Purpose, purpose_key
from foundations.settings import Settings

Kind = Literal["n", "s"]  # a notification's own e-mail, an escalation step's
_TOKEN = re.compile(r"^(?:n(?P<n>[a-z0-9-]{1,40})\.(?P<hint>[0-9a-f]{4})|s(?P<s>[1-9][0-9]{0,8}))"
                    r"\.(?P<mac>[a-z2-7]{16})$")  # fmt: skip
_NOTIFICATION_ID = re.compile(r"^N-[a-z0-9-]{1,40}$")


@dataclass(frozen=True)
class Claim:
    """What a bounce address says, not yet verified: which e-mail, and its signature."""

    kind: Kind
    ident: str  # the notification id, or the step id as text
    hint: str  # for a notification: which of the school's addresses
    mac: str

    def for_address(self, address: str) -> bool:
        """Whether ``address`` could be the one this claim's hint names."""
        return self.kind == "s" or _hint(address) == self.hint


def _hint(address: str) -> str:
    return hashlib.sha256(address.strip().lower().encode()).hexdigest()[:4]


@dataclass(frozen=True)
class ReturnPaths:
    """Makes and reads the return paths under one bounce address."""

    secret: bytes = field(repr=False)
    local: str
    domain: str

    @classmethod
    def from_settings(cls, settings: Settings) -> ReturnPaths | None:
        """None when no bounce address is set: e-mails go from ``mail_from``, as before."""
        if not settings.bounce_address:
            return None
        local, _, domain = settings.bounce_address.rpartition("@")
        return cls(load_secret_key(settings), local.lower(), domain.lower())

    def _mac(self, kind: Kind, ident: str, address: str) -> str:
        key = purpose_key(self.secret, Purpose.BOUNCE_ADDRESS)
        message = f"{kind}\x1f{ident}\x1f{address.strip().lower()}".encode()
        digest = hmac.new(key, message, hashlib.sha256).digest()[:10]
        return base64.b32encode(digest).decode("ascii").lower()

    def _address(self, token: str) -> str:
        return f"{self.local}+{token}@{self.domain}"

    def for_notification(self, notification_id: str, to: str) -> str | None:
        """The return path of a notification's e-mail to ``to``; None for an id that has no
        place in one (ids are ``N-`` and lowercase hex; only tests make others)."""
        if not _NOTIFICATION_ID.fullmatch(notification_id):
            return None
        mac = self._mac("n", notification_id, to)
        return self._address(f"n{notification_id[2:]}.{_hint(to)}.{mac}")

    def for_step(self, step_id: int, to: str) -> str | None:
        """The return path of an escalation step's e-mail to ``to`` (None past the ids a
        token holds: a billion steps)."""
        if not 0 < step_id < 10**9:
            return None
        return self._address(f"s{step_id}.{self._mac('s', str(step_id), to)}")

    def claim(self, address: str) -> Claim | None:
        """What ``address`` claims, when it is one of ours in form; None otherwise."""
        address = parseaddr(address)[1].strip().lower()
        local, at, domain = address.rpartition("@")
        prefix = f"{self.local}+"
        if not at or domain != self.domain or not local.startswith(prefix):
            return None
        found = _TOKEN.fullmatch(local.removeprefix(prefix))
        if found is None:
            return None
        if found["s"] is not None:
            return Claim("s", found["s"], "", found["mac"])
        return Claim("n", f"N-{found['n']}", found["hint"], found["mac"])

    def first_claim(self, addresses: Iterable[str]) -> Claim | None:
        """The first of ``addresses`` that is one of ours in form."""
        for address in addresses:
            if (claim := self.claim(address)) is not None:
                return claim
        return None

    def verify(self, claim: Claim, to: str) -> bool:
        """Whether ``claim`` is signed by us for an e-mail to ``to``."""
        expected = self._mac(claim.kind, claim.ident, to)
        return claim.for_address(to) and hmac.compare_digest(expected, claim.mac)
