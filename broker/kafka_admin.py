"""Create the topics with their final partition counts (the embedded broker cannot add
partitions later, and production clusters should not auto-create)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from broker.kafka_security import client_kwargs, topic_configs
from foundations.settings import Settings


async def ensure_topics(
    bootstrap: str,
    topics: Iterable[str],
    partitions: int,
    *,
    attempts: int = 20,
    settings: Settings | None = None,
) -> None:
    """With ``settings``: their TLS/SASL, replication factor, retention (docs/operations.md)."""
    wanted = list(topics)
    security = client_kwargs(settings) if settings else {}
    replicas = settings.kafka_replication_factor if settings else 1
    configs = topic_configs(settings) if settings else {}
    for attempt in range(attempts):
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **security)
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            missing = [t for t in wanted if t not in existing]
            if missing:
                with contextlib.suppress(TopicAlreadyExistsError):
                    await admin.create_topics(
                        [
                            NewTopic(
                                t,
                                num_partitions=partitions,
                                replication_factor=replicas,
                                topic_configs=configs.get(t, {}),
                            )
                            for t in missing
                        ]
                    )
            return
        except KafkaConnectionError:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(0.25 * (attempt + 1))
        finally:
            await admin.close()
