"""``encompass mail``: the broker's outgoing mail (DKIM keys)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from broker.cli import common


def register(commands: common.Commands) -> None:
    mail = commands.add_parser("mail", help="outgoing mail: DKIM keys")
    mail_sub = mail.add_subparsers(dest="mail_command", required=True)
    key = mail_sub.add_parser(
        "dkim-key", help="make a DKIM signing key and print the DNS TXT record to publish"
    )
    key.add_argument(
        "--file",
        help="where to write the private key (default: ENCOMPASS_DKIM_KEY_FILE, "
        "else <data dir>/dkim.key); never over an existing file",
    )
    key.add_argument(
        "--selector",
        help="the DKIM selector (default: ENCOMPASS_DKIM_SELECTOR, else encompassYYYYMM)",
    )
    key.add_argument("--domain", help="the signing domain (default: ENCOMPASS_MAIL_FROM's)")
    key.set_defaults(handler=dkim_key)


def dkim_key(args: argparse.Namespace) -> int:
    from datetime import date

    from foundations.dkim import write_key

    settings = common.settings()
    path = (
        Path(args.file) if args.file else settings.dkim_key_file or settings.data_dir / "dkim.key"
    )
    selector = args.selector or settings.dkim_selector or f"encompass{date.today():%Y%m}"
    domain = args.domain or settings.dkim_signing_domain
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        record = write_key(path)
    except FileExistsError:
        print(
            f"encompass mail dkim-key: {path} exists: a key in use is never overwritten; "
            "choose another --file (and a new --selector) to rotate",
            file=sys.stderr,
        )
        return 1
    print(f"DKIM private key written to {path} (0600). Publish this DNS TXT record:\n")
    # A DNS string holds 255 characters at most: a 2048-bit key's record is split in two.
    strings = " ".join(f'"{record[i : i + 255]}"' for i in range(0, len(record), 255))
    print(f"{selector}._domainkey.{domain}. IN TXT ( {strings} )\n")
    print("Then set, for every broker process:")
    print(f"  ENCOMPASS_DKIM_KEY_FILE={path}")
    print(f"  ENCOMPASS_DKIM_SELECTOR={selector}")
    if args.domain:
        print(f"  ENCOMPASS_DKIM_DOMAIN={domain}")
    return 0
