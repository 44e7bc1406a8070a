"""The registry of Kafka topics (SPEC section 2). Every subscriber, publisher and deploy
file takes its names from here, through the settings that may rename them."""

from __future__ import annotations

from dataclasses import dataclass

from foundations.settings import Settings


@dataclass(frozen=True)
class Topics:
    incidents: str
    dlq: str
    audit: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Topics:
        return cls(
            incidents=settings.incidents_topic,
            dlq=settings.dlq_topic,
            audit=settings.audit_topic,
        )

    def all(self) -> tuple[str, ...]:
        return (self.incidents, self.dlq, self.audit)


DEFAULT_TOPICS = Topics(
    incidents="police.incidents.v1",
    dlq="police.incidents.dlq.v1",
    audit="encompass.audit.v1",
)
