"""The redactor (SPEC section 4, issue 12): the officer's free text -> an account in which
adults appear only by their relationship to the child, and other children, addresses,
house and street names, postcodes, phone numbers, e-mail addresses and handles, NI,
crime, CAD and custody numbers, number plates, workplaces, other schools, dates other
than the incident's, and officers do not appear at all. Over-redaction is accepted; a
leak is not. The residual check (``consumers.residual``) reads the result afterwards.

Pure functions. What depends only on the incident (its names in every form, its
addresses, numbers and dates) is built once per incident and child and cached; what
depends on nothing (the detectors, the name lists) once per process.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date

from consumers import redact_officers as officers
from consumers import redact_patterns as p
from consumers import redact_places as places
from consumers.redact_labels import (
    ADDRESS,
    AMBIGUOUS,
    DATE_OF_BIRTH,
    EMAIL,
    HANDLE,
    LINK,
    NI_NUMBER,
    NUMBER,
    OFFICER,
    OFFICER_DETAILS,
    PHONE,
    REFERENCE,
    VEHICLE,
    labelled,
)
from consumers.redact_literals import Phrases, address_lines, clean, outward, phone_replacer
from consumers.redact_name_index import NameIndex, people_from
from consumers.redact_names import name_spans
from foundations.clock import LONDON
from schemas.incident import Person, PoliceIncident, Role

_HOLD = re.compile("\ue000([\ue100-\ue109]+)\ue001")
_SENTENCE_START = re.compile(r"(?:[.!?][\"'’”)]*\s+|\n\s*)\Z")
_REPEATS = re.compile(r"(\[[a-z -]+ removed\])(?:[\s,;/]*\1)+")
_VOCAB = re.compile(r"[^\W\d_]+")
_DIGIT = re.compile(r"\d")


class _Text:
    """Text under redaction: each replacement is held aside so no later pass rescans it."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.held: list[str] = []

    def _mark(self, value: str) -> str:
        self.held.append(value)
        marks = "".join(chr(0xE100 + int(d)) for d in str(len(self.held) - 1))
        return f"\ue000{marks}\ue001"

    def sub(
        self, pattern: re.Pattern[str] | None, repl: str | Callable[[re.Match[str]], str]
    ) -> None:
        if pattern is None:
            return

        def hold(m: re.Match[str]) -> str:
            value = repl(m) if callable(repl) else repl
            return value if value == m.group(0) else self._mark(value)

        self.text = pattern.sub(hold, self.text)

    def spans(self, spans: list[tuple[int, int, str]]) -> None:
        """Replace these (start, end, value) spans; one that overlaps the one before is
        swallowed by it, so that no part of either is left."""
        merged: list[tuple[int, int, str]] = []
        for start, end, value in sorted(spans):
            if merged and start < merged[-1][1]:
                last = merged[-1]
                merged[-1] = (last[0], max(last[1], end), last[2])
            else:
                merged.append((start, end, value))
        out, at = [], 0
        for start, end, value in merged:
            out += [self.text[at:start], self._mark(value)]
            at = end
        self.text = "".join(out) + self.text[at:]

    def result(self) -> str:
        def put(m: re.Match[str]) -> str:
            value = self.held[int("".join(str(ord(c) - 0xE100) for c in m.group(1)))]
            before = m.string[max(0, m.start() - 16) : m.start()]
            if (m.start() <= 16 and not before.strip()) or _SENTENCE_START.search(before):
                value = value[:1].upper() + value[1:]
            return value

        return _REPEATS.sub(r"\1", _HOLD.sub(put, self.text)).strip()


@dataclass
class _Plan:
    """Everything about one incident and child that redaction needs, built once."""

    literals: Phrases
    phones: Callable[[re.Match[str]], str]
    names: NameIndex
    dates: Callable[[re.Match[str]], str]
    years: Callable[[re.Match[str]], str]
    places: Callable[[re.Match[str]], str]
    lower_streets: Callable[[re.Match[str]], str]
    schools: Callable[[re.Match[str]], str]
    officers: Callable[[re.Match[str]], str]


def _incident_days(incident: PoliceIncident) -> frozenset[date]:
    days = set()
    for instant in (incident.occurred_at, incident.reported_at):
        days |= {instant.astimezone(UTC).date(), instant.astimezone(LONDON).date()}
    return frozenset(days)


def _build(incident: PoliceIncident, child: Person) -> _Plan:
    pairs = labelled(incident, child)
    persons = [q for q, _ in pairs]
    officer = incident.officer
    addresses = [incident.location, *(q.address for q in persons)]
    rows: list[tuple[str, bool, str | None, str | None, str | None, str]] = []
    for q, label in pairs:
        adult = q.role is not Role.CHILD
        rows.append((label, adult, q.given_names, q.family_name, q.known_as, label))
    if officer and officer.name:
        words = [w for w in officer.name.split() if not officers.is_title(w)]
        given = " ".join(words[:-1]) if len(words) > 1 else None
        rows.append((OFFICER, True, given, words[-1] if words else None, None, ""))
    people, groups = people_from(rows)
    names = NameIndex(people, groups)
    collar = (officer.collar_number or "").strip() if officer else None
    short_phones = [q.phone for q in persons if q.phone and len(re.sub(r"\D", "", q.phone)) < 6]
    literals = Phrases(
        [
            *((q.email, EMAIL) for q in persons),
            (incident.incident_id, REFERENCE),
            (incident.crime_reference, REFERENCE),
            *((line, ADDRESS) for a in addresses for line in address_lines(a)),
            *((a.postcode, ADDRESS) for a in addresses if a),
            *((outward(a.postcode), ADDRESS) for a in addresses if a),
            (officer.name if officer else None, OFFICER),
            (collar, OFFICER_DETAILS),
            *((n, PHONE) for n in short_phones),
        ]
    )
    keep = _incident_days(incident)
    return _Plan(
        literals=literals,
        phones=phone_replacer(q.phone for q in persons),
        names=names,
        dates=p.date_replacer(keep),
        years=p.year_replacer(keep),
        places=places.named_place(names.is_name),
        lower_streets=places.lower_street(names.is_name),
        schools=places.named_school(names.is_name),
        officers=officers.officer(names.is_name, names.is_someone_else),
    )


