"""A deterministic synthetic school directory: never real people, never real schools.

``write_directory`` writes the four import files (SPEC section 5): a GIAS-shaped
Windows-1252 ``schools.csv`` with some extra GIAS columns (``NumberOfPupils`` close to the
roll written, except for a few schools) and a couple of closed schools,
``contacts.csv`` on the reserved ``.example`` domain with Ofcom drama phone numbers,
``pupils.csv`` with valid UPNs (some children on two rolls, some twins; about a third with
an NHS number from the 999 range the NHS keeps for tests, check digit valid), and
``calendar.csv`` for the academic year 2026/27. Rows are streamed, so a million pupils
never sit in memory. The same seed gives the same files.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from faker import Faker

from foundations.nhs_number import with_check_digit
from school_directory.upn import upn_check_letter

ACADEMIC_YEAR = 2026
LA_NAMES = {"850": "Hampshire", "851": "Portsmouth", "852": "Southampton"}
GIAS_HEADER = (
    "URN", "LA (code)", "LA (name)", "EstablishmentNumber", "EstablishmentName",
    "TypeOfEstablishment (code)", "TypeOfEstablishment (name)",
    "EstablishmentTypeGroup (name)", "EstablishmentStatus (code)",
    "EstablishmentStatus (name)", "OpenDate", "CloseDate", "PhaseOfEducation (code)",
    "PhaseOfEducation (name)", "StatutoryLowAge", "StatutoryHighAge", "Gender (name)",
    "NumberOfPupils", "Street", "Town", "Postcode", "SchoolWebsite", "TelephoneNum", "UKPRN",
)  # fmt: skip
CONTACT_HEADER = ("urn", "role", "name", "email", "phone", "day_start")
PUPIL_HEADER = (
    "upn", "given_names", "family_name", "preferred_name", "date_of_birth", "gender",
    "postcode", "urn", "on_roll_from", "on_roll_until", "nhs_number",
)  # fmt: skip
NHS_SHARE = 0.35  # of the synthetic pupils who carry an NHS number
CALENDAR_HEADER = ("scope", "first_day", "last_day", "kind")
# GIAS type code and name, type group, phase code and name, statutory low and high age.
_TYPES = (
    ("01", "Community school", "Local authority maintained schools", "2", "Primary", 4, 11),
    ("02", "Voluntary aided school", "Local authority maintained schools", "2", "Primary", 4, 11),
    ("28", "Academy sponsor led", "Academies", "4", "Secondary", 11, 16),
    ("34", "Academy converter", "Academies", "2", "Primary", 4, 11),
    ("01", "Community school", "Local authority maintained schools", "4", "Secondary", 11, 16),
    ("35", "Free schools", "Free Schools", "2", "Primary", 4, 11),
    ("10", "Pupil referral unit", "Local authority maintained schools", "0",
     "Not applicable", 5, 16),
)  # fmt: skip
_SAINTS = ("St Mary’s", "St Peter’s", "St Anne’s", "St Thomas’", "St Chad’s")
_NICKNAMES = {
    "Alexander": "Alex", "Benjamin": "Ben", "Charlotte": "Lottie", "Daniel": "Dan",
    "Elizabeth": "Libby", "Isabella": "Bella", "James": "Jamie", "Jessica": "Jess",
    "Joshua": "Josh", "Katherine": "Kate", "Matthew": "Matt", "Oliver": "Ollie",
    "Rebecca": "Becky", "Samuel": "Sam", "Thomas": "Tom", "William": "Will",
}  # fmt: skip
_FORMAL_GIRLS = ("Charlotte", "Elizabeth", "Isabella", "Jessica", "Katherine", "Rebecca")
# Names from other traditions, so a matcher is measured on more than English names.
_WIDER_GIVEN = ("Muhammad", "Mohammed", "Aisha", "Fatima", "Zainab", "Ibrahim", "Oluwaseun",
                "Chidi", "Priya", "Arjun", "Wei", "Mei", "Siobhán", "Zoë", "Chloé", "Ayşe",
                "Jakub", "Zofia", "Oliwia", "Nguyen Van")  # fmt: skip
_WIDER_FAMILY = ("Khan", "Ahmed", "Hussain", "Begum", "Patel", "Singh", "Okafor", "Adeyemi",
                 "Nguyen", "Chen", "Kowalski", "Nowak", "O'Brien", "Ní Bhriain",
                 "Smith-Jones", "Yılmaz")  # fmt: skip


@dataclass(frozen=True)
class DirectoryFiles:
    """Where ``write_directory`` put the four files."""

    schools: Path
    contacts: Path
    pupils: Path
    calendar: Path


@dataclass(frozen=True)
class SyntheticSchool:
    urn: str
    name: str
    la_code: str
    establishment_number: int
    status: str
    type_index: int
    postcode: str
    day_start: str
    own_terms: bool

    @property
    def is_open(self) -> bool:
        return self.status != "Closed"


def make_upn(la_code: str, establishment: int, year: int, serial: int) -> str:
    """A valid permanent UPN: check letter, LA (3), establishment (4), year (2), serial."""
    digits = f"{int(la_code) % 1000:03d}{establishment % 10000:04d}{year % 100:02d}{serial:03d}"
    return upn_check_letter(digits) + digits


def synthetic_schools(
    count: int, seed: int = 7, la_codes: Sequence[str] = tuple(LA_NAMES)
) -> list[SyntheticSchool]:
    """``count`` schools spread over ``la_codes``; a couple closed, some academies."""
    rng, fake = random.Random(seed), Faker("en_GB")
    fake.seed_instance(seed)
    closed = 0 if count < 3 else max(2 if count >= 10 else 1, count // 50)
    schools = []
    for i in range(count):
        type_index = rng.choices(range(len(_TYPES)), weights=(30, 12, 8, 20, 12, 8, 3))[0]
        kind = _TYPES[type_index]
        base = f"{rng.choice(_SAINTS)} C of E" if rng.random() < 0.15 else fake.last_name()
        suffix = {"Primary": "Primary School", "Secondary": "Academy"}.get(kind[4], "Centre")
        if kind[1].startswith("Community") and kind[4] == "Secondary":
            suffix = "High School"
        if i == 1:
            base = "Sainte-Thérèse Catholic"
        schools.append(
            SyntheticSchool(
                urn=str(110000 + i * 7 + seed % 7),
                name=f"{base} {suffix}",
                la_code=la_codes[i % len(la_codes)],
                establishment_number=(2000 if kind[4] == "Primary" else 4000) + i % 2000,
                status=_status(i, count, closed),
                type_index=type_index,
                postcode=fake.postcode(),
                day_start=rng.choice(("", "", "08:40", "08:45", "08:50")),
                own_terms=kind[2] != "Local authority maintained schools" and rng.random() < 0.4,
            )
        )
    return schools


def _status(i: int, count: int, closed: int) -> str:
    if i >= count - closed:
        return "Closed"
    return "Open, but proposed to close" if count >= 20 and i == count - closed - 1 else "Open"


def _census_count(rng: random.Random, per_school: float, n: int) -> int:
    """GIAS's ``NumberOfPupils`` for the ``n``-th open school: about the roll the pupils
    file gives it (the census is a little older); every sixteenth, from the sixth, has
    three times that, a roll only partly sent, which the directory's health shows."""
    count = max(1, round(per_school * rng.uniform(0.95, 1.1)))
    return count * 3 if n % 16 == 5 else count


