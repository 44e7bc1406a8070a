"""``encompass dlq``: the dead-letter topic (``broker/dlq.py``)."""

from __future__ import annotations

import argparse
import asyncio

from broker.cli import common


def register(commands: common.Commands) -> None:
    dlq = commands.add_parser("dlq", help="the dead-letter topic")
    dlq_sub = dlq.add_subparsers(dest="dlq_command", required=True)
    dlq_replay = dlq_sub.add_parser("replay", help="re-publish dead-lettered events after a fix")
    dlq_replay.add_argument("--dry-run", action="store_true", help="list, do not publish")
    dlq_replay.set_defaults(handler=replay)


def replay(args: argparse.Namespace) -> int:
    from broker import dlq

    return asyncio.run(dlq.replay(common.settings(), dry_run=args.dry_run))
