"""Every setting in one typed place (SPEC section 7).

Settings are read from ``ENCOMPASS_*`` environment variables once, by the command that
starts a process, and passed down. Nothing reads the environment at import time.
"""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class SmtpTls(StrEnum):
    STARTTLS = "starttls"
    IMPLICIT = "implicit"
    NONE = "none"


class ReviewPolicy(StrEnum):
    ALL = "all"
    AUTO_RELEASE_EXACT = "auto_release_exact"
    AUTO_RELEASE_CONFIDENT = "auto_release_confident"


class Role(StrEnum):
    """What one process runs (``ENCOMPASS_ROLES``, ``encompass up --roles``); every role by
    default. docs/architecture.md, "Roles and the lifecycle"."""

    INTAKE = "intake"  # the Kafka subscriber: incidents in, recorded, dead letters out
    DELIVERY = "delivery"  # e-mails to schools; escalation (its timers, reminders, alerts)
    SCHEDULER = "scheduler"  # the audit relay and checkpoints, the retention purge
    CONSOLE = "console"  # the console and the acknowledgement pages


ALL_ROLES = frozenset(Role)


def parse_roles(value: str) -> frozenset[Role]:
    """``intake,delivery`` (any order, any case); ``all`` for every role."""
    names = {part.strip().lower() for part in value.split(",") if part.strip()}
    if not names:
        raise ValueError("name at least one role (or all)")
    if "all" in names:
        return ALL_ROLES
    unknown = sorted(names - {r.value for r in Role})
    if unknown:
        raise ValueError(
            f"unknown role(s) {', '.join(unknown)}; known: all, {', '.join(r.value for r in Role)}"
        )
    return frozenset(Role(name) for name in names)


# What ENCOMPASS_ALLOW_UNSAFE may name (foundations/startup.py checks each at start).
UNSAFE_ALLOWANCES = (
    "first_response_email",
    "first_response_duty_email",
    "public_url",
    "kafka_plaintext",
)


