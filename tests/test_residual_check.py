"""The residual check (issue 12): after redaction, the account is read exactly as the school
would read it, and anything that may still identify a person, a place or a record holds it
for a person. It knows nothing of the incident's people: it fails closed on what it cannot
place as ordinary English, a reviewed domain term or the redactor's own words."""

from __future__ import annotations

import pytest

from consumers.residual import highlighted, residual_check
from consumers.structured import structured_account
from schemas.incident import Person, PoliceIncident
from tests.factories import incident


@pytest.fixture(scope="module")
def spec() -> tuple[PoliceIncident, Person]:
    found = PoliceIncident.model_validate(incident())
    return found, next(p for p in found.persons if p.person_id == "c1")


def found(text: str, spec: tuple[PoliceIncident, Person]) -> list[str]:
    return [s.text for s in residual_check(text, *spec)]


def assert_caught(text: str, detail: str, spec: tuple[PoliceIncident, Person]) -> None:
    suspects = residual_check(text, *spec)
    marked = highlighted(text, suspects)
    assert any(detail in s.text or s.text in detail for s in suspects), marked
    assert f"[[{detail}" in marked or detail in "".join(s.text for s in suspects), marked


BENIGN = [
    "Police attended at 22:40 on 21/11/2026 after a neighbour called. The child's mother said "
    "her partner had been drinking and threw a plate at the wall. The child (aged 10) hid "
    "upstairs and was not injured. A suspect was arrested and taken to custody.",
    "Officers found the child's mother upset. The mother's partner had left before police "
    "arrived. A DASH risk assessment was completed and the case was referred to MARAC. Body "
    "worn video was recorded. The child was asleep and did not see the argument.",
    "On Saturday evening the adults argued about money over WhatsApp messages. The child's "
    "mother was pushed and fell. An ambulance was called and she was taken to A&E. The child "
    "was crying in the bedroom for 20 minutes. Christmas plans were mentioned in the argument.",
    "Later the child's father returned. Afterwards he was calm and apologised. Mum said it "
    "had happened before. The window rose in its frame when the door slammed. Will he come "
    "back? Officers gave safeguarding advice.",
    "[address removed]. The child's mother called at 23.05. The child is 10 years old and "
    "told officers she was scared. Police stayed for 2 hours.",
]


@pytest.mark.parametrize("text", BENIGN)
def test_an_ordinary_account_passes(text: str, spec: tuple[PoliceIncident, Person]) -> None:
    assert residual_check(text, *spec) == [], highlighted(text, residual_check(text, *spec))


def test_the_structured_account_always_passes(spec: tuple[PoliceIncident, Person]) -> None:
    assert residual_check(structured_account(*spec), *spec) == []


class TestPeopleNotListed:
    """An adult named in the text but not listed as a person: a grandmother, a friend."""

    def test_a_full_name(self, spec: tuple[PoliceIncident, Person]) -> None:
        text = "The child's mother's mum Victoria Harrison came round."
        assert_caught(text, "Victoria Harrison", spec)

    def test_a_first_name_that_is_also_a_word_starting_a_sentence(
        self, spec: tuple[PoliceIncident, Person]
    ) -> None:
        assert_caught("Grace came round after the argument.", "Grace", spec)

    def test_a_name_in_lower_case(self, spec: tuple[PoliceIncident, Person]) -> None:
        assert_caught("then victoria harrison came round.", "victoria", spec)
        assert_caught("her friend marnie was there.", "marnie", spec)

    def test_a_nickname(self, spec: tuple[PoliceIncident, Person]) -> None:
        assert_caught("Later Gaz was shouting again.", "Gaz", spec)

    def test_other_children_with_age_and_school(self, spec: tuple[PoliceIncident, Person]) -> None:
        text = "Her son Jake (14) at Westgate School saw it."
        for detail in ("Jake", "14", "Westgate"):
            assert_caught(text, detail, spec)

    def test_initials_misspellings_and_accents(self, spec: tuple[PoliceIncident, Person]) -> None:
        assert_caught("LJ was there.", "LJ", spec)
        assert_caught("The child said Cahterine was angry.", "Cahterine", spec)
        assert_caught("The child said that Björn left.", "Björn", spec)
        assert_caught("J. said no.", "J", spec)

    def test_an_officer_not_listed(self, spec: tuple[PoliceIncident, Person]) -> None:
        assert_caught("an officer 930 Palmer attended.", "930", spec)
        assert_caught("an officer 930 Palmer attended.", "Palmer", spec)


class TestPlacesAndRecords:
    def test_house_and_block_names(self, spec: tuple[PoliceIncident, Person]) -> None:
        assert_caught("They went to Owlpen Barn.", "Owlpen", spec)
        assert_caught("She lives at Falcon Heights now.", "Falcon Heights", spec)

    def test_numbers_other_than_times_dates_and_the_childs_age(
        self, spec: tuple[PoliceIncident, Person]
    ) -> None:
        for text, detail in [
            ("See CAD 622 for details.", "622"),
            ("NI number AB123456C.", "AB123456C"),
            ("He was born 25-Sep-1998.", "25-Sep-1998"),
            ("Car AB12 CDE was outside.", "AB12"),
            ("His brother (14) was there.", "14"),
            ("It happened on 3/4/2025 too.", "3/4/2025"),
        ]:
            assert_caught(text, detail, spec)

    def test_contacts_handles_and_links(self, spec: tuple[PoliceIncident, Person]) -> None:
        for text, detail in [
            ("Message @jdoe99 on snap.", "@jdoe99"),
            ("Write to jdoe at gmail dot com please.", "jdoe at gmail dot com"),
            ("See www.example.org/page now.", "www.example.org/page"),
            ("e-mail jane[at]mail.com", "jane[at]mail.com"),
        ]:
            assert_caught(text, detail, spec)


def test_the_incident_date_times_and_the_childs_age_are_kept(
    spec: tuple[PoliceIncident, Person],
) -> None:
    text = (
        "On 21 November 2026 at 10.40pm (22:40) the child, aged 10, was at home. "
        "It went on for 20 minutes; police left at 2330hrs."
    )
    assert found(text, spec) == []


def test_the_redactors_own_replacements_are_not_suspects(
    spec: tuple[PoliceIncident, Person],
) -> None:
    text = "[address removed] [phone number removed] The child's mother and an officer."
    assert found(text, spec) == []


def test_the_language_model_judges_a_name_that_is_also_a_common_word(
    spec: tuple[PoliceIncident, Person],
) -> None:
    [suspect] = residual_check("Mark shouted at the child's mother.", *spec)
    assert suspect.text == "Mark" and "language model" in suspect.reason
    assert residual_check("Will he come back? The window rose.", *spec) == []
