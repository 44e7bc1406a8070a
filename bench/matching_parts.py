"""Where a lookup's time goes: the police records of a ``bench/matching.py --json`` run,
matched again one by one on the same roll, each part timed.

    python bench/matching.py --pupils 9000000 --children 3000 --no-splink \\
        --work-dir /tmp/bench9m --json /tmp/bench9m/results.json
    python bench/matching_parts.py /tmp/bench9m/results.json [--database-url URL]

Prints, for lookups grouped by the pupil rows their blocks found, the mean time of: the
name counts (``frequencies.rarity``), the candidate query with its decryption (and the
decryption alone), the wider searches, the ranking, the garbage collector (wherever it
ran in the lookup), and how many rows were scored. The
parts are timed by wrapping the functions, which adds a little to each; the first 1,000
records warm up, as in ``bench/matching.py``.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from matching import BENCH_KEYRING, WARM_UP, warm_page_cache
from matching_data import INCIDENT_DAY

from consumers import match
from foundations.crypto import Encrypted
from foundations.database import make_engine, read_only, session_factory
from schemas.incident import Person
from school_directory import blocking, frequencies
from school_directory import matching as matcher
from school_directory.matching import Thresholds

PARTS = ("total", "rarity", "blocks", "decrypt", "fallback", "hinted", "ranking", "collector")
COUNTS = ("rows", "wider_rows", "scored")
GROUPS = ((0, 50), (50, 150), (150, 300), (300, 10_000))


def timed(spent: Counter[str], part: str, f: Callable[..., Any], rows: str = "") -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        found = f(*args, **kwargs)
        spent[part] += time.perf_counter() - started
        if rows:
            spent[rows] += len(found)
        return found

    return wrapper


def instrument(spent: Counter[str]) -> None:
    started = [0.0]

    def collecting(phase: str, info: dict[str, Any]) -> None:
        """The garbage collector's time, wherever it lands in the lookup."""
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            spent["collector"] += time.perf_counter() - started[0]

    gc.callbacks.append(collecting)
    # every encrypted value is opened by open_all (process_result_value: of one value)
    Encrypted.open_all = timed(spent, "decrypt", Encrypted.open_all)  # type: ignore[method-assign]
    blocking.candidates = timed(spent, "blocks", blocking.candidates, "rows")
    blocking.fallback = timed(spent, "fallback", blocking.fallback, "wider_rows")
    blocking.hinted = timed(spent, "hinted", blocking.hinted, "wider_rows")
    frequencies.rarity = timed(spent, "rarity", frequencies.rarity)
    matcher.Ranking.of = timed(spent, "ranking", matcher.Ranking.of)  # type: ignore[method-assign]
    scored = matcher._scored

    def counted(*args: Any) -> Any:
        spent["scored"] += 1
        return scored(*args)

    matcher._scored = counted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("results", type=Path, help="the --json file of bench/matching.py")
    parser.add_argument("--database-url", default="sqlite:////tmp/bench9m/bench.db")
    args = parser.parse_args()
    records = [json.loads(line) for line in args.results.read_text().splitlines()]
    people = [Person.model_validate(r["police"]) for r in records]
    engine = make_engine(args.database_url, BENCH_KEYRING)
    warm_page_cache(engine)
    spent: Counter[str] = Counter()
    instrument(spent)
    thresholds = Thresholds()
    lookups: list[dict[str, float]] = []
    with read_only(session_factory(engine)) as session:  # two runs may share the database
        for person in people[:WARM_UP]:
            match.match_child(session, person, INCIDENT_DAY, thresholds)
        gc.collect()
        gc.freeze()
        for person in people:
            spent.clear()
            started = time.perf_counter()
            match.match_child(session, person, INCIDENT_DAY, thresholds)
            spent["total"] = time.perf_counter() - started
            lookups.append(dict(spent))
    totals = sorted(one["total"] for one in lookups)
    print(f"{len(lookups):,} lookups: p50 {statistics.median(totals) * 1e3:.2f} ms, "
          f"p99 {totals[int(len(totals) * 0.99)] * 1e3:.2f} ms")  # fmt: skip
    print("mean per lookup, ms (rows: found by the blocks; scored: rows compared in full)")
    print(f"{'rows':>10} {'lookups':>8} " + " ".join(f"{p:>9}" for p in PARTS + COUNTS))
    for low, high in GROUPS:
        group = [one for one in lookups if low <= one.get("rows", 0) < high]
        if not group:
            continue
        parts = [statistics.mean(one.get(p, 0.0) for one in group) * 1e3 for p in PARTS]
        counts = [statistics.mean(one.get(c, 0.0) for one in group) for c in COUNTS]
        print(f"{f'{low}-{high - 1}':>10} {len(group):>8} "
              + " ".join(f"{v:>9.2f}" for v in parts)
              + " ".join(f"{v:>10.1f}" for v in counts))  # fmt: skip


if __name__ == "__main__":
    main()
