"""The SMTP mailer against a real aiosmtpd server over real sockets, and the mail catcher."""

from __future__ import annotations

from collections.abc import Iterator
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from broker.mail_catcher import MailCatcher, eml_name
from foundations.mailer import (
    Mailer,
    MemoryMailer,
    PermanentDeliveryError,
    SmtpMailer,
    TransientDeliveryError,
    build_message,
)
from foundations.settings import Settings, SmtpTls
from tests.smtp_server import (
    PASSWORD,
    USERNAME,
    RecordingSmtpServer,
    TestPki,
    free_port,
    make_test_ca,
    silent_listener,
)

SENDER = "operation-encompass@police.example"
DSL = "dsl@school.example"
DEPUTY = "deputy.dsl@school.example"
BODY_SECRET = "Pupil Alfie Example attended"  # must never show in an error message


def _message(message_id: str = "<N-abc123@encompass.local>", cc: str | None = None) -> EmailMessage:
    return build_message(
        subject="Operation Encompass notification",
        text=f"{BODY_SECRET} an incident.\nPlease acknowledge.",
        html=f"<p>{BODY_SECRET} an incident.</p><p>Please acknowledge.</p>",
        sender=SENDER,
        to=DSL,
        cc=cc,
        message_id=message_id,
    )


def _mailer(
    server_port: int,
    tls: SmtpTls,
    *,
    ca: Path | None = None,
    host: str = "127.0.0.1",
    username: str | None = USERNAME,
    password: str | None = PASSWORD,
    timeout: float = 10.0,
) -> SmtpMailer:
    settings = Settings(
        smtp_host=host,
        smtp_port=server_port,
        smtp_tls=tls,
        smtp_ca_file=ca,
        smtp_username=username,
        smtp_password=password,
        smtp_timeout_s=timeout,
        mail_from=SENDER,
    )
    return SmtpMailer(settings, local_hostname="broker.test")


@pytest.fixture
def pki(tmp_path: Path) -> TestPki:
    return make_test_ca(tmp_path / "pki")


@pytest.fixture
def other_pki(tmp_path: Path) -> TestPki:
    return make_test_ca(tmp_path / "other-pki")


@pytest.fixture
def starttls_server(pki: TestPki) -> Iterator[RecordingSmtpServer]:
    with RecordingSmtpServer("starttls", pki) as server:
        yield server


@pytest.fixture
def implicit_server(pki: TestPki) -> Iterator[RecordingSmtpServer]:
    with RecordingSmtpServer("implicit", pki) as server:
        yield server


def _assert_clean(exc: BaseException) -> None:
    assert BODY_SECRET not in str(exc)
    assert PASSWORD not in str(exc)


# --- delivery -------------------------------------------------------------------------


async def test_starttls_with_auth_and_ca_verification_delivers(
    starttls_server: RecordingSmtpServer, pki: TestPki
) -> None:
    mailer = _mailer(starttls_server.port, SmtpTls.STARTTLS, ca=pki.ca_cert, host="localhost")
    await mailer.send(_message(cc=DEPUTY))

    [received] = starttls_server.wait_for(1)
    assert received.tls
    assert received.login == USERNAME
    assert received.mail_from == SENDER
    assert sorted(received.rcpt_tos) == sorted([DSL, DEPUTY])
    assert starttls_server.auth_attempts == [(USERNAME, True, True)]
    assert all(over_tls for _, over_tls in starttls_server.mail_commands)

    message = received.message
    assert message["Message-ID"] == "<N-abc123@encompass.local>"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Date"]
    assert message.get_content_type() == "multipart/alternative"
    parts = list(message.iter_parts())
    assert [part.get_content_type() for part in parts] == ["text/plain", "text/html"]
    assert BODY_SECRET in parts[0].get_content()
    assert f"<p>{BODY_SECRET}" in parts[1].get_content()


async def test_implicit_tls_delivers(implicit_server: RecordingSmtpServer, pki: TestPki) -> None:
    mailer = _mailer(implicit_server.port, SmtpTls.IMPLICIT, ca=pki.ca_cert)
    await mailer.send(_message("<N-implicit@encompass.local>"))

    [received] = implicit_server.wait_for(1)
    assert received.tls
    assert received.login == USERNAME
    assert received.message["Message-ID"] == "<N-implicit@encompass.local>"


# --- TLS refusals ---------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["starttls", "implicit"])
async def test_certificate_from_another_ca_is_permanent(
    mode: str, pki: TestPki, other_pki: TestPki
) -> None:
    with RecordingSmtpServer(mode, other_pki) as server:  # type: ignore[arg-type]
        mailer = _mailer(server.port, SmtpTls(mode), ca=pki.ca_cert)
        with pytest.raises(PermanentDeliveryError) as caught:
            await mailer.send(_message())
        _assert_clean(caught.value)
        assert "certificate" in str(caught.value)
        assert server.messages == []
        assert server.auth_attempts == []
        assert server.mail_commands == []


async def test_server_without_starttls_is_refused_and_nothing_goes_in_plaintext(
    pki: TestPki,
) -> None:
    with RecordingSmtpServer("none") as server:
        mailer = _mailer(server.port, SmtpTls.STARTTLS, ca=pki.ca_cert)
        with pytest.raises(PermanentDeliveryError) as caught:
            await mailer.send(_message())
        assert "STARTTLS" in str(caught.value)
        _assert_clean(caught.value)
        assert server.messages == []
        assert server.auth_attempts == []
        assert server.mail_commands == []


# --- replies --------------------------------------------------------------------------


