"""How well does the matcher find a child's school, for every naming group, and how fast?

Builds a synthetic directory (default 1,000,000 children across 2,500 schools, in five
naming traditions: English, South Asian, Arabic, Eastern European, West African), imports
it into the database through the real pupil import, then looks up 10,000 police-recorded
children: most are on the roll and recorded with the errors and proportions documented in
``bench/matching_data.py`` (``ERRORS``), 8 % are on no roll at all. It prints, overall and
per group: release precision and wrong releases (policy ``auto_release_confident``),
release rate, recall of the right pupil among the candidates held for review, the correct
"not found" rate, lookup latency p50/p99, import time and peak memory. Then it links the
same data with Splink (DuckDB) as the peer and prints its precision, recall, F1 and time.

    python bench/matching.py [--pupils 1000000] [--children 10000] [--schools 2500]
                             [--database-url URL] [--no-splink] [--json FILE]

Splink is an optional extra: ``pip install -e '.[bench]'``.
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import multiprocessing
import pickle
import random
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from matching_data import (
    ERRORS,
    GROUPS,
    INCIDENT_DAY,
    Child,
    children,
    name_pools,
    police_record,
    write_schools,
)
from sqlalchemy import text

from consumers.match import match_child
from consumers.policy import initial_status
from foundations.crypto import keyring_from_material
from foundations.database import make_engine, read_only, session_factory, transaction, upgrade
from foundations.models import NotificationStatus
from foundations.settings import ReviewPolicy, Settings
from schemas.incident import Person
from school_directory import imports
from school_directory.matching import Thresholds
from school_directory.synthetic import PUPIL_HEADER, synthetic_schools

WARM_UP = 1_000  # lookups made before the timed ones


def current_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build(args: argparse.Namespace, work: Path) -> tuple[list[tuple[Child | None, Child]], Any]:
    """Write the directory files; return the police sample as (truth or None, child)."""
    pools = name_pools(args.seed)
    schools = synthetic_schools(args.schools, args.seed)
    write_schools(work / "schools.csv", schools)
    n_out = round(args.children * ERRORS["not_in_directory"])
    n_in = args.children - n_out
    want = {(g, True): round(n_in * share[1]) for g, share in GROUPS.items()}
    want |= {(g, False): round(n_out * share[1]) for g, share in GROUPS.items()}
    for inside, count in ((True, n_in), (False, n_out)):  # rounding: the rest are English
        want["english", inside] += count - sum(n for (_, i), n in want.items() if i is inside)
    # Drawn a little above the wanted counts, then trimmed to them exactly.
    p_in = {g: 1.3 * want[g, True] / (args.pupils * share[0]) for g, share in GROUPS.items()}
    p_out = {g: 1.5 * want[g, False] / (args.pupils * share[0]) for g, share in GROUPS.items()}
    rng = random.Random(args.seed + 11)
    sample: list[tuple[Child | None, Child]] = []
    with (work / "pupils.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=PUPIL_HEADER)
        writer.writeheader()
        for child in children(schools, args.pupils, args.seed, pools):
            draw = rng.random()
            if draw < p_out[child.group]:
                sample.append((None, child))  # on no roll: never written
                continue
            if draw < p_out[child.group] + p_in[child.group]:
                sample.append((child, child))
            writer.writerows(child.rows)
    kept: dict[tuple[str, bool], int] = {}
    trimmed = []
    for truth, child in sample:
        key = (child.group, truth is not None)
        kept[key] = kept.get(key, 0) + 1
        if kept[key] <= want[key]:
            trimmed.append((truth, child))
    random.Random(args.seed + 13).shuffle(trimmed)
    return trimmed, (pools, {s.urn: s for s in schools})


def sample_and_directory(
    args: argparse.Namespace, work: Path
) -> tuple[list[tuple[Child | None, Child]], Any]:
    """``build``, or with ``--reuse-database`` or ``--reuse-files`` the sample the last
    build of the same roll kept in ``work`` (a 9 M roll takes minutes to write again, for a
    sample it does not need); ``--reuse-files`` imports that build's files again."""
    kept = work / "sample.pickle"
    key = (args.pupils, args.children, args.schools, args.seed)
    if (args.reuse_database or args.reuse_files) and kept.exists():
        with kept.open("rb") as f:
            stored_key, sample, context = pickle.load(f)  # noqa: S301 (our own file)
        if stored_key == key:
            print(f"  the police sample kept by the last build, read from {kept}")
            return sample, context
    sample, context = build(args, work)
    with kept.open("wb") as f:
        pickle.dump((key, sample, context), f)
    return sample, context


