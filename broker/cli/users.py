"""``encompass users``: console accounts."""

from __future__ import annotations

import argparse
import getpass
import sys

from broker.cli import common
from foundations.database import transaction
from foundations.settings import Settings


def register(commands: common.Commands) -> None:
    users = commands.add_parser("users", help="console accounts")
    u_sub = users.add_subparsers(dest="users_command", required=True)
    u_add = u_sub.add_parser("add", help="add a local account, or reset its password and role")
    u_add.add_argument("username")
    u_add.add_argument("--role", choices=("reviewer", "auditor", "admin"), required=True)
    u_add.add_argument("--password-stdin", action="store_true", help="read it from stdin")
    u_add.add_argument(
        "--la",
        metavar="CODES",
        help="the councils whose notifications it sees, LA codes comma separated (a "
        "deployment of several councils: without them it sees nothing; docs/councils.md)",
    )
    common.actor_option(u_add)
    u_add.set_defaults(handler=add)
    u_councils = u_sub.add_parser(
        "councils", help="set the councils whose notifications an account sees and acts on"
    )
    u_councils.add_argument("username")
    u_councils.add_argument("--la", metavar="CODES", required=True,
                            help='LA codes, comma separated ("" for none)')  # fmt: skip
    common.actor_option(u_councils)
    u_councils.set_defaults(handler=councils)
    u_list = u_sub.add_parser("list", help="every account: role, state, second factor, sessions")
    u_list.add_argument("--json", action="store_true", help="one JSON object a line")
    u_list.set_defaults(handler=list_users)
    for verb, said in (
        ("disable", "refuse sign-in to an account and end its sessions"),
        ("enable", "let a disabled account sign in again"),
        ("signout-all", "end every session of an account, on every device"),
        ("reset-mfa", "forget an account's authenticator and recovery codes (a lost phone)"),
    ):
        u_verb = u_sub.add_parser(verb, help=said)
        u_verb.add_argument("username")
        common.actor_option(u_verb)
        u_verb.set_defaults(handler=change)


def add(args: argparse.Namespace) -> int:
    """A local console account; the password from stdin (--password-stdin) or a prompt."""
    from console.accounts import AccountError, add_user

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"Password for {args.username}: ")
        if password != getpass.getpass("Again: "):
            print("encompass users add: the passwords differ", file=sys.stderr)
            return 2
    settings = common.settings()
    try:
        known_councils(settings, args.la)
        with transaction(common.sessions(settings)) as session:
            user = add_user(session, args.username, args.role, password,
                            actor=common.actor(args), councils=args.la)  # fmt: skip
            seen = user.councils
    except AccountError as exc:
        print(f"encompass users add: {exc}", file=sys.stderr)
        return 2
    print(f"{args.username} can sign in to the console as {args.role}" + (
        f", for council(s) {seen}." if seen else "."))  # fmt: skip
    return 0


def known_councils(settings: Settings, la: str | None) -> None:
    """``--la`` names member councils of this deployment (``AccountError`` otherwise); in
    a single-council deployment the codes are kept, for when councils are configured."""
    from console.accounts import AccountError, council_codes
    from foundations.councils import councils_for

    if la is None:
        return
    codes = council_codes(la)
    deployment = councils_for(settings)
    strangers = [c for c in codes if deployment.scoped and c not in deployment.members]
    if strangers:
        raise AccountError(
            f"{', '.join(strangers)} is not a council this deployment serves "
            f"({', '.join(sorted(deployment.members))})"
        )


def councils(args: argparse.Namespace) -> int:
    """``users councils NAME --la 850,851``: whose notifications the account sees."""
    from console.accounts import AccountError, set_councils

    settings = common.settings()
    try:
        known_councils(settings, args.la)
        with transaction(common.sessions(settings)) as session:
            user = set_councils(session, args.username, args.la, actor=common.actor(args))
            seen = user.councils
    except AccountError as exc:
        print(f"encompass users councils: {exc}", file=sys.stderr)
        return 2
    print(f"{args.username} sees the notifications of " + (
        f"council(s) {seen}." if seen else "no council (in a deployment of several councils, "
        "nothing)."))  # fmt: skip
    return 0


def list_users(args: argparse.Namespace) -> int:
    """Every console account: role, on or off, second factor, open sessions."""
    import json

    from console import accounts
    from foundations.clock import utcnow

    with transaction(common.sessions(common.settings())) as session:
        users = accounts.list_users(session, now=utcnow())
    if args.json:
        for u in users:
            print(json.dumps(u.__dict__))
        return 0
    print(f"{'USERNAME':<32} {'ROLE':<9} {'STATE':<9} {'KIND':<6} {'2-STEP':<14} "
          f"{'COUNCILS':<12} SESSIONS")  # fmt: skip
    for u in users:
        second = f"on ({u.recovery_codes_left} codes)" if u.mfa else "off"
        state = "active" if u.active else "disabled"
        print(f"{u.username:<32} {u.role:<9} {state:<9} {u.kind:<6} {second:<14} "
              f"{u.councils or '-':<12} {u.open_sessions}")  # fmt: skip
    return 0


def change(args: argparse.Namespace) -> int:
    """disable, enable, signout-all, reset-mfa: one account, audited; sessions end."""
    from console import mfa
    from console.accounts import AccountError, set_active, sign_out_everywhere
    from foundations.clock import utcnow

    name, actor, verb = args.username, common.actor(args), args.users_command
    try:
        with transaction(common.sessions(common.settings())) as session:
            if verb in ("disable", "enable"):
                set_active(session, name, verb == "enable", actor=actor)
                said = f"{name} is {verb}d" + ("; its sessions have ended." if verb == "disable"
                                              else ".")  # fmt: skip
            elif verb == "signout-all":
                count = sign_out_everywhere(session, name, actor=actor, now=utcnow())
                said = f"ended {count} session(s) of {name}."
            else:
                try:
                    mfa.reset(session, name, actor=actor, now=utcnow())
                except LookupError:
                    raise AccountError(f"no account {name!r}") from None
                said = (f"{name}'s second factor is reset; its sessions have ended. It must "
                        "set up a new one at its next sign-in.")  # fmt: skip
    except AccountError as exc:
        print(f"encompass users {verb}: {exc}", file=sys.stderr)
        return 2
    print(said)
    return 0
