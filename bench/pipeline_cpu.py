"""CPU time of the pipeline's stages per incident, in process, without Kafka.

Imports a synthetic directory, then runs the intake's batch function (``take_batch``, the one
the Kafka subscriber calls) over batches of 100 incidents (``--batch``), each batch in one
writing transaction as the subscriber does, and prints the process's CPU time and the wall
time per incident. CPU time is what a shared, busy machine disturbs least: use it to compare
two versions, and ``--profile`` (cProfile) or py-spy to see where it goes
(docs/performance.md).

    python bench/pipeline_cpu.py [--incidents 1000] [--batch 100] [--database-url URL]
                                 [--profile FILE]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import tempfile
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import event, func, select

from broker.demo import PupilSeed, incident_stream
from consumers.intake import parse_incident
from consumers.intake_batch import take_batch
from foundations.database import engine_for, session_factory, transaction, upgrade
from foundations.key_material import new_key_spec
from foundations.models import Notification, Pupil
from foundations.settings import Settings
from school_directory import imports
from school_directory.synthetic import write_directory

BATCH = 100  # as docs/performance.md's CPU figures were taken; the intake's default is now 300


def main(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="encompass-cpu-"))
    settings = Settings(
        data_dir=work,
        database_url=args.database_url or f"sqlite:///{work / 'cpu.db'}",
        data_key=new_key_spec(),
        allow_unsafe="first_response_email,public_url",
    )
    upgrade(settings.resolved_database_url)
    engine = engine_for(settings)
    sessions = session_factory(engine)
    files = write_directory(work / "directory", schools=50, pupils=args.pupils)
    with transaction(sessions) as session:
        imports.import_schools(session, files.schools)
        imports.import_contacts(session, files.contacts)
        imports.import_pupils(session, files.pupils)
        imports.import_calendar(session, files.calendar)
        seeds = [
            PupilSeed(p.given_names, p.family_name, p.preferred_name, p.date_of_birth, p.postcode)
            for p in session.execute(select(Pupil).limit(5000)).scalars()
        ]
    incidents = [
        parse_incident(json.dumps(i).encode())
        for i in incident_stream(seeds, args.incidents, unknown_rate=0.05)
    ]
    statements: Counter[str] = Counter()  # the timed batches' statements, by first word

    def count(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        statements[statement.split(None, 1)[0].upper()] += 1

    event.listen(engine, "before_cursor_execute", count)
    profile = cProfile.Profile() if args.profile else None
    cpu, wall = time.process_time(), time.perf_counter()
    if profile:
        profile.enable()
    for at in range(0, len(incidents), args.batch):
        chunk = incidents[at : at + args.batch]
        batch = [(x, f"cpu/0/{at + j}") for j, x in enumerate(chunk)]
        take_batch(sessions, settings, batch, [])
    if profile:
        profile.disable()
        profile.dump_stats(args.profile)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    event.remove(engine, "before_cursor_execute", count)
    with transaction(sessions) as session:
        notifications = session.execute(select(func.count(Notification.id))).scalar_one()
    print(
        f"{len(incidents)} incidents, {notifications} notifications, "
        f"{settings.resolved_database_url.split(':', 1)[0]}: "
        f"CPU {1000 * cpu / len(incidents):.2f} ms per incident, "
        f"wall {1000 * wall / len(incidents):.2f} ms per incident, "
        f"{sum(statements.values()) / len(incidents):.2f} statements per incident "
        f"({', '.join(f'{k} {v}' for k, v in statements.most_common())})"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--incidents", type=int, default=1000)
    parser.add_argument("--pupils", type=int, default=20_000)
    parser.add_argument(
        "--batch", type=int, default=BATCH, help="incidents per transaction (a quiet hour: 1 to 10)"
    )
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--profile", default=None, help="write cProfile statistics here")
    main(parser.parse_args())
