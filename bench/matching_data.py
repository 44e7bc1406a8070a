"""The labelled data behind bench/matching.py: a synthetic roll in five naming traditions,
and police records of some of its children (and of children not on it) with the errors
police records really carry, in the proportions documented in ``ERRORS``.

Never real people: names come from Faker's locale lists and from the transliteration
groups below; postcodes are made up from invented districts.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from faker import Faker

from school_directory.names import _VARIANTS
from school_directory.synthetic import SyntheticSchool, make_upn

INCIDENT_DAY = date(2026, 11, 20)
# Share of the roll in each naming group, and of the police sample (minority groups are
# over-sampled so that each is measured on at least a thousand children).
GROUPS = {
    "english": (0.70, 0.40),
    "south_asian": (0.11, 0.15),
    "arabic": (0.06, 0.15),
    "eastern_european": (0.07, 0.15),
    "west_african": (0.06, 0.15),
}
LOCALES = {
    "english": ("en_GB",),
    "south_asian": ("en_PK", "en_IN"),
    "eastern_european": ("pl_PL", "ro_RO", "lt_LT", "cs_CZ"),
    "west_african": ("yo_NG", "ig_NG", "ha_NG", "tw_GH"),
}
# Each documented error, applied independently to a police record with this probability.
ERRORS = {
    "not_in_directory": 0.08,  # the child is on no roll we hold (of the police sample)
    "known_as_used": 0.60,  # of children with a preferred name: police write it
    "nickname": 0.15,  # of children with a formal name in the nickname table
    "transliteration": 0.40,  # of names with other spellings (Mohammed/Muhammad)
    "given_typo": 0.05,
    "middle_name_first": 0.03,  # of children with a middle name: recorded first
    "middle_name_dropped": 0.50,
    "given_missing": 0.01,
    "family_typo": 0.04,
    "family_part_only": 0.50,  # of hyphenated or double-barrelled family names
    "family_changed": 0.02,  # a different family name (step-parent's, mother's)
    "names_swapped": 0.02,  # given and family the other way round (x3 outside english)
    "dob_missing": 0.02,
    "dob_day_month_swapped": 0.02,  # when the day is 12 or less
    "dob_one_digit": 0.03,
    "dob_transposed": 0.01,  # two neighbouring digits swapped
    "dob_wrong": 0.005,  # a different date in the same year
    "moved_house": 0.08,  # a new postcode in another district
    "moved_nearby": 0.02,  # a new postcode in the same sector
    "postcode_missing": 0.06,
    "gender_missing": 0.20,
    "gender_wrong": 0.01,
    "school_hint": 0.35,  # of police records: a school named by the officer
    "school_hint_wrong": 0.10,  # of those: a school the child does not attend
}
ROLL = {"twin": 0.015, "sibling": 0.25, "cousin": 0.005, "dual": 0.01, "moved_school": 0.02,
        "middle": 0.4, "hyphenated": 0.05, "preferred": 0.3}  # fmt: skip

# Other spellings that police and schools use for one name.
ARABIC_MALE = [("Muhammad", "Mohammed", "Mohamed", "Mohammad"), ("Ahmed", "Ahmad"),
    ("Omar", "Umar"), ("Yusuf", "Youssef", "Yousef"), ("Ibrahim", "Ebrahim"),
    ("Mustafa", "Mostafa", "Moustafa"), ("Hassan", "Hasan"), ("Hussein", "Hussain", "Husein"),
    ("Ali",), ("Khalid", "Khaled"), ("Abdullah", "Abdallah"),
    ("Abdulrahman", "Abdul Rahman", "Abdelrahman"), ("Karim", "Kareem"),
    ("Tariq", "Tarek", "Tareq"), ("Zaid", "Zayd"), ("Hamza", "Hamzah"), ("Bilal",), ("Adam",),
    ("Yahya", "Yehia"), ("Mahmoud", "Mahmud"), ("Saif", "Seif"), ("Amir", "Ameer"),
    ("Faisal", "Faysal"), ("Nasser", "Naser"), ("Rami", "Ramy"), ("Walid", "Waleed"),
    ("Jamal", "Gamal"), ("Osama", "Usama"), ("Ayman", "Aiman"), ("Idris", "Idrees")]  # fmt: skip
ARABIC_FEMALE = [("Fatima", "Fatimah", "Fatma"), ("Aisha", "Aysha", "Ayesha"),
    ("Maryam", "Mariam", "Meryem"), ("Zainab", "Zaynab", "Zeinab"), ("Noor", "Nour", "Nur"),
    ("Layla", "Leila", "Laila"), ("Huda", "Hoda"), ("Sara", "Sarah"), ("Amira", "Ameera"),
    ("Yasmin", "Yasmine"), ("Salma", "Selma"), ("Rania", "Ranya"), ("Hana", "Hanaa"),
    ("Khadija", "Khadijah"), ("Lina", "Leena"), ("Iman", "Eman"), ("Asma", "Asmaa"),
    ("Reem", "Rim"), ("Nadia", "Nadiya"), ("Samira", "Sameera"), ("Jana",), ("Malak",),
    ("Shahd", "Shahad"), ("Ruqayya", "Ruqaya"), ("Safa", "Safaa"), ("Dina", "Deena")]  # fmt: skip
ARABIC_FAMILY = [("Al-Hassan", "Alhassan", "El Hassan"), ("Abdullah", "Abdalla"),
    ("Mohamed", "Mohammed", "Muhammad"), ("Ahmed", "Ahmad"), ("Ali",),
    ("Hussein", "Hussain", "Husain"), ("Ibrahim",), ("Mahmoud", "Mahmood"),
    ("Mustafa", "Mostafa"), ("Saleh", "Salih"), ("Al-Sayed", "El-Sayed", "Elsayed"),
    ("Haddad",), ("Khalil", "Khaleel"), ("Nasser", "Naser"), ("Osman", "Othman", "Uthman"),
    ("Al-Masri", "Elmasry"), ("Yousef", "Youssef"), ("Hamdan",), ("Rahman", "Rehman"),
    ("Al-Amin", "Alameen"), ("Farouk", "Farouq"), ("Mansour", "Mansur"),
    ("Darwish", "Darweesh"), ("Suleiman", "Sulaiman", "Soliman"), ("Abbas",),
    ("Jaber", "Jabir"), ("Hakim", "Hakeem"), ("Aziz",), ("Said", "Saeed", "Sayed"),
    ("Shaikh", "Sheikh", "Shaykh"), ("Qasim", "Kassim", "Qassem"), ("Nour", "Noor")]  # fmt: skip
SOUTH_ASIAN = [("Muhammad", "Mohammed", "Mohammad"), ("Hussain", "Hussein", "Husain"),
    ("Chowdhury", "Choudhury", "Chaudhry"), ("Begum", "Begam"), ("Akhtar", "Akhter"),
    ("Rahman", "Rehman"), ("Mahmood", "Mehmood", "Mahmud"), ("Iqbal", "Ikbal"),
    ("Qureshi", "Kureshi"), ("Ahmed", "Ahmad"), ("Mirza",), ("Shah",), ("Kaur",),
    ("Singh",), ("Patel",), ("Khan",), ("Ali",), ("Islam",), ("Miah", "Mia"),
    ("Uddin", "Udin"), ("Ayesha", "Aisha"), ("Fatima", "Fatimah"), ("Zainab", "Zaynab"),
    ("Sharma", "Sharmah"), ("Gurpreet", "Gurpret")]  # fmt: skip
HEAD = {  # the commonest names of a group, as shares of that group
    "south_asian": {"male": {"Muhammad": 0.10, "Ali": 0.02, "Ibrahim": 0.015},
                    "female": {"Fatima": 0.03, "Aisha": 0.03, "Zainab": 0.02},
                    "family": {"Khan": 0.08, "Ahmed": 0.05, "Hussain": 0.05, "Patel": 0.05,
                               "Begum": 0.03, "Singh": 0.03, "Ali": 0.03, "Islam": 0.02,
                               "Chowdhury": 0.02, "Miah": 0.02, "Uddin": 0.02}},
}  # fmt: skip


@dataclass
class Pools:
    """Given names (by sex) and family names of one group, with Zipf-like weights."""

    male: list[str]
    female: list[str]
    family: list[str]
    weights: dict[str, list[float]] = field(default_factory=dict)


def _zipf(names: list[str], s: float, head: dict[str, float]) -> tuple[list[str], list[float]]:
    rest = [n for n in names if n not in head]
    raw = [1 / (i + 1) ** s for i in range(len(rest))]
    share = 1 - sum(head.values())
    total = sum(raw)
    return [*head, *rest], [*head.values(), *(share * w / total for w in raw)]


def name_pools(seed: int) -> dict[str, Pools]:
    pools: dict[str, Pools] = {}
    rng = random.Random(seed)
    for group, locales in LOCALES.items():
        male: list[str] = []
        female: list[str] = []
        family: list[str] = []
        for n, locale in enumerate(locales):
            fake = Faker(locale)
            fake.seed_instance(seed + n)
            male += [fake.first_name_male() for _ in range(400)]
            female += [fake.first_name_female() for _ in range(400)]
            family += [fake.last_name() for _ in range(800)]
        pools[group] = Pools(*(_dedupe(x, rng) for x in (male, female, family)))
    pools["arabic"] = Pools(
        [g[0] for g in ARABIC_MALE], [g[0] for g in ARABIC_FEMALE], [g[0] for g in ARABIC_FAMILY]
    )
    for group, p in pools.items():
        head = HEAD.get(group, {})
        for kind in ("male", "female", "family"):
            names, weights = _zipf(getattr(p, kind), 0.6 if kind == "family" else 0.7,
                                   head.get(kind, {}))  # fmt: skip
            setattr(p, kind, names)
            p.weights[kind] = weights
    return pools


def _dedupe(names: list[str], rng: random.Random) -> list[str]:
    kept = [n for n in dict.fromkeys(names) if n.replace("-", "").replace(" ", "").isalpha()]
    rng.shuffle(kept)
    return kept


@dataclass
class Child:
    """One child as the directory knows them (the truth), with their records."""

    upn: str
    group: str
    given: str  # first given name
    middle: str
    family: str
    preferred: str
    dob: date
    gender: str
    postcode: str
    urn: str
    live_urns: list[str] = field(default_factory=list)
    rows: list[dict[str, str]] = field(default_factory=list)


def _postcode(district: str, rng: random.Random) -> str:
    return f"{district} {rng.randrange(10)}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}" + rng.choice(
        "ABDEFGHJLNPQRSTUWXYZ"
    )


def district_of(school: SyntheticSchool) -> str:
    n = int(school.urn)
    return f"{'ABCDEFGHKLMNPRSTWY'[n % 18]}{'ABCDEFGHKLMNPRSTWY'[(n // 18) % 18]}{n % 37 + 1}"


def children(
    schools: list[SyntheticSchool], count: int, seed: int, pools: dict[str, Pools]
) -> Iterator[Child]:
    """``count`` children with their pupil rows, in families: twins, siblings, cousins."""
    rng = random.Random(seed)
    open_schools = [s for s in schools if s.is_open]
    group_names, group_shares = list(GROUPS), [v[0] for v in GROUPS.values()]
    previous: Child | None = None
    for number in range(1, count + 1):
        school = rng.choice(open_schools)
        secondary = int(school.urn) % 10 < 3
        age = rng.randrange(11, 16) if secondary else rng.randrange(4, 11)
        kin = rng.random()
        gender = rng.choice("FM")
        if (
            previous is not None
            and previous.urn == school.urn
            and kin < ROLL["twin"] + ROLL["sibling"]
        ):
            group, family, postcode = previous.group, previous.family, previous.postcode
            if kin < ROLL["twin"]:
                dob = previous.dob
            else:
                dob = previous.dob + timedelta(days=rng.choice((-1, 1)) * rng.randrange(300, 1500))
                if not 2009 <= dob.year <= 2022:
                    dob = previous.dob - timedelta(days=400)
        else:
            group = rng.choices(group_names, group_shares)[0]
            family = rng.choices(pools[group].family, pools[group].weights["family"])[0]
            if group == "english" and rng.random() < ROLL["hyphenated"]:
                second = rng.choices(pools[group].family, pools[group].weights["family"])[0]
                family = f"{family}-{second}"
            elif group == "arabic" and rng.random() < 0.3:  # father's given name as family name
                family = rng.choices(pools[group].male, pools[group].weights["male"])[0]
            postcode = _postcode(district_of(school), rng)
            dob = date(2026 - age - 1, 9, 1) + timedelta(days=rng.randrange(365))
        p = pools[group]
        kind = "female" if gender == "F" else "male"
        given = rng.choices(getattr(p, kind), p.weights[kind])[0]
        if previous is not None and kin < ROLL["twin"] and given == previous.given:
            given = rng.choices(getattr(p, kind), p.weights[kind])[0]
        if previous is not None and rng.random() < ROLL["cousin"]:  # a cousin with the same name
            given, family, gender = previous.given, previous.family, previous.gender
        middle = (
            rng.choices(getattr(p, kind), p.weights[kind])[0]
            if rng.random() < ROLL["middle"]
            else ""
        )
        preferred = ""
        nick = [k for k in _VARIANTS.get(given.lower(), ()) if " " not in k]
        if nick and rng.random() < ROLL["preferred"]:
            preferred = rng.choice(nick).title()
        joined = date(2026 - (age - (11 if secondary else 4)), 9, 1)
        # establishment and serial digits from one counter: a UPN is never reissued
        upn = make_upn(school.la_code, number // 1000, joined.year, number % 1000)
        child = Child(upn, group, given, middle, family, preferred, dob, gender, postcode,
                      school.urn)  # fmt: skip
        row = {"upn": upn, "given_names": f"{given} {middle}".strip(), "family_name": family,
               "preferred_name": preferred, "date_of_birth": dob.isoformat(), "gender": gender,
               "postcode": postcode, "urn": school.urn, "on_roll_from": joined.isoformat(),
               "on_roll_until": ""}  # fmt: skip
        roll = rng.random()
        if roll < ROLL["moved_school"]:
            new = rng.choice([s for s in open_schools[:50] if s.urn != school.urn])
            left = INCIDENT_DAY - timedelta(days=rng.randrange(5, 70))
            child.rows.append({**row, "on_roll_until": left.isoformat()})
            row = {**row, "urn": new.urn, "on_roll_from": (left + timedelta(days=3)).isoformat()}
            child.urn = new.urn
        elif roll < ROLL["moved_school"] + ROLL["dual"]:
            other = rng.choice(open_schools)
            if other.urn != school.urn:
                child.rows.append({**row, "urn": other.urn, "on_roll_from": "2026-09-14"})
                child.live_urns.append(other.urn)
        child.rows.append(row)
        child.live_urns.append(child.urn)
        yield child
        previous = child


def write_schools(path: Path, schools: list[SyntheticSchool]) -> None:
    with path.open("w", encoding="cp1252", errors="replace", newline="") as f:
        w = csv.writer(f)
        w.writerow(["URN", "EstablishmentName", "LA (code)", "LA (name)",
                    "EstablishmentStatus (name)", "PhaseOfEducation (name)",
                    "TypeOfEstablishment (name)", "Postcode"])  # fmt: skip
        for s in schools:
            w.writerow([s.urn, s.name, s.la_code, f"LA {s.la_code}", s.status, "Primary",
                        "Community school", s.postcode])  # fmt: skip


def _variants(name: str, groups: list[tuple[str, ...]]) -> tuple[str, ...]:
    for g in groups:
        if name in g:
            return g
    return ()


def _typo(word: str, rng: random.Random) -> str:
    if len(word) < 4:
        return word
    i = rng.randrange(1, len(word) - 1)
    action = rng.randrange(3)
    if action == 0:
        return word[:i] + word[i + 1 :]
    if action == 1:
        return word[:i] + rng.choice("aeioulnrst") + word[i + 1 :]
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]


def _chance(rng: random.Random, name: str, scale: float = 1.0) -> bool:
    return rng.random() < ERRORS[name] * scale


def _corrupt_dob(dob: date, rng: random.Random) -> date | None:
    if _chance(rng, "dob_missing"):
        return None
    if dob.day <= 12 and dob.day != dob.month and _chance(rng, "dob_day_month_swapped"):
        return date(dob.year, dob.day, dob.month)
    text = dob.strftime("%Y%m%d")
    for name, make in (
        ("dob_one_digit", lambda i: text[:i] + rng.choice("0123456789") + text[i + 1 :]),
        ("dob_transposed", lambda i: text[:i] + text[i + 1] + text[i] + text[i + 2 :]),
    ):
        if _chance(rng, name):
            for _ in range(20):
                t = make(
                    rng.choice((3, 5, 6, 7)) if name == "dob_one_digit" else rng.randrange(4, 7)
                )
                try:
                    changed = date(int(t[:4]), int(t[4:6]), int(t[6:]))
                except ValueError:
                    continue
                if changed != dob:
                    return changed
    if _chance(rng, "dob_wrong"):
        return date(dob.year, 1, 1) + timedelta(days=rng.randrange(365))
    return dob


def police_record(
    child: Child, rng: random.Random, pools: dict[str, Pools], schools: dict[str, SyntheticSchool]
) -> dict[str, Any]:
    """The child as an officer recorded them, with the documented errors."""
    scale = 1.0 if child.group == "english" else 3.0
    given, family, known_as = child.given, child.family, None
    groups = ARABIC_MALE + ARABIC_FEMALE + ARABIC_FAMILY + SOUTH_ASIAN
    if child.preferred and _chance(rng, "known_as_used"):
        known_as = child.preferred
    elif _VARIANTS.get(given.lower()) and _chance(rng, "nickname"):
        given = rng.choice([n for n in _VARIANTS[given.lower()] if " " not in n]).title()
    if _variants(given, groups) and _chance(rng, "transliteration"):
        given = rng.choice(_variants(given, groups))
    if _variants(family, groups) and _chance(rng, "transliteration"):
        family = rng.choice(_variants(family, groups))
    given_names = given
    if child.middle:
        if _chance(rng, "middle_name_first"):
            given_names = f"{child.middle} {given}"
        elif not _chance(rng, "middle_name_dropped"):
            given_names = f"{given} {child.middle}"
    if _chance(rng, "given_typo"):
        given_names = _typo(given_names, rng)
    if "-" in family and _chance(rng, "family_part_only"):
        family = rng.choice(family.split("-"))
    if _chance(rng, "family_changed"):
        p = pools[child.group]
        family = rng.choices(p.family, p.weights["family"])[0]
    if _chance(rng, "family_typo"):
        family = _typo(family, rng)
    if _chance(rng, "names_swapped", scale):
        given_names, family = family, given_names
    if _chance(rng, "given_missing"):
        given_names, known_as = "", None
    postcode: str | None = child.postcode
    if _chance(rng, "postcode_missing"):
        postcode = None
    elif _chance(rng, "moved_house"):
        postcode = _postcode(district_of(rng.choice(list(schools.values())[:500])), rng)
    elif _chance(rng, "moved_nearby"):
        postcode = child.postcode[:-2] + rng.choice("ABDEFGHJ") + rng.choice("LNPQRSTU")
    gender: str | None = {"F": "female", "M": "male"}[child.gender]
    if _chance(rng, "gender_missing"):
        gender = None
    elif _chance(rng, "gender_wrong"):
        gender = "male" if gender == "female" else "female"
    hint = None
    if _chance(rng, "school_hint"):
        named = schools[child.urn]
        if _chance(rng, "school_hint_wrong"):
            named = rng.choice(list(schools.values())[:500])
        hint = named.name.replace(" School", "")
    dob = _corrupt_dob(child.dob, rng)
    return {
        "person_id": "c1",
        "role": "child",
        "given_names": given_names or None,
        "family_name": family or None,
        "known_as": known_as,
        "date_of_birth": dob.isoformat() if dob else None,
        "gender": gender,
        "address": {"lines": [], "postcode": postcode} if postcode else None,
        "school_hint": hint,
    }
