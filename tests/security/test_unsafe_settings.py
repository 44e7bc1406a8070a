"""Issue 13, defect 7: outside the demo, unsafe settings stop the broker at start, each
named, unless ENCOMPASS_ALLOW_UNSAFE names it: a placeholder First Response address, a
public URL no school can reach (or that sends links in clear), Kafka PLAINTEXT to a host
that is not this machine. Settings() itself accepts them (unit tests build settings
freely); the check runs where a process starts."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from broker.app import EncompassService
from broker.settings import Settings
from broker.startup import StartupRefused, refuse_unsafe_settings, unsafe_settings

ROOT = Path(__file__).resolve().parents[2]
SAFE = {
    "first_response_email": "first.response@hampshire.gov.uk",
    "public_url": "https://encompass.hampshire.gov.uk",
}


def names(settings: Settings, bootstrap: str | None = None) -> set[str]:
    return {u.allowance for u in unsafe_settings(settings, bootstrap)}


def test_the_defaults_are_refused_naming_each_setting() -> None:
    with pytest.raises(StartupRefused) as refused:
        refuse_unsafe_settings(Settings())
    message = str(refused.value)
    assert "ENCOMPASS_FIRST_RESPONSE_EMAIL" in message
    assert "first.response@council.example" in message
    assert "ENCOMPASS_PUBLIC_URL" in message
    assert "ENCOMPASS_ALLOW_UNSAFE=first_response_email,public_url" in message


def test_real_addresses_start() -> None:
    refuse_unsafe_settings(Settings(**SAFE))


@pytest.mark.parametrize(
    "address",
    [
        "first.response@council.example",
        "duty@example.com",
        "duty@example.org",
        "duty@localhost",
        "duty@council.test",
        "duty@council.invalid",
        "duty@host.localhost",
        "not-an-address",
        "duty@intranet",
    ],
)
def test_placeholder_first_response_addresses_are_refused(address: str) -> None:
    assert names(Settings(**SAFE | {"first_response_email": address})) == {"first_response_email"}
    duty = Settings(**SAFE | {"first_response_duty_email": address})
    assert names(duty) == {"first_response_duty_email"}
    with pytest.raises(StartupRefused, match="ENCOMPASS_FIRST_RESPONSE_DUTY_EMAIL"):
        refuse_unsafe_settings(duty)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080",
        "http://localhost:8080",
        "https://localhost",
        "http://[::1]:8080",
        "http://0.0.0.0:8080",
        "https://encompass.council.example",
        "http://encompass.hampshire.gov.uk",  # links with their tokens in clear
        "encompass.hampshire.gov.uk",
    ],
)
def test_a_public_url_no_school_can_use_safely_is_refused(url: str) -> None:
    settings = Settings(**SAFE | {"public_url": url})
    assert names(settings) == {"public_url"}
    with pytest.raises(StartupRefused, match="ENCOMPASS_PUBLIC_URL"):
        refuse_unsafe_settings(settings)


@pytest.mark.parametrize(
    ("bootstrap", "refused"),
    [
        ("kafka-1.police.example:9092", True),
        ("127.0.0.1:9092,kafka-2:9092", True),
        ("10.0.0.7:9092", True),
        ("127.0.0.1:9092", False),
        ("localhost:9092,[::1]:9093", False),
    ],
)
def test_kafka_plaintext_is_refused_off_this_machine(bootstrap: str, refused: bool) -> None:
    settings = Settings(**SAFE | {"kafka_bootstrap": bootstrap})
    assert ("kafka_plaintext" in names(settings)) is refused
    tls = settings.model_copy(update={"kafka_security_protocol": "SSL"})
    assert "kafka_plaintext" not in names(tls)


def test_the_bootstrap_the_process_really_uses_is_checked() -> None:
    settings = Settings(**SAFE)  # no ENCOMPASS_KAFKA_BOOTSTRAP: the embedded broker
    assert names(settings) == set()
    assert names(settings, bootstrap="127.0.0.1:41234") == set()
    with pytest.raises(StartupRefused, match="ENCOMPASS_KAFKA_SECURITY_PROTOCOL is PLAINTEXT"):
        refuse_unsafe_settings(settings, bootstrap="kafka-1:9092")


def test_an_explicit_allowance_accepts_only_what_it_names() -> None:
    settings = Settings(
        kafka_bootstrap="kafka-1:9092", allow_unsafe="first_response_email, kafka_plaintext"
    )
    with pytest.raises(StartupRefused) as refused:
        refuse_unsafe_settings(settings)
    assert "ENCOMPASS_PUBLIC_URL" in str(refused.value)
    assert "FIRST_RESPONSE_EMAIL" not in str(refused.value)
    assert "KAFKA" not in str(refused.value)
    refuse_unsafe_settings(
        settings.model_copy(
            update={"allow_unsafe": "first_response_email,kafka_plaintext,public_url"}
        )
    )


def test_an_unknown_allowance_is_a_bad_setting() -> None:
    with pytest.raises(ValidationError, match="ENCOMPASS_ALLOW_UNSAFE"):
        Settings(allow_unsafe="public_url,everything")


def test_the_service_refuses_before_it_opens_anything(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", http_port=0)
    with pytest.raises(StartupRefused, match="ENCOMPASS_FIRST_RESPONSE_EMAIL"):
        EncompassService(settings, bootstrap="127.0.0.1:9092")
    assert not (tmp_path / "data").exists()


def test_encompass_up_without_demo_refuses_and_says_how_to_allow(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENCOMPASS_")}
    env |= {"ENCOMPASS_DATA_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "broker.cli", "up"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "ENCOMPASS_FIRST_RESPONSE_EMAIL" in done.stderr
    assert "ENCOMPASS_PUBLIC_URL" in done.stderr
    assert "ENCOMPASS_ALLOW_UNSAFE=" in done.stderr
    assert time.monotonic() - started < 30  # refused at once, before any broker started
    assert not (tmp_path / "kafka.log").exists()
