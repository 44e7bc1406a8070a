# The redactor as it stood before issue 12 (consumers/minimise.py at commit 52a9162),
# frozen here as the benchmark's baseline: bench/redaction.py times its redact() in the same
# run as the current one, so that noise on a shared machine can be judged, and can measure
# its leaks for comparison (--baseline-leaks). Never imported by the broker; do not edit.
"""Minimisation (SPEC section 4): one PoliceIncident and one child -> a SchoolNotification.

Pure functions, no I/O. The notification is built from an allowlist: every field is set
explicitly in ``minimise``; nothing is copied from the incident and then trimmed.
``redact`` turns the officer's free text into an account in which adults appear only by
their relationship to the child, and other children, addresses, postcodes, phone numbers,
e-mail addresses, references and officer details do not appear at all. Over-redaction
is accepted; a leak is not.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from datetime import date, datetime

from schemas.incident import Address, Person, PoliceIncident, Relationship, Role
from schemas.notification import (
    DEFAULT_PROFILE,
    FirstResponseContact,
    MinimisationProfile,
    SchoolNotification,
)

ACCOUNT_MAX_CHARS = 1500
NO_ACCOUNT = "The police record gives no further details."

ADDRESS = "[address removed]"
PHONE = "[phone number removed]"
EMAIL = "[e-mail address removed]"
REFERENCE = "[reference removed]"
DATE = "[date removed]"
NUMBER = "[number removed]"
LINK = "[link removed]"
OFFICER = "an officer"
OFFICER_DETAILS = "[officer details removed]"
SUBJECT_CHILD = "the child"
OTHER_CHILD = "another child"
AMBIGUOUS = "a family member"

POLICE_ACTIONS: dict[str, str] = {
    "suspect_arrested": "A suspect was arrested",
    "suspect_charged": "A suspect was charged",
    "suspect_removed": "A suspect was removed from the home",
    "suspect_left_scene": "The suspect had left before police arrived",
    "bail_with_conditions": "The suspect was released on bail with conditions",
    "released_under_investigation": "The suspect was released while police investigate",
    "dapn_issued": "A domestic abuse protection notice was issued",
    "dvpn_issued": "A domestic violence protection notice was issued",
    "dash_completed": "Police completed a domestic abuse risk assessment",
    "safeguarding_advice_given": "Police gave safeguarding advice to the family",
    "referral_to_idva": "The adult victim was referred to a domestic abuse adviser",
    "referral_to_marac": "The case was referred to a multi-agency risk assessment conference",
    "referral_to_childrens_social_care": "Children's social care have been informed",
    "referral_to_mash": "A referral was made to the multi-agency safeguarding hub (MASH)",
    "ambulance_called": "An ambulance was called",
    "crime_recorded": "A crime was recorded",
    "no_further_action": "No further police action is planned",
}
# fmt: off
SOCIAL_CARE_CODES = frozenset({
    "referral_to_childrens_social_care", "referral_to_mash", "referral_to_social_care",
    "childrens_social_care_informed", "social_care_referral",
})
# fmt: on
_RISK = {"standard": "standard", "low": "standard", "medium": "medium", "high": "high"}

_APOS = "'’‘`´ʼ"
_DASH = "-‐‑‒–—"
_SEPS = _DASH + _APOS
_PRIVATE = re.compile("[\ue000-\uf8ff]")
_HOLD = re.compile("\ue000([\ue100-\ue109]+)\ue001")
_SENTENCE_START = re.compile(r"(?:^|[.!?][\"'’”)]*\s+|\n\s*)\Z")
_REPEATS = re.compile(r"(\[[a-z -]+ removed\])(?:[\s,;/]*\1)+")
_I = re.IGNORECASE

_URL = re.compile(r"\b(?:https?://|www\.)[^\s<>\"]+", _I)
_EMAIL = re.compile(r"[\w.+'’-]+@[\w-]+(?:\.[\w-]+)+")
_CRIME_REF = re.compile(r"(?<![\w/])\d{1,4}\s*/\s*\d{3,9}\s*/\s*\d{2,4}(?![\w/])")
_INCIDENT_ID = re.compile(r"(?<![\w-])\d{2,4}-\d{6,8}-\d{2,8}(?![\w-])")
_REF_WORD = re.compile(
    r"(?P<lead>\b(?:crime|incident|occurrence|log|cad|case|storm)\s*(?:ref(?:erence)?|no|number|#)?"
    r"\.?\s*:?\s*)(?=[\w/-]*\d)\w[\w/-]{3,}",
    _I,
)
_DOB = re.compile(
    r"\b(?:d\.?\s?o\.?\s?b\.?|date\s+of\s+birth|born(?:\s+on)?)\s*:?\s*"
    r"(?:\d{1,2}\s*[/.-]\s*\d{1,2}\s*[/.-]\s*\d{2,4}|\d{4}-\d{2}-\d{2}"
    r"|\d{1,2}(?:st|nd|rd|th)?\s+[a-z]{3,9}\.?,?\s+\d{4})",
    _I,
)
_PHONE = re.compile(
    r"(?<![\w+])(?:(?:\+|00)\s*44\s*(?:\(\s*0\s*\)\s*)?|0|\(0(?=\d{2,4}\)))"
    r"\d(?:[\s().-]{0,2}\d){8,9}(?!\d)"
)
_INTL_PHONE = re.compile(r"(?<![\w+])(?:\+|00)\d{1,3}(?:[\s().-]{0,2}\d){6,12}(?!\d)")
_SUFFIX = (
    r"road|rd|street|st|avenue|ave|lane|ln|close|drive|dr|way|crescent|cres|court|ct|place|pl"
    r"|gardens|gdns|terrace|grove|hill|park|square|sq|mews|row|walk|rise|view|green|parade"
    r"|boulevard|gate|chase|croft|meadows?|drove|wharf|quay|yard|cottages?|estate|end"
)
_FLAT = r"(?i:flat|apartment|apt|unit)\s*\d+[a-z]?"
_STREET = re.compile(
    rf"(?<!\w)(?:{_FLAT}\s*,?\s*)?\d{{1,4}}[A-Za-z]?(?:\s*[-–]\s*\d{{1,4}})?\s*,?\s+"
    rf"(?:[^\W\d_a-z][\w'’-]*\s+){{1,4}}(?i:{_SUFFIX})(?!\w)"
)
_STREET_NAME = re.compile(  # "Church Road" without a number: capitalised words and suffix
    r"(?<!\w)(?!(?:The|A|An|At|In|On|To|Of)\s)(?:[^\W\d_a-z][\w'’-]*\s+){1,3}"
    r"(?:Road|Rd|Street|St|Avenue|Ave|Lane|Close|Drive|Way|Crescent|Court|Place|Gardens"
    r"|Terrace|Grove|Hill|Park|Square|Mews|Row|Walk|Rise|Parade|Boulevard)(?!\w)"
)
_VEHICLE = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}\s?[A-Z]{3}(?![A-Za-z0-9])", _I)
_FLAT_ONLY = re.compile(rf"(?<!\w){_FLAT}(?!\w)")
_POSTCODE = re.compile(
    r"(?<![A-Za-z0-9])(?:GIR\s*0AA|[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2})(?![A-Za-z0-9])", _I
)
_OUTWARD = re.compile(r"(?<![A-Za-z0-9])[A-Z]{1,2}\d[A-Z\d]?(?![A-Za-z0-9])")
_TITLES = (
    r"detective\s+chief\s+inspector|detective\s+(?:constable|sergeant|inspector)|chief\s+inspector"
    r"|police\s+(?:constable|sergeant)|special\s+constable|pcso|sergeant|sgt|inspector|insp"
    r"|constable|officer"
)
_SHORT_TITLES = r"PCSO|DCI|PC|DC|DS|DI|PS"  # upper case only: "Di" may be a given name
_TITLE_WORDS = frozenset(
    re.split(r"\\s\+|\|", f"{_TITLES}|{_SHORT_TITLES}".replace("(?:", "").replace(")", "").lower())
)
_STOP = r"(?:The|A|An|He|She|They|It|I|We|And|But|Then|Was|Were|Who|When|At|In|On|Of|To|Police)"
_OFFICER = re.compile(
    rf"(?<!\w)(?:(?i:{_TITLES})|{_SHORT_TITLES})\.?(?P<num>\s*(?:(?i:no)\.?\s*)?\d{{2,7}}(?!\d))?"
    rf"(?P<name>(?:\s+(?!{_STOP}\b)[^\W\d_a-z][\w'’-]*){{0,2}})"
)
_COLLAR = re.compile(r"\b(?:collar|shoulder|warrant)\s*(?:number|no\.?|#)?\s*:?\s*[a-z]*\d+", _I)
_LONG_NUMBER = re.compile(r"(?<![\w/])\d{6,}(?![\w/])")
_NAME_TITLE = r"(?P<title>(?i:mr|mrs|ms|miss|mx|dr|master|mister)\.?\s+)"
# fmt: off
_PARTICLES = frozenset({
    "van", "von", "der", "den", "de", "del", "della", "di", "da", "du", "la", "le", "al", "el",
    "bin", "bint", "ibn", "ap", "ab", "ter", "ten", "dos", "das", "st",
})
_MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)
# fmt: on


def _clean(text: str) -> str:
    """NFC, without private-use characters (the redactor's own markers live there)."""
    return _PRIVATE.sub("", unicodedata.normalize("NFC", text))


def _key(text: str) -> str:
    """How a name token is compared: case-folded, without spaces, apostrophes, hyphens."""
    return re.sub(rf"[{_SEPS}\s]", "", _clean(text).casefold())


def _flex(text: str) -> str:
    """A regex for ``text`` in any case, with flexible spaces, apostrophes and hyphens."""
    out: list[str] = []
    for ch in _clean(text).strip():
        if ch.isspace():
            if not out or out[-1] != r"\s+":
                out.append(r"\s+")
        elif ch in _APOS:
            out.append(f"[{_APOS}]?")
        elif ch in _DASH:
            out.append(rf"[{_DASH}\s]?")
        else:
            variants = {ch, ch.lower(), ch.upper(), ch.casefold()}
            if all(len(v) == 1 for v in variants):
                out.append(re.escape(ch))
            else:  # e.g. ß / SS: IGNORECASE alone does not see these
                alts = sorted(variants, key=len, reverse=True)
                out.append("(?:" + "|".join(re.escape(v) for v in alts) + ")")
    return "".join(out)


def _bounded(text: str, pattern: str) -> str:
    head = r"(?<!\w)" if re.match(r"\w", text) else ""
    tail = r"(?!\w)" if re.search(r"\w\Z", text) else ""
    return f"{head}(?:{pattern}){tail}"


def _literals(values: Iterable[str | None]) -> re.Pattern[str] | None:
    """One pattern for all these strings, longest first, on word boundaries."""
    found = {_clean(v).strip() for v in values if v}
    alts = sorted((v for v in found if len(v) >= 2), key=len, reverse=True)
    if not alts:
        return None
    return re.compile("|".join(_bounded(v, _flex(v)) for v in alts), _I)


def _any(patterns: Iterable[str]) -> re.Pattern[str] | None:
    alts = list(dict.fromkeys(patterns))
    return re.compile("|".join(f"(?:{p})" for p in alts), _I) if alts else None


def _address_lines(address: Address | None) -> list[str]:
    """Each line, the line without its house or flat number, and each comma part."""
    out: list[str] = []
    for line in address.lines if address else []:
        bare = re.sub(rf"^(?:{_FLAT}\s*,?\s*)?\d+[a-z]?(?:\s*-\s*\d+)?\s*,?\s*", "", line, flags=_I)
        out += [line, bare, *line.split(",")]
    return [v.strip() for v in out if re.search(r"[^\W\d_]", v)]


def _postcode(code: str | None, *, outward: bool = False) -> list[str]:
    """The postcode in any spacing, or (``outward``) its outward code on its own."""
    compact = re.sub(r"\W", "", code or "").upper()
    if outward:
        compact = compact[:-3] if 5 <= len(compact) <= 7 else ""
    if len(compact) < 2:
        return []
    return [r"(?<![A-Za-z0-9])" + r"\s*".join(map(re.escape, compact)) + r"(?![A-Za-z0-9])"]


def _phone(phone: str | None) -> list[str]:
    digits = re.sub(r"\D", "", phone or "")
    if len(digits) < 6:
        return [_bounded(phone.strip(), _flex(phone.strip()))] if phone and phone.strip() else []
    digits = digits[2:] if digits.startswith("00") else digits
    national = digits[2:] if digits.startswith("44") and len(digits) > 10 else digits.lstrip("0")
    prefix = r"(?:\+?\s*(?:00)?\s*44\s*(?:\(\s*0\s*\)\s*)?|\(0(?=\d{2,4}\))|0)?"
    return [r"(?<!\d)" + prefix + r"[\s().-]*".join(national) + r"(?!\d)"]


def _date_of_birth(d: date | None) -> list[str]:
    if d is None:
        return []
    day, mon, year, month = d.day, d.month, d.year, _MONTHS[d.month - 1]
    names = rf"(?:{month}|{month[:3]})\.?"
    return [
        rf"(?<!\d)0?{day}\s*[/.-]\s*0?{mon}\s*[/.-]\s*(?:{year}|{year % 100:02d})(?!\d)",
        rf"(?<!\d){year}-{mon:02d}-{day:02d}(?!\d)",
        rf"(?<!\d)0?{day}(?:st|nd|rd|th)?\s+(?:of\s+)?{names},?\s+{year}(?!\d)",
        rf"\b{names}\s+0?{day}(?:st|nd|rd|th)?,?\s+{year}(?!\d)",
    ]


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


def _labelled(incident: PoliceIncident, child: Person) -> list[tuple[Person, str]]:
    out = [(child, SUBJECT_CHILD)]
    for p in incident.persons:
        if p.person_id == child.person_id:
            out.append((p, SUBJECT_CHILD))
        else:
            out.append(
                (p, OTHER_CHILD if p.role is Role.CHILD else relationship_label(p, incident))
            )
    return out


def _tokens(value: str | None, *, family: bool) -> list[tuple[str, bool]]:
    """(token, is_particle) for each word of a name and each part of a hyphenated word."""
    words = _clean(value or "").split()
    out: list[tuple[str, bool]] = []
    for word in words:
        for part in dict.fromkeys([word, *re.split(rf"[{_SEPS}]", word)]):
            letters = [c for c in part if c.isalpha()]
            if len(letters) >= 2 or (letters and ord(letters[0]) >= 0x2E80):
                particle = family and len(words) > 1 and part.casefold() in _PARTICLES
                out.append((part, particle))
    return out


def _name_pass(
    named: list[tuple[str | None, bool, str]],
) -> tuple[re.Pattern[str], Callable[[re.Match[str]], str]] | None:
    """A pattern for runs of name tokens and the function that labels each run."""
    owners: dict[str, set[str]] = {}
    particle: dict[str, bool] = {}
    source: dict[str, str] = {}
    for value, family, label in named:
        for token, is_particle in _tokens(value, family=family):
            key = _key(token)
            owners.setdefault(key, set()).add(label)
            particle[key] = particle.get(key, True) and is_particle
            source.setdefault(key, token)
    if not source:
        return None
    tok = "(?:" + "|".join(_flex(t) for t in sorted(source.values(), key=len, reverse=True)) + ")"
    one = re.compile(rf"(?<!\w){tok}(?!\w)", _I)
    poss = rf"(?P<poss>[{_APOS}]s(?!\w)|(?<=[sSzZxX])[{_APOS}](?!\w))?"
    run = re.compile(
        rf"(?<!\w){_NAME_TITLE}?{tok}(?:(?:\s+|\s*[{_DASH}]\s*){tok})*{poss}(?!\w)", _I
    )

    def label_run(m: re.Match[str]) -> str:
        body = m.group(0)[: len(m.group(0)) - len(m.group("poss") or "")]
        segments: list[tuple[set[str], list[str]]] = []
        for t in one.finditer(body):
            key = _key(t.group(0))
            mine = owners.get(key, {AMBIGUOUS})
            if segments and segments[-1][0] & mine:
                segments[-1] = (segments[-1][0] & mine, [*segments[-1][1], key])
            else:
                segments.append((set(mine), [key]))
        if all(particle.get(k, False) for _, keys in segments for k in keys):
            return m.group(0)  # "van", "de" or "al" on its own is not a name
        if m.group("title"):  # "Mrs Doe" is an adult, even if the children share the name
            segments[0] = (segments[0][0] - {SUBJECT_CHILD, OTHER_CHILD} or segments[0][0], [])
        words = [next(iter(labels)) if len(labels) == 1 else AMBIGUOUS for labels, _ in segments]
        return " ".join(words) + ("'s" if m.group("poss") else "")

    return run, label_run


class _Text:
    """Text under redaction: each replacement is held aside so no later pass rescans it."""

    def __init__(self, text: str) -> None:
        self.text = _clean(text)
        self.held: list[str] = []

    def sub(
        self, pattern: re.Pattern[str] | None, repl: str | Callable[[re.Match[str]], str]
    ) -> None:
        if pattern is None:
            return

        def hold(m: re.Match[str]) -> str:
            value = repl(m) if callable(repl) else repl
            if value == m.group(0):
                return value
            self.held.append(value)
            marks = "".join(chr(0xE100 + int(d)) for d in str(len(self.held) - 1))
            return f"\ue000{marks}\ue001"

        self.text = pattern.sub(hold, self.text)

    def result(self) -> str:
        def put(m: re.Match[str]) -> str:
            value = self.held[int("".join(str(ord(c) - 0xE100) for c in m.group(1)))]
            if _SENTENCE_START.search(m.string[: m.start()]):
                value = value[:1].upper() + value[1:]
            return value

        return _REPEATS.sub(r"\1", _HOLD.sub(put, self.text)).strip()


def _is_title(word: str) -> bool:
    bare = word.strip(".")
    return bare.casefold() in _TITLE_WORDS and (len(bare) > 2 or bare.isupper())


def _officer(m: re.Match[str]) -> str:
    if not m.group("num") and not m.group("name").strip():
        return m.group(0)  # "the officer said": no details to remove
    return "officer" if re.search(r"\b(?:the|an?)\s+\Z", m.string[: m.start()], _I) else OFFICER


def redact(text: str, incident: PoliceIncident, child: Person) -> str:
    """The text with every identifying detail of anyone but the child's role removed."""
    labelled = _labelled(incident, child)
    persons = [p for p, _ in labelled]
    officer = incident.officer
    t = _Text(text)
    t.sub(_URL, LINK)
    t.sub(_EMAIL, EMAIL)
    t.sub(_literals(p.email for p in persons), EMAIL)
    t.sub(_literals([incident.incident_id, incident.crime_reference]), REFERENCE)
    t.sub(_CRIME_REF, REFERENCE)
    t.sub(_INCIDENT_ID, REFERENCE)
    t.sub(_REF_WORD, lambda m: m.group("lead") + REFERENCE)
    others = [p for p, label in labelled if label != SUBJECT_CHILD]
    t.sub(_any(x for p in others for x in _date_of_birth(p.date_of_birth)), DATE)
    t.sub(_DOB, "[date of birth removed]")
    t.sub(_any(x for p in persons for x in _phone(p.phone)), PHONE)
    t.sub(_PHONE, PHONE)
    t.sub(_INTL_PHONE, PHONE)
    addresses = [incident.location, *(p.address for p in persons)]
    t.sub(_literals(line for a in addresses for line in _address_lines(a)), ADDRESS)
    t.sub(_VEHICLE, "[vehicle registration removed]")
    t.sub(_any(x for a in addresses if a for x in _postcode(a.postcode)), ADDRESS)
    t.sub(_POSTCODE, ADDRESS)
    t.sub(_any(x for a in addresses if a for x in _postcode(a.postcode, outward=True)), ADDRESS)
    t.sub(_STREET, ADDRESS)
    t.sub(_STREET_NAME, ADDRESS)
    t.sub(_FLAT_ONLY, ADDRESS)
    t.sub(_OUTWARD, ADDRESS)
    t.sub(_literals([officer.name if officer else None]), OFFICER)
    t.sub(_OFFICER, _officer)
    collar = (officer.collar_number or "").strip() if officer else ""
    if collar:
        t.sub(re.compile(rf"(?<![\w/]){_flex(collar)}(?![\w/])", _I), OFFICER_DETAILS)
    t.sub(_COLLAR, OFFICER_DETAILS)
    named: list[tuple[str | None, bool, str]] = []
    for p, label in labelled:
        named += [(p.given_names, False, label), (p.known_as, False, label)]
        named.append((p.family_name, True, label))
    if officer and officer.name:
        words = [w for w in officer.name.split() if not _is_title(w)]
        named.append((" ".join(words), False, OFFICER))
    names = _name_pass(named)
    if names:
        t.sub(*names)
    t.sub(_LONG_NUMBER, NUMBER)
    return t.result()


def _account(incident: PoliceIncident, child: Person) -> str:
    account = redact(incident.summary, incident, child) if incident.summary.strip() else ""
    if len(account) > ACCOUNT_MAX_CHARS:
        account = account[:ACCOUNT_MAX_CHARS].rsplit(None, 1)[0] + " …"
    return account or NO_ACCOUNT


def police_actions_in_plain_words(
    codes: Iterable[str], incident: PoliceIncident, child: Person
) -> list[str]:
    """Known codes in plain words; unknown ``snake_case`` codes humanised (and redacted)."""
    out: list[str] = []
    for raw in codes:
        code = raw.strip()
        if code in POLICE_ACTIONS:
            words = POLICE_ACTIONS[code]
        elif re.fullmatch(r"[a-z_]{1,64}", code) and code.strip("_"):
            plain = " ".join(code.split("_")).strip()
            words = redact(plain[:1].upper() + plain[1:], incident, child)
        else:
            continue
        if words not in out:
            out.append(words)
    return out


def social_care_informed(codes: Iterable[str]) -> bool:
    """Whether the police actions say children's social care has been told."""
    return any(
        c in SOCIAL_CARE_CODES or "social_care" in c or "mash" in c.split("_") for c in codes
    )


def _same_place(a: Address | None, b: Address | None) -> bool:
    if a is None or b is None:
        return False
    pa, pb = (re.sub(r"\W", "", x.postcode or "").upper() for x in (a, b))
    la, lb = (_key(x.lines[0]) if x.lines else "" for x in (a, b))
    if pa and pb:
        return pa == pb and (not la or not lb or la == lb)
    return bool(la) and la == lb


def place_kind(incident: PoliceIncident, child: Person) -> str | None:
    """The kind of place ("at the child's home"), never the address itself."""
    where = incident.location
    if where is None or not (where.lines or where.postcode):
        return None
    if _same_place(where, child.address):
        return "at the child's home"
    for person, label in _labelled(incident, child):
        if person.role is not Role.CHILD and _same_place(where, person.address):
            return f"at the home of {label}"
    return "at an address other than the child's home" if child.address else None


def minimise(
    incident: PoliceIncident,
    child: Person,
    *,
    reference: str,
    school_name: str,
    child_name: str,
    child_date_of_birth: date,
    deliver_by: datetime,
    first_response: FirstResponseContact,
    ack_url: str | None = None,
    is_update: bool = False,
    profile: MinimisationProfile = DEFAULT_PROFILE,
) -> SchoolNotification:
    """The school-facing notification for ``child``, field by field from an allowlist.

    ``child_name`` and ``child_date_of_birth`` come from the school directory, never
    from the police record.
    """
    if child.role is not Role.CHILD:
        raise ValueError("a notification is about a child: person role must be 'child'")
    if all(p.person_id != child.person_id for p in incident.persons):
        raise ValueError(f"person {child.person_id!r} is not in incident {incident.incident_id!r}")
    voice = child.voice_of_child if profile.include_voice_of_child else None
    risk = (incident.dash_risk or "").strip().casefold() if profile.include_risk_level else ""
    police_reference = incident.crime_reference or incident.incident_id
    omit = profile.omit
    circumstances = "circumstances" not in omit
    return SchoolNotification(
        reference=reference,
        school_name=school_name,
        child_name=child_name,
        child_date_of_birth=child_date_of_birth,
        occurred_at=incident.occurred_at,
        reported_at=incident.reported_at,
        deliver_by=deliver_by,
        present=child.present if circumstances else None,
        witnessed=child.witnessed if circumstances else None,
        injured=child.injured if circumstances else None,
        account=_account(incident, child) if "account" not in omit else "",
        police_actions=(
            police_actions_in_plain_words(incident.police_actions, incident, child)
            if "police_actions" not in omit
            else []
        ),
        omitted=sorted(omit),
        social_care_informed=social_care_informed(incident.police_actions),
        first_response=first_response,
        ack_url=ack_url,
        is_update=is_update,
        # Only what the profile switches on:
        police_reference=police_reference if profile.include_police_reference else None,
        place_kind=place_kind(incident, child) if profile.include_place_kind else None,
        voice_of_child=redact(voice, incident, child) if voice and voice.strip() else None,
        risk_level=_RISK.get(risk),
    )
