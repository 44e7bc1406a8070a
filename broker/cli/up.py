"""``encompass up``: run everything on this machine (``broker/up.py``)."""

from __future__ import annotations

import argparse

from broker.cli import common


def register(commands: common.Commands) -> None:
    up = commands.add_parser("up", help="run everything on this machine")
    up.add_argument(
        "--demo",
        action="store_true",
        help="synthetic directory, incident stream and a local mail catcher",
    )
    up.add_argument(
        "--incidents",
        type=int,
        default=20,
        help="with --demo: how many synthetic incidents to publish (default 20)",
    )
    up.add_argument(
        "--interval",
        type=float,
        default=1.0,
        help="with --demo: seconds between incidents (default 1)",
    )
    up.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from broker.up import run_up

    return run_up(
        common.settings(), demo=args.demo, incidents=args.incidents, interval_s=args.interval
    )