def default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "encompass"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ENCOMPASS_", frozen=True, extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)

    # Kafka. Unset bootstrap means: start the embedded broker.
    kafka_bootstrap: str | None = None
    incidents_topic: str = "police.incidents.v1"
    dlq_topic: str = "police.incidents.dlq.v1"
    audit_topic: str = "encompass.audit.v1"
    consumer_group: str = "encompass-intake"
    topic_partitions: int = Field(default=3, ge=1)
    kafka_session_timeout_ms: int = Field(default=10_000, ge=1_000)
    # Events taken per database transaction and offset commit, at most: a batch is what is
    # waiting, so at a quiet time it is one event. 300 rather than 100 when a backlog is
    # replayed: about an eighth less CPU per incident (the per-batch reads shared), for a
    # SQLite write lock held about 1.5 s a batch (docs/performance.md).
    intake_batch_size: int = Field(default=300, ge=1, le=1000)
    # An event whose processing keeps failing for a reason that is not transient is tried
    # this many times alone, the waits doubling from the backoff, then dead-lettered with
    # its reason (consumers/intake_batch.py); a database that is away is waited for.
    intake_max_attempts: int = Field(default=5, ge=1, le=10)
    intake_retry_backoff_s: float = Field(default=0.5, gt=0, le=10)
    # Worker processes that redact and residual-check a batch's accounts while the intake's
    # transaction matches and writes (consumers/intake_pool.py); 0: no pool, all in process.
    intake_workers: int = Field(default=0, ge=0, le=16)
    # Processes that prepare (read, check, seal, hash) the first roll of a large pupils file
    # while the importing process inserts (school_directory/import_workers.py); unset: one
    # per core; 0 or 1: none, all in the importing process.
    import_workers: int | None = Field(default=None, ge=0, le=64)
    # Kafka in production (broker/kafka_security.py; docs/operations.md). TLS always
    # verifies the brokers' certificates and host names: the CA file, else the system store.
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = "SCRAM-SHA-512"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_ca_file: Path | None = None
    kafka_ssl_cert_file: Path | None = None  # mutual TLS: our client certificate (PEM)
    kafka_ssl_key_file: Path | None = None  # ... and its private key (PEM)
    kafka_ssl_key_password: SecretStr | None = None
    # Idempotent producer: "auto" asks the broker at start-up and falls back to plain
    # acks=all (logged) when it has none; "on" refuses to start without it.
    kafka_idempotent: Literal["auto", "on", "off"] = "auto"
    # For the topics the broker creates (existing topics are never altered).
    kafka_replication_factor: int = Field(default=1, ge=1)
    kafka_incidents_retention_days: int = Field(default=7, ge=1)
    kafka_dlq_retention_days: int = Field(default=28, ge=1)
    kafka_audit_retention_days: int = Field(default=400, ge=1)

    # Database. Unset means SQLite in the data directory.
    database_url: str | None = None

    # E-mail.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_tls: SmtpTls = SmtpTls.STARTTLS
    smtp_ca_file: Path | None = None
    # Upper bounds on every delivery and escalation timing: none of them may be turned into
    # a way to stop sending (issue 13, defect 11; docs/security.md, "Pausing notifications").
    smtp_timeout_s: float = Field(default=30.0, gt=0, le=300)
    # One SMTP connection (STARTTLS and AUTH once) serves the e-mails that follow it:
    # kept open this long after an e-mail for the next one, and for at most this many
    # e-mails (foundations/smtp_connections.py). 0 seconds: a new connection per e-mail.
    smtp_idle_s: float = Field(default=15.0, ge=0, le=300)
    smtp_messages_per_connection: int = Field(default=100, ge=1, le=10000)
    mail_from: str = "operation-encompass@localhost"
    # DKIM (foundations/dkim.py): every e-mail is signed when a key file and a selector are
    # set; the domain defaults to mail_from's. `encompass mail dkim-key` makes the key and
    # prints the DNS TXT record to publish.
    dkim_key_file: Path | None = None
    dkim_selector: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,62})$"
    )
    dkim_domain: str | None = None
    # Bounces (consumers/bounces.py). With a bounce address, every e-mail goes with a return
    # path of its own, <local>+<token>@<domain> (VERP), the token naming the e-mail, signed, so
    # a forged bounce is refused. Unset: the envelope sender is mail_from's, as before.
    bounce_address: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._-]{1,20}@[^@\s]+$")
    # The listener for delivery status notifications, beside the broker in the delivery
    # role: off unless the host is set (port 0: any free one). It offers STARTTLS with a
    # certificate and key when both are set.
    bounce_smtp_host: str | None = None
    bounce_smtp_port: int = Field(default=2525, ge=0, le=65535)
    bounce_smtp_tls_cert_file: Path | None = None
    bounce_smtp_tls_key_file: Path | None = None
    # `encompass mail bounces --imap`: the mailbox bounces are routed to, for councils that
    # cannot route mail to the listener. Over TLS only (implicit, or STARTTLS), verified.
    bounce_imap_host: str | None = None
    bounce_imap_port: int = Field(default=993, ge=1, le=65535)
    bounce_imap_tls: Literal["implicit", "starttls"] = "implicit"
    bounce_imap_username: str | None = None
    bounce_imap_password: SecretStr | None = None
    bounce_imap_folder: str = "INBOX"
    bounce_imap_ca_file: Path | None = None
    delivery_max_attempts: int = Field(default=8, ge=1)
    delivery_backoff_s: float = Field(default=5.0, gt=0, le=600)
    delivery_poll_s: float = Field(default=1.0, gt=0, le=60)
    # How long a claimed e-mail is held by one worker before another may send it (after a
    # crash). The worker renews it every third of a lease while it sends (consumers/outbox.py),
    # so it can be short: a crash holds the rest of a batch for about this long.
    delivery_lease_s: float = Field(default=30.0, gt=0, le=3600)
    # E-mails a process has in flight at once, each on its own kept SMTP connection
    # (consumers/deliver.py): a Monday backlog or a busy night is not sent one at a time.
    delivery_concurrency: int = Field(default=8, ge=1, le=64)

    # The web console and acknowledgement links.
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    public_url: str = "http://127.0.0.1:8080"
    # Signs acknowledgement links. Unset: a random key made once, kept in
    # data_dir/secret.key (0600). Every broker and console process must share it.
    secret_key: SecretStr | None = None
    ack_link_ttl_days: int = Field(default=14, ge=1, le=365)
    # The internal listener: /metrics, /readyz and the API's OpenAPI document, never on the
    # public console port (0: any free port). Keep it off the internet: loopback by default;
    # in Kubernetes the pod address, reached only by the probes and Prometheus.
    internal_http_host: str = "127.0.0.1"
    internal_http_port: int = Field(default=9464, ge=0, le=65535)
    # Serve the console (acknowledgement pages) inside the broker process.
    console_enabled: bool = True
    # The First Response console (console/): sign-in sessions end after this long idle;
    # cookies are Secure unless public_url is plain http on a loopback address (None: auto).
    console_session_idle_min: int = Field(default=30, ge=1, le=12 * 60)
    console_cookie_secure: bool | None = None
    # A reviewer's claim on a notification lapses after this long.
    console_claim_ttl_min: int = Field(default=15, ge=1, le=24 * 60)
    # Four eyes: edited or high-risk notifications need a second, different reviewer.
    four_eyes: bool = False
    # Sign-ins end this long after they began, however busy (the idle timeout above ends
    # them sooner). Each is a row in console_sessions (console/sessions.py).
    console_session_max_hours: int = Field(default=12, ge=1, le=7 * 24)
    # Multi-factor sign-in (TOTP): always for admins and auditors; for reviewers too when on.
    console_mfa_reviewers: bool = False
    # Sign-in throttling (console/throttle.py). By account: after this many failures in a
    # row, each further attempt waits login_delay_base_s, doubling with every failure, at
    # most login_delay_max_s; the count is forgotten after login_failures_kept_h without
    # a failure. The second factor is throttled the same way.
    login_max_failures: int = Field(default=5, ge=1)
    login_delay_base_s: int = Field(default=30, ge=1)
    login_delay_max_s: int = Field(default=900, ge=1)
    login_failures_kept_h: int = Field(default=24, ge=1)
    # By client address, a second line: this many failures within the window refuse that
    # address until the window has passed.
    login_address_max_failures: int = Field(default=20, ge=1)
    login_window_min: int = Field(default=15, ge=1)
    # Reverse proxies (addresses or CIDR ranges, comma separated) whose X-Forwarded-For
    # names the client; from any other peer the header is ignored. Unset: none.
    trusted_proxies: str = ""
    # OpenID Connect sign-in, for councils that have it (unset: local accounts only).
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    oidc_role_claim: str = "roles"  # a claim listing reviewer/auditor/admin
    # A claim naming the councils an OIDC account sees (LA codes: a list, or a string comma
    # separated), set from the provider on every sign-in; an account whose token lacks it
    # sees nothing. Unset: an administrator sets them (`encompass users councils`, the
    # console's Accounts page) and a new account sees nothing until then (docs/councils.md).
    oidc_councils_claim: str | None = None

    # Deadlines and escalation (minutes). First Response's duty inbox hears of anything
    # still waiting for review this long before deliver_by, and of anything late.
    escalate_before_deadline_min: int = Field(default=60, ge=0, le=24 * 60)
    # Sent but not acknowledged this long after deliver_by (or after sending, if later):
    # remind the DSL, then the deputy, then alert First Response, one step apart.
    remind_after_deadline_min: int = Field(default=120, ge=0, le=24 * 60)
    escalation_step_min: int = Field(default=60, ge=1, le=24 * 60)
    # Approved and with the delivery worker: late only once it has had this long to send.
    late_delivery_grace_min: int = Field(default=10, ge=0, le=120)
    escalation_poll_s: float = Field(default=30.0, gt=0, le=3600)
    # Sent notifications older than this are not chased (e.g. those sent before upgrading).
    escalation_horizon_days: int = Field(default=7, ge=1)
    first_response_duty_email: str | None = None  # unset: first_response_email

    # Review and content.
    review_policy: ReviewPolicy = ReviewPolicy.ALL
    # When the residual check holds the officer's account, a notification the policy
    # releases still goes on time with the structured account, and the officer's account
    # follows once a person has read it. Off: the whole notification waits for a person.
    structured_account_fallback: bool = True
    first_response_name: str = "First Response"
    first_response_email: str = "first.response@council.example"
    first_response_phone: str = "0300 000 0000"
    default_day_start: str = "08:30"
    # The scored matcher (docs/matching.md): posterior match probability needed to release
    # without a person (auto_release_confident) and to count as found, and the match-weight
    # margin in bits the best child needs over the next one (twins, same-name children).
    match_release_threshold: float = Field(default=0.999, gt=0, le=1)
    match_review_threshold: float = Field(default=0.01, gt=0, le=1)
    match_margin_bits: float = Field(default=10.0, ge=0)
    # An exact match on names and date of birth whose address differs (a family that has
    # moved, or fled to a refuge) is released unless a namesake born the same day and on no
    # roll the directory knows is likelier than this (docs/matching.md, "Namesakes").
    match_namesake_odds: float = Field(default=0.001, ge=0, le=1)
    # The share of the children this deployment's police may meet who are on no roll the
    # directory knows (home-educated, missing education, at schools it does not hold).
    match_off_roll_share: float = Field(default=0.08, gt=0, lt=1)

    # The directory's health, a go-live gate (`encompass directory health`, the console's
    # /directory/health; school_directory/health.py): it fails below any of these.
    # Shares are fractions of one: of open schools with a DSL, with a deputy, with a
    # calendar (their own or their LA's); of contacts confirmed (by an import or an
    # acknowledgement) within max_unconfirmed_days; of recent notifications (the window)
    # matched without a person. Each open school's roll imported, against GIAS's
    # NumberOfPupils, at least min_pupil_coverage; at most max_bounced_addresses addresses
    # still in the directory that bounced in the window.
    health_min_dsl_share: float = Field(default=1.0, ge=0, le=1)
    health_min_deputy_share: float = Field(default=0.95, ge=0, le=1)
    health_max_unconfirmed_days: int = Field(default=365, ge=1)
    health_min_confirmed_share: float = Field(default=0.95, ge=0, le=1)
    health_max_bounced_addresses: int = Field(default=0, ge=0)
    health_min_pupil_coverage: float = Field(default=0.8, ge=0, le=1)
    health_min_calendar_share: float = Field(default=1.0, ge=0, le=1)
    health_min_auto_match_share: float = Field(default=0.8, ge=0, le=1)
    health_window_days: int = Field(default=30, ge=1)

    # Encryption at rest (foundations/crypto.py): ``id:base64key`` entries, newest last, or a key
    # file (default <data_dir>/data.key, made on first use with mode 0600).
    data_key: SecretStr | None = None
    data_key_file: Path | None = None

    # Settings refused at start as unsafe (foundations/startup.py) that this installation
    # accepts knowingly: comma-separated names from UNSAFE_ALLOWANCES. `up --demo` sets them.
    allow_unsafe: str = ""

    # Retention of personal content (police records, what schools were sent), in days
    # after receipt; set by the local data-sharing agreement. The purge runs daily.
    retention_days: int = Field(default=400, ge=1)
    retention_interval_s: float = Field(default=86_400.0, gt=0)

    # Minimisation profiles: one TOML file per local agreement (consumers/profiles.py).
    profiles_dir: Path | None = None
    # The councils this deployment serves and its neighbours: one TOML file per council
    # (foundations/councils.py, docs/councils.md), checked at start. Unset: one council,
    # whose First Response is first_response_* above, and every account sees everything.
    councils_dir: Path | None = None

    # Audit: signed tree heads over the ledger (a file outside the database, and Kafka).
    audit_signing_key_file: Path | None = None  # default: <data_dir>/audit-signing.key
    audit_checkpoint_file: Path | None = None  # default: <data_dir>/audit-checkpoints.jsonl
    audit_checkpoint_interval_s: float = Field(default=300.0, gt=0)

    # The roles this process runs, comma separated (intake, delivery, scheduler, console;
    # "all", the default, runs every one). Kubernetes runs each role as its own Deployment.
    roles: Annotated[frozenset[Role], NoDecode] = ALL_ROLES
    # Bring the database to the newest schema when a process starts. Off where migrations
    # run once, apart (the Kubernetes Job `encompass db upgrade`): a process then refuses to
    # start on a database that is behind.
    migrate_on_start: bool = True

    # Logging: "console" on a terminal, "json" when deployed.
    log_format: str = "auto"
    log_level: str = "INFO"

    @field_validator("roles", mode="before")
    @classmethod
    def _roles_from_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            return parse_roles(value)
        if not value:
            raise ValueError("name at least one role (or all)")
        return value

    @model_validator(mode="after")
    def _plaintext_mail_only_to_loopback(self) -> Settings:
        if self.smtp_tls is SmtpTls.NONE and not is_loopback(self.smtp_host):
            raise ValueError(
                "ENCOMPASS_SMTP_TLS=none is only allowed for a local mail catcher on a "
                f"loopback address, not for {self.smtp_host!r}: use starttls or implicit"
            )
        return self

    @model_validator(mode="after")
    def _trusted_proxies_are_addresses(self) -> Settings:
        try:
            self.trusted_proxy_networks  # noqa: B018  (parsed to be checked)
        except ValueError as exc:
            raise ValueError(f"ENCOMPASS_TRUSTED_PROXIES: {exc}") from None
        return self

    @property
    def trusted_proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(
            ipaddress.ip_network(part.strip(), strict=False)
            for part in self.trusted_proxies.split(",")
            if part.strip()
        )

    @model_validator(mode="after")
    def _dkim_whole_or_absent(self) -> Settings:
        # Half a DKIM configuration would send unsigned mail while someone believes it is
        # signed: refused, like every other half-set secret.
        if (self.dkim_key_file is None) != (self.dkim_selector is None):
            raise ValueError(
                "ENCOMPASS_DKIM_KEY_FILE and ENCOMPASS_DKIM_SELECTOR are set together or not at all"
            )
        return self

    @model_validator(mode="after")
    def _bounce_settings_whole(self) -> Settings:
        if self.bounce_smtp_host and not self.bounce_address:
            raise ValueError(
                "ENCOMPASS_BOUNCE_SMTP_HOST needs ENCOMPASS_BOUNCE_ADDRESS: without return "
                "paths of our own, no bounce could be told from a forgery"
            )
        if (self.bounce_smtp_tls_cert_file is None) != (self.bounce_smtp_tls_key_file is None):
            raise ValueError(
                "ENCOMPASS_BOUNCE_SMTP_TLS_CERT_FILE and _KEY_FILE are set together or not at all"
            )
        return self

    @property
    def dkim_signing_domain(self) -> str:
        return self.dkim_domain or self.mail_from.rpartition("@")[2]

    @model_validator(mode="after")
    def _known_unsafe_allowances(self) -> Settings:
        unknown = sorted(self.allowed_unsafe - set(UNSAFE_ALLOWANCES))
        if unknown:
            raise ValueError(
                f"ENCOMPASS_ALLOW_UNSAFE: unknown name(s) {', '.join(unknown)}; "
                f"known: {', '.join(UNSAFE_ALLOWANCES)}"
            )
        return self

    @property
    def allowed_unsafe(self) -> frozenset[str]:
        return frozenset(n.strip() for n in self.allow_unsafe.split(",") if n.strip())

    @property
    def data_key_path(self) -> Path:
        return self.data_key_file or self.data_dir / "data.key"

    @property
    def signing_key_path(self) -> Path:
        return self.audit_signing_key_file or self.data_dir / "audit-signing.key"

    @property
    def checkpoint_path(self) -> Path:
        return self.audit_checkpoint_file or self.data_dir / "audit-checkpoints.jsonl"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'encompass.db'}"
