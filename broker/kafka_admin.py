"""Create the topics with their final partition counts (the embedded broker cannot add
partitions later, and production clusters should not auto-create)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError


async def ensure_topics(
    bootstrap: str, topics: Iterable[str], partitions: int, *, attempts: int = 20
) -> None:
    wanted = list(topics)
    for attempt in range(attempts):
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            missing = [t for t in wanted if t not in existing]
            if missing:
                with contextlib.suppress(TopicAlreadyExistsError):
                    await admin.create_topics(
                        [
                            NewTopic(t, num_partitions=partitions, replication_factor=1)
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
