"""What a process checks before it starts work, and refuses to start without.

Settings are only read here, at the start of ``encompass up``, the service and the CLI
commands, never in ``Settings()`` itself: unit tests build settings freely.

- Unsafe settings (issue 13, defect 7): a placeholder First Response address (the
  deployment's, or in a deployment of several councils each council's, from its file in
  ``ENCOMPASS_COUNCILS_DIR``), a public URL that no school can reach or that sends links in
  clear, Kafka in plaintext to another host. Each is refused with its setting's name unless
  ``ENCOMPASS_ALLOW_UNSAFE`` names it.
- A councils folder that cannot be used (foundations/councils.py): refused, with the file
  and the reason.
- The files of the embedded installation: outside a container image, the data folder is
  0700 and the SQLite database, its WAL and the demo's mail files 0600.
"""

from __future__ import annotations

import ipaddress
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import structlog
from sqlalchemy.engine import make_url

from foundations.councils import CouncilError, Councils, councils_for
from foundations.settings import Settings, is_loopback

log = structlog.get_logger(__name__)

# Domains that are placeholders by definition (RFC 2606, RFC 6761): mail to them goes nowhere.
RESERVED_SUFFIXES = (".example", ".invalid", ".test", ".localhost", ".local")
RESERVED_DOMAINS = frozenset(
    {"example", "invalid", "test", "localhost", "example.com", "example.net", "example.org"}
)


class StartupRefused(RuntimeError):
    """A process must not start: the message says why and names the setting."""


@dataclass(frozen=True)
class Unsafe:
    allowance: str  # the name ENCOMPASS_ALLOW_UNSAFE takes
    message: str


def is_placeholder_domain(domain: str) -> bool:
    domain = domain.strip().rstrip(".").lower()
    if not domain or "." not in domain:
        return True
    return domain in RESERVED_DOMAINS or domain.endswith(RESERVED_SUFFIXES)


def _local_host(host: str) -> bool:
    host = host.strip("[]").lower()
    if is_loopback(host) or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_unspecified or address.is_link_local


def _email_problem(address: str) -> str | None:
    local, at, domain = address.strip().rpartition("@")
    if not at or not local:
        return "not an e-mail address"
    if is_placeholder_domain(domain):
        return f"a placeholder address (the domain {domain!r} is reserved and receives no mail)"
    return None


def _public_url_problem(url: str) -> str | None:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not host:
        return "not an http(s) address with a host"
    if _local_host(host):
        return "on this machine only: no school can open an acknowledgement link to it"
    if is_placeholder_domain(host) and not _is_ip(host):
        return f"a placeholder (the domain {host!r} is reserved)"
    if parts.scheme != "https":
        return "plain http: acknowledgement links would cross the internet unencrypted"
    return None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _bootstrap_hosts(bootstrap: str) -> list[str]:
    hosts = []
    for server in (s.strip() for s in bootstrap.split(",") if s.strip()):
        host = server.rsplit(":", 1)[0] if server.count(":") == 1 or "]" in server else server
        hosts.append(host.strip("[]"))
    return hosts


def councils_or_refuse(settings: Settings) -> Councils:
    """The deployment's councils; ``StartupRefused`` naming the file and the reason when
    the folder cannot be used."""
    try:
        return councils_for(settings)
    except CouncilError as exc:
        raise StartupRefused(f"ENCOMPASS_COUNCILS_DIR: {exc}") from None


def _council_addresses(councils: Councils) -> list[Unsafe]:
    """Each council's First Response addresses, under the allowances of the deployment's
    own (``first_response_email``, ``first_response_duty_email``)."""
    found: list[Unsafe] = []
    for council in (*councils.members.values(), *councils.neighbours.values()):
        contact = council.first_response
        if contact is None:
            continue
        for allowance, key, address in (
            ("first_response_email", "email", contact.email),
            ("first_response_duty_email", "duty_email", contact.duty_email),
        ):
            problem = _email_problem(address) if address is not None else None
            if problem:
                found.append(
                    Unsafe(
                        allowance,
                        f"ENCOMPASS_COUNCILS_DIR {council.la_code}.toml [first_response] "
                        f"{key} {address!r} is {problem}: that council's e-mails and alerts "
                        "would reach no one. Set its real address.",
                    )
                )
    return found


def unsafe_settings(settings: Settings, bootstrap: str | None = None) -> list[Unsafe]:
    """Every unsafe setting, allowed or not. ``bootstrap``: the Kafka servers the process
    will really use (the embedded broker's address, when there is one). A councils folder
    that cannot be read at all is refused outright (``StartupRefused``); in one that can,
    each council's addresses stand in for ``ENCOMPASS_FIRST_RESPONSE_*``, which are then
    not used."""
    councils = councils_or_refuse(settings)
    if councils.scoped:
        return _council_addresses(councils) + _other_unsafe(settings, bootstrap)
    return _deployment_addresses(settings) + _other_unsafe(settings, bootstrap)


