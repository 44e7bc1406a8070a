"""The intake's time per incident by pipeline stage, from a py-spy raw profile: the table
of docs/performance.md.

    py-spy record --gil --rate 50 --format raw -o run.raw -- \\
        python bench/pipeline.py --incidents 2000
    python bench/profile_stages.py run.raw 2000 [--rate 50]

Each sample of the intake's work (``take_all``, the commit of a transaction, parsing) goes to
the first stage whose frame is on its stack, in the order of ``STAGES``.
"""

from __future__ import annotations

import argparse
import collections
from pathlib import Path

STAGES = [  # (stage, a frame on the stack); the first that matches takes the sample
    ("commit of a transaction (with its flush)", "TransactionalContext.__exit__"),
    ("database writes: flushes (INSERT, UPDATE)", "Session._flush ("),
    ("audit rows: chain lock, tail, hash, add", "record (audit/ledger.py"),
    ("deadline: the school's calendar", "deadline (consumers/notify.py"),
    ("redaction: the plan for an incident and child", "_plan (consumers/redact.py"),
    ("residual check", "residual_check (consumers/residual.py"),
    ("redaction: the passes over the text", "redact (consumers/redact.py"),
    ("matching: blocking reads", "candidates (school_directory/blocking.py"),
    ("matching: blocking reads", "fallback (school_directory/blocking.py"),
    ("matching: blocking reads", "hinted (school_directory/blocking.py"),
    ("matching: the name rarity read", "rarity (school_directory/frequencies.py"),
    ("matching: scoring and decision", "match_child (consumers/match.py"),
    ("intake: duplicate check, incident row", "receive (consumers/intake.py"),
    ("intake: duplicate check, incident row", "read_revisions (consumers/intake.py"),
    ("earlier revisions of the incident", "supersede_earlier ("),
    ("notification: rest of minimisation, screen, content", "build_content ("),
    ("notification: pupil read, row, review policy", "create_for_child ("),
    ("parse and validate the event (event loop)", "parse_incident ("),
]


def intake_work(stack: str) -> bool:
    committing = "_work (foundations/database.py" in stack and "__exit__" in stack
    return "take_all" in stack or committing or "parse_incident (" in stack


def main(args: argparse.Namespace) -> None:
    found: collections.Counter[str] = collections.Counter()
    with Path(args.raw).open() as raw:
        for line in raw:
            stack, _, count = line.rstrip().rpartition(" ")
            if not intake_work(stack):
                continue
            stage = next((s for s, frame in STAGES if frame in stack), "other")
            found[stage] += int(count)
    total = sum(found.values())

    def ms(samples: int) -> float:
        return 1000 * samples / args.rate / args.incidents

    print("| stage | ms per incident | share |\n| --- | ---: | ---: |")
    for stage, samples in found.most_common():
        print(f"| {stage} | {ms(samples):.2f} | {100 * samples / total:.0f}% |")
    print(f"| **total** | **{ms(total):.2f}** | |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("raw", help="py-spy record --format raw output")
    parser.add_argument("incidents", type=int)
    parser.add_argument("--rate", type=int, default=50, help="py-spy's samples per second")
    main(parser.parse_args())