def _gias_rows(
    schools: Sequence[SyntheticSchool], seed: int, pupils: int
) -> Iterator[tuple[object, ...]]:
    rng, fake = random.Random(seed + 1), Faker("en_GB")
    fake.seed_instance(seed + 1)
    open_order = {s.urn: n for n, s in enumerate(s for s in schools if s.is_open)}
    per_school = pupils / max(1, len(open_order))
    for s in schools:
        code, type_name, group, phase_code, phase, low, high = _TYPES[s.type_index]
        yield (
            s.urn, s.la_code, LA_NAMES.get(s.la_code, f"Local Authority {s.la_code}"),
            s.establishment_number, s.name, code, type_name, group,
            {"Open": "1", "Closed": "2"}.get(s.status, "4"), s.status, "01-09-1974",
            "" if s.is_open else "31-08-2025",
            phase_code, phase, low, high, "Mixed",
            _census_count(rng, per_school, open_order[s.urn]) if s.is_open else "",
            fake.street_name(), fake.city(), s.postcode, f"https://{s.urn}.school.example",
            f"01632 960{rng.randrange(1000):03d}", 10000000 + int(s.urn),
        )  # fmt: skip


def synthetic_contact_rows(
    schools: Sequence[SyntheticSchool], seed: int = 7
) -> Iterator[dict[str, str]]:
    """A DSL for most open schools, a deputy for many, only a deputy for a few."""
    rng, fake = random.Random(seed + 2), Faker("en_GB")
    fake.seed_instance(seed + 2)
    for i, s in enumerate(s for s in schools if s.is_open):
        only_deputy = i % 20 == 3
        roles = ["deputy_dsl"] if only_deputy else ["dsl"]
        if not only_deputy and rng.random() < 0.5:
            roles.append("deputy_dsl")
        for n, role in enumerate(roles):
            yield {
                "urn": s.urn,
                "role": role,
                "name": fake.name(),
                "email": f"{role.replace('_', '.')}@{s.urn}.school.example",
                "phone": f"01632 960{rng.randrange(1000):03d}",
                "day_start": s.day_start if n == 0 else "",
            }


