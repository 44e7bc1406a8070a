"""Why a new SQLite database has 16 KiB pages: a first roll's shape, at each page size.

A table of pupil-sized rows (four 32-character keys and 800 characters of sealed fields)
is filled in one transaction, then indexed in the same transaction and committed, as the
first roll of the directory does (school_directory/imports.py). In a write transaction
every page SQLite reads is first looked for in the write-ahead log, through the hash table
of each 4,096 frames written so far, newest first: the looks grow with the pages written,
and the reads with them. Prints each phase's time at 4 KiB and 16 KiB pages, one after
the other in the same run, and then with the rows committed before the indexes are built
(at 4 KiB), which isolates the log's share of the index builds.

    python bench/sqlite_pages.py [--rows 3000000] [--work-dir DIR]

At 9,000,000 rows, on the project's 2-core machine (1 December 2026): one transaction at
4 KiB 154.8 s (each index 22 to 24 s), at 16 KiB 86.9 s (10 to 12 s); at 4 KiB with the
rows committed first, each index 12 to 14 s (docs/performance.md).
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

KEYS = ("family_key", "given_key", "dob_key")


def rows(count: int, seed: int = 7) -> Iterator[tuple[int, str, str, str, str]]:
    rng = random.Random(seed)
    for n in range(count):
        yield (
            n,
            f"{rng.getrandbits(128):032x}",
            f"{rng.getrandbits(16):032x}",  # a key many rows share, as a common name's
            f"{rng.getrandbits(128):032x}",
            "x" * 800,
        )


def first_roll(
    path: Path, count: int, page_bytes: int, *, commit_rows_first: bool
) -> dict[str, float]:
    for stale in path.parent.glob(path.name + "*"):
        stale.unlink()
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute(f"PRAGMA page_size={page_bytes}")
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA cache_size=-32768")  # the broker's engine's
    columns = ", ".join(f"{key} TEXT" for key in KEYS)
    connection.execute(f"CREATE TABLE pupils (id INTEGER PRIMARY KEY, {columns}, sealed TEXT)")
    times: dict[str, float] = {}
    started = time.perf_counter()
    connection.execute("BEGIN")
    connection.executemany("INSERT INTO pupils VALUES (?, ?, ?, ?, ?)", rows(count))
    times["insert"] = time.perf_counter() - started
    if commit_rows_first:
        mark = time.perf_counter()
        connection.execute("COMMIT")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.execute("BEGIN")
        times["commit the rows"] = time.perf_counter() - mark
    connection.execute("PRAGMA cache_size=-131072")  # as the import sorts (imports.py)
    connection.execute("PRAGMA threads=2")
    for key in KEYS:
        mark = time.perf_counter()
        connection.execute(f"CREATE INDEX ix_{key} ON pupils ({key}, id)")
        times[f"index {key}"] = time.perf_counter() - mark
    mark = time.perf_counter()
    connection.execute("COMMIT")
    times["commit"] = time.perf_counter() - mark
    times["total"] = time.perf_counter() - started
    connection.close()
    for stale in path.parent.glob(path.name + "*"):
        stale.unlink()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=3_000_000)
    parser.add_argument("--work-dir", type=Path, default=None)
    args = parser.parse_args()
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="bench-pages-"))
    work.mkdir(parents=True, exist_ok=True)
    path = work / "pages.db"
    runs = [
        ("4 KiB pages, one transaction", 4096, False),
        ("16 KiB pages, one transaction", 16_384, False),
        ("4 KiB pages, rows committed first", 4096, True),
    ]
    print(f"{args.rows:,} rows, {len(KEYS)} indexes, in {work}")
    found = {}
    for name, page_bytes, commit_first in runs:
        found[name] = times = first_roll(
            path, args.rows, page_bytes, commit_rows_first=commit_first
        )
        parts = ", ".join(f"{part} {seconds:.1f} s" for part, seconds in times.items())
        print(f"  {name}: {parts}", flush=True)
    small, large = (found[name]["total"] for name, *_ in runs[:2])
    print(f"  16 KiB pages against 4 KiB, one transaction: {large / small:.2f} of the time")


if __name__ == "__main__":
    main()
