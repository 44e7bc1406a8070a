"""Issue 17, done when: one deployment of two councils and a neighbouring council's school,
over the real Kafka-protocol broker process and the SMTP server with STARTTLS, AUTH and a
test CA (tests/real_parts.py).

Hampshire (850, the lead, SO postcodes) and Portsmouth (851, PO1-PO6) are members; the Vale
of Glamorgan (673) is a neighbour whose school one Hampshire child attends, handled as its
file says (through its First Response, or to the school directly). Incidents go in over
Kafka; each council's reviewer sees only its own notifications in the console; each e-mail
carries its council's First Response; a child on no roll living in Portsmouth is routed by
Portsmouth's reviewer to Portsmouth's children-missing-education officer, who receives it;
a match decided by the NHS number is released and one vetoed by it is held. The audit trail
verifies and no personal data reaches the logs. Synthetic people; test NHS numbers (999)."""

from __future__ import annotations

import asyncio
import csv
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import structlog.testing
from aiokafka import AIOKafkaProducer
from fastapi.testclient import TestClient
from sqlalchemy import select

from audit.ledger import verify
from broker.app import EncompassService
from console.accounts import add_user
from console.app import create_app
from foundations.database import transaction
from foundations.models import AuditEvent, Notification
from foundations.settings import ReviewPolicy, Settings
from school_directory.imports import import_council_contacts
from tests.councils_setup import HAMPSHIRE, PORTSMOUTH, move_school, write_councils
from tests.factories import child, default_pupils, import_directory, incident, upn, write_directory
from tests.real_parts import settings_for, smtp_server
from tests.smtp_server import RecordingSmtpServer
from tests.test_councils_deployment import PASSWORD, api_token, sign_in

pytestmark = pytest.mark.kafka

VALE = "673"
VALE_TOML = """
la_code = "673"
name = "Vale of Glamorgan"
kind = "neighbour"
handling = "{handling}"
[first_response]
name = "Vale Information, Advice and Assistance"
email = "iaa@vale.test"
phone = "0300 555 0673"
"""
VALE_SCHOOL = ["401001", VALE, "Vale of Glamorgan", "2001", "Ysgol Gynradd Enghraifft Tâf",
               "Welsh establishment", "Open", "Primary", "CF62 9ZZ", "Trefenghraifft"]  # fmt: skip
CME_OFFICER = "cme.officer@portsmouth.example"
AMY_NHS, MAISIE_NHS, OTHER_NHS = "9991234543", "9991234519", "9991234527"
HAMPSHIRE_HOME = {"lines": ["12 Example Road"], "postcode": "SO23 8UJ"}
PORTSMOUTH_HOME = {"lines": ["1 Quay Street"], "postcode": "PO1 3AB"}
NO_ROLL_HOME = {"lines": ["2 Dock Road"], "postcode": "PO2 1AA"}
ADULTS = incident()["persons"][:2]  # Jane Roe (victim), John Doe (suspect)

INCIDENTS = {
    # Amy, at 100001 in Hampshire: her school's council is Hampshire.
    "amy": incident(),
    # Pip, at 100002 (moved to Portsmouth), lives in PO1.
    "pip": incident(incident_id="44-20261121-000301", location=PORTSMOUTH_HOME,
                    persons=[*ADULTS, child("c1", "Pip", "Harbour", "2016-02-02",
                                            address=PORTSMOUTH_HOME)]),
    # Nia lives in Hampshire and goes to school in the Vale of Glamorgan.
    "nia": incident(incident_id="44-20261121-000302",
                    persons=[*ADULTS, child("c1", "Nia", "Enghraifft", "2014-04-04",
                                            address=HAMPSHIRE_HOME)]),
    # Nell is on no roll the directory knows, and lives in Portsmouth.
    "nell": incident(incident_id="44-20261121-000303", location=NO_ROLL_HOME,
                     persons=[*ADULTS, child("c1", "Nell", "Nowhere", "2015-07-07",
                                             address=NO_ROLL_HOME)]),
    # Maisie's family name changed and her date of birth is a digit out: her NHS number
    # decides it (she is at 100002, Portsmouth's).
    "maisie": incident(incident_id="44-20261121-000304",
                       persons=[*ADULTS, child("c1", "Maisie", "Adeyemi", "2015-06-20",
                                               nhs_number="999-123-4519")]),
    # Everything agrees with Amy's pupil record except the NHS number: a veto.
    "veto": incident(incident_id="44-20261121-000305",
                     persons=[*ADULTS, child("c1", "Amy Louise", "Doe", "2016-09-14",
                                             address=HAMPSHIRE_HOME, nhs_number=OTHER_NHS)]),
}  # fmt: skip
PERSONAL = ("Amy", "Louise", "Doe", "Jane", "Roe", "Pip", "Harbour", "Nia", "Enghraifft",
            "Nell", "Nowhere", "Maisie", "Adeyemi", "Okafor", "2016-09-14", "2016-02-02",
            "2014-04-04", "2015-07-07", "2015-06-20", "2015-06-30", "SO23", "PO1 3AB",
            "PO2 1AA", "Example Road", "Quay Street", "Dock Road", AMY_NHS, MAISIE_NHS,
            OTHER_NHS, "999-123-4519")  # fmt: skip