# The directory is encrypted at rest, as in every deployment: the figures include it.
BENCH_KEYRING = keyring_from_material([("bench", b"synthetic benchmark key, 32 bytes")])


def import_directory(url: str, work: Path, workers: int | None = None) -> float:
    upgrade(url)
    engine = make_engine(url, BENCH_KEYRING)
    with transaction(session_factory(engine)) as session:
        imports.import_schools(session, work / "schools.csv")
    started = time.perf_counter()
    with transaction(session_factory(engine)) as session:
        report = imports.import_pupils(session, work / "pupils.csv", workers=workers)
    took = time.perf_counter() - started
    engine.dispose()
    print(f"  {report.summary(3)}")
    return took


def _import_child(url: str, work: Path, workers: int | None, out: Any) -> None:
    """The import in a process of its own (not a daemon: it may start its workers); sends
    its time, and its own and its workers' peak memory and CPU time."""
    took = import_directory(url, work, workers)
    own = resource.getrusage(resource.RUSAGE_SELF)
    theirs = resource.getrusage(resource.RUSAGE_CHILDREN)
    out.send(
        (
            took,
            own.ru_maxrss / 1024,
            theirs.ru_maxrss / 1024,
            own.ru_utime + own.ru_stime,
            theirs.ru_utime + theirs.ru_stime,
        )
    )
    out.close()


def estimate_u(url: str) -> None:
    """The chance that two pupils picked at random agree exactly on each field: the u
    probabilities of ``school_directory/match_weights.json`` (one scan of the roll)."""
    engine = make_engine(url)
    columns = {
        "given_name": "given_name_key",
        "family_name": "family_name_key",
        # Blind indexes keep equality, so exact agreement can still be counted; the
        # postcode sector and district cannot be read from an encrypted roll.
        "date_of_birth": "dob_key",
        "postcode": "postcode_key",
        "school": "urn",
    }
    with engine.connect() as conn:
        total = conn.execute(text("select count(*) from pupils")).scalar_one()
        for name, column in columns.items():
            square = conn.execute(
                text(f"select sum(n * n) from (select count(*) as n from pupils group by {column})")  # noqa: S608
            ).scalar_one()
            print(f"  u({name} exact) = {square / total / total:.3g}")
        for name, key, exact in (("given", "given_key", "given_name_key"),
                                 ("family", "family_key", "family_name_key")):  # fmt: skip
            same_sound = [
                conn.execute(
                    text(f"select sum(n * n) from (select count(*) as n from pupils group by {c})")  # noqa: S608
                ).scalar_one()
                for c in (key, exact)
            ]
            share = (same_sound[0] - same_sound[1]) / total / total
            print(f"  u({name} name: same sound key, not the same name) = {share:.3g}")
    engine.dispose()