def synthetic_pupil_rows(
    schools: Sequence[SyntheticSchool], pupils: int, seed: int = 7
) -> Iterator[dict[str, str]]:
    """``pupils`` children on the open schools' rolls; about 1 % on a second roll too."""
    open_schools = [s for s in schools if s.is_open]
    if not open_schools:
        return
    rng, fake = random.Random(seed + 3), Faker("en_GB")
    fake.seed_instance(seed + 3)
    girls = list(dict.fromkeys(fake.first_name_female() for _ in range(600)))
    boys = list(dict.fromkeys(fake.first_name_male() for _ in range(600)))
    girls += [n for n in _FORMAL_GIRLS if n not in girls]
    boys += [n for n in _NICKNAMES if n not in _FORMAL_GIRLS and n not in boys]
    families = list(dict.fromkeys(fake.last_name() for _ in range(1500)))
    postcodes = [fake.postcode() for _ in range(4000)]
    serials: dict[tuple[str, int, int], int] = {}
    previous: dict[str, str] | None = None
    # Its own generator: the rest of the roll is the same with or without NHS numbers.
    nhs_rng, nhs_numbers = random.Random(seed + 5), synthetic_nhs_numbers()
    for _ in range(pupils):
        school = rng.choice(open_schools)
        low, high = _TYPES[school.type_index][5:7]
        age = rng.randrange(low, high)  # age on 31 August before the academic year
        gender = rng.choice("FM")
        pool = girls if gender == "F" else boys
        wider = rng.random() < 0.12
        given = rng.choice(_WIDER_GIVEN) if wider else rng.choice(pool)
        middle = rng.choice(pool) if rng.random() < 0.4 else ""
        family = rng.choice(_WIDER_FAMILY) if wider else rng.choice(families)
        born = date(ACADEMIC_YEAR - age - 1, 9, 1) + timedelta(days=rng.randrange(365))
        postcode = rng.choice(postcodes)
        joined = date(ACADEMIC_YEAR - (age - low), 9, 1 if rng.random() < 0.9 else 15)
        if previous is not None and previous["urn"] == school.urn and rng.random() < 0.03:
            # a twin: same surname, birthday, home and first day at this school
            family, postcode = previous["family_name"], previous["postcode"]
            born = date.fromisoformat(previous["date_of_birth"])
            joined = date.fromisoformat(previous["on_roll_from"])
        left = ""
        if rng.random() < 0.02:
            left_on = max(joined, date(ACADEMIC_YEAR, 9, 7)) + timedelta(rng.randrange(90))
            left = left_on.isoformat()
        if given in _NICKNAMES and rng.random() < 0.5:
            preferred = _NICKNAMES[given]
        elif middle and rng.random() < 0.1:
            preferred = middle
        else:
            preferred = ""
        row = {
            "upn": _next_upn(serials, school, joined.year),
            "given_names": f"{given} {middle}".strip(),
            "family_name": family,
            "preferred_name": preferred,
            "date_of_birth": born.isoformat(),
            "gender": gender,
            "postcode": postcode,
            "urn": school.urn,
            "on_roll_from": joined.isoformat(),
            "on_roll_until": left,
            "nhs_number": next(nhs_numbers, "") if nhs_rng.random() < NHS_SHARE else "",
        }
        yield row
        previous = row
        if len(open_schools) > 1 and rng.random() < 0.01:
            other = rng.choice([s for s in open_schools[:50] if s.urn != school.urn])
            yield {**row, "urn": other.urn, "on_roll_from": f"{ACADEMIC_YEAR}-09-14",
                   "on_roll_until": ""}  # fmt: skip


