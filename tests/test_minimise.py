"""What a school receives (SPEC section 4).

The default profile carries only: the school's name and the notification reference; the
child's name as the school knows it and date of birth; when it happened and whether the
child was present, witnessed it or was injured; a short account in which adults appear
only by relationship to the child, with no names, addresses, phone numbers, e-mail
addresses, crime or incident numbers or officer details; the police actions in plain
words and whether children's social care has been informed; who to contact, the
acknowledgement link and how to keep the record. Never any adult's name, date of birth
or address, the incident address or postcode, officer details, or any other child.
"""

from __future__ import annotations

import html
import string
import unicodedata
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consumers import minimise as m
from consumers import redact_labels as labels
from consumers.minimise import minimise
from consumers.redact import redact
from consumers.render import render_email
from schemas.incident import PoliceIncident, Relationship
from schemas.notification import (
    DEFAULT_PROFILE,
    PROFILE_FIELDS,
    FirstResponseContact,
    MinimisationProfile,
    SchoolNotification,
)

FIRST_RESPONSE = FirstResponseContact(
    name="First Response team", email="first.response@council.example", phone="0300 555 1384"
)
DIRECTORY: dict[str, Any] = {
    "reference": "N-2026-000123",
    "school_name": "Example Primary School",
    "child_name": "Amy Doe",
    "child_date_of_birth": date(2016, 9, 14),
    "deliver_by": datetime(2026, 11, 23, 8, 30, tzinfo=UTC),
    "first_response": FIRST_RESPONSE,
    "ack_url": "https://encompass.example/ack/abc123",
}
EVERYTHING_BUT_THE_REFERENCE = MinimisationProfile(
    name="fuller",
    include_place_kind=True,
    include_voice_of_child=True,
    include_risk_level=True,
)

SPEC_SUMMARY = (
    "Police were called to 12 Example Road, Winchester SO23 8UJ by Jane Doe "
    "(07700 900123, jane.doe@example.com). John Roe had been drinking and pushed Jane into "
    "a wall. JANE DOE said John's temper had got worse; Doe's neighbour heard shouting. "
    "john roe denied it. Amy was upstairs with her brother Ben Doe, who is 3. "
    "Roe was arrested by PC Example (collar number 4321). Crime ref 44/123456/26, "
    "incident 44-20261121-000123. PC 4321 completed DASH with Mrs Doe."
)


def spec_incident(summary: str = SPEC_SUMMARY, **changes: Any) -> PoliceIncident:
    """The SPEC section 3 example, with a younger brother who is not on this school's roll."""
    raw: dict[str, Any] = {
        "schema": "police.incident/1",
        "incident_id": "44-20261121-000123",
        "revision": 1,
        "force_code": "44",
        "occurred_at": "2026-11-21T22:40:00+00:00",
        "reported_at": "2026-11-21T23:05:00+00:00",
        "classification": "domestic_abuse",
        "dash_risk": "medium",
        "crime_reference": "44/123456/26",
        "location": {"lines": ["12 Example Road", "Winchester"], "postcode": "SO23 8UJ"},
        "summary": summary,
        "police_actions": ["suspect_arrested", "referral_to_childrens_social_care"],
        "officer": {"collar_number": "4321", "name": "PC Example"},
        "persons": [
            {"person_id": "p1", "role": "victim", "given_names": "Jane", "family_name": "Doe",
             "date_of_birth": "1990-04-01", "relationship": "parent",
             "address": {"lines": ["12 Example Road"], "postcode": "SO23 8UJ"}},
            {"person_id": "p2", "role": "suspect", "given_names": "John", "family_name": "Roe",
             "relationship": "parent_partner"},
            {"person_id": "c1", "role": "child", "given_names": "Amy Louise", "family_name": "Doe",
             "known_as": "Amy", "date_of_birth": "2016-09-14", "gender": "female",
             "address": {"lines": ["12 Example Road"], "postcode": "SO23 8UJ"},
             "present": True, "witnessed": True, "injured": False,
             "voice_of_child": "Amy said she hid upstairs when John shouted.",
             "school_hint": "Example Primary"},
            {"person_id": "c2", "role": "child", "given_names": "Ben", "family_name": "Doe",
             "relationship": "sibling", "date_of_birth": "2023-02-02"},
        ],
    }  # fmt: skip
    raw.update(changes)
    return PoliceIncident.model_validate(raw)