async def test_451_is_transient_and_the_next_attempt_delivers(
    starttls_server: RecordingSmtpServer, pki: TestPki
) -> None:
    starttls_server.fail_next_data(1, 451)
    mailer = _mailer(starttls_server.port, SmtpTls.STARTTLS, ca=pki.ca_cert)
    with pytest.raises(TransientDeliveryError) as caught:
        await mailer.send(_message())
    assert caught.value.code == 451
    assert not caught.value.permanent
    _assert_clean(caught.value)
    assert starttls_server.messages == []

    await mailer.send(_message())  # the caller retries; the mailer itself does not
    assert len(starttls_server.wait_for(1)) == 1


async def test_550_is_permanent(starttls_server: RecordingSmtpServer, pki: TestPki) -> None:
    starttls_server.fail_next_data(1, 550)
    mailer = _mailer(starttls_server.port, SmtpTls.STARTTLS, ca=pki.ca_cert)
    with pytest.raises(PermanentDeliveryError) as caught:
        await mailer.send(_message())
    assert caught.value.code == 550
    assert caught.value.permanent
    _assert_clean(caught.value)
    assert starttls_server.messages == []


async def test_wrong_password_is_permanent(
    starttls_server: RecordingSmtpServer, pki: TestPki
) -> None:
    mailer = _mailer(
        starttls_server.port, SmtpTls.STARTTLS, ca=pki.ca_cert, password="not the password"
    )
    with pytest.raises(PermanentDeliveryError) as caught:
        await mailer.send(_message())
    assert caught.value.code == 535
    assert "not the password" not in str(caught.value)
    _assert_clean(caught.value)
    assert starttls_server.messages == []
    assert starttls_server.auth_attempts
    assert not any(ok for _, ok, _ in starttls_server.auth_attempts)


async def test_no_login_when_the_server_requires_it_is_permanent(
    starttls_server: RecordingSmtpServer, pki: TestPki
) -> None:
    mailer = _mailer(
        starttls_server.port, SmtpTls.STARTTLS, ca=pki.ca_cert, username=None, password=None
    )
    with pytest.raises(PermanentDeliveryError):
        await mailer.send(_message())
    assert starttls_server.messages == []


# --- connection trouble ---------------------------------------------------------------


@pytest.mark.parametrize("mode", [SmtpTls.STARTTLS, SmtpTls.IMPLICIT])
async def test_connection_refused_is_transient(mode: SmtpTls, pki: TestPki) -> None:
    mailer = _mailer(free_port(), mode, ca=pki.ca_cert)
    with pytest.raises(TransientDeliveryError) as caught:
        await mailer.send(_message())
    _assert_clean(caught.value)


@pytest.mark.parametrize("mode", [SmtpTls.STARTTLS, SmtpTls.IMPLICIT])
async def test_silent_server_times_out_transiently(mode: SmtpTls, pki: TestPki) -> None:
    with silent_listener() as port:
        mailer = _mailer(port, mode, ca=pki.ca_cert, timeout=0.5)
        with pytest.raises(TransientDeliveryError) as caught:
            await mailer.send(_message())
    assert "timed out" in str(caught.value).lower()


# --- plaintext only to loopback -------------------------------------------------------


def test_plaintext_to_a_remote_host_is_refused_by_settings() -> None:
    with pytest.raises(ValidationError):
        Settings(smtp_tls=SmtpTls.NONE, smtp_host="smtp.example.org")


def test_plaintext_to_a_remote_host_is_refused_by_the_mailer_too() -> None:
    unchecked = Settings.model_construct(smtp_tls=SmtpTls.NONE, smtp_host="smtp.example.org")
    with pytest.raises(ValueError, match="loopback"):
        SmtpMailer(unchecked)


# --- the demo mail catcher ------------------------------------------------------------


async def test_mail_catcher_saves_an_eml_file(tmp_path: Path) -> None:
    catcher = MailCatcher(tmp_path / "outbox", port=0)
    catcher.start()
    try:
        assert catcher.port > 0
        mailer = _mailer(catcher.port, SmtpTls.NONE, username=None, password=None)
        await mailer.send(_message("<N-demo/1@encompass.local>"))
        [path] = catcher.messages()
    finally:
        catcher.stop()

    assert path.suffix == ".eml"
    assert "N-demo_1@encompass.local" in path.name
    saved = message_from_bytes(path.read_bytes(), policy=default_policy)
    assert saved["Message-ID"] == "<N-demo/1@encompass.local>"
    assert catcher.received == 1


def test_eml_name_is_safe_for_a_file_system() -> None:
    name = eml_name("<../../etc/passwd\r\n@x>")
    assert "/" not in name and "\n" not in name and not name.startswith(".")
    assert name.endswith(".eml")
    assert eml_name(None).endswith(".eml")


# --- building messages and the memory double ------------------------------------------


def test_build_message_refuses_header_injection() -> None:
    with pytest.raises(ValueError):
        build_message(
            subject="Notice\r\nBcc: someone@evil.example",
            text="t",
            html="<p>h</p>",
            sender=SENDER,
            to=DSL,
            message_id="<N-1@encompass.local>",
        )


async def test_memory_mailer_fails_as_told_then_collects() -> None:
    mailer = MemoryMailer(fail_transient=2)
    mailer.fail_next(1, permanent=True)
    assert isinstance(mailer, Mailer)
    outcomes: list[Any] = []
    for _ in range(4):
        try:
            await mailer.send(_message())
            outcomes.append("sent")
        except TransientDeliveryError:
            outcomes.append("transient")
        except PermanentDeliveryError:
            outcomes.append("permanent")
    assert outcomes == ["transient", "transient", "permanent", "sent"]
    assert mailer.attempts == 4
    assert len(mailer.messages) == 1
    assert mailer.sent_to(DSL.upper()) == mailer.messages
