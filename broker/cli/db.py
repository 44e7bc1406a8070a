"""``encompass db``: database maintenance."""

from __future__ import annotations

import argparse

from broker.cli import common
from foundations.database import upgrade


def register(commands: common.Commands) -> None:
    db = commands.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="apply migrations").set_defaults(handler=db_upgrade)


def db_upgrade(args: argparse.Namespace) -> int:
    settings = common.settings()
    upgrade(settings.resolved_database_url)
    print(f"database is at the newest schema: {settings.resolved_database_url}")
    return 0
