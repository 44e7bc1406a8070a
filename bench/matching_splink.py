"""The peer: link the same police records to the same roll with Splink (DuckDB backend).

Splink is given the same fields, lower-cased and without accents: first given name (or
known-as), family name, date of birth, postcode, gender. Its model is trained the way its
documentation teaches (random-sampling u, expectation maximisation for m), predictions are
blocked on date of birth, family name with birth year, postcode, and both names, and each
police record is linked to its most probable pupil at match probability 0.5 or more.
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
    select police_id, pupil_id from (
        select case when unique_id_l like 'p%' then unique_id_l else unique_id_r end
                   as police_id,
               case when unique_id_l like 'p%' then unique_id_r else unique_id_l end
                   as pupil_id,
               row_number() over (
                   partition by case when unique_id_l like 'p%' then unique_id_l
                                     else unique_id_r end
                   order by match_probability desc) as rank
        from {table})
    where rank = 1
"""


def run_splink(work: Path, rows: list[dict[str, Any]]) -> None:
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
    linked = {police_id: pupil_id[1:14] for police_id, pupil_id in best}
    truth = {f"p{r['n']}": r["truth"] for r in rows}
    right = sum(1 for pid, upn in linked.items() if truth[pid] == upn)
    inside = sum(1 for t in truth.values() if t)
    precision = right / len(linked) if linked else 0.0
    recall = right / inside if inside else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    print(f"\nsplink {_version()} (DuckDB), link_only, best pupil at match probability >= 0.5:")
    print(f"  linked {len(linked):,}, right {right:,}, wrong {len(linked) - right:,}; precision "
          f"{100 * precision:.2f} %, recall {100 * recall:.2f} %, F1 {f1:.4f}; "
          f"time {took:.1f} s")  # fmt: skip


def _version() -> str:
    import splink

    return str(splink.__version__)
