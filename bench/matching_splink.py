"""The peer: link the same police records to the same roll with Splink (DuckDB backend).

Splink is given the same fields, lower-cased and without accents: first given name (or
known-as), family name, date of birth, postcode, gender. Its model is trained the way its
documentation teaches (random-sampling u, expectation maximisation for m), predictions are
blocked on date of birth, family name with birth year, postcode, and both names, and each
police record is linked to its most probable pupil at match probability 0.5 or more.

Our matcher releases without a person only what it is sure of, so automatic decisions are
also compared on Splink's links at our release threshold, and at the lowest probability
cut-off that keeps its links as precise as our releases (chosen knowing the truth, which
favours Splink: an upper bound on what it could release without a wrong school).
"""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any


def _police_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["unique_id", "given_names", "family_name", "date_of_birth", "postcode",
                    "gender"])  # fmt: skip
        for r in rows:
            p = r["police"]
            given = p.get("known_as") or p.get("given_names") or ""
            w.writerow([f"p{r['n']}", given, p.get("family_name", ""),
                        p.get("date_of_birth", ""), (p.get("address") or {}).get("postcode", ""),
                        (p.get("gender") or "")[:1].upper()])  # fmt: skip


_CLEAN = """
    select {uid} as unique_id,
           nullif(strip_accents(lower(split_part(trim(given_names), ' ', 1))), '') as first_name,
           nullif(strip_accents(lower(replace(family_name, '''', ''))), '') as surname,
           nullif(date_of_birth, '') as dob,
           nullif(upper(postcode), '') as postcode,
           nullif(gender, '') as gender
    from read_csv('{path}', all_varchar = true, header = true)
"""


_BEST = """
    select police_id, pupil_id, match_probability from (
        select case when unique_id_l like 'p%' then unique_id_l else unique_id_r end
                   as police_id,
               case when unique_id_l like 'p%' then unique_id_r else unique_id_l end
                   as pupil_id,
               match_probability,
               row_number() over (
                   partition by case when unique_id_l like 'p%' then unique_id_l
                                     else unique_id_r end
                   order by match_probability desc) as rank
        from {table})
    where rank = 1
"""


def run_splink(
    work: Path, rows: list[dict[str, Any]], released: int, wrong: int, release: float
) -> None:
    """Link ``rows`` (the police records of the run) with Splink; ``released`` and
    ``wrong`` are our matcher's automatic releases in the same run, for comparison, at
    the release threshold ``release``."""
    try:
        import duckdb
        import splink.comparison_library as cl
        from splink import DuckDBAPI, Linker, SettingsCreator, block_on
    except ImportError as exc:
        print(f"\nsplink: not run ({exc}); pip install -e '.[bench]'")
        return
    started = time.perf_counter()
    _police_csv(work / "police.csv", rows)
    con = duckdb.connect()
    con.execute(
        "create table pupils as "
        + _CLEAN.format(uid="'d' || upn || '-' || urn", path=work / "pupils.csv")
    )
    con.execute(
        "create table police as " + _CLEAN.format(uid="unique_id", path=work / "police.csv")
    )
    db = DuckDBAPI(connection=con)
    pupils = db.register("pupils", dataset_display_name="pupils")
    police = db.register("police", dataset_display_name="police")
    settings = SettingsCreator(
        link_type="link_only",
        comparisons=[
            cl.NameComparison("first_name"),
            cl.NameComparison("surname"),
            cl.DateOfBirthComparison("dob", input_is_string=True),
            cl.PostcodeComparison("postcode"),
            cl.ExactMatch("gender"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("dob"),
            block_on("surname", "substr(dob, 1, 4)"),
            block_on("postcode"),
            block_on("first_name", "surname"),
        ],
    )
    linker = Linker([police, pupils], settings, log_level=30)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("first_name", "surname", "dob")], recall=0.7
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=1e7, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("dob"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("surname"))
    predictions = linker.inference.predict(threshold_match_probability=0.5)
    # The table name is Splink's own, never input.
    best = con.execute(_BEST.format(table=predictions.physical_name)).fetchall()
    took = time.perf_counter() - started
    truth = {f"p{r['n']}": r["truth"] for r in rows}
    inside = sum(1 for t in truth.values() if t)
    links = sorted(((p, truth[pid] == pupil_id[1:14]) for pid, pupil_id, p in best), reverse=True)
    linked = len(links)
    right = sum(ok for _, ok in links)
    print(f"\nsplink {_version()} (DuckDB), link_only, best pupil at match probability >= 0.5:")
    print(f"  linked {linked:,}, right {right:,}, wrong {linked - right:,}; "
          f"{_figures(right, linked, inside)}; time {took:.1f} s")  # fmt: skip
    sure = [ok for p, ok in links if p >= release]
    print(
        f"  at our release threshold ({release:g}): linked {len(sure):,}, wrong "
        f"{len(sure) - sum(sure):,}; {_figures(sum(sure), len(sure), inside)}"
    )
    ours = released - wrong
    cut, kept, kept_right = _as_precise_as(links, ours / released if released else 1.0)
    print(
        f"  at our release precision (cut-off {cut:.6f}, chosen knowing the truth): linked "
        f"{kept:,}, wrong {kept - kept_right:,}; {_figures(kept_right, kept, inside)}"
    )
    print(
        f"  our releases: released {released:,}, wrong {wrong:,}; "
        f"{_figures(ours, released, inside)}"
    )


def _figures(right: int, linked: int, inside: int) -> str:
    precision = right / linked if linked else 0.0
    recall = right / inside if inside else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return f"precision {100 * precision:.2f} %, recall {100 * recall:.2f} %, F1 {f1:.4f}"


def _as_precise_as(links: list[tuple[float, bool]], target: float) -> tuple[float, int, int]:
    """The lowest cut-off (links best first) whose links are at least ``target`` precise,
    and how many links and right links it keeps; never between two equal probabilities."""
    best = (1.0, 0, 0)
    right = 0
    for i, (p, ok) in enumerate(links):
        right += ok
        last_of_equals = i + 1 == len(links) or links[i + 1][0] < p
        if last_of_equals and right >= target * (i + 1):
            best = (p, i + 1, right)
    return best


def _version() -> str:
    import splink

    return str(splink.__version__)
