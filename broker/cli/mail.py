"""``encompass mail``: the broker's outgoing mail (DKIM keys) and what comes back of it
(bounces)."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from broker.cli import common

if TYPE_CHECKING:
    from consumers.return_path import ReturnPaths
    from foundations.settings import Settings


def register(commands: common.Commands) -> None:
    mail = commands.add_parser("mail", help="outgoing mail: DKIM keys, bounces")
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
    taken = mail_sub.add_parser(
        "bounces",
        help="take delivery status notifications (bounces) from a mailbox or from files",
    )
    source = taken.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--imap",
        action="store_true",
        help="read the unseen messages of ENCOMPASS_BOUNCE_IMAP_FOLDER (TLS only)",
    )
    source.add_argument("--file", nargs="+", metavar="F", help="messages saved as files (.eml)")
    taken.set_defaults(handler=bounces)


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


def bounces(args: argparse.Namespace) -> int:
    from consumers.return_path import ReturnPaths

    settings = common.settings()
    paths = ReturnPaths.from_settings(settings)
    if paths is None:
        print(
            "encompass mail bounces: ENCOMPASS_BOUNCE_ADDRESS is not set, so no e-mail went "
            "with a return path of its own, and no bounce can be told from a forgery",
            file=sys.stderr,
        )
        return 2
    sessions = common.sessions(settings)
    counts: Counter[str] | None
    if args.imap:
        from broker.bounce_imap import ImapProblem, read_mailbox

        try:
            counts = read_mailbox(settings, sessions, paths)
        except ImapProblem as problem:
            print(f"encompass mail bounces: {problem}", file=sys.stderr)
            return 1
    else:
        counts = _from_files(settings, sessions, paths, [Path(f) for f in args.file])
    if counts is None:
        return 1
    summary = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items())) or "none"
    print(f"Reports taken: {summary}")
    return 0


def _from_files(
    settings: Settings, sessions: common.Sessions, paths: ReturnPaths, files: list[Path]
) -> Counter[str] | None:
    from consumers import bounces as taking
    from foundations.clock import utcnow
    from foundations.database import transaction

    counts: Counter[str] = Counter()
    for path in files:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            print(f"encompass mail bounces: {path}: {exc.strerror}", file=sys.stderr)
            return None
        with transaction(sessions) as session:
            taken = taking.take(session, settings, paths, raw, via="file", now=utcnow())
        counts[taken.outcome.value] += 1
    return counts
