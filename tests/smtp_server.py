"""Reusable helpers for tests that talk to a real SMTP server over real sockets.

- :func:`make_test_ca` makes a throwaway CA and a server certificate with ``cryptography``.
- :class:`RecordingSmtpServer` is an aiosmtpd server on 127.0.0.1 (STARTTLS, implicit TLS
  or plaintext) that requires AUTH, records what it receives and can be told to fail.
- :func:`free_port` and :func:`silent_listener` help with refused and stalled connections.

Not a conftest: fixtures are built from these functions where they are needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any, Literal, Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

TlsMode = Literal["starttls", "implicit", "none"]

LOOPBACK = "127.0.0.1"
USERNAME = "encompass"
PASSWORD = "correct horse battery staple"


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port nothing listens on right now (nothing binds it afterwards)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def silent_listener(host: str = LOOPBACK) -> Iterator[int]:
    """A port that completes the TCP handshake but never says a word (for timeouts)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        sock.listen(8)
        yield int(sock.getsockname()[1])


# --- certificates ---------------------------------------------------------------------


@dataclass(frozen=True)
class TestPki:
    """Paths of a throwaway CA and a server certificate it signed."""

    __test__ = False  # not a pytest test class

    ca_cert: Path
    server_cert: Path
    server_key: Path
    hostname: str

    def server_context(self) -> ssl.SSLContext:
        """A server-side TLS context presenting this server certificate."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.server_cert, self.server_key)
        return context


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Encompass tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


_KEY_USAGES = (
    *("digital_signature", "content_commitment", "key_encipherment", "data_encipherment"),
    *("key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"),
)


def _key_usage(*allowed: str) -> x509.KeyUsage:
    return x509.KeyUsage(**{usage: usage in allowed for usage in _KEY_USAGES})


def make_test_ca(tmp_dir: Path, hostname: str = "localhost") -> TestPki:
    """Write ca.pem, server.pem and server.key into ``tmp_dir``; SAN: host, localhost, 127.0.0.1."""
    tmp_dir.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    not_before, not_after = now - dt.timedelta(minutes=5), now + dt.timedelta(days=2)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("Encompass test CA")
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage("digital_signature", "key_cert_sign", "crl_sign"), critical=True)
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    server_key = ec.generate_private_key(ec.SECP256R1())
    dns_names = dict.fromkeys([hostname, "localhost"])
    alt_names: list[x509.GeneralName] = [x509.DNSName(name) for name in dns_names]
    alt_names.append(x509.IPAddress(ipaddress.ip_address(LOOPBACK)))
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(_name(hostname))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage("digital_signature", "key_agreement"), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(server_key.public_key()), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )

    pki = TestPki(
        ca_cert=tmp_dir / "ca.pem",
        server_cert=tmp_dir / "server.pem",
        server_key=tmp_dir / "server.key",
        hostname=hostname,
    )
    pki.ca_cert.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    pki.server_cert.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    pki.server_key.write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    pki.server_key.chmod(0o600)
    return pki


# --- the recording server -------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedMessage:
    """One message as the server accepted it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    message: EmailMessage
    tls: bool
    login: str | None


@dataclass
class _Fault:
    code: int
    text: str
    remaining: int


_DEFAULT_TEXT = {
    421: "4.3.0 Service not available, closing channel",
    451: "4.3.0 Temporary local problem, try again later",
    452: "4.3.1 Insufficient system storage",
    550: "5.1.1 Mailbox unavailable",
    552: "5.3.4 Message too big",
    554: "5.6.0 Transaction failed",
}


