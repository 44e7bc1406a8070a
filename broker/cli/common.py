"""What every command group of ``encompass`` shares: the settings, the database's sessions,
who is acting, and the ``--as`` option."""

from __future__ import annotations

import argparse
import getpass
from collections.abc import Callable
from typing import TypeAlias

from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from foundations.database import engine_for, session_factory, upgrade
from foundations.settings import Settings
from foundations.startup import restrict_data_files

Sessions: TypeAlias = sessionmaker[Session]
# What each command's parser holds as ``handler`` (``set_defaults(handler=...)``); ``main``
# calls it with the parsed arguments and exits with what it returns.
Handler: TypeAlias = Callable[[argparse.Namespace], int]
# What ``add_subparsers`` returns: each group module adds its command to it.
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise SystemExit(f"encompass: bad setting {where}: {first['msg']}") from exc


def sessions(settings: Settings) -> Sessions:
    """Every command that opens the database: migrated, and refused unless the data key is
    this database's (foundations/identity.py)."""
    url = settings.resolved_database_url
    upgrade(url)
    made = session_factory(engine_for(settings))
    restrict_data_files(settings)
    return made


def actor(args: argparse.Namespace) -> str:
    return f"cli:{getattr(args, 'actor', None) or getpass.getuser()}"


def actor_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--as",
        dest="actor",
        metavar="NAME",
        help="who is acting, for the audit trail (default: your login name)",
    )
