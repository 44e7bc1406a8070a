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
    """One output for every line of the process: ours (structlog) and the libraries' (the
    standard ``logging`` of FastStream, aiokafka, uvicorn, SQLAlchemy) go through the same
    processors and the same renderer, to stderr: JSON lines when deployed, or the console's
    format on a terminal, never the two mixed."""
    json_output = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json_output
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        drop_personal_fields,
    ]
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    for name in LIBRARY_LOGGERS:  # their own handlers and colours give way to ours
        library = logging.getLogger(name)
        library.handlers = []
        library.propagate = True
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        cache_logger_on_first_use=True,
    )


# Libraries that install handlers of their own (FastStream: coloured access lines; uvicorn:
# its default formatters when given a log config).
LIBRARY_LOGGERS = (
    "faststream",
    "faststream.access",
    "faststream.access.kafka",
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "aiokafka",
)