def synthetic_nhs_numbers() -> Iterator[str]:
    """Distinct NHS numbers of the 999 range (test numbers, never issued to a person),
    check digit valid, in a scrambled order: about 909,000 of them before it runs out."""
    for i in range(1_000_000):
        number = with_check_digit(f"999{i * 7919 % 1_000_000:06d}")  # 7919 is prime
        if number is not None:
            yield number


def _next_upn(serials: dict[tuple[str, int, int], int], school: SyntheticSchool, year: int) -> str:
    """A UPN never issued before: the next serial for (LA, establishment, year)."""
    establishment = school.establishment_number
    while serials.get((school.la_code, establishment, year), 0) >= 999:
        establishment = (establishment + 1) % 10000
    serial = serials.get((school.la_code, establishment, year), 0) + 1
    serials[(school.la_code, establishment, year)] = serial
    return make_upn(school.la_code, establishment, year, serial)


LA_TERMS = (
    ("2026-09-03", "2026-12-18", "term"),
    ("2026-10-26", "2026-10-30", "holiday"),
    ("2027-01-05", "2027-03-26", "term"),
    ("2027-02-15", "2027-02-19", "holiday"),
    ("2027-04-12", "2027-07-21", "term"),
    ("2027-05-31", "2027-06-04", "holiday"),
)
ACADEMY_TERMS = (
    ("2026-09-02", "2026-12-17", "term"),
    ("2026-10-19", "2026-10-30", "holiday"),
    ("2027-01-04", "2027-03-25", "term"),
    ("2027-02-15", "2027-02-19", "holiday"),
    ("2027-04-12", "2027-07-16", "term"),
    ("2027-05-31", "2027-06-04", "holiday"),
    ("2026-09-02", "2026-09-02", "inset"),
)
_INSET_CHOICES = ("2026-11-02", "2027-01-05", "2027-02-22", "2027-04-12", "2027-07-21")


def synthetic_calendar_rows(
    schools: Sequence[SyntheticSchool], la_codes: Sequence[str], seed: int = 7
) -> Iterator[dict[str, str]]:
    """LA terms and INSET days for 2026/27; some academies keep their own terms."""
    rng = random.Random(seed + 4)
    for n, la in enumerate(la_codes):
        for first, last, kind in LA_TERMS:
            yield {"scope": f"la:{la}", "first_day": first, "last_day": last, "kind": kind}
        insets = ["2026-09-03", *(_INSET_CHOICES[(n + k) % 5] for k in range(4))]
        for day in sorted(set(insets)):
            yield {"scope": f"la:{la}", "first_day": day, "last_day": day, "kind": "inset"}
    for s in schools:
        if not s.is_open:
            continue
        scope = f"urn:{s.urn}"
        if s.own_terms:
            for first, last, kind in ACADEMY_TERMS:
                yield {"scope": scope, "first_day": first, "last_day": last, "kind": kind}
        elif rng.random() < 0.1:  # a polling station on local election day
            yield {"scope": scope, "first_day": "2027-05-06", "last_day": "2027-05-06",
                   "kind": "closure"}  # fmt: skip


def write_directory(
    out_dir: Path,
    *,
    schools: int,
    pupils: int,
    seed: int = 7,
    la_codes: Sequence[str] = ("850", "851", "852"),
) -> DirectoryFiles:
    """Write the four synthetic import files into ``out_dir`` and return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = DirectoryFiles(
        out_dir / "schools.csv",
        out_dir / "contacts.csv",
        out_dir / "pupils.csv",
        out_dir / "calendar.csv",
    )
    directory = synthetic_schools(schools, seed, la_codes)
    with files.schools.open("w", encoding="cp1252", errors="replace", newline="") as f:
        writer = csv.writer(f, quoting=csv.QUOTE_ALL)
        writer.writerow(GIAS_HEADER)
        writer.writerows(_gias_rows(directory, seed, pupils))
    for path, header, rows in (
        (files.contacts, CONTACT_HEADER, synthetic_contact_rows(directory, seed)),
        (files.pupils, PUPIL_HEADER, synthetic_pupil_rows(directory, pupils, seed)),
        (files.calendar, CALENDAR_HEADER, synthetic_calendar_rows(directory, la_codes, seed)),
    ):
        with path.open("w", encoding="utf-8", newline="") as f:
            dict_writer = csv.DictWriter(f, fieldnames=header)
            dict_writer.writeheader()
            dict_writer.writerows(rows)
    return files
