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
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date
from zoneinfo import ZoneInfo

from consumers import redact_patterns as p
from consumers.redact_lexicon import fold
from consumers.redact_names import NameIndex, name_spans, people_from
from schemas.incident import Address, Person, PoliceIncident, Relationship, Role

ADDRESS = p.ADDRESS
PHONE = p.PHONE
EMAIL = p.EMAIL
REFERENCE = p.REFERENCE
DATE = p.DATE
DATE_OF_BIRTH = p.DATE_OF_BIRTH
NUMBER = p.NUMBER
LINK = p.LINK
VEHICLE = p.VEHICLE
NI_NUMBER = p.NI_NUMBER
HANDLE = p.HANDLE
WORKPLACE = p.WORKPLACE
SCHOOL = p.SCHOOL
OFFICER = p.OFFICER
OFFICER_DETAILS = p.OFFICER_DETAILS
SUBJECT_CHILD = "the child"
OTHER_CHILD = "another child"
AMBIGUOUS = "a family member"
PLACEHOLDERS = (
    ADDRESS, PHONE, EMAIL, REFERENCE, DATE, DATE_OF_BIRTH, NUMBER, LINK, VEHICLE, NI_NUMBER,
    HANDLE, WORKPLACE, SCHOOL, OFFICER_DETAILS,
)  # fmt: skip

_APOS, _DASH = p.APOS, p.DASH
_SEPS = _DASH + _APOS
_PRIVATE = re.compile("[\ue000-\uf8ff]")
_INVISIBLE = re.compile("[\u00ad\u200b-\u200d\u2060\ufeff]")
_HOLD = re.compile("\ue000([\ue100-\ue109]+)\ue001")
_SENTENCE_START = re.compile(r"(?:[.!?][\"'’”)]*\s+|\n\s*)\Z")
_REPEATS = re.compile(r"(\[[a-z -]+ removed\])(?:[\s,;/]*\1)+")
_I = re.IGNORECASE
_VOCAB = re.compile(r"[^\W\d_]+")
_DIGIT = re.compile(r"\d")
_LONDON = ZoneInfo("Europe/London")


def _clean(text: str) -> str:
    """NFC, without private-use characters (the redactor's own markers live there) and
    without invisible characters that could split a name ("Ja\u200bne")."""
    return _INVISIBLE.sub("", _PRIVATE.sub("", unicodedata.normalize("NFC", text)))


def _key(text: str) -> str:
    """How a name token is compared: case-folded, without spaces, apostrophes, hyphens."""
    return re.sub(rf"[{_SEPS}\s]", "", _clean(text).casefold())


_TOKEN = re.compile(r"[^\W_]+")
_GAP_IGNORED = re.compile(rf"[\s{re.escape(_SEPS)}]+")


def _skeleton(text: str) -> str:
    """How a literal is compared: folded words and digits, with the punctuation between
    them but without spaces, apostrophes or hyphens ("SO23 8UJ" = "so238uj",
    "Smith-Jones Road" = "SmithJones road", "jane.doe@example.com" keeps "." and "@")."""
    out: list[str] = []
    at = 0
    for m in _TOKEN.finditer(text):
        if out:
            out.append(_GAP_IGNORED.sub("", text[at : m.start()]))
        out.append(fold(m.group(0)))
        at = m.end()
    return "".join(out)


