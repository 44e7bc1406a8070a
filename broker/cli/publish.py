"""``encompass publish``: publish incidents from a JSONL file (``broker/publish.py``)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from broker.cli import common


def register(commands: common.Commands) -> None:
    pub = commands.add_parser("publish", help="publish incidents from a JSONL file")
    pub.add_argument("file")
    pub.set_defaults(handler=publish)


def publish(args: argparse.Namespace) -> int:
    from broker.publish import publish_file

    return asyncio.run(publish_file(common.settings(), Path(args.file)))
