"""structlog, configured once per process: JSON when deployed, console on a terminal.

Log lines carry ids (incident, notification, UPN-free), never a child's name or date of
birth; ``drop_personal_fields`` removes such keys should one ever be bound by mistake.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

PERSONAL_KEYS = frozenset(
    {
        "name",
        "given_names",
        "family_name",
        "known_as",
        "date_of_birth",
        "dob",
        "address",
        "postcode",
        "summary",
        "account",
        "voice_of_child",
        "child_name",
        "body",
        "text",
        "html",
    }
)


def drop_personal_fields(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key in PERSONAL_KEYS & event.keys():
        event[key] = "[removed]"
    return event


def configure_logging(fmt: str = "auto", level: str = "INFO") -> None:
    json_output = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer() if json_output else structlog.dev.ConsoleRenderer()
    )
    logging.basicConfig(level=level, format="%(message)s", stream=sys.stderr)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            drop_personal_fields,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        cache_logger_on_first_use=True,
    )