def pupils() -> list[dict[str, str]]:
    amy, *others = default_pupils()
    return [
        {**amy, "nhs_number": AMY_NHS},
        *others,
        {"upn": upn("851200116001"), "given_names": "Pip", "family_name": "Harbour",
         "date_of_birth": "2016-02-02", "gender": "M", "postcode": "PO1 3AB",
         "urn": "100002", "on_roll_from": "2021-09-01"},
        {"upn": upn("850200116022"), "given_names": "Maisie", "family_name": "Okafor",
         "date_of_birth": "2015-06-30", "gender": "F", "postcode": "SO23 9ZZ",
         "urn": "100002", "on_roll_from": "2021-09-01", "nhs_number": MAISIE_NHS},
        {"upn": upn("850200116100"), "given_names": "Nia", "family_name": "Enghraifft",
         "date_of_birth": "2014-04-04", "postcode": "SO23 8UJ", "urn": "401001",
         "on_roll_from": "2021-09-01"},
    ]  # fmt: skip


def write_files(folder: Path) -> dict[str, Path]:
    """The test directory with the Vale's school and its DSL, and the council contacts."""
    files = write_directory(folder, pupils())
    with files["schools"].open("a", encoding="cp1252", newline="") as out:
        csv.writer(out).writerow(VALE_SCHOOL)
    with files["contacts"].open("a") as out:
        out.write("401001,dsl,Dee Example,dsl@401001.ysgol.example,01632 960001,\n")
    contacts = folder / "council_contacts.csv"
    contacts.write_text(
        "la,role,name,email\n"
        "850,cme,Jo Example,cme.officer@hants.example\n"
        f"851,cme,Kit Example,{CME_OFFICER}\n"
    )
    return files | {"council_contacts": contacts}


@dataclass
class Deployment:
    service: EncompassService
    settings: Settings
    smtp: RecordingSmtpServer
    bootstrap: str
    handling: str


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[RecordingSmtpServer]:
    with smtp_server(tmp_path) as server:
        yield server


@pytest.fixture(params=["first_response", "direct"])
async def deployment(
    request: pytest.FixtureRequest,
    smtp: RecordingSmtpServer,
    kafka_bootstrap: str,
    tmp_path: Path,
) -> AsyncIterator[Deployment]:
    handling = str(request.param)
    councils: dict[str, Any] = write_councils(tmp_path / "councils")
    (councils["councils_dir"] / f"{VALE}.toml").write_text(
        VALE_TOML.format(handling=handling), encoding="utf-8"
    )
    settings = settings_for(
        tmp_path,
        smtp,
        review_policy=ReviewPolicy.AUTO_RELEASE_CONFIDENT,
        councils_dir=councils["councils_dir"],
        allow_unsafe=f"{councils['allow_unsafe']},public_url",
        secret_key="k" * 32,
    )
    service = EncompassService(settings, bootstrap=kafka_bootstrap)
    files = write_files(tmp_path / "directory")
    with transaction(service.sessions) as session:
        import_directory(session, files)
        move_school(session, "100002", PORTSMOUTH)
        # As `encompass directory import --council-contacts` does (broker/cli/directory.py).
        import_council_contacts(session, files["council_contacts"])
        for name, la in (("hana", HAMPSHIRE), ("pat", PORTSMOUTH)):
            add_user(session, name, "reviewer", PASSWORD, actor="test", councils=la)
    await service.start()
    try:
        yield Deployment(service, settings, smtp, kafka_bootstrap, handling)
    finally:
        await service.stop()