def subject_child(incident: PoliceIncident) -> Any:
    return next(p for p in incident.persons if p.person_id == "c1")


def notify(incident: PoliceIncident, **kw: Any) -> SchoolNotification:
    return minimise(incident, subject_child(incident), **{**DIRECTORY, **kw})


# -- what the default profile carries ---------------------------------------------------

# Fields every notification carries under the default profile (SPEC section 4).
DEFAULT_FIELDS = frozenset(
    {
        "reference",
        "school_name",
        "child_name",
        "child_date_of_birth",
        "occurred_at",
        "reported_at",
        "deliver_by",
        "present",
        "witnessed",
        "injured",
        "account",
        "police_actions",
        "social_care_informed",
        "first_response",
        "ack_url",
        "is_update",
        "omitted",
    }
)


def test_the_notification_has_only_allowlisted_fields() -> None:
    assert set(SchoolNotification.model_fields) == DEFAULT_FIELDS | set(PROFILE_FIELDS.values())
    assert set(PROFILE_FIELDS) == {
        f for f in MinimisationProfile.model_fields if f.startswith("include_")
    }


def test_default_profile_carries_only_the_minimum() -> None:
    assert not any(getattr(DEFAULT_PROFILE, flag) for flag in PROFILE_FIELDS)
    n = notify(spec_incident())
    for field in PROFILE_FIELDS.values():
        assert getattr(n, field) is None, field
    assert n.school_name == "Example Primary School"
    assert n.reference == "N-2026-000123"
    assert (n.present, n.witnessed, n.injured) == (True, True, False)
    assert n.occurred_at == datetime(2026, 11, 21, 22, 40, tzinfo=UTC)
    assert n.police_actions == [
        "A suspect was arrested",
        "Children's social care have been informed",
    ]
    assert n.social_care_informed is True


def test_child_name_comes_from_the_directory_not_the_police_record() -> None:
    n = notify(spec_incident(), child_name="Amelia Smith", child_date_of_birth=date(2016, 9, 15))
    assert n.child_name == "Amelia Smith"
    assert n.child_date_of_birth == date(2016, 9, 15)
    assert "Louise" not in render_email(n).text


def test_a_profile_may_add_the_agreed_fields() -> None:
    everything = MinimisationProfile(
        name="hampshire", version=2, **{flag: True for flag in PROFILE_FIELDS}
    )
    n = notify(spec_incident(), profile=everything)
    assert n.police_reference == "44/123456/26"
    assert n.place_kind == "at the child's home"
    assert n.voice_of_child == "The child said she hid upstairs when the parent's partner shouted."
    assert n.risk_level == "medium"


# -- the account -----------------------------------------------------------------------

SPEC_SECRETS = [
    "Jane", "Doe", "John", "Roe", "Ben", "12 Example Road", "Example Road", "Winchester",
    "SO23 8UJ", "SO23", "44/123456/26", "44-20261121-000123", "4321", "PC Example",
    "07700 900123", "jane.doe@example.com",
]  # fmt: skip


def test_spec_example_account_names_no_one() -> None:
    n = notify(spec_incident())
    for secret in SPEC_SECRETS:
        assert secret.casefold() not in n.account.casefold(), secret
    assert "the child's parent" in n.account.casefold()
    assert "the parent's partner" in n.account
    assert "an officer" in n.account


