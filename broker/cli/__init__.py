"""``encompass``: the command line (SPEC section 7).

One module per command group (``up``, ``db``, ``directory``, ``calendar``, ``publish``,
``review``, ``users``, ``keys``, ``mail``, ``dlq``, ``retention``, ``audit``); each adds its
commands to the parser in ``register`` and names the function that runs each one with
``set_defaults(handler=...)``. What a command needs beyond the standard library and the
settings it imports when it runs, so that ``encompass keys new`` does not load the
pipeline. ``common.py`` holds what they share (the settings, the database, ``--as``).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, InterfaceError, NoSuchModuleError, OperationalError

from broker.cli import (
    audit,
    calendar,
    db,
    directory,
    dlq,
    keys,
    mail,
    publish,
    retention,
    review,
    up,
    users,
)
from broker.cli.common import Handler
from foundations.councils import CouncilError
from foundations.startup import StartupRefused

# A database that does not answer, or a URL that names none: one line, not a traceback.
DATABASE_UNREACHABLE = (OperationalError, InterfaceError, NoSuchModuleError, ArgumentError)

# In the order ``encompass --help`` lists them.
GROUPS = (up, db, directory, calendar, publish, review, users, keys, mail, dlq, retention, audit)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="encompass",
        description="Operation Encompass broker: police incidents to the child's school "
        "before the next school day.",
    )
    commands = p.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.register(commands)
    return p


def database_problem(exc: Exception) -> str:
    """One line for a database that cannot be used, naming the URL without its password."""
    from foundations.settings import Settings

    try:
        url = make_url(Settings().resolved_database_url).render_as_string(hide_password=True)
    except Exception:  # the URL itself is what is wrong
        url = "ENCOMPASS_DATABASE_URL"
    first = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    if isinstance(exc, (NoSuchModuleError, ArgumentError)):
        return f"ENCOMPASS_DATABASE_URL is not a database URL this broker can use ({first})"
    return f"cannot use the database at {url}: {first}"


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from foundations.logging import configure_logging

    configure_logging("console", "WARNING")
    # What this process creates (database, WAL, keys, demo mail) is readable by its owner
    # only; foundations/startup.py tightens what was made before.
    os.umask(0o077)
    handler: Handler = args.handler
    try:
        result = handler(args)
    except StartupRefused as refused:
        print(f"encompass: {refused}", file=sys.stderr)
        return 2
    except CouncilError as exc:  # a councils folder that cannot be used (docs/councils.md)
        print(f"encompass: ENCOMPASS_COUNCILS_DIR: {exc}", file=sys.stderr)
        return 2
    except DATABASE_UNREACHABLE as exc:
        print(f"encompass: {database_problem(exc)}", file=sys.stderr)
        return 2
    return result