class _Phrases:
    """Literal strings the incident lists (its addresses, postcodes and outward codes,
    e-mail addresses, references, the officer's name and collar number), found in any
    case, accent, spacing or hyphenation. Built with dictionaries, not regexes: a regex
    per incident costs more to compile than to run."""

    def __init__(self, items: Iterable[tuple[str | None, str]]) -> None:
        self.by_head: dict[str, list[tuple[str, str]]] = {}
        for value, replacement in items:
            skeleton = _skeleton(_clean(value or ""))
            if len(skeleton) >= 2:
                self.by_head.setdefault(skeleton[0], []).append((skeleton, replacement))
        for found in self.by_head.values():
            found.sort(key=lambda item: len(item[0]), reverse=True)

    def spans(self, text: str) -> list[tuple[int, int, str]]:
        if not self.by_head:
            return []
        tokens = [(m.start(), m.end(), fold(m.group(0))) for m in _TOKEN.finditer(text)]
        out: list[tuple[int, int, str]] = []
        i = 0
        while i < len(tokens):
            matched = self._match(text, tokens, i)
            if matched:
                j, replacement = matched
                out.append((tokens[i][0], tokens[j][1], replacement))
                i = j + 1
            else:
                i += 1
        return out

    def _match(
        self, text: str, tokens: list[tuple[int, int, str]], i: int
    ) -> tuple[int, str] | None:
        for skeleton, replacement in self.by_head.get(tokens[i][2][:1], ()):
            built, j = "", i
            while j < len(tokens):
                built += tokens[j][2]
                if not skeleton.startswith(built):
                    break
                if len(built) == len(skeleton):
                    if skeleton.isdigit() and (
                        text[tokens[i][0] - 1 : tokens[i][0]] == "/"
                        or text[tokens[j][1] : tokens[j][1] + 1] == "/"
                    ):
                        break  # a number inside "44/123456/26" is not the collar number
                    return j, replacement
                if j + 1 == len(tokens):
                    break
                gap = text[tokens[j][1] : tokens[j + 1][0]]
                if "\n\n" in gap or len(gap) > 4 or _PRIVATE.search(gap):
                    break
                built += _GAP_IGNORED.sub("", gap)
                j += 1
        return None


def _address_lines(address: Address | None) -> list[str]:
    """Each line, the line without its house or flat number, and each comma part."""
    out: list[str] = []
    for line in address.lines if address else []:
        bare = re.sub(
            rf"^(?:{p.FLAT}\s*,?\s*)?\d+[a-z]?(?:\s*-\s*\d+)?\s*,?\s*", "", line, flags=_I
        )
        out += [line, bare, *line.split(",")]
    return [v.strip() for v in out if re.search(r"[^\W\d_]", v)]


def _outward(code: str | None) -> str | None:
    compact = re.sub(r"\W", "", code or "").upper()
    return compact[:-3] if 5 <= len(compact) <= 7 else None


def _national(digits: str) -> str:
    """A UK phone number's digits without 00 44, 44 or the leading 0."""
    digits = digits[2:] if digits.startswith("00") else digits
    return digits[2:] if digits.startswith("44") and len(digits) > 10 else digits.lstrip("0")


def _phones(numbers: Iterable[str | None]) -> Callable[[re.Match[str]], str]:
    """Any digit run that is one of these numbers, however it is spaced or prefixed."""
    listed = {_national(re.sub(r"\D", "", n or "")) for n in numbers}
    listed = {n for n in listed if len(n) >= 6}

    def replace(m: re.Match[str]) -> str:
        return PHONE if _national(re.sub(r"\D", "", m.group(0))) in listed else m.group(0)

    return replace


def _gendered(person: Person, female: str, male: str, neutral: str) -> str:
    gender = (person.gender or "").strip().casefold()
    if gender in {"female", "f", "woman", "girl"}:
        return female
    return male if gender in {"male", "m", "man", "boy"} else neutral


_KIN = {
    Relationship.PARENT: ("mother", "father", "parent"),
    Relationship.STEP_PARENT: ("stepmother", "stepfather", "step-parent"),
    Relationship.GRANDPARENT: ("grandmother", "grandfather", "grandparent"),
    Relationship.SIBLING: ("adult sister", "adult brother", "adult sibling"),
}


def relationship_label(person: Person, incident: PoliceIncident) -> str:
    """How an adult appears to the school: only by relationship to the child."""
    rel = person.relationship
    if rel in _KIN:
        return "the child's " + _gendered(person, *_KIN[rel])
    if rel is Relationship.PARENT_PARTNER:
        parents = [p for p in incident.adults if p.relationship is Relationship.PARENT]
        word = (
            _gendered(parents[0], "mother", "father", "parent") if len(parents) == 1 else "parent"
        )
        return f"the {word}'s partner"
    return "an adult relative" if rel is Relationship.OTHER_RELATIVE else "another adult"