@pytest.mark.parametrize("profile", [DEFAULT_PROFILE, EVERYTHING_BUT_THE_REFERENCE])
def test_spec_example_email_names_no_adult(profile: MinimisationProfile) -> None:
    r = render_email(notify(spec_incident(), profile=profile))
    sent = "\n".join([r.subject, r.text, r.html, html.unescape(r.html)]).casefold()
    for secret in SPEC_SECRETS:
        if secret != "Doe":  # the school knows the child as "Amy Doe": that name is theirs
            assert secret.casefold() not in sent, secret


def test_possessives_and_case_variants() -> None:
    incident = spec_incident(
        "John's car. MRS DOE'S house. jane's phone. JOHN ROE'S friend. Doe's dog."
    )
    assert notify(incident).account == (
        "The parent's partner's car. The child's parent's house. "
        "The child's parent's phone. The parent's partner's friend. "
        # "Doe" alone could be the mother or either child: all that is said is who it is not.
        "A family member's dog."
    )


def test_gender_gives_mother_and_father() -> None:
    persons = spec_incident().model_dump(by_alias=True)["persons"]
    persons[0]["gender"] = "female"
    incident = spec_incident("Jane Doe and her partner John argued.", persons=persons)
    # A name after a relationship word goes: "her partner John" reads "her partner".
    assert notify(incident).account == "The child's mother and her partner argued."


def test_another_child_is_never_named() -> None:
    account = notify(spec_incident("Ben and Amy were upstairs. BEN DOE cried.")).account
    assert "ben" not in account.casefold()
    assert account == "Another child and the child were upstairs. Another child cried."


def test_relationship_labels() -> None:
    incident = spec_incident()
    adult = incident.persons[0]
    cases = [
        (Relationship.PARENT, "male", "the child's father"),
        (Relationship.STEP_PARENT, "female", "the child's stepmother"),
        (Relationship.STEP_PARENT, None, "the child's step-parent"),
        (Relationship.GRANDPARENT, "female", "the child's grandmother"),
        (Relationship.OTHER_RELATIVE, "male", "an adult relative"),
        (Relationship.OTHER, None, "another adult"),
        (None, None, "another adult"),
    ]
    for relationship, gender, label in cases:
        person = adult.model_copy(update={"relationship": relationship, "gender": gender})
        assert labels.relationship_label(person, incident) == label


@pytest.mark.parametrize(
    ("given_names", "family_name", "text"),
    [
        ("Siobhán", "O'Brien", "SIOBHÁN O’BRIEN shouted; O'Brien's van; obrien left."),
        ("Mary-Jane", "Smith-Jones", "Mary Jane Smith Jones, Smith-Jones and Jones met."),
        ("Łukasz", "Wójcik", "łukasz wójcik called. ŁUKASZ left."),
        # "he will go in May" keeps its words: see tests/test_redaction_categories.py
        ("Will", "May", "Will May said he had gone; WILL MAY left. will may's car."),
        ("Mohammed", "al-Sayed", "Mohammed al-Sayed and Sayed and AL SAYED."),
        ("Иван", "Кузнецов", "Иван Кузнецов ушёл. ИВАН."),
        ("Jo", "Strauß", "Jo STRAUSS and Strauss and Strauß."),
    ],
)
def test_names_from_many_traditions_are_removed(
    given_names: str, family_name: str, text: str
) -> None:
    persons = spec_incident().model_dump(by_alias=True)["persons"]
    persons[1].update(given_names=given_names, family_name=family_name)
    incident = spec_incident(text, persons=persons)
    account = notify(incident).account.casefold()
    for secret in [*given_names.split("-"), *family_name.replace("-", " ").split()]:
        if secret.casefold() not in {"al"}:  # a particle on its own may stay
            assert secret.casefold() not in account, (secret, account)
    assert "the parent's partner" in account


def test_common_word_names_are_still_removed() -> None:
    persons = spec_incident().model_dump(by_alias=True)["persons"]
    persons[1].update(given_names="Rose", family_name="Will")
    account = notify(
        spec_incident("Rose Will hit her. Will's coat. rose.", persons=persons)
    ).account
    assert "rose" not in account.casefold()
    assert "will" not in account.casefold()


