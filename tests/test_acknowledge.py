"""Acknowledgement links: signed, expiring, for one notification. A GET shows a page
without personal data and records nothing (mail scanners open links); only the button's
POST records, once, with an audit row. Last, the same over real parts: the link in an
e-mail received by the SMTP server, opened over HTTP against the running console."""

from __future__ import annotations

import hashlib
import json
import re
import stat
import string
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from itsdangerous import URLSafeSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from audit.ledger import AuditAction, record, verify
from broker.app import EncompassService
from console.app import create_app
from consumers.acknowledge import AckLinks, BadLink, LinkProblem, load_secret_key
from consumers.deliver import claim_due
from foundations.database import transaction
from foundations.models import AuditEvent, Notification
from foundations.purpose_keys import Purpose, purpose_key
from foundations.settings import ReviewPolicy, Settings
from school_directory import imports
from tests.deadlines import CHILD, DSL, Clock, add_notification, add_schools, london
from tests.factories import incident, isolated_settings, write_directory
from tests.smtp_server import PASSWORD, USERNAME, RecordingSmtpServer, free_port, make_test_ca

NOW = london("2026-11-23 07:00")
LINKS = AckLinks(b"s" * 32, "https://encompass.council.example", timedelta(days=14))


# --- the token ------------------------------------------------------------------------------


def test_a_token_names_one_notification_and_role_until_it_expires() -> None:
    token = LINKS.token("N-0123456789abcdef0123", "dsl", NOW)
    claim = LINKS.read(token, NOW + timedelta(days=13, hours=23))
    assert (claim.notification_id, claim.role) == ("N-0123456789abcdef0123", "dsl")
    assert claim.expires_at == NOW + timedelta(days=14)
    with pytest.raises(BadLink) as expired:
        LINKS.read(token, NOW + timedelta(days=14))
    assert expired.value.problem is LinkProblem.EXPIRED
    assert LINKS.url("N-1", "deputy_dsl", NOW).startswith("https://encompass.council.example/ack/")


def _flip(text: str, at: int) -> str:
    return text[:at] + ("A" if text[at] != "A" else "B") + text[at + 1 :]


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: _flip(t, 3),  # the payload
        lambda t: _flip(t, len(t) - 2),  # the signature
        lambda t: t[:-1] + ("B" if t[-1] == "A" else "A"),  # its last character
        lambda t: t.split(".")[0],  # no signature
        lambda t: t + "x",
        lambda t: "",
        lambda t: "..",
        lambda t: "not a token at all",
        lambda t: "é." + t,
    ],
)
def test_a_changed_or_broken_token_is_tampered(tamper: object) -> None:
    token = LINKS.token("N-1", "dsl", NOW)
    with pytest.raises(BadLink) as bad:
        LINKS.read(tamper(token), NOW)  # type: ignore[operator]
    assert bad.value.problem is LinkProblem.TAMPERED


def test_a_token_from_another_key_or_with_a_later_expiry_is_tampered() -> None:
    other = AckLinks(b"t" * 32, LINKS.base_url, LINKS.ttl)
    with pytest.raises(BadLink, match="tampered"):
        LINKS.read(other.token("N-1", "dsl", NOW), NOW)
    longer = AckLinks(b"s" * 32, LINKS.base_url, timedelta(days=400)).token("N-1", "dsl", NOW)
    payload = longer.split(".")[0]
    forged = payload + "." + LINKS.token("N-1", "dsl", NOW).split(".")[1]
    with pytest.raises(BadLink, match="tampered"):
        LINKS.read(forged, NOW + timedelta(days=30))


def test_only_known_roles_are_signed() -> None:
    with pytest.raises(ValueError, match="role"):
        LINKS.token("N-1", "anyone", NOW)


