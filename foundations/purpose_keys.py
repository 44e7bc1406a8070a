"""Every key made for one purpose from a master secret, made one way.

A master secret (``ENCOMPASS_SECRET_KEY`` or the ``secret.key`` file; each data key of
``ENCOMPASS_DATA_KEY`` or the key file) is never used as it is: each use gets its own key,
``HMAC-SHA256(master, purpose)``, with the purpose one of :class:`Purpose`. A key for one
purpose tells nothing about the key for another, so a signature made for a session cookie
can never pass as an acknowledgement link, and a leak of one purpose's key (a log, a
debugger) exposes that purpose only.

Why HMAC-SHA256 with a label and not HKDF: HKDF-Expand is this same HMAC (with a counter
byte), and its extract step adds nothing to masters that are already random; but several of
these keys protect what is already stored or held. The blind indexes are keyed hashes in the
database (a different key means re-indexing every row), the data keys decrypt every
encrypted value, and the console's session cookies sit in reviewers' browsers. So the one
function reproduces the derivation they were made with, byte for byte
(``tests/security/test_purpose_keys.py`` pins it), and a new purpose is one more label.
"""

from __future__ import annotations

import hashlib
import hmac
from enum import StrEnum


class Purpose(StrEnum):
    """The label of each purpose. Never change one: what was keyed with it would no longer
    verify or decrypt (see the module's text)."""

    # From each data key (foundations/crypto.py): persisted, never to change.
    DATA_ENCRYPTION = "encompass data encryption"
    BLIND_INDEX = "encompass blind index"  # from the oldest data key
    # From ENCOMPASS_SECRET_KEY.
    CONSOLE_SESSION = "encompass console session"  # console/auth.py: the session cookie
    OIDC_STATE = "encompass console oidc state"  # console/oidc.py: state between redirects
    SIGN_IN_CSRF = "encompass console sign-in csrf"  # console/signin_csrf.py
    ACKNOWLEDGEMENT_LINK = "encompass acknowledgement link"  # consumers/acknowledge.py
    BOUNCE_ADDRESS = "encompass bounce address"  # consumers/return_path.py: VERP tokens


def purpose_key(master: bytes, purpose: Purpose) -> bytes:
    """The 32-byte key for ``purpose`` from ``master``."""
    return hmac.new(master, purpose.value.encode("ascii"), hashlib.sha256).digest()