def test_addresses_phones_emails_references_and_officers() -> None:
    text = (
        "Seen at 3 High Street, Flat 2, and at 7b Mill Lane; postcodes RG1 2AB and m1 1aa. "
        "Phones: +44 7700 900 456, (01962) 847000, 020-7946-0958, 0044 7700 900789. "
        "E-mail: someone.else@mail.example.org. Ref 01/987654/25, log 1234. "
        "DC 1234 and Sgt Smith and Detective Constable Brown attended; warrant no 5678. "
        "Born 01/04/1990. Jane (DOB 1 April 1990) is 36. Seen on Church Road in AB12 CDE."
    )
    account = notify(spec_incident(text)).account
    for secret in [
        "3 High Street", "Flat 2", "Mill Lane", "RG1", "2AB", "m1 1aa", "7700", "847000",
        "7946", "900789", "someone.else", "mail.example", "987654", "1234", "Smith", "Brown",
        "5678", "1990", "Jane", "Church Road", "AB12",
    ]:  # fmt: skip
        assert secret.casefold() not in account.casefold(), (secret, account)
    assert "[phone number removed]" in account
    assert "an officer" in account


def test_police_actions_in_plain_words() -> None:
    incident = spec_incident(
        police_actions=[
            "suspect_arrested", "suspect_arrested", "bespoke_local_step",
            "Not-A-Code", "x; DROP TABLE", "arrested_john_roe", "referral_to_mash",
        ]
    )  # fmt: skip
    n = notify(incident)
    assert n.police_actions == [
        "A suspect was arrested",
        "Bespoke local step",
        "Arrested the parent's partner",
        "A referral was made to the multi-agency safeguarding hub (MASH)",
    ]
    assert n.social_care_informed is True
    assert notify(spec_incident(police_actions=["suspect_arrested"])).social_care_informed is False


def test_the_child_must_be_a_child_in_this_incident() -> None:
    incident = spec_incident()
    with pytest.raises(ValueError, match="child"):
        minimise(incident, incident.persons[0], **DIRECTORY)
    stranger = subject_child(incident).model_copy(update={"person_id": "c9"})
    with pytest.raises(ValueError, match="not in incident"):
        minimise(incident, stranger, **DIRECTORY)


def test_empty_summary_and_long_summary() -> None:
    assert notify(spec_incident("  ")).account == m.NO_ACCOUNT
    long = notify(spec_incident("John shouted. " * 500)).account
    assert len(long) <= m.ACCOUNT_MAX_CHARS + 2
    assert "john" not in long.casefold()


def test_redact_is_pure_and_idempotent() -> None:
    incident = spec_incident()
    once = redact(SPEC_SUMMARY, incident, subject_child(incident))
    assert redact(SPEC_SUMMARY, incident, subject_child(incident)) == once
    assert redact(once, incident, subject_child(incident)) == once


# -- the property: nothing secret ever reaches the school ---------------------------------