def test_a_token_is_signed_with_itsdangerous_under_the_acknowledgement_key_only() -> None:
    token = LINKS.token("N-1", "dsl", NOW)
    key = purpose_key(b"s" * 32, Purpose.ACKNOWLEDGEMENT_LINK)
    signed = {"key_derivation": "none", "digest_method": hashlib.sha256}
    claim = URLSafeSerializer(key, signer_kwargs=signed).loads(token)
    assert claim == {"n": "N-1", "r": "dsl", "e": int((NOW + timedelta(days=14)).timestamp())}
    # The same claim signed under the secret itself, or under another purpose's key (a
    # session cookie's), is not a link.
    for other in (b"s" * 32, purpose_key(b"s" * 32, Purpose.CONSOLE_SESSION)):
        forged = URLSafeSerializer(other, signer_kwargs=signed).dumps(claim)
        with pytest.raises(BadLink, match="tampered"):
            LINKS.read(forged, NOW)


def _respelled(token: str) -> str:
    """The same bytes, spelled otherwise: the last character of a 32-byte signature in
    base64 carries two bits that decoding ignores."""
    alphabet = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"
    return token[:-1] + alphabet[alphabet.index(token[-1]) ^ 1]


def test_a_token_has_one_spelling() -> None:
    token = LINKS.token("N-1", "dsl", NOW)
    with pytest.raises(BadLink, match="tampered"):
        LINKS.read(_respelled(token), NOW)
    with pytest.raises(BadLink, match="tampered"):
        LINKS.read(token[:-1] + "\u00e9" + token[-1], NOW)


# Made by the broker before its tokens were signed with itsdangerous, with LINKS's key, at
# NOW, for N-0123456789abcdef0123: such links are in e-mails already sent.
OLD_FORM = (
    "eyJuIjoiTi0wMTIzNDU2Nzg5YWJjZGVmMDEyMyIsInIiOiJkc2wiLCJlIjoxNzk2NjI2ODAwfQ"
    ".oY98g4urf5YLchNWITNNYTAwv6lMsBy6QPIJ5-PY1ps"
)


def test_a_link_sent_in_the_old_form_works_until_it_expires() -> None:
    claim = LINKS.read(OLD_FORM, NOW + timedelta(days=13, hours=23))
    assert (claim.notification_id, claim.role) == ("N-0123456789abcdef0123", "dsl")
    assert claim.expires_at == NOW + timedelta(days=14)
    with pytest.raises(BadLink) as expired:
        LINKS.read(OLD_FORM, NOW + timedelta(days=14))
    assert expired.value.problem is LinkProblem.EXPIRED
    other = AckLinks(b"t" * 32, LINKS.base_url, LINKS.ttl)
    for bad, links in (
        (_flip(OLD_FORM, 3), LINKS),
        (_flip(OLD_FORM, len(OLD_FORM) - 2), LINKS),
        (_respelled(OLD_FORM), LINKS),
        (OLD_FORM, other),
    ):
        with pytest.raises(BadLink) as tampered:
            links.read(bad, NOW)
        assert tampered.value.problem is LinkProblem.TAMPERED


# --- the key --------------------------------------------------------------------------------