def labelled(incident: PoliceIncident, child: Person) -> list[tuple[Person, str]]:
    """The subject child first, then everyone in the incident, with their label; two
    adults of the same kin where only one has a known gender are "the child's mother"
    and "the child's other parent"."""
    out = [(child, SUBJECT_CHILD)]
    for person in incident.persons:
        if person.person_id == child.person_id:
            out.append((person, SUBJECT_CHILD))
        elif person.role is Role.CHILD:
            out.append((person, OTHER_CHILD))
        else:
            out.append((person, relationship_label(person, incident)))
    for rel, (_, _, neutral) in _KIN.items():
        kin = [
            i for i, (q, _) in enumerate(out) if q.role is not Role.CHILD and q.relationship is rel
        ]
        unknown = [i for i in kin if out[i][1] == f"the child's {neutral}"]
        if len(kin) > 1 and len(unknown) == 1:
            i = unknown[0]
            out[i] = (out[i][0], f"the child's other {neutral}")
    return out


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

    literals: _Phrases
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
        days |= {instant.astimezone(UTC).date(), instant.astimezone(_LONDON).date()}
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
        words = [w for w in officer.name.split() if not p.is_title(w)]
        given = " ".join(words[:-1]) if len(words) > 1 else None
        rows.append((OFFICER, True, given, words[-1] if words else None, None, ""))
    people, groups = people_from(rows)
    names = NameIndex(people, groups)
    collar = (officer.collar_number or "").strip() if officer else None
    short_phones = [q.phone for q in persons if q.phone and len(re.sub(r"\D", "", q.phone)) < 6]
    literals = _Phrases(
        [
            *((q.email, EMAIL) for q in persons),
            (incident.incident_id, REFERENCE),
            (incident.crime_reference, REFERENCE),
            *((line, ADDRESS) for a in addresses for line in _address_lines(a)),
            *((a.postcode, ADDRESS) for a in addresses if a),
            *((_outward(a.postcode), ADDRESS) for a in addresses if a),
            (officer.name if officer else None, OFFICER),
            (collar, OFFICER_DETAILS),
            *((n, PHONE) for n in short_phones),
        ]
    )
    keep = _incident_days(incident)
    return _Plan(
        literals=literals,
        phones=_phones(q.phone for q in persons),
        names=names,
        dates=p.date_replacer(keep),
        years=p.year_replacer(keep),
        places=p.named_place(names.is_name),
        lower_streets=p.lower_street(names.is_name),
        schools=p.named_school(names.is_name),
        officers=p.officer(names.is_name, names.is_someone_else),
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
    t = _Text(plan.names.join_split_names(_clean(text)))
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
        t.sub(p.POSTCODE, ADDRESS)
    if vocab & p.RANK_HINTS:
        t.sub(p.OFFICER_NAME_FIRST, p.officer_name_first)
        t.sub(p.OFFICER_ANY_ORDER, plan.officers)
    if digits:
        if vocab & p.COLLAR_HINTS:
            t.sub(p.COLLAR, OFFICER_DETAILS)
        if vocab & p.STREET_HINTS:
            t.sub(p.STREET_NUMBERED, ADDRESS)
    if vocab & p.WORK_HINTS:
        t.sub(p.WORKPLACE_PHRASE, p.workplace)
    if vocab & p.SCHOOL_HINTS:
        t.sub(p.SCHOOL_NAMED, plan.schools)
        t.sub(p.SCHOOL_LOWER, p.lower_school)
    if vocab & p.INSTITUTION_HINTS:
        t.sub(p.INSTITUTION, p.institution)
    if vocab & p.HOUSE_HINTS:
        t.sub(p.HOUSE_NAME, plan.places)
    if vocab & p.STREET_HINTS:
        t.sub(p.STREET_NAMED, plan.places)
        t.sub(p.STREET_LOWER, plan.lower_streets)
    if digits:
        t.sub(p.FLAT_ONLY, ADDRESS)
        t.sub(p.VEHICLE_OLDER, p.older_plate)
        t.sub(p.OUTWARD, ADDRESS)
    t.spans(name_spans(plan.names, t.text, ambiguous=AMBIGUOUS))
    if digits:
        t.sub(p.LONG_NUMBER, NUMBER)
    return t.result()
