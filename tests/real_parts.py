"""The real parts the end-to-end tests run over: an SMTP server with STARTTLS, AUTH and a
test CA, settings that point the broker at it, and the whole service with the test
directory imported, started on the real Kafka-protocol broker process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

from broker.app import EncompassService
from foundations.database import transaction
from foundations.settings import ReviewPolicy, Settings
from tests.factories import import_directory, isolated_settings, write_directory
from tests.smtp_server import PASSWORD, USERNAME, RecordingSmtpServer, make_test_ca


@contextmanager
def smtp_server(folder: Path) -> Iterator[RecordingSmtpServer]:
    pki = make_test_ca(folder / "pki")
    with RecordingSmtpServer(tls="starttls", pki=pki) as server:
        server.pki = pki  # type: ignore[attr-defined]
        yield server


def settings_for(folder: Path, smtp: RecordingSmtpServer, **changes: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": folder,
        "database_url": f"sqlite:///{folder / 'e2e.db'}",
        "smtp_host": "localhost",
        "smtp_port": smtp.port,
        "smtp_username": USERNAME,
        "smtp_password": PASSWORD,
        "smtp_ca_file": smtp.pki.ca_cert,  # type: ignore[attr-defined]
        "mail_from": "encompass@council.example",
        "review_policy": ReviewPolicy.AUTO_RELEASE_EXACT,
    }
    return isolated_settings(**(values | changes))


@asynccontextmanager
async def running_service(
    settings: Settings, bootstrap: str, folder: Path
) -> AsyncIterator[EncompassService]:
    service = EncompassService(settings, bootstrap=bootstrap)
    with transaction(service.sessions) as session:
        import_directory(session, write_directory(folder / "directory"))
    await service.start()
    try:
        yield service
    finally:
        await service.stop()