# Words the e-mail always contains (template text, redaction labels and placeholders,
# plain-word police actions, the directory's name for the child, the summary's filler).
# A random secret that happens to be one of these (a name "the", "Care" or "School", a
# collar number "2026") would "appear" in the e-mail without any leak, so the generators
# below filter such collisions out instead of weakening the assertion.
CONNECTIVES = [
    "Police were called by", "Officers spoke to", "The caller gave", "She said that",
    "He shouted at", "They went to", "Details:", "Reference", "Later", "and", "with",
    "near", "at", "Attending:", "Contact", "Also present:",
]  # fmt: skip
LABELS = [
    "the child's mother", "father", "parent", "stepmother", "stepfather", "step-parent",
    "grandmother", "grandfather", "grandparent", "adult sister", "adult brother",
    "adult sibling", "the mother's partner", "the father's partner", "the parent's partner",
    "an adult relative", "another adult", labels.OTHER_CHILD, labels.SUBJECT_CHILD,
    labels.AMBIGUOUS, labels.OFFICER, labels.OFFICER_DETAILS, labels.ADDRESS, labels.PHONE,
    labels.EMAIL, labels.REFERENCE, labels.DATE, labels.NUMBER, labels.LINK,
    "[date of birth removed]", "[vehicle registration removed]", m.NO_ACCOUNT,
    "at the home of", "at an address other", "Mrs", "Mr", "'s",
    # the redactor's other placeholders, and how two adults of one relationship are told apart
    labels.HANDLE, labels.WORKPLACE, labels.SCHOOL, labels.VEHICLE, labels.NI_NUMBER,
    labels.DATE_OF_BIRTH, "the child's other parent", "one parent", "the other parent",
    "the first parent", "a second", "a third", "the second", "the third", "one adult",
    "the other adult", "the first adult",
]  # fmt: skip


def _fixed_text() -> str:
    filler = " ".join([*CONNECTIVES, *LABELS, *m.POLICE_ACTIONS.values()])
    parts = []
    for flag in (True, False, None):
        for is_update, ack in ((True, DIRECTORY["ack_url"]), (False, None)):
            n = SchoolNotification(
                reference=DIRECTORY["reference"], school_name=DIRECTORY["school_name"],
                child_name=DIRECTORY["child_name"],
                child_date_of_birth=DIRECTORY["child_date_of_birth"],
                occurred_at=datetime(2026, 11, 21, 22, 40, tzinfo=UTC),
                reported_at=datetime(2026, 11, 21, 23, 5, tzinfo=UTC),
                deliver_by=DIRECTORY["deliver_by"], present=flag, witnessed=flag, injured=flag,
                account=filler, police_actions=list(m.POLICE_ACTIONS.values()),
                social_care_informed=bool(flag), first_response=FIRST_RESPONSE, ack_url=ack,
                is_update=is_update, place_kind="at the child's home", voice_of_child=filler,
                risk_level="standard medium high",
            )  # fmt: skip
            r = render_email(n)
            parts += [r.subject, r.text, r.html, html.unescape(r.html)]
    return "\n".join(parts).casefold()


FIXED = _fixed_text()


def no_collision(secret: str) -> bool:
    return len(secret) >= 2 and secret.casefold() not in FIXED


NAME_POOL = [
    "Jane", "John", "Roe", "Will", "May", "Rose", "Mark", "Grace", "Hope", "Jo", "Ed", "Bo",
    "O'Brien", "D'Souza", "Smith-Jones", "MacDonald", "Siobhán", "Ní Bhriain", "Zoë",
    "Łukasz", "Wójcik", "Kowalska-Nowak", "Björk", "Søren", "Dvořák", "Strauß", "Şükrü",
    "Yıldız", "Nguyễn", "Thị", "Mohammed", "Muhammad", "Mohamed", "al-Sayed", "Abdullah",
    "Chukwuemeka", "Adéwálé", "Oluwaseun", "Singh", "Kaur", "Patel", "Wang", "Li", "Xu",
    "Ng", "王伟", "Иван", "Кузнецова", "Αλέξανδρος", "Παπαδόπουλος", "محمد", "van der Berg",
]  # fmt: skip
ALPHABETS = [
    string.ascii_lowercase,
    string.ascii_lowercase + "áéíóúàèäöüñçłśżøåæčřšžğışəõ",
    "αβγδεζηθικλμνξοπρστυφχψω",
    "абвгдежзийклмнопрстуфхцчшщыэюя",
]


def _part(text: str) -> str:
    return unicodedata.normalize("NFC", text[:1].upper() + text[1:])