def test_without_a_setting_a_key_is_made_once_with_0600(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    first = load_secret_key(settings)
    key_file = tmp_path / "data" / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert load_secret_key(settings) == first and len(first) >= 32
    assert [p.name for p in key_file.parent.iterdir()] == ["secret.key"]


def test_the_setting_wins_and_must_be_long_enough(tmp_path: Path) -> None:
    assert load_secret_key(Settings(data_dir=tmp_path, secret_key="x" * 32)) == b"x" * 32
    assert not (tmp_path / "secret.key").exists()
    with pytest.raises(ValueError, match="at least"):
        load_secret_key(Settings(data_dir=tmp_path, secret_key="short"))


# --- the link in the e-mail ----------------------------------------------------------------


def test_an_approved_notification_goes_at_once_with_a_link_signed_at_sending(
    sessions: sessionmaker[Session],
) -> None:
    add_schools(sessions)
    nid = add_notification(
        sessions, "N-next-week", status="approved", deliver_by=london("2026-11-30 08:30")
    )
    with transaction(sessions) as s:
        [job] = claim_due(s, Settings(), NOW, links=LINKS)  # not held for the morning
    assert (job.notification_id, job.to, job.role) == (nid, DSL, "dsl")
    found = re.search(r"https://encompass\.council\.example/ack/(\S+)", job.rendered.text)
    assert found is not None and found.group(0) in job.rendered.html
    claim = LINKS.read(found.group(1), NOW)
    assert claim.notification_id == nid and claim.expires_at == NOW + timedelta(days=14)
    with transaction(sessions) as s:
        stored = s.get(Notification, nid)
        assert stored is not None and stored.content is not None
        assert stored.content["ack_url"] is None  # the link exists only in what was sent


# --- the console ----------------------------------------------------------------------------


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def client(sessions: sessionmaker[Session], clock: Clock) -> Iterator[TestClient]:
    add_schools(sessions)
    settings = Settings(first_response_phone="0300 123 4567")
    with TestClient(create_app(settings, sessions, links=LINKS, clock=clock)) as c:
        yield c


def sent(sessions: sessionmaker[Session], nid: str = "N-sent") -> str:
    """Sent to the DSL and reminded to the deputy: links went to both roles (their audit
    rows say so; a link is honoured only for a role it went to)."""
    add_notification(
        sessions, nid, status="sent", deliver_by=london("2026-11-23 08:30"), sent_at=NOW
    )
    with transaction(sessions) as s:
        for action, role in ((AuditAction.SENT, "dsl"), (AuditAction.REMINDED, "deputy_dsl")):
            record(s, action, actor="test", notification_id=nid, details={"role": role})
    return nid


def acknowledgements(sessions: sessionmaker[Session]) -> list[AuditEvent]:
    with transaction(sessions) as s:
        return list(
            s.execute(select(AuditEvent).where(AuditEvent.action == "acknowledged")).scalars()
        )


def acknowledged_at(sessions: sessionmaker[Session], nid: str) -> object:
    with transaction(sessions) as s:
        n = s.get(Notification, nid)
        assert n is not None
        return n.acknowledged_at


def test_opening_the_link_shows_a_button_and_records_nothing(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    nid = sent(sessions)
    path = f"/ack/{LINKS.token(nid, 'dsl', NOW)}"
    for _ in range(3):  # a scanner, a preview pane, the person
        page = client.get(path)
        assert page.status_code == 200
        assert nid in page.text and '<form method="post">' in page.text
        for name in (*CHILD, "Example Primary", "100001"):
            assert name not in page.text
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    client.head(path)
    assert acknowledged_at(sessions, nid) is None
    assert acknowledgements(sessions) == []


def test_the_button_records_once_and_a_second_press_is_harmless(
    client: TestClient, sessions: sessionmaker[Session], clock: Clock
) -> None:
    nid = sent(sessions)
    path = f"/ack/{LINKS.token(nid, 'deputy_dsl', NOW)}"
    clock.advance(hours=1)
    done = client.post(path)
    assert done.status_code == 200 and "Thank you" in done.text
    assert acknowledged_at(sessions, nid) == clock()
    clock.advance(hours=1)
    again = client.post(path)
    assert again.status_code == 200 and "Already acknowledged" in again.text
    assert "Monday 23 November 2026 at 08:00" in again.text
    assert acknowledged_at(sessions, nid) == NOW + timedelta(hours=1)
    [audit] = acknowledgements(sessions)
    assert audit.notification_id == nid and audit.actor == "school:100001:deputy_dsl"
    assert audit.details["role"] == "deputy_dsl"
    assert "Already acknowledged" in client.get(path).text
    with transaction(sessions) as s:
        assert verify(s).ok


def test_a_tampered_link_gets_a_clear_page_and_changes_nothing(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    nid = sent(sessions)
    token = _flip(LINKS.token(nid, "dsl", NOW), 5)
    for response in (client.get(f"/ack/{token}"), client.post(f"/ack/{token}")):
        assert response.status_code == 400
        assert "This link is not valid" in response.text and "0300 123 4567" in response.text
    assert acknowledged_at(sessions, nid) is None and acknowledgements(sessions) == []


def test_an_expired_link_gets_a_clear_page_and_changes_nothing(
    client: TestClient, sessions: sessionmaker[Session], clock: Clock
) -> None:
    nid = sent(sessions)
    path = f"/ack/{LINKS.token(nid, 'dsl', NOW)}"
    clock.advance(days=15)
    for response in (client.get(path), client.post(path)):
        assert response.status_code == 410 and "This link has expired" in response.text
    assert acknowledged_at(sessions, nid) is None and acknowledgements(sessions) == []


@pytest.mark.parametrize("status", ["pending_review", "rejected", "superseded"])
def test_a_notification_that_was_not_sent_cannot_be_acknowledged(
    client: TestClient, sessions: sessionmaker[Session], status: str
) -> None:
    nid = add_notification(sessions, "N-" + status, status=status, deliver_by=NOW)
    path = f"/ack/{LINKS.token(nid, 'dsl', NOW)}"
    assert client.post(path).status_code == 404
    assert "cannot be acknowledged" in client.get(path).text
    assert acknowledgements(sessions) == []
    assert client.post(f"/ack/{LINKS.token('N-missing', 'dsl', NOW)}").status_code == 404


def test_the_console_has_a_health_check_and_no_api_docs(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/docs").status_code == 404
    assert "encompass review list" in client.get("/queue").text


# --- over real parts ------------------------------------------------------------------------


def plain_text(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert isinstance(part, EmailMessage)
    return str(part.get_content())


@pytest.mark.kafka
async def test_the_link_in_a_real_email_works_and_a_get_alone_records_nothing(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    pki = make_test_ca(tmp_path / "pki")
    port = free_port()
    with RecordingSmtpServer(tls="starttls", pki=pki) as smtp:
        settings = isolated_settings(
            data_dir=tmp_path,
            database_url=f"sqlite:///{tmp_path / 'ack.db'}",
            smtp_host="localhost",
            smtp_port=smtp.port,
            smtp_username=USERNAME,
            smtp_password=PASSWORD,
            smtp_ca_file=pki.ca_cert,
            review_policy=ReviewPolicy.AUTO_RELEASE_EXACT,
            http_port=port,
            public_url=f"http://127.0.0.1:{port}",
        )
        service = EncompassService(settings, bootstrap=kafka_bootstrap)
        files = write_directory(tmp_path / "directory")
        with transaction(service.sessions) as session:
            imports.import_schools(session, files["schools"])
            imports.import_contacts(session, files["contacts"])
            imports.import_pupils(session, files["pupils"])
        await service.start()
        try:
            assert service.console is not None and service.console.port == port
            await service.broker.publish(
                json.dumps(incident()).encode(), topic=settings.incidents_topic, key=b"k"
            )
            [received] = await smtp.async_wait_for(1, timeout=30)
            text = plain_text(received.message)
            found = re.search(rf"http://127\.0\.0\.1:{port}/ack/\S+", text)
            assert found is not None, text
            url = found.group(0)
            assert url in received.message.get_body(("html",)).get_content()  # type: ignore[union-attr]
            with transaction(service.sessions) as session:
                [n] = session.execute(select(Notification)).scalars()
                nid = n.id

            async with httpx.AsyncClient(timeout=10) as http:
                page = await http.get(url)
                assert page.status_code == 200 and nid in page.text and "<form" in page.text
                assert "Amy" not in page.text and "Doe" not in page.text
                assert acknowledged_at(service.sessions, nid) is None
                assert acknowledgements(service.sessions) == []

                done = await http.post(url)
                assert done.status_code == 200 and "Thank you" in done.text
                again = await http.post(url)
                assert "Already acknowledged" in again.text
                broken = await http.post(url.replace("/ack/", "/ack/x"))
                assert broken.status_code == 400

            assert acknowledged_at(service.sessions, nid) is not None
            [audit] = acknowledgements(service.sessions)
            assert audit.notification_id == nid and audit.details["role"] == "dsl"
            with transaction(service.sessions) as session:
                assert verify(session).ok
        finally:
            await service.stop()
