"""The NHS number over real parts (issue 17, item 4): an incident on the Kafka layer (in
memory and on the broker process) and the SMTP server with STARTTLS. A child whose family
name changed and whose date of birth is a digit out is released to her school by the NHS
number she shares with the pupil; a child whose names, date of birth and address agree
exactly with a pupil but whose NHS number is another child's is held. Neither number
reaches the e-mail or a log line. Test numbers only (the 999 range)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import structlog.testing
from sqlalchemy import select

from broker.app import EncompassService
from foundations.database import transaction
from foundations.models import Notification
from foundations.settings import ReviewPolicy, Settings
from tests.factories import child, default_pupils, import_directory, incident, upn, write_directory
from tests.kafka_layer import KafkaLayer
from tests.real_parts import settings_for, smtp_server
from tests.smtp_server import RecordingSmtpServer

AMY_NHS, MAISIE_NHS, OTHER_NHS = "9991234543", "9991234519", "9991234527"
MAISIE = upn("850200116022")


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[RecordingSmtpServer]:
    with smtp_server(tmp_path) as server:
        yield server


@pytest.fixture
def settings(tmp_path: Path, smtp: RecordingSmtpServer) -> Settings:
    return settings_for(tmp_path, smtp, review_policy=ReviewPolicy.AUTO_RELEASE_CONFIDENT)


@pytest.fixture
async def service(
    kafka_layer: KafkaLayer, settings: Settings, tmp_path: Path
) -> AsyncIterator[EncompassService]:
    pupils = default_pupils()
    pupils[0] = {**pupils[0], "nhs_number": "999 123 4543"}  # Amy Louise Doe
    pupils.append(
        {"upn": MAISIE, "given_names": "Maisie", "family_name": "Okafor",
         "date_of_birth": "2015-06-30", "gender": "F", "postcode": "SO23 9ZZ",
         "urn": "100002", "on_roll_from": "2021-09-01", "nhs_number": MAISIE_NHS}
    )  # fmt: skip
    async with kafka_layer.running(settings) as svc:
        with transaction(svc.sessions) as session:
            import_directory(session, write_directory(tmp_path / "directory", pupils))
        yield svc


async def test_a_match_decided_by_nhs_number_is_sent_and_one_vetoed_by_it_is_held(
    service: EncompassService,
    smtp: RecordingSmtpServer,
    kafka_layer: KafkaLayer,
    settings: Settings,
) -> None:
    data = incident(
        incident_id="44-20261121-000981",
        persons=[
            *incident()["persons"][:2],
            child("c1", "Maisie", "Adeyemi", "2015-06-20", nhs_number="999-123-4519"),
            child("c2", "Amy Louise", "Doe", "2016-09-14", address={"postcode": "SO23 8UJ"},
                  nhs_number=OTHER_NHS),
        ],
    )  # fmt: skip
    with structlog.testing.capture_logs() as logs:
        await kafka_layer.publish(settings.incidents_topic, json.dumps(data).encode())
        await smtp.async_wait_for(1, timeout=30)
        await asyncio.sleep(1.5)  # time enough for a wrongly released second e-mail
    # To schools: Maisie's e-mail only. (The held child may also bring First Response's duty
    # inbox an alert that her notification waits for review near or past its deadline.)
    duty = settings.first_response_email
    to_schools = [m for m in smtp.messages if list(m.rcpt_tos) != [duty]]
    assert [list(m.rcpt_tos) for m in to_schools] == [["deputy@100002.school.example"]]
    body = to_schools[0].raw.decode("utf-8", "replace")
    assert "Maisie Okafor" in body
    logged = json.dumps(logs, default=str)
    for number in (MAISIE_NHS, "999-123-4519", AMY_NHS, OTHER_NHS, "4519", "4543", "4527"):
        assert number not in body and number not in logged
    with transaction(service.sessions) as session:
        found = {n.person_id: n for n in session.execute(select(Notification)).scalars()}
    assert (found["c1"].urn, found["c1"].upn) == ("100002", MAISIE)
    assert found["c1"].reason == "released by policy: NHS number agrees"
    held = found["c2"]
    assert (held.status, held.urn, held.releasable) == ("pending_review", None, False)
    assert held.candidates[0]["note"] == "NHS number differs"
