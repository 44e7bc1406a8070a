"""DKIM (RFC 6376): every e-mail the broker sends is signed with the council's key, so a
school's mail system can tell it from a forgery (an e-mail about a child that looks like
ours is itself a safeguarding risk).

The key is an RSA 2048 private key in a PEM file (``ENCOMPASS_DKIM_KEY_FILE``), published in
DNS under ``<selector>._domainkey.<domain>``; ``encompass mail dkim-key`` makes one and prints
the TXT record. A key that cannot be read stops the process at start, never sends unsigned.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from foundations.settings import Settings
from foundations.startup import StartupRefused

# What the signature covers: the headers a forger would change, each signed once more than
# it appears (RFC 6376 8.15: an added copy of a signed header then breaks the signature).
SIGNED_HEADERS = (
    b"from", b"to", b"cc", b"subject", b"date", b"message-id", b"in-reply-to", b"references",
    b"mime-version", b"content-type", b"auto-submitted",
)  # fmt: skip


class DkimKeyError(StartupRefused):
    """A DKIM key that is missing or not an RSA private key: the process does not start."""


@dataclass(frozen=True)
class DkimSigner:
    selector: str
    domain: str
    private_pem: bytes = field(repr=False)

    def sign(self, raw: bytes) -> bytes:
        """``raw`` (the message as it will go on the wire, CRLF line ends) with a
        DKIM-Signature header in front."""
        header: bytes = dkim.sign(
            raw,
            self.selector.encode(),
            self.domain.encode(),
            self.private_pem,
            include_headers=[*SIGNED_HEADERS, *SIGNED_HEADERS],
            canonicalize=(b"relaxed", b"relaxed"),
            linesep=b"\r\n",
        )
        return header + raw


def signer_from_settings(settings: Settings) -> DkimSigner | None:
    """The signer the settings ask for, or None when DKIM is not configured."""
    if settings.dkim_key_file is None or settings.dkim_selector is None:
        return None
    path = settings.dkim_key_file
    try:
        pem = path.read_bytes()
        key = serialization.load_pem_private_key(pem, password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise DkimKeyError(
            f"ENCOMPASS_DKIM_KEY_FILE {path}: not a readable PEM key ({exc})"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < 1024:
        raise DkimKeyError(f"ENCOMPASS_DKIM_KEY_FILE {path}: an RSA key (2048 bits) is needed")
    return DkimSigner(settings.dkim_selector, settings.dkim_signing_domain, pem)


def new_key(bits: int = 2048) -> tuple[bytes, str]:
    """A new RSA private key (PKCS#8 PEM) and the DNS TXT record's value for its public key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return pem, txt_record(key.public_key())


def txt_record(public_key: rsa.RSAPublicKey) -> str:
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"


def write_key(path: Path) -> str:
    """Make a key at ``path`` (0600, never over an existing file); return the TXT value."""
    pem, record = new_key()
    with path.open("xb") as out:
        path.chmod(0o600)
        out.write(pem)
    return record