@dataclass
class _Recorder:
    """The aiosmtpd handler; every field is guarded by ``lock``."""

    lock: threading.Condition = field(default_factory=threading.Condition)
    messages: list[ReceivedMessage] = field(default_factory=list)
    mail_commands: list[tuple[str, bool]] = field(default_factory=list)
    auth_attempts: list[tuple[str, bool, bool]] = field(default_factory=list)
    faults: list[_Fault] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # lowercase address -> reply
    drops: dict[str, int] = field(default_factory=dict)  # "MAIL"/"DATA" -> connections to drop

    def _drop(self, server: SMTP, command: str) -> bool:
        """Abort the connection at this command when told to (a crash, a restart)."""
        with self.lock:
            if self.drops.get(command, 0) <= 0:
                return False
            self.drops[command] -= 1
        if server.transport is not None:
            server.transport.abort()
        return True

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        if self._drop(server, "MAIL"):
            return "421 4.3.0 dropped"  # never reaches the client
        with self.lock:
            self.mail_commands.append((address, _over_tls(server)))
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        with self.lock:
            refusal = self.refused.get(address.lower())
        if refusal is not None:
            return refusal
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self._drop(server, "DATA"):
            return "451 4.3.0 dropped"  # never reaches the client
        with self.lock:
            if self.faults:
                fault = self.faults[0]
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self.faults.pop(0)
                return f"{fault.code} {fault.text}"
            raw = envelope.original_content or b""
            parsed = message_from_bytes(raw, policy=default_policy)
            assert isinstance(parsed, EmailMessage)
            auth = getattr(session, "auth_data", None)
            login = auth.login if isinstance(auth, LoginPassword) else None
            self.messages.append(
                ReceivedMessage(
                    mail_from=str(envelope.mail_from),
                    rcpt_tos=tuple(envelope.rcpt_tos),
                    raw=raw,
                    message=parsed,
                    tls=_over_tls(server),
                    login=login.decode() if isinstance(login, bytes) else None,
                )
            )
            self.lock.notify_all()
        return "250 2.0.0 OK queued"


def _over_tls(server: SMTP) -> bool:
    transport = server.transport
    return transport is not None and transport.get_extra_info("ssl_object") is not None


class _Controller(Controller):
    """Controller on port 0 that learns the port it got; quiet about AUTH without TLS."""

    def _trigger_server(self) -> None:
        server = self.server
        if self.port == 0 and isinstance(server, asyncio.Server) and server.sockets:
            self.port = int(server.sockets[0].getsockname()[1])
        super()._trigger_server()  # type: ignore[no-untyped-call]

    def factory(self) -> SMTP:
        import warnings

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")
            return SMTP(self.handler, **self.SMTP_kwargs)