random_part = (
    st.sampled_from(ALPHABETS)
    .flatmap(lambda letters: st.text(st.sampled_from(letters), min_size=2, max_size=9))
    .map(_part)
)
random_name = st.builds(
    lambda prefix, a, b: prefix + a + (f"-{b}" if b else ""),
    st.sampled_from(["", "", "", "O'", "D'", "Mc", "al-"]),
    random_part,
    st.none() | random_part,
)
names = (st.sampled_from(NAME_POOL) | random_name).filter(no_collision)


def _name_forms(given: str, family: str | None) -> list[str]:
    forms = [*given.split(), given, given.upper(), given.lower(), f"{given.split()[0]}'s"]
    if family:
        forms += [family, family.upper(), f"{family}'s", f"Mrs {family}", f"{given} {family}"]
        forms += [f"{family.upper()}, {given}", f"{given.lower()} {family.lower()}"]
    return forms


@st.composite
def people(draw: st.DrawFn, role: str, n: int) -> tuple[list[dict[str, Any]], list[str]]:
    persons, woven = [], []
    for i in range(n):
        given = " ".join(draw(st.lists(names, min_size=1, max_size=2)))
        family = draw(st.none() | names)
        known_as = draw(st.none() | names)
        person: dict[str, Any] = {
            "person_id": f"{role[0]}{i}", "role": role, "given_names": given,
            "family_name": family, "known_as": known_as,
            "gender": draw(st.sampled_from([None, "female", "male", "F", "unknown"])),
            "relationship": draw(st.sampled_from([None, *[r.value for r in Relationship]])),
        }  # fmt: skip
        woven += _name_forms(given, family) + ([known_as] if known_as else [])
        persons.append(person)
    return persons, woven


digits = st.text(st.sampled_from(string.digits), min_size=1, max_size=1)


@st.composite
def phones(draw: st.DrawFn) -> tuple[str, list[str]]:
    d = draw(st.sampled_from("712")) + "".join(draw(digits) for _ in range(9))
    formats = [
        f"0{d[:4]} {d[4:]}", f"0{d[:4]}-{d[4:7]}-{d[7:]}", f"+44 {d[:4]} {d[4:]}",
        f"+44 (0){d[:4]} {d[4:7]} {d[7:]}", f"0044 {d[:4]} {d[4:7]} {d[7:]}",
        f"(0{d[:4]}) {d[4:]}", f"0{d}", f"+44{d}",
    ]  # fmt: skip
    woven = draw(st.sampled_from(formats))
    return draw(st.sampled_from(formats)), [woven, d[-6:]]


postcodes = st.builds(
    lambda area, district, sector, unit: f"{area}{district} {sector}{unit}",
    st.text(st.sampled_from(string.ascii_uppercase), min_size=1, max_size=2),
    st.integers(1, 29),
    st.integers(0, 9),
    st.text(st.sampled_from("ABDEFGHJLNPQRSTUWXYZ"), min_size=2, max_size=2),
).filter(no_collision)
streets = st.builds(
    lambda num, word, suffix: f"{num} {word} {suffix}",
    st.integers(1, 250),
    random_part | st.sampled_from(["Example", "Mill", "Church", "Queen's", "Smith-Jones"]),
    st.sampled_from(["Road", "Street", "Lane", "Close", "Avenue", "Way", "Crescent", "Mews"]),
).filter(no_collision)
towns = (random_part | st.sampled_from(["Winchester", "Basingstoke", "Newport"])).filter(
    no_collision
)
emails = st.builds(
    lambda local, n, domain, tld: f"{local}{n}@{domain}.{tld}",
    st.text(st.sampled_from(string.ascii_lowercase + "."), min_size=2, max_size=12).filter(
        lambda s: s[0] != "." and s[-1] != "." and ".." not in s
    ),
    st.integers(0, 99),
    st.text(st.sampled_from(string.ascii_lowercase), min_size=2, max_size=10),
    st.sampled_from(["com", "org", "co.uk", "net", "example"]),
).filter(no_collision)
collars = st.integers(100, 99999).map(str).filter(no_collision)