async def publish(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value, key=b"k")
    finally:
        await producer.stop()


def notifications(d: Deployment) -> dict[str, Notification]:
    """By the name of its incident in INCIDENTS (one child each)."""
    names = {data["incident_id"]: name for name, data in INCIDENTS.items()}
    with transaction(d.service.sessions) as session:
        rows = list(session.execute(select(Notification)).scalars())
        for row in rows:
            session.expunge(row)
    return {names[n.incident_id]: n for n in rows}


async def settled(d: Deployment, expected: set[str], timeout: float = 90.0) -> None:
    """Wait until every named incident has its notification."""
    for _ in range(int(timeout * 2)):
        if expected <= set(notifications(d)):
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"notifications for {sorted(expected - set(notifications(d)))} missing")


def text_of(message: Any) -> str:
    return str(message.get_body(preferencelist=("plain",)).get_content())


# The councils' duty inboxes: a held or unplaced child near or past its deadline may bring
# them an alert (consumers/escalate.py) while the test runs; the notifications go elsewhere.
DUTY_INBOXES = {"duty@hants.test", "mash@portsmouth.test"}


def notification_mail(smtp: RecordingSmtpServer) -> list[Any]:
    return [m for m in smtp.messages if m.rcpt_tos[0] not in DUTY_INBOXES]