class RecordingSmtpServer:
    """A real aiosmtpd server on 127.0.0.1 and a free port, for one test or many.

    ``tls``: "starttls" (STARTTLS required before MAIL and AUTH), "implicit" (TLS from
    the first byte) or "none" (plaintext, no STARTTLS offered). ``pki`` is required
    for the TLS modes. With ``auth`` (the default) AUTH PLAIN/LOGIN with ``username`` and
    ``password`` is required before MAIL.
    """

    def __init__(
        self,
        tls: TlsMode = "starttls",
        pki: TestPki | None = None,
        *,
        auth: bool = True,
        username: str = USERNAME,
        password: str = PASSWORD,
        timeout: float = 30.0,
        port: int = 0,
    ) -> None:
        if tls != "none" and pki is None:
            raise ValueError(f"tls={tls!r} needs a TestPki")
        self.tls: TlsMode = tls
        self.pki = pki
        self.username = username
        self.password = password
        self._recorder = _Recorder()
        kwargs: dict[str, Any] = {
            "hostname": LOOPBACK,
            "port": port,
            "server_hostname": "localhost",
            "timeout": timeout,
            "auth_required": auth,
            "authenticator": self._authenticate,
        }
        if tls == "starttls":
            assert pki is not None
            kwargs |= {
                "tls_context": pki.server_context(),
                "require_starttls": True,
                "auth_require_tls": True,
            }
        elif tls == "implicit":
            assert pki is not None
            # aiosmtpd only counts STARTTLS as TLS; the whole connection is TLS here.
            kwargs |= {"ssl_context": pki.server_context(), "auth_require_tls": False}
        else:
            kwargs |= {"auth_require_tls": False}
        self._controller = _Controller(self._recorder, **kwargs)
        self._running = False

    # lifecycle

    def start(self) -> Self:
        if not self._running:
            self._controller.start()
            self._running = True
        return self

    def stop(self) -> None:
        if self._running:
            self._controller.stop()
            self._running = False

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def host(self) -> str:
        return LOOPBACK

    @property
    def port(self) -> int:
        if not self._running:
            raise RuntimeError("server not started")
        return int(self._controller.port)

    # faults and records

    def fail_next_data(self, count: int = 1, code: int = 451, text: str | None = None) -> None:
        """Answer the next ``count`` DATA commands with ``code`` (e.g. 451, 550)."""
        with self._recorder.lock:
            self._recorder.faults.append(
                _Fault(code, text or _DEFAULT_TEXT.get(code, "Rejected for testing"), count)
            )

    def refuse_recipient(self, address: str, code: int = 550, text: str | None = None) -> None:
        """Answer RCPT TO for ``address`` with ``code`` (every time, until ``clear``)."""
        with self._recorder.lock:
            reply = text or _DEFAULT_TEXT.get(code, "Rejected for testing")
            self._recorder.refused[address.lower()] = f"{code} {reply}"

    def drop_connection_at(self, command: Literal["MAIL", "DATA"], count: int = 1) -> None:
        """Abort the connection, without a reply, at the next ``count`` MAIL (before any of
        the message) or DATA (the message sent, not accepted) commands."""
        with self._recorder.lock:
            self._recorder.drops[command] = self._recorder.drops.get(command, 0) + count

    @property
    def logins(self) -> int:
        """Successful AUTHs: one per connection the client opened."""
        with self._recorder.lock:
            return sum(1 for _, ok, _ in self._recorder.auth_attempts if ok)

    @property
    def messages(self) -> list[ReceivedMessage]:
        """A copy of what was accepted so far."""
        with self._recorder.lock:
            return list(self._recorder.messages)

    @property
    def mail_commands(self) -> list[tuple[str, bool]]:
        """(sender, over TLS) for every MAIL FROM the server accepted."""
        with self._recorder.lock:
            return list(self._recorder.mail_commands)

    @property
    def auth_attempts(self) -> list[tuple[str, bool, bool]]:
        """(login, succeeded, over TLS) for every AUTH that reached the authenticator."""
        with self._recorder.lock:
            return list(self._recorder.auth_attempts)

    def clear(self) -> None:
        with self._recorder.lock:
            self._recorder.messages.clear()
            self._recorder.mail_commands.clear()
            self._recorder.auth_attempts.clear()
            self._recorder.faults.clear()
            self._recorder.refused.clear()
            self._recorder.drops.clear()

    def wait_for(self, count: int = 1, timeout: float = 5.0) -> list[ReceivedMessage]:
        """Block until ``count`` messages arrived; raise TimeoutError otherwise.

        From async code: ``await asyncio.to_thread(server.wait_for, 1)``.
        """
        deadline = time.monotonic() + timeout
        with self._recorder.lock:
            while len(self._recorder.messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"{len(self._recorder.messages)} of {count} messages within {timeout}s"
                    )
                self._recorder.lock.wait(left)
            return list(self._recorder.messages)

    async def async_wait_for(self, count: int = 1, timeout: float = 5.0) -> list[ReceivedMessage]:
        """:meth:`wait_for` without blocking the event loop."""
        return await asyncio.to_thread(self.wait_for, count, timeout)

    def _authenticate(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        mechanism: str,
        auth_data: Any,
    ) -> AuthResult:
        ok = (
            mechanism in ("PLAIN", "LOGIN")
            and isinstance(auth_data, LoginPassword)
            and auth_data.login == self.username.encode()
            and auth_data.password == self.password.encode()
        )
        login = (
            auth_data.login.decode(errors="replace") if isinstance(auth_data, LoginPassword) else ""
        )
        with self._recorder.lock:
            self._recorder.auth_attempts.append((login, ok, _over_tls(server)))
        if ok:
            return AuthResult(success=True, auth_data=auth_data)
        return AuthResult(success=False, handled=False)