def warm_page_cache(engine: Any) -> None:
    """Read a SQLite database file once, so that the lookups find it in the operating
    system's page cache, as on a server sized to keep its database in memory. On this
    shared machine the cache is reclaimed while idle, and lookups that read from disk
    measured the disk, not the matcher (docs/matching.md)."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return
    started = time.perf_counter()
    with open(database, "rb") as f:
        while f.read(1 << 20):
            pass
    print(f"  database file read into the page cache in {time.perf_counter() - started:.1f} s")


def lookups(
    url: str, sample: list[tuple[Child | None, Child]], context: Any, seed: int
) -> list[dict[str, Any]]:
    pools, schools = context
    rng = random.Random(seed + 12)
    engine = make_engine(url, BENCH_KEYRING)
    warm_page_cache(engine)
    thresholds = Thresholds()
    results: list[str] = []
    before = current_rss_mb()
    # a lookup only reads: in a read-only transaction, two runs can share the database
    with read_only(session_factory(engine)) as session:
        for _, child in sample[:WARM_UP]:  # steady state, as in a long-running consumer
            match_child(session, Person.model_validate(police_record(child, rng, pools, schools)),
                        INCIDENT_DAY, thresholds)  # fmt: skip
        # The benchmark's own fixtures (the directory sample, the name pools) are no part
        # of a consumer's heap: freeze them out of the collector, as a service freezes its
        # start-up heap, and keep each result as text, so that full collections walking
        # them do not land inside the timed lookups.
        gc.collect()
        gc.freeze()
        rng = random.Random(seed + 12)
        for n, (truth, child) in enumerate(sample):
            person = Person.model_validate(police_record(child, rng, pools, schools))
            started, cpu = time.perf_counter(), time.process_time()
            found = match_child(session, person, INCIDENT_DAY, thresholds)
            took, cpu = time.perf_counter() - started, time.process_time() - cpu
            status, _ = initial_status(ReviewPolicy.AUTO_RELEASE_CONFIDENT, found, is_update=False)
            results.append(json.dumps(
                {
                    "n": n,
                    "group": child.group,
                    "truth": truth.upn if truth else None,
                    "truth_urns": sorted(truth.live_urns) if truth else [],
                    "released": status is NotificationStatus.APPROVED,
                    "released_upn": found.chosen[0].upn if found.chosen else None,
                    "released_urns": sorted(c.urn for c in found.chosen),
                    "outcome": found.outcome.value,
                    "held": [c.upn for c in found.candidates if c.score >= thresholds.review],
                    "top": (found.candidates[0].upn, found.candidates[0].score)
                    if found.candidates
                    else (None, 0.0),
                    "seconds": took,
                    "cpu_seconds": cpu,
                    "police": person.model_dump(mode="json", exclude_none=True),
                    "pupil": child.rows[-1],
                    "candidates": [c.as_dict() for c in found.candidates[:3]],
                    "reason": found.reason,
                }
            ))  # fmt: skip
    gc.unfreeze()
    engine.dispose()
    print(f"  resident memory {before:.0f} MB before the lookups, {current_rss_mb():.0f} MB after")
    return [json.loads(r) for r in results]


def figures(rows: list[dict[str, Any]]) -> dict[str, Any]:
    inside = [r for r in rows if r["truth"]]
    outside = [r for r in rows if not r["truth"]]
    released = [r for r in rows if r["released"]]
    right = [
        r
        for r in released
        if r["released_upn"] == r["truth"] and r["released_urns"] == r["truth_urns"]
    ]
    held = [r for r in inside if not r["released"]]
    held_found = [r for r in held if r["truth"] in r["held"]]
    top = [r for r in rows if r["top"][1] >= 0.5]
    top_right = [r for r in top if r["top"][0] == r["truth"]]
    p, rc = _ratio(len(right), len(released)), _ratio(len(right), len(inside))
    tp, tr = _ratio(len(top_right), len(top)), _ratio(len(top_right), len(inside))
    return {
        "children": len(rows),
        "in_directory": len(inside),
        "released": len(released),
        "wrong_releases": len(released) - len(right),
        "precision": p,
        "release_rate": _ratio(len(released), len(inside)),
        "review_recall": _ratio(len(held_found), len(held)),
        "found": _ratio(len(right) + len(held_found), len(inside)),
        "not_found_correct": _ratio(sum(r["outcome"] == "none" for r in outside), len(outside)),
        "f1_release": _f1(p, rc),
        "top_precision": tp,
        "top_recall": tr,
        "f1_top": _f1(tp, tr),
    }


def _p99(sorted_values: list[float]) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * 0.99))]


def _ratio(a: int, b: int) -> float:
    return a / b if b else float("nan")


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def report(rows: list[dict[str, Any]], import_s: float, args: argparse.Namespace) -> None:
    ms = sorted(r["seconds"] * 1000 for r in rows)
    p50, p99 = statistics.median(ms), _p99(ms)
    cpu = sorted(r["cpu_seconds"] * 1000 for r in rows)
    print(f"\nmatcher: {args.pupils:,} pupils, {len(rows):,} police-recorded children "
          f"(timed after {WARM_UP:,} warm-up lookups)")  # fmt: skip
    print(f"  import {import_s:.1f} s; lookup p50 {p50:.2f} ms, p99 {p99:.2f} ms, "
          f"max {ms[-1]:.1f} ms; peak RSS {peak_rss_mb():.0f} MB")  # fmt: skip
    # On a shared machine a lookup can wait for the CPU; its own CPU time says what the
    # matcher cost, the wall time what the caller waited.
    print(f"  CPU time of a lookup: p50 {statistics.median(cpu):.2f} ms, p99 {_p99(cpu):.2f} ms")
    head = ("group", "children", "in dir", "released", "wrong", "precision", "release",
            "rev.recall", "found", "not-found ok", "F1 rel", "F1 top")  # fmt: skip
    print("  " + "".join(f"{h:>13}" for h in head))
    groups = ["all", *GROUPS]
    for g in groups:
        subset = rows if g == "all" else [r for r in rows if r["group"] == g]
        f = figures(subset)
        cells = (g, f["children"], f["in_directory"], f["released"], f["wrong_releases"],
                 _pct(f["precision"]), _pct(f["release_rate"]), _pct(f["review_recall"]),
                 _pct(f["found"]), _pct(f["not_found_correct"]), f"{f['f1_release']:.4f}",
                 f"{f['f1_top']:.4f}")  # fmt: skip
        print("  " + "".join(f"{c:>13}" for c in cells))


def _pct(x: float) -> str:
    return f"{100 * x:.2f} %"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pupils", type=int, default=1_000_000)
    parser.add_argument("--children", type=int, default=10_000)
    parser.add_argument("--schools", type=int, default=0, help="default: pupils/400, >= 2,000")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--work-dir", type=Path, default=None)
    parser.add_argument("--no-splink", action="store_true")
    parser.add_argument(
        "--estimate-u", action="store_true", help="print u probabilities estimated from the roll"
    )
    parser.add_argument(
        "--reuse-database", action="store_true", help="skip the import (same seed, same roll)"
    )
    parser.add_argument(
        "--reuse-files",
        action="store_true",
        help="import again the files the last build wrote (same seed, same roll)",
    )
    parser.add_argument("--json", type=Path, default=None, help="write per-child results")
    parser.add_argument(
        "--import-workers",
        type=int,
        default=None,
        help="processes preparing the first roll (1: none); default ENCOMPASS_IMPORT_WORKERS "
        "(the broker's setting) or one per core",
    )
    args = parser.parse_args()
    args.schools = args.schools or max(2_000, args.pupils // 400)
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="bench-matching-"))
    work.mkdir(parents=True, exist_ok=True)
    url = args.database_url or f"sqlite:///{work / 'bench.db'}"
    if not args.database_url and not args.reuse_database:  # a fresh roll, not last run's
        for stale in work.glob("bench.db*"):
            stale.unlink()
    started = time.perf_counter()
    sample, context = sample_and_directory(args, work)
    print(f"directory written in {time.perf_counter() - started:.1f} s to {work}")
    import_s = float("nan")
    if args.reuse_database:
        print("  reusing the database imported before: no import time measured")
    else:  # in a child process, so that its peak memory is measured on its own
        forking = multiprocessing.get_context("fork")  # nothing runs threads yet
        receive, send = forking.Pipe(duplex=False)
        workers = args.import_workers
        if workers is None:
            workers = Settings().import_workers
        child = forking.Process(target=_import_child, args=(url, work, workers, send))
        child.start()
        import_s, own_mb, workers_mb, own_cpu, workers_cpu = receive.recv()
        child.join()
        if child.exitcode:
            raise SystemExit(f"the import failed (exit code {child.exitcode})")
        print(
            f"  import {import_s:.1f} s, peak RSS of the importing process {own_mb:.0f} MB, "
            f"of each worker at most {workers_mb:.0f} MB; CPU {own_cpu:.1f} s "
            f"importing, {workers_cpu:.1f} s in workers"
        )
    if args.estimate_u:
        estimate_u(url)
    rows = lookups(url, sample, context, args.seed)
    report(rows, import_s, args)
    if args.json:
        args.json.write_text("\n".join(json.dumps(r) for r in rows))
    if not args.no_splink:
        from matching_splink import run_splink

        ours = figures(rows)
        run_splink(work, rows, ours["released"], ours["wrong_releases"], Thresholds().release)


if __name__ == "__main__":
    main()