_PLANS: OrderedDict[tuple[int, str], tuple[PoliceIncident, Person, _Plan]] = OrderedDict()
_PLANS_KEPT = 64
_PLANS_LOCK = threading.Lock()


def _plan(incident: PoliceIncident, child: Person) -> _Plan:
    """The incident's plan, from the cache when this very incident was seen recently (the
    account, the child's voice and the police actions of one notification share it)."""
    key = (id(incident), child.person_id)
    with _PLANS_LOCK:
        hit = _PLANS.get(key)
        if hit is not None and hit[0] is incident and hit[1] == child:
            _PLANS.move_to_end(key)
            return hit[2]
    plan = _build(incident, child)
    with _PLANS_LOCK:
        _PLANS[key] = (incident, child, plan)
        while len(_PLANS) > _PLANS_KEPT:
            _PLANS.popitem(last=False)
    return plan


def redact(text: str, incident: PoliceIncident, child: Person) -> str:
    """The text with every identifying detail of anyone but the child's role removed."""
    plan = _plan(incident, child)
    t = _Text(plan.names.join_split_names(clean(text)))
    vocab = frozenset(_VOCAB.findall(t.text.casefold()))  # words present: skip idle passes
    digits = bool(_DIGIT.search(t.text))
    if "/" in t.text or "www" in vocab:
        t.sub(p.URL, LINK)
    if "@" in t.text:
        t.sub(p.EMAIL_ADDRESS, EMAIL)
    t.spans(plan.literals.spans(t.text))
    if "@" in t.text or ("at" in vocab and vocab & p.EMAIL_HINTS):
        t.sub(p.EMAIL_WRITTEN, EMAIL)
    if "@" in t.text:
        t.sub(p.HANDLE_AT, HANDLE)
    if digits:
        t.sub(p.CRIME_REF, REFERENCE)
        t.sub(p.INCIDENT_ID, REFERENCE)
        if vocab & p.REF_HINTS:
            t.sub(p.REF_WORD, lambda m: m.group("lead") + REFERENCE)
        if vocab & p.NI_HINTS:
            t.sub(p.NI_WORD, lambda m: m.group("lead") + NI_NUMBER)
        t.sub(p.NI, NI_NUMBER)
        t.sub(p.DATE_OF_BIRTH_PHRASE, DATE_OF_BIRTH)
        t.sub(p.NHS_NUMBER, NUMBER)
        t.sub(p.PHONE_ANY, plan.phones)
        t.sub(p.PHONE_UK, PHONE)
        t.sub(p.PHONE_INTL, PHONE)
        t.sub(p.DATES, plan.dates)
        t.sub(p.BARE_YEAR, plan.years)
    if vocab & p.PLATFORM_HINTS:
        t.sub(p.HANDLE_PLATFORM, p.handle_on_platform)
    if digits:
        if vocab & p.VEHICLE_HINTS:
            t.sub(p.VEHICLE_WORD, lambda m: m.group("lead") + VEHICLE)
        t.sub(p.VEHICLE_CURRENT, VEHICLE)
        t.sub(places.POSTCODE, ADDRESS)
    if vocab & officers.RANK_HINTS:
        t.sub(officers.OFFICER_NAME_FIRST, officers.officer_name_first)
        t.sub(officers.OFFICER_ANY_ORDER, plan.officers)
    if digits:
        if vocab & officers.COLLAR_HINTS:
            t.sub(officers.COLLAR, OFFICER_DETAILS)
        if vocab & places.STREET_HINTS:
            t.sub(places.STREET_NUMBERED, ADDRESS)
    if vocab & places.WORK_HINTS:
        t.sub(places.WORKPLACE_PHRASE, places.workplace)
    if vocab & places.SCHOOL_HINTS:
        t.sub(places.SCHOOL_NAMED, plan.schools)
        t.sub(places.SCHOOL_LOWER, places.lower_school)
    if vocab & places.INSTITUTION_HINTS:
        t.sub(places.INSTITUTION, places.institution)
    if vocab & places.HOUSE_HINTS:
        t.sub(places.HOUSE_NAME, plan.places)
    if vocab & places.STREET_HINTS:
        t.sub(places.STREET_NAMED, plan.places)
        t.sub(places.STREET_LOWER, plan.lower_streets)
    if digits:
        t.sub(places.FLAT_ONLY, ADDRESS)
        t.sub(p.VEHICLE_OLDER, p.older_plate)
        t.sub(places.OUTWARD, ADDRESS)
    t.spans(name_spans(plan.names, t.text, ambiguous=AMBIGUOUS))
    if digits:
        t.sub(p.LONG_NUMBER, NUMBER)
    return t.result()
