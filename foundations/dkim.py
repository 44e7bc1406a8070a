"""DKIM (RFC 6376): every e-mail the broker sends is signed with the council's key, so a
school's mail system can tell it from a forgery (an e-mail about a child that looks like
ours is itself a safeguarding risk).

The key is an RSA 2048 private key in a PEM file (``ENCOMPASS_DKIM_KEY_FILE``), published in
DNS under ``<selector>._domainkey.<domain>``; ``encompass mail dkim-key`` makes one and prints
the TXT record. A key that cannot be read stops the process at start, never sends unsigned.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dkim
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from foundations.settings import Settings
from foundations.startup import StartupRefused

# What the signature covers: the headers a forger would change, each signed once more than
# it appears (RFC 6376 8.15: an added copy of a signed header then breaks the signature).
SIGNED_HEADERS = (
    b"from", b"to", b"cc", b"subject", b"date", b"message-id", b"in-reply-to", b"references",
    b"mime-version", b"content-type", b"auto-submitted",
)  # fmt: skip
_INCLUDE_HEADERS = (*SIGNED_HEADERS, *SIGNED_HEADERS)
_RELAXED = dkim.CanonicalizationPolicy.from_c_value(b"relaxed/relaxed")


class DkimKeyError(StartupRefused):
    """A DKIM key that is missing or not an RSA private key: the process does not start."""


class _OpenSslDkim(dkim.DKIM):  # type: ignore[misc]
    """dkimpy's DKIM, its RSA signature made by OpenSSL (``cryptography``) instead of its
    pure-Python arithmetic: 1 ms an e-mail instead of 13, the same bytes (RSASSA-PKCS1-v1_5
    is deterministic; tests/test_dkim.py checks the two agree). ``gen_header`` is dkimpy's
    (1.1.8) for rsa-sha256 without ``standardize``, but for the one line that signs;
    ``sign_relaxed`` is its ``sign`` for the one way we sign, without the key's PEM."""

    def __init__(self, message: bytes, key: rsa.RSAPrivateKey) -> None:
        super().__init__(message, linesep=b"\r\n")
        self.rsa_key = key

    def gen_header(  # dkimpy's signature
        self,
        fields: list[tuple[bytes, bytes]],
        include_headers: tuple[bytes, ...],
        canon_policy: Any,
        header_name: bytes,
        pk: object,
        standardize: bool = False,
    ) -> bytes:
        if standardize or self.signature_algorithm != b"rsa-sha256":
            return bytes(
                super().gen_header(
                    fields, include_headers, canon_policy, header_name, pk, standardize
                )
            )
        header_value = b"; ".join(b"=".join(x) for x in fields)
        header_value = dkim.fold(header_value, namelen=len(header_name), linesep=b"\r\n")
        header_value = dkim.RE_BTAG.sub(b"\\1", header_value)
        header = (header_name, b" " + header_value)
        h = dkim.HashThrough(self.hasher(), self.debug_content)
        sig = dict(fields)
        headers = canon_policy.canonicalize_headers(self.headers)
        self.signed_headers = dkim.hash_headers(
            h, canon_policy, headers, include_headers, header, sig
        )
        signature = self.rsa_key.sign(h.digest(), padding.PKCS1v15(), Prehashed(hashes.SHA256()))
        idx = next(i for i, (tag, _) in enumerate(fields) if tag == b"b")
        fields[idx] = (b"b", base64.b64encode(signature))
        header_value = b"; ".join(b"=".join(x) for x in fields) + self.linesep
        return bytes(dkim.fold(header_value, namelen=len(header_name), linesep=self.linesep))

    def sign_relaxed(self, selector: bytes, domain: bytes) -> bytes:
        """dkimpy's (1.1.8) ``sign(selector, domain, pem, include_headers=SIGNED_HEADERS
        twice, canonicalize=(relaxed, relaxed))``, the same bytes, but for one step:
        dkimpy's ``sign`` parses the PEM key on every call with its pure-Python ASN.1 parser
        (0.35 ms of the 1.5 ms an e-mail's signature costs) for a key ``gen_header`` above
        never uses. Its checks of the headers (From signed, nothing it should not) hold for
        the fixed ``SIGNED_HEADERS``; tests/test_dkim.py compares the two."""
        self.signature_algorithm = b"rsa-sha256"
        self.hasher = dkim.HASH_ALGORITHMS[self.signature_algorithm]
        self.include_headers = _INCLUDE_HEADERS
        body = _RELAXED.canonicalize_body(self.body)
        fields = [
            (b"v", b"1"),
            (b"a", self.signature_algorithm),
            (b"c", _RELAXED.to_c_value()),
            (b"d", domain),
            (b"i", b"@" + domain),
            (b"q", b"dns/txt"),
            (b"s", selector),
            (b"t", str(int(time.time())).encode("ascii")),
            (b"h", b" : ".join(_INCLUDE_HEADERS)),
            (b"bh", base64.b64encode(self.hasher(body).digest())),
            (b"b", b"0" * 60),  # dkimpy's: b= folds onto a line of its own
        ]
        header = self.gen_header(fields, _INCLUDE_HEADERS, _RELAXED, b"DKIM-Signature", None)
        self.domain = domain
        self.selector = selector
        self.signature_fields = dict(fields)
        return b"DKIM-Signature: " + header


@dataclass(frozen=True)
class DkimSigner:
    selector: str
    domain: str
    private_pem: bytes = field(repr=False)
    key: rsa.RSAPrivateKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        key = serialization.load_pem_private_key(self.private_pem, password=None)
        assert isinstance(key, rsa.RSAPrivateKey)  # signer_from_settings checked it
        object.__setattr__(self, "key", key)

    def sign(self, raw: bytes) -> bytes:
        """``raw`` (the message as it will go on the wire, CRLF line ends) with a
        DKIM-Signature header in front."""
        signer = _OpenSslDkim(raw, self.key)
        return signer.sign_relaxed(self.selector.encode(), self.domain.encode()) + raw


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