def _deployment_addresses(settings: Settings) -> list[Unsafe]:
    found: list[Unsafe] = []
    problem = _email_problem(settings.first_response_email)
    if problem:
        found.append(
            Unsafe(
                "first_response_email",
                f"ENCOMPASS_FIRST_RESPONSE_EMAIL {settings.first_response_email!r} is "
                f"{problem}: First Response's alerts about "
                "late and unacknowledged notifications would reach no one. Set the duty "
                "inbox's real address.",
            )
        )
    if settings.first_response_duty_email is not None:
        problem = _email_problem(settings.first_response_duty_email)
        if problem:
            found.append(
                Unsafe(
                    "first_response_duty_email",
                    "ENCOMPASS_FIRST_RESPONSE_DUTY_EMAIL "
                    f"{settings.first_response_duty_email!r} is {problem}: escalation alerts "
                    "would reach no one. Set the duty inbox's real address, or leave it "
                    "unset to use ENCOMPASS_FIRST_RESPONSE_EMAIL.",
                )
            )
    return found


def _other_unsafe(settings: Settings, bootstrap: str | None) -> list[Unsafe]:
    found: list[Unsafe] = []
    problem = _public_url_problem(settings.public_url)
    if problem:
        found.append(
            Unsafe(
                "public_url",
                f"ENCOMPASS_PUBLIC_URL {settings.public_url!r} is {problem}. Set the https "
                "address at which schools reach the acknowledgement pages.",
            )
        )
    servers = bootstrap or settings.kafka_bootstrap
    if settings.kafka_security_protocol == "PLAINTEXT" and servers:
        remote = [h for h in _bootstrap_hosts(servers) if not _local_host(h)]
        if remote:
            found.append(
                Unsafe(
                    "kafka_plaintext",
                    "ENCOMPASS_KAFKA_SECURITY_PROTOCOL is PLAINTEXT to "
                    f"{', '.join(sorted(set(remote)))}: police incidents would cross the "
                    "network unencrypted and unauthenticated. Use SSL or SASL_SSL "
                    "(docs/operations.md, 'Kafka in production').",
                )
            )
    return found


def refuse_unsafe_settings(settings: Settings, bootstrap: str | None = None) -> None:
    """Raise ``StartupRefused`` naming every unsafe setting not allowed explicitly."""
    allowed = settings.allowed_unsafe
    refused = []
    for unsafe in unsafe_settings(settings, bootstrap):
        if unsafe.allowance in allowed:
            log.warning("unsafe_setting_allowed", setting=unsafe.allowance)
        else:
            refused.append(unsafe)
    if refused:
        lines = [f"  - {u.message}" for u in refused]
        names = ",".join(u.allowance for u in refused)
        raise StartupRefused(
            "refusing to start with unsafe settings:\n"
            + "\n".join(lines)
            + f"\n(For a test installation only: ENCOMPASS_ALLOW_UNSAFE={names} accepts them.)"
        )


# --- the embedded installation's files --------------------------------------------------------


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (None for another database or an in-memory one)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    if not parsed.database or parsed.database == ":memory:" or parsed.database.startswith("file:"):
        return None
    return Path(parsed.database)


def embedded_database(settings: Settings) -> bool:
    """The database is a SQLite file inside the data folder: data and a generated key live
    together, and no other machine shares them."""
    path = sqlite_file(settings.resolved_database_url)
    if path is None:
        return False
    folder = settings.data_dir.expanduser().resolve()
    return path.expanduser().resolve().is_relative_to(folder)


def _restrict(path: Path, mode: int) -> None:
    """``chmod`` what this process owns and is looser than ``mode``; leave the rest (a
    mounted volume belongs to its orchestrator)."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return
    if stat.S_ISLNK(info.st_mode) or info.st_uid != os.geteuid():
        return
    if stat.S_IMODE(info.st_mode) & ~mode:
        try:
            os.chmod(path, stat.S_IMODE(info.st_mode) & mode)
        except OSError as exc:
            log.warning("permissions_not_restricted", path=str(path), error=str(exc))


def restrict_data_files(settings: Settings) -> None:
    """The data folder 0700; the SQLite database, its WAL, shared memory, journal and
    migration lock, the key files and the demo's mail 0600."""
    folder = settings.data_dir
    _restrict(folder, 0o700)
    database = sqlite_file(settings.resolved_database_url)
    if database is not None:
        for suffix in ("", "-wal", "-shm", "-journal", ".migrate-lock"):
            _restrict(database.with_name(database.name + suffix), 0o600)
    for name in ("data.key", "secret.key", "audit-signing.key"):
        _restrict(folder / name, 0o600)
    mail = folder / "demo-mail"
    if mail.is_dir():
        _restrict(mail, 0o700)
        for message in mail.iterdir():
            _restrict(message, 0o600)
