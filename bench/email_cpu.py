"""CPU per outgoing e-mail: building the message, its wire bytes, the DKIM signature.

Times the way the broker makes an e-mail now against the stock way (``policy.default`` to
build, a deep copy without Return-Path and ``as_bytes(policy=policy.SMTP)``, dkimpy's
``sign`` parsing the PEM key each time: what ``foundations/mailer.py`` and ``dkim.py`` did
before ``foundations/mail_policy.py``) in the same run, rounds alternating, and prints the
median ms of CPU (``time.process_time``) per e-mail of each step. The messages carry
rendered notifications (``consumers.render.render_email``), to 50 schools, with a Return-Path
as the delivery worker sends them when a bounce address is set (``--no-return-path``: as
without); the two ways' bytes are compared first (Date, boundary and DKIM t= fixed).

    python bench/email_cpu.py [--messages 300] [--rounds 5] [--no-return-path]
"""

from __future__ import annotations

import argparse
import copy
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email import policy
from email.message import EmailMessage
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ holds the example

from consumers.render import RenderedEmail, as_message, render_email
from foundations import mail_policy
from foundations.dkim import SIGNED_HEADERS, DkimSigner, _OpenSslDkim, new_key
from foundations.mailer import unsigned_wire_bytes
from tests.test_render import notification

SENDER = "Operation Encompass <operation-encompass@council.example>"
Steps = tuple[
    Callable[[int], EmailMessage], Callable[[EmailMessage], bytes], Callable[[bytes], bytes]
]


def renderings(count: int = 10) -> list[RenderedEmail]:
    children = ("Amy Doe", "Zoë Ångström", "Noah Smith", "Siân Pryce", "Oliver Brown")
    return [
        render_email(
            notification(
                reference=f"N-2026-{i:06d}", child_name=children[i % len(children)],
                school_name=f"Example Primary School {i}", is_update=i % 4 == 3,
            )
        )
        for i in range(count)
    ]  # fmt: skip


def main(args: argparse.Namespace) -> None:
    rendered = renderings()
    pem, _ = new_key()
    signer = DkimSigner("enc2026", "council.example", pem)

    def build(i: int) -> EmailMessage:
        return as_message(
            rendered[i % len(rendered)], sender=SENDER, to=f"dsl@school{i % 50}.example",
            message_id=f"<N-{i}.{time.time_ns()}@council.example>",
            return_path=None if args.no_return_path else f"bounces+n{i}.abcd@council.example",
        )  # fmt: skip

    def stock_build(i: int) -> EmailMessage:
        with mock.patch.object(mail_policy, "BUILD", policy.default):
            return build(i)

    def stock_wire(message: EmailMessage) -> bytes:
        if "Return-Path" in message:
            message = copy.deepcopy(message)
            del message["Return-Path"]
        return message.as_bytes(policy=policy.SMTP)

    def stock_sign(raw: bytes) -> bytes:
        header: bytes = _OpenSslDkim(raw, signer.key).sign(
            b"enc2026", b"council.example", pem,
            include_headers=[*SIGNED_HEADERS, *SIGNED_HEADERS],
            canonicalize=(b"relaxed", b"relaxed"),
        )  # fmt: skip
        return header + raw

    ways: dict[str, Steps] = {
        "stock": (stock_build, stock_wire, stock_sign),
        "ours": (build, unsigned_wire_bytes, signer.sign),
    }
    check(ways)
    steps = ("build", "as_bytes", "dkim")
    figures: dict[str, dict[str, list[float]]] = {w: {s: [] for s in steps} for w in ways}
    for _ in range(args.rounds):
        for way, (make, wire, sign) in ways.items():
            start = time.process_time()
            messages = [make(i) for i in range(args.messages)]
            built = time.process_time()
            raws = [wire(m) for m in messages]
            wired = time.process_time()
            for raw in raws:
                sign(raw)
            signed = time.process_time()
            for step, seconds in zip(
                steps, (built - start, wired - built, signed - wired), strict=True
            ):
                figures[way][step].append(seconds * 1000 / args.messages)
    with_or_not = "without" if args.no_return_path else "with"
    print(
        f"ms of CPU per e-mail ({with_or_not} Return-Path), "
        f"median of {args.rounds} rounds of {args.messages} e-mails"
    )
    print(f"{'':8}" + "".join(f"{s:>10}" for s in (*steps, "total")))
    for way, by_step in figures.items():
        medians = [statistics.median(by_step[s]) for s in steps]
        print(f"{way:8}" + "".join(f"{m:10.3f}" for m in (*medians, sum(medians))))


def check(ways: dict[str, Steps]) -> None:
    """The two ways' signed bytes are the same (Date, boundary and t= fixed)."""
    results = []
    for make, wire, sign in ways.values():
        with fixed():
            results.append([sign(wire(make(i))) for i in range(20)])
    assert results[0] == results[1], "the two ways' bytes differ"
    print("bytes: identical (20 e-mails, Date, boundary and DKIM t= fixed)")


@contextmanager
def fixed() -> Iterator[None]:
    random.seed(1)
    date = "Tue, 01 Dec 2026 09:00:00 +0000"
    with (
        mock.patch("foundations.mailer.format_datetime", return_value=date),
        mock.patch("time.time", return_value=1_795_000_000.0),
        mock.patch("time.time_ns", return_value=0),
    ):
        yield


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-return-path", action="store_true")
    main(parser.parse_args())