@st.composite
def incidents(draw: st.DrawFn) -> tuple[PoliceIncident, list[str]]:
    """An incident whose summary weaves every secret it holds into ordinary sentences."""
    adults, secrets = draw(people("victim", draw(st.integers(1, 3))))
    for adult in adults:
        adult["role"] = draw(st.sampled_from(["victim", "suspect", "other_adult"]))
    others, other_names = draw(people("child", draw(st.integers(0, 2))))
    secrets += other_names
    subject = {
        "person_id": "subject", "role": "child", "given_names": draw(names),
        "family_name": draw(st.none() | names), "present": True, "witnessed": None,
        "injured": False,
    }  # fmt: skip
    location = {"lines": [draw(streets), draw(towns)], "postcode": draw(postcodes)}
    secrets += [*location["lines"], location["postcode"], location["postcode"].split()[0]]
    for adult in adults:
        if draw(st.booleans()):
            adult["address"] = {"lines": [draw(streets)], "postcode": draw(postcodes)}
            secrets += [*adult["address"]["lines"], adult["address"]["postcode"]]
        if draw(st.booleans()):
            adult["phone"], woven = draw(phones())
            secrets += woven
        if draw(st.booleans()):
            adult["email"] = draw(emails)
            secrets.append(adult["email"])
    for _ in range(draw(st.integers(0, 2))):  # numbers only the text knows
        secrets += draw(phones())[1] + [draw(emails), draw(postcodes)]
    force = draw(st.integers(10, 99))
    crime_ref = f"{force}/{draw(st.integers(100000, 999999))}/{draw(st.integers(20, 29))}"
    incident_id = f"{force}-2026{draw(st.integers(1000, 1231))}-{draw(st.integers(1, 999999)):06d}"
    collar, surname = draw(collars), draw(names)
    title = draw(st.sampled_from(["PC", "DC", "Sgt", "PS", "DS", "Insp"]))
    secrets += [crime_ref, incident_id, collar, surname, f"{title} {surname}"]
    secrets = [s for s in secrets if no_collision(s)]
    woven = [*secrets, f"{title} {collar}", f"collar number {collar}", surname.upper()]
    woven = draw(st.permutations(woven))
    sentences = [
        f"{draw(st.sampled_from(CONNECTIVES))} {secret}{draw(st.sampled_from(['.', ',', ';']))}"
        for secret in woven
    ]
    subject["voice_of_child"] = " ".join(draw(st.permutations(sentences))[:4])
    incident = PoliceIncident.model_validate(
        {
            "schema": "police.incident/1", "incident_id": incident_id, "revision": 1,
            "force_code": str(force), "occurred_at": "2026-11-21T22:40:00+00:00",
            "reported_at": "2026-11-21T23:05:00+00:00", "classification": "domestic_abuse",
            "dash_risk": draw(st.sampled_from(["standard", "medium", "high", None])),
            "crime_reference": crime_ref, "location": location, "summary": " ".join(sentences),
            "police_actions": draw(st.lists(st.sampled_from(sorted(m.POLICE_ACTIONS)))),
            "officer": {"collar_number": collar, "name": f"{title} {surname}"},
            "persons": [*adults, subject, *others],
        }
    )  # fmt: skip
    return incident, secrets


@settings(max_examples=200, deadline=None)
@given(case=incidents())
def test_no_secret_ever_reaches_the_school(case: tuple[PoliceIncident, list[str]]) -> None:
    incident, secrets = case
    child = next(p for p in incident.persons if p.person_id == "subject")
    for profile in (DEFAULT_PROFILE, EVERYTHING_BUT_THE_REFERENCE):
        r = render_email(minimise(incident, child, **DIRECTORY, profile=profile))
        sent = "\n".join([r.subject, r.text, r.html, html.unescape(r.html)]).casefold()
        leaked = [s for s in secrets if s.casefold() in sent]
        assert not leaked, (leaked, incident.summary, r.text)
