"""Stop the broker process mid-stream, with SIGKILL (no clean shutdown) or SIGTERM (in-flight
work finishes or is replayed, never half-done), and start it again: every child still gets
exactly one e-mail per school. Runs `encompass up` itself, against
the real Kafka-protocol broker process, a SQLite file and an SMTP server with STARTTLS."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from consumers.deliver import resent_after_a_crash_at_most
from tests.factories import child, incident, isolated_settings, upn, write_directory
from tests.smtp_server import PASSWORD, USERNAME, RecordingSmtpServer, make_test_ca

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

CHILDREN = 40


def pupils() -> list[dict[str, str]]:
    return [
        {
            "upn": upn(f"8502001{i:05d}"),
            "given_names": f"Pupil{chr(65 + i % 26)}",
            "family_name": f"Family{i:03d}",
            "date_of_birth": f"2015-0{1 + i % 9}-1{i % 10}",
            "urn": "100001" if i % 2 else "100002",
            "on_roll_from": "2020-09-01",
        }
        for i in range(CHILDREN)
    ]


def start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "broker.cli", "up"],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


@pytest.mark.parametrize("stop_with", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_stopped_mid_stream_and_restarted_sends_one_email_per_child_and_school(
    tmp_path: Path, kafka_bootstrap: str, stop_with: signal.Signals
) -> None:
    pki = make_test_ca(tmp_path / "pki")
    settings = isolated_settings()
    with RecordingSmtpServer(tls="starttls", pki=pki) as smtp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ENCOMPASS_")} | {
            "ENCOMPASS_DATA_DIR": str(tmp_path),
            "ENCOMPASS_DATABASE_URL": f"sqlite:///{tmp_path / 'crash.db'}",
            "ENCOMPASS_KAFKA_BOOTSTRAP": kafka_bootstrap,
            "ENCOMPASS_INCIDENTS_TOPIC": settings.incidents_topic,
            "ENCOMPASS_DLQ_TOPIC": settings.dlq_topic,
            "ENCOMPASS_AUDIT_TOPIC": settings.audit_topic,
            "ENCOMPASS_CONSUMER_GROUP": settings.consumer_group,
            "ENCOMPASS_KAFKA_SESSION_TIMEOUT_MS": "3000",
            "ENCOMPASS_SMTP_HOST": "localhost",
            "ENCOMPASS_SMTP_PORT": str(smtp.port),
            "ENCOMPASS_SMTP_USERNAME": USERNAME,
            "ENCOMPASS_SMTP_PASSWORD": PASSWORD,
            "ENCOMPASS_SMTP_CA_FILE": str(pki.ca_cert),
            "ENCOMPASS_REVIEW_POLICY": "auto_release_exact",
            "ENCOMPASS_DELIVERY_POLL_S": "0.2",
            "ENCOMPASS_DELIVERY_LEASE_S": "5",
            "ENCOMPASS_SMTP_TIMEOUT_S": "3",
            # the placeholder First Response address and loopback links, as in every test
            "ENCOMPASS_ALLOW_UNSAFE": settings.allow_unsafe,
        }
        files = write_directory(tmp_path / "directory", pupils())
        cli = [sys.executable, "-m", "broker.cli"]
        imported = subprocess.run(
            [*cli, "directory", "import", *(f"--{k}={v}" for k, v in files.items())],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert imported.returncode == 0, imported.stderr
        events = tmp_path / "incidents.jsonl"
        adults = incident()["persons"][:2]
        with events.open("w") as out:
            for i, p in enumerate(pupils()):
                data = incident(
                    incident_id=f"44-20261121-{i:06d}",
                    persons=[
                        *adults,
                        child("c1", p["given_names"], p["family_name"], p["date_of_birth"]),
                    ],
                )
                out.write(json.dumps(data) + "\n")
                if i % 5 == 0:  # police systems resend: at least once
                    out.write(json.dumps(data) + "\n")

        log = tmp_path / "up.log"
        first = start(env, log)
        try:
            published = subprocess.run(
                [*cli, "publish", str(events)], env=env, capture_output=True, text=True, check=False
            )
            assert published.returncode == 0, published.stderr
            smtp.wait_for(5, timeout=60)
        finally:
            first.send_signal(stop_with)
            first.wait(30)
        sent_before_kill = len(smtp.messages)
        assert sent_before_kill < CHILDREN + 1, "the kill came too late to prove anything"

        second = start(env, log)
        try:
            smtp.wait_for(CHILDREN, timeout=90)
            time.sleep(3)  # let a wrongly repeated e-mail arrive if there were one
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(30) == 0, log.read_text()[-3000:]

    ids = Counter(str(m.message["Message-ID"]) for m in smtp.messages)
    assert len(ids) == CHILDREN, f"{len(ids)} distinct notifications e-mailed"
    resent = [mid for mid, n in ids.items() if n > 1]
    # A kill between the SMTP server's "250 OK" and the database commit can resend what the
    # process had sent and not yet recorded, with the same Message-ID: only e-mails of the
    # first process, at most what its delivery lanes held. Anything else would be a real
    # duplicate. A clean stop records what it sent.
    first_sent = {str(m.message["Message-ID"]) for m in smtp.messages[:sent_before_kill]}
    assert set(resent) <= first_sent, resent
    at_most = resent_after_a_crash_at_most(settings) if stop_with == signal.SIGKILL else 1
    assert len(resent) <= at_most, resent
    verified = subprocess.run(
        [*cli, "audit", "verify"], env=env, capture_output=True, text=True, check=False
    )
    assert verified.returncode == 0, verified.stdout
