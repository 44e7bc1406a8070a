"""``encompass keys``: the data keys that encrypt personal data at rest."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from broker.cli import common
from foundations.database import engine_for, upgrade


def register(commands: common.Commands) -> None:
    keys = commands.add_parser("keys", help="the data keys that encrypt personal data at rest")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    keys_sub.add_parser(
        "rotate", help="a new data key; re-encrypt everything with it"
    ).set_defaults(handler=rotate)
    new_key = keys_sub.add_parser(
        "new", help="print a new ENCOMPASS_DATA_KEY value (or write a new key file)"
    )
    new_key.add_argument("--id", default="k1", help="the key's id (default k1)")
    new_key.add_argument("--file", metavar="PATH", help="write a new key file (0600) instead")
    new_key.set_defaults(handler=new)


def new(args: argparse.Namespace) -> int:
    """A new random data key: printed as an ENCOMPASS_DATA_KEY value, or written to a new
    key file (0600). Neither touches a database."""
    from foundations.crypto import KeyError_
    from foundations.key_material import new_key_file, new_key_spec

    if args.file is None:
        print(new_key_spec(args.id))
        return 0
    try:
        new_key_file(Path(args.file), args.id)
    except (FileExistsError, KeyError_) as exc:
        print(f"encompass keys new: {exc}", file=sys.stderr)
        return 2
    print(f"wrote a new data key ({args.id}) to {args.file} (mode 0600)")
    return 0


def rotate(args: argparse.Namespace) -> int:
    from foundations.database import keyring_for, make_engine
    from foundations.key_material import add_key_to_file
    from foundations.keys import reencrypt

    settings = common.settings()
    upgrade(settings.resolved_database_url)
    # The keys in hand must be this database's before one is added (a key file made here
    # by mistake would otherwise start a second keyring).
    engine_for(settings).dispose()
    if settings.data_key is None:
        new_id = add_key_to_file(settings.data_key_path)
        print(f"added data key {new_id} to {settings.data_key_path}")
    keyring = keyring_for(settings)
    engine = make_engine(settings.resolved_database_url, keyring)
    from foundations.models import metadata

    done = reencrypt(engine, keyring, metadata)
    engine.dispose()
    print(
        f"re-encrypted {done.values} value(s) in {done.rows} row(s) with key "
        f"{keyring.current} ({done.plaintext_encrypted} were not yet encrypted), each "
        f"bound to its table, column and row ({done.unbound_bound} were bound to none)"
    )
    if done.plaintext_refused:
        print("every value is encrypted: a value in clear is refused from now on")
    else:
        print("values in clear were written meanwhile: run `encompass keys rotate` again")
    if done.unbound_refused:
        print(
            "every value is bound to its table, column and row: a value that is not (enc1) "
            "is refused from now on"
        )
    else:
        print("values bound to no row were written meanwhile: run `encompass keys rotate` again")
    return 0
