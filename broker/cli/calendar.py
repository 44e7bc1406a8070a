"""``encompass calendar``: school calendars (the bank holidays of England and Wales)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from broker.cli import common
from foundations.database import transaction


def register(commands: common.Commands) -> None:
    calendar = commands.add_parser("calendar", help="school calendars")
    c_sub = calendar.add_subparsers(dest="calendar_command", required=True)
    bank = c_sub.add_parser(
        "bank-holidays", help="load GOV.UK's bank-holidays.json (england-and-wales)"
    )
    bank.add_argument("--file", type=Path, required=True, metavar="FILE")
    common.actor_option(bank)
    bank.set_defaults(handler=bank_holidays)


def bank_holidays(args: argparse.Namespace) -> int:
    from school_directory.bank_holidays import BankHolidayFileError, import_file

    try:
        with transaction(common.sessions(common.settings())) as session:
            result = import_file(session, args.file, actor=common.actor(args))
    except (OSError, BankHolidayFileError) as exc:
        print(f"encompass calendar bank-holidays: {args.file}: {exc}", file=sys.stderr)
        return 1
    years = f"{result.years[0]}-{result.years[-1]}"
    if not result.changed:
        print(f"bank holidays {years}: already up to date ({result.days} days)")
    else:
        print(
            f"bank holidays {years}: {result.days} days ({result.added} added, "
            f"{result.removed} removed); they now win over the built-in list for those years"
        )
    return 0