async def wait_for_mail(smtp: RecordingSmtpServer, count: int, *, timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while len(notification_mail(smtp)) < count:
            await asyncio.sleep(0.1)


async def test_two_councils_a_neighbour_a_child_on_no_roll_and_the_nhs_number(
    deployment: Deployment,
) -> None:
    d = deployment
    smtp, settings = d.smtp, d.settings
    with structlog.testing.capture_logs() as logs:
        values = [json.dumps(data).encode() for data in INCIDENTS.values()]
        await publish(d.bootstrap, settings.incidents_topic, values)
        # Amy, Pip, Nia and Maisie are released; Nell is not found, the veto is held.
        await wait_for_mail(smtp, 4, timeout=120)
        await settled(d, set(INCIDENTS))
        found = notifications(d)
        assert found["nell"].status == "not_found" and found["nell"].council == PORTSMOUTH
        assert found["veto"].status == "pending_review"

        console_settings = settings.model_copy(update={"login_max_failures": 1000})
        app = create_app(console_settings, d.service.sessions)
        with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
            ids = {name: n.id for name, n in found.items()}
            ours = {HAMPSHIRE: {"amy", "nia", "veto"}, PORTSMOUTH: {"pip", "nell", "maisie"}}
            # Each council's reviewer sees only its own notifications: the others are
            # "not found", in the pages and the API alike.
            for user, la in (("hana", HAMPSHIRE), ("pat", PORTSMOUTH)):
                sign_in(client, user)
                for name, nid in ids.items():
                    page = client.get(f"/notifications/{nid}")
                    assert page.status_code == (200 if name in ours[la] else 404), (user, name)
                queue = client.get("/queue").text
                assert (ids["veto"] in queue) == (la == HAMPSHIRE)
                api_token(client, user)
                for name, nid in ids.items():
                    got = client.get(f"/api/notifications/{nid}").status_code
                    assert got == (200 if name in ours[la] else 404), (user, name)
            # The home council's reviewer sees where Nia's notification went.
            sign_in(client, "hana")
            marker = (
                "via Vale of Glamorgan First Response"
                if d.handling == "first_response"
                else "sent to Vale of Glamorgan school directly"
            )
            assert marker in client.get(f"/notifications/{ids['nia']}").text
            # Portsmouth's reviewer routes Nell to Portsmouth's officer, through the API.
            headers = {"X-CSRF-Token": api_token(client, "pat")}
            routed = client.post(
                f"/api/notifications/{ids['nell']}/route", json={"to": "cme"}, headers=headers
            )
            assert routed.status_code == 200, routed.text
        await wait_for_mail(smtp, 5, timeout=120)
        await asyncio.sleep(1.5)  # time enough for a wrongly released seventh e-mail

    sent = notification_mail(smtp)
    by_recipient = {m.rcpt_tos[0]: m for m in sent}
    assert all(m.tls and len(m.rcpt_tos) == 1 for m in smtp.messages)  # alerts too
    nia_to = "iaa@vale.test" if d.handling == "first_response" else "dsl@401001.ysgol.example"
    assert sorted(by_recipient) == sorted(
        ["dsl@100001.school.example", "deputy@100002.school.example", nia_to, CME_OFFICER]
    )
    assert len(sent) == 5  # Pip's and Maisie's both go to 100002's deputy
    texts = [text_of(m.message) for m in sent]

    found = notifications(d)
    # The e-mails carry the owning council's First Response.
    amy_text = text_of(by_recipient["dsl@100001.school.example"].message)
    assert "Hampshire Children's Front Door" in amy_text and "0300 555 0850" in amy_text
    assert "Portsmouth" not in amy_text
    to_100002 = [t for t in texts if "Pip Harbour" in t or "Maisie Okafor" in t]
    assert len(to_100002) == 2
    for text in to_100002:
        assert "Portsmouth MASH" in text and "0300 555 0851" in text
        assert "Hampshire" not in text
    # The neighbour's school, as configured; audited; owned by the home council.
    nia = found["nia"]
    assert (nia.council, nia.route_council, nia.status) == (HAMPSHIRE, VALE, "sent")
    nia_text = text_of(by_recipient[nia_to].message)
    if d.handling == "first_response":
        assert nia.route == "neighbour_first_response"
        assert "Dear Vale Information, Advice and Assistance (Vale of Glamorgan)," in nia_text
    else:
        assert nia.route == "school"
        assert "Dear designated safeguarding lead at Ysgol Gynradd Enghraifft" in nia_text
    # The child on no roll: Portsmouth's officer, with Portsmouth's First Response.
    nell = found["nell"]
    assert (nell.route, nell.route_council, nell.council) == ("officer_cme", PORTSMOUTH, "851")
    assert nell.decided_by == "console:pat"
    nell_text = text_of(by_recipient[CME_OFFICER].message)
    assert "Dear Kit Example, children missing education officer," in nell_text
    assert "Nell Nowhere" in nell_text and "Portsmouth MASH" in nell_text
    # The NHS number: decisive for Maisie, a veto for the namesake of Amy.
    maisie = found["maisie"]
    assert (maisie.urn, maisie.status) == ("100002", "sent")
    assert maisie.reason == "released by policy: NHS number agrees"
    veto = found["veto"]
    assert (veto.status, veto.urn, veto.releasable) == ("pending_review", None, False)
    assert veto.candidates is not None and veto.candidates[0]["note"] == "NHS number differs"
    for text in texts:
        for number in (AMY_NHS, MAISIE_NHS, OTHER_NHS, "999-123-4519"):
            assert number not in text
        assert "Jane" not in text and "Roe" not in text  # never the adults

    with transaction(d.service.sessions) as session:
        cross = session.execute(
            select(AuditEvent.details).where(
                AuditEvent.notification_id == nia.id, AuditEvent.action == "cross_border"
            )
        ).scalar_one()
        assert (cross["handling"], cross["la_code"], cross["council"]) == (
            d.handling,
            VALE,
            HAMPSHIRE,
        )
        routed_row = session.execute(
            select(AuditEvent.details).where(
                AuditEvent.notification_id == nell.id, AuditEvent.action == "routed"
            )
        ).scalar_one()
        assert (routed_row["role"], routed_row["la_code"]) == ("cme", PORTSMOUTH)
        assert verify(session).ok
    assert any(e["event"] == "delivered" for e in logs)
    logged = json.dumps(logs, default=str)
    for personal in PERSONAL:
        assert personal not in logged, personal
