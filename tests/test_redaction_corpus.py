"""Nothing that identifies an adult reaches a school unseen (issue 12).

The adversarial corpus (``tests/redaction_corpus.py``) writes accounts the way officers
write them, each carrying details that must not reach the school: adults the police did not
list (a grandmother, a neighbour, a new partner), nicknames, other children and their
schools, initials, misspellings, accents, particles, broken names, workplaces, house and
block names, unusual streets, NI numbers, handles, e-mail addresses written out, CAD and
custody numbers, number plates, officers who are not the listed one, adults' dates of birth,
adults called Rose or Will, two adults with the same relationship. Benign accounts carry no
identifying detail at all, and the key facts the school needs.

Whatever the account says, an e-mail released without a person reading it carries none of
the forbidden strings: either the residual check finds nothing left in the redacted account,
or the account is held and the school gets the structured account instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumers.minimise import NO_ACCOUNT, POLICE_ACTIONS, social_care_informed
from consumers.render import render_email
from schemas.incident import PoliceIncident, Role
from schemas.notification import SchoolNotification
from tests.conftest import unavailable
from tests.redaction_corpus import (
    ADVERSARIAL,
    BENIGN,
    DEFAULT_SEED,
    SCHEDULE,
    TOTAL,
    Case,
    case,
    corpus,
    digest,
    email_text,
    found,
    leaks,
    school_email,
)

ROOT = Path(__file__).parents[1]
ISSUE_CATEGORIES = {
    "unlisted_adult", "nickname", "other_child", "initials", "misspelling", "accent",
    "particle_spacing", "broken_name", "workplace", "house_block", "street_variant",
    "ni_number", "social_handle", "obfuscated_email", "record_number", "number_plate",
    "unlisted_officer", "adult_dob", "word_names", "same_relationship",
}  # fmt: skip


@pytest.fixture(scope="module")
def everything() -> list[Case]:
    return list(corpus(DEFAULT_SEED))


# -- the corpus ------------------------------------------------------------------------


def test_the_corpus_is_large_enough_and_covers_every_category_of_the_issue() -> None:
    counts = Counter(SCHEDULE[i % len(SCHEDULE)] for i in range(TOTAL))
    assert sum(n for c, n in counts.items() if c != BENIGN) >= 3000
    assert counts[BENIGN] >= 300
    assert set(ADVERSARIAL) >= ISSUE_CATEGORIES
    assert min(counts[c] for c in ADVERSARIAL) >= 100
    # Interleaved: the first round already holds one case of every category.
    assert {case(DEFAULT_SEED, i).category for i in range(len(SCHEDULE))} == set(SCHEDULE)


def test_the_generator_is_deterministic() -> None:
    sample = [7, 99, 1234, TOTAL - 1]
    assert digest([case(5, i) for i in sample]) == digest([case(5, i) for i in sample])
    assert [c.incident.summary for c in corpus(5, limit=30)] == [
        case(5, i).incident.summary for i in range(30)
    ]
    assert case(5, 7).incident.summary != case(6, 7).incident.summary
    with pytest.raises(IndexError):
        case(5, TOTAL)


def test_the_generator_is_the_same_in_another_process() -> None:
    """No hash order, clock or environment leaks into a case."""
    code = (
        "from tests.redaction_corpus import corpus, digest\n"
        "print(digest(list(corpus(11, limit=60))))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(ROOT)}
    other = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert other == digest(list(corpus(11, limit=60)))


@pytest.mark.slow
def test_each_case_is_a_valid_incident_about_a_child_on_its_roll(everything: list[Case]) -> None:
    assert len(everything) == TOTAL
    for c in everything:
        again = PoliceIncident.model_validate_json(c.incident.model_dump_json(by_alias=True))
        assert again == c.incident
        assert c.incident.in_scope
        assert c.child.role is Role.CHILD
        assert c.child.date_of_birth == c.child_date_of_birth
        assert len(c.incident.summary.split(".")) >= 4, "several sentences"


@pytest.mark.slow
def test_every_adversarial_account_spells_out_its_category_and_benign_ones_their_facts(
    everything: list[Case],
) -> None:
    for c in everything:
        if c.benign:
            assert not c.planted
            assert c.keep, c.index
        else:
            assert c.planted, (c.category, c.index)
        # What is planted or kept is written in the account, in so many words.
        assert found([*c.planted, *c.keep], c.incident.summary) == [*c.planted, *c.keep]
        # A key fact is never itself a forbidden detail.
        assert not found(c.forbidden, " / ".join(c.keep)), c.index


@pytest.mark.slow
def test_benign_accounts_name_no_one_and_carry_what_officers_write(
    everything: list[Case],
) -> None:
    benign = [c for c in everything if c.benign]
    for c in benign:
        assert not found(c.forbidden, c.incident.summary), c.index
    text = " ".join(c.incident.summary for c in benign)
    for term in ("MARAC", "DASH", "A&E", "WhatsApp", "Christmas", "PCSO", "sergeant", "year old"):
        assert term in text, term


def _baseline_email(c: Case) -> Any:
    """The e-mail with no account at all: what the school is told whatever the account."""
    d = c.directory()
    n = SchoolNotification(
        **d,
        occurred_at=c.incident.occurred_at,
        reported_at=c.incident.reported_at,
        present=c.child.present,
        witnessed=c.child.witnessed,
        injured=c.child.injured,
        account=NO_ACCOUNT,
        police_actions=[POLICE_ACTIONS[a] for a in c.incident.police_actions],
        social_care_informed=social_care_informed(c.incident.police_actions),
    )
    return render_email(n)


@pytest.mark.slow
def test_no_forbidden_string_is_something_the_school_is_told_anyway(
    everything: list[Case],
) -> None:
    """A leak is a forbidden string the account put there: none of them is in the e-mail
    the school gets with no account at all (the child's name, dates, template words)."""
    for c in everything:
        assert not leaks(c, _baseline_email(c)), (c.category, c.index)


# -- how a leak is recognised ------------------------------------------------------------


def test_a_leak_is_found_without_case_or_accents_with_spaces_normalised() -> None:
    assert found(["Jane Doe"], "said JANE   DOE.") == ["Jane Doe"]
    assert found(["Björn"], "Bjorn left") == ["Björn"]
    assert found(["Lukasz"], "ŁUKASZ left") == ["Lukasz"]
    assert found(["Kather-\nine"], "Kather- ine was") == ["Kather-\nine"]
    assert found(["O'Neill"], "Mr O’Neill") == ["O'Neill"]


def test_a_leak_is_a_whole_word_not_part_of_one() -> None:
    assert found(["Des", "Mo", "622"], "the desk, more, 6220 and CAD6221") == []
    assert found(["Des", "Mo", "622"], "Des and Mo, CAD 622.") == ["Des", "Mo", "622"]
    assert found(["@jade_99"], "handle @jade_99!") == ["@jade_99"]


def test_the_html_part_is_read_as_text() -> None:
    class Rendered:
        subject = "Operation Encompass notification N-1"
        text = "nothing here"
        html = "<ul><li>Mr O&#39;Neill &amp; Mo</li></ul>"

    assert found(["O'Neill", "Mo", "li", "ul"], email_text(Rendered())) == ["O'Neill", "Mo"]


def test_a_held_account_is_replaced_by_the_structured_account() -> None:
    c = case(DEFAULT_SEED, 0)

    def nothing(account: str, incident: PoliceIncident, child: Any) -> list[Any]:
        return []

    def everything(account: str, incident: PoliceIncident, child: Any) -> list[Any]:
        return [("suspect", account)]

    def structured(incident: PoliceIncident, child: Any) -> str:
        return "Police attended a domestic abuse incident."

    released = school_email(c, check=nothing, structured=structured)
    assert not released.held
    assert released.notification.account == released.redacted
    held = school_email(c, check=everything, structured=structured)
    assert held.held
    assert held.notification.account == "Police attended a domestic abuse incident."
    assert held.redacted == released.redacted  # the officer's account, kept for a person
    assert not leaks(c, held.rendered)


# -- the property: nothing forbidden is released without a person -------------------------


@pytest.fixture(scope="module")
def pipeline() -> tuple[Any, Any]:
    """The residual check and the structured account. Until both exist (they raise
    NotImplementedError), the property below is skipped locally and fails in CI."""
    from consumers.residual import residual_check
    from consumers.structured import structured_account

    sample = case(DEFAULT_SEED, 0)
    try:
        residual_check("", sample.incident, sample.child)
        structured_account(sample.incident, sample.child)
    except NotImplementedError:
        unavailable(
            "the residual check or the structured account is still the interface stub "
            "(NotImplementedError); this property runs once consumers/residual.py and "
            "consumers/structured.py are implemented"
        )
    return residual_check, structured_account


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(seed=st.integers(0, 2**20), index=st.integers(0, TOTAL - 1))
def test_no_forbidden_string_reaches_the_school_without_a_person(
    pipeline: tuple[Any, Any], seed: int, index: int
) -> None:
    check, structured = pipeline
    c = case(seed, index)
    out = school_email(c, check=check, structured=structured)
    leaked = leaks(c, out.rendered)
    assert not leaked, (c.category, seed, index, leaked, out.notification.account)


# -- the benchmark runs --------------------------------------------------------------------


def test_the_benchmark_prints_its_figures(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "bench/redaction.py", "--limit", str(len(SCHEDULE)), "--redact-only",
         "--warm-up", "2", "--json", str(out)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr
    assert (done.returncode == 1) == ("FAIL" in done.stdout)
    figures = json.loads(out.read_text())["figures"]
    assert set(figures["categories"]) == set(SCHEDULE)
    assert figures["total"]["cases"] == len(SCHEDULE)
    for column in ("hold", "leak", "words kept", "facts kept", "p50 ms", "p99 ms"):
        assert column in done.stdout
    assert "baseline in the same run" in done.stdout
