"""``encompass retention``: delete personal content past its period."""

from __future__ import annotations

import argparse

from broker.cli import common
from foundations.database import transaction


def register(commands: common.Commands) -> None:
    retention = commands.add_parser("retention", help="delete personal content past its period")
    ret_sub = retention.add_subparsers(dest="retention_command", required=True)
    ret_run = ret_sub.add_parser("run", help="purge now (the broker also does this daily)")
    ret_run.add_argument("--days", type=int, help="keep this many days (default: setting)")
    common.actor_option(ret_run)
    ret_run.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from consumers.retention import purge
    from foundations.clock import utcnow

    settings = common.settings()
    days = args.days or settings.retention_days
    with transaction(common.sessions(settings)) as session:
        done = purge(session, now=utcnow(), keep_days=days, actor=common.actor(args))
    print(
        f"purged personal content of {done.incidents} incident(s) and "
        f"{done.notifications} notification(s) older than {days} days; "
        f"{done.kept_open} old incident(s) kept because a notification is still open"
    )
    return 0
