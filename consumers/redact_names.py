"""The names pass of the redactor: every listed person's name, in every form an officer
writes it, becomes that person's relationship to the child, where it is used as a name.

Forms found (issue 12, item 3): the recorded given names, ``known_as`` and family names in
any case, with or without accents (Björn/Bjorn, Łukasz/Lukasz), spacing, apostrophes and
particles (DaSilva, Da Silva, O Neill); their nicknames and diminutives in both directions
(Desmond/Des, Kaśka/Katarzyna, Bob/Robert/Rob); initials (J.D., LJ, Mrs D); one-edit
misspellings of names of five letters or more (Cahterine); names broken by a hyphen or a
line break (Cath-\\nerine). Names nobody listed are taken where the sentence marks them:
after a relationship word ("her mum Victoria" -> "her mum"), after a title ("Mrs Green"
-> "another adult"), or beside a listed name ("Victoria Harrison" -> "a family member").

How a name reads (item 4): a name that is also an ordinary word (Rose, Will, Mark) is
replaced only where the sentence uses it as a name; an article before a name is absorbed
("a Jane" -> "the child's mother"); a name after a relationship word is dropped ("her
partner John" -> "her partner"); possessives are kept; two adults with the same
relationship are told apart ("one parent" ... "the other parent").

Everything that depends only on the incident is built once (``NameIndex``); a call scans
the words of the text once, with dictionary look-ups, not one regex per name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from rapidfuzz import process
from rapidfuzz.distance import OSA

from consumers.redact_lexicon import (
    all_given_names,
    common_word,
    family_names,
    fold,
    given_names,
    nickname_variants,
    word_like,
    word_names,
    zipf,
)
from consumers.redact_patterns import (
    APOS,
    DASH,
    FUNCTION_WORDS,
    OFFICER,
    STOP_CAPITALISED,
    is_title,
    set_of,
)

_A, _D = re.escape(APOS), re.escape(DASH)  # for character classes

WORD = re.compile(r"[^\W\d_]+")
# fmt: off
PARTICLES = frozenset({
    "van", "von", "der", "den", "de", "del", "della", "di", "da", "du", "la", "le", "al", "el",
    "bin", "bint", "ibn", "ap", "ab", "ter", "ten", "dos", "das", "st", "mac", "mc", "o",
})
NAME_TITLES = frozenset({
    "mr", "mrs", "ms", "miss", "mx", "dr", "master", "mister", "madam", "sir", "dame", "mstr",
})
ACRONYMS = set_of("""
PC DC DS DI PS CI GP AE TV OK UK ID IT PE RE MP DJ CC HQ IQ CD DV DA SW IR NE NW SE UN US EU
AI BT CE RC VW BP AM PM NI NB OD ED MH AKA RTA ASB CPS NHS CID BBC ITV PTO ASAP FYI ETA ADHD
ASD SEN DSL IOM CYP LAC CIN CP UTC BST GMT DOB VRM PNC TBC NFA RUI ABH GBH DVA DVPN DVPO DAPN
DAPO MASH DASH IDVA ISVA PCSO DCI DSI CAD URN SMS PIN ATM ICU AMP CEO HR IVF STD STI HIV
""")
REL_NOUNS = set_of("""
partner boyfriend girlfriend husband wife ex fiance fiancee mum mam mom mummy mother dad
daddy father stepdad stepmum stepfather stepmother nan nana nanna gran granny grandma
grandad grandpa grandmother grandfather aunt auntie aunty uncle cousin brother sister son
daughter friend neighbour neighbor lodger carer sibling stepbrother stepsister niece
nephew landlord landlady colleague flatmate housemate mate pal bf gf
""")
NAME_INTRO = frozenset({"called", "named", "nicknamed", "aka", "alias", "surnamed"})
SPEECH_VERBS = set_of("""
said says told tells stated states shouted screamed yelled reported disclosed explained
admitted denied claimed alleged replied asked phoned rang texted messaged confirmed agreed
refused threatened punched hit slapped kicked pushed grabbed assaulted attacked strangled
arrived returned answered called cried swore spat bit shoved was is had has who
""")
SUBJECT_PRONOUNS = frozenset({"i", "you", "he", "she", "we", "they", "it", "who", "which"})
DETERMINERS = set_of("""
the a an this these those his her their my your our its no any some every each another
such what whose either neither much more less own one's
""")
AUXILIARIES = set_of("""
would could should might must can cannot will shall did does do not never also just
""")
QUALIFIERS = set_of("""
lost losing lose regained restored renewed good bad false little great free ill blind
strong real true deep sheer pure new whole full
""")
RELATION_QUALIFIERS = set_of("new ex former current old late own older younger")
MODALS = frozenset({"will", "may", "can", "shall", "might", "must"})
MODAL_NEXT = set_of("""
not be have also never always only still just probably well soon then definitely need
""")
MONTH_WORDS = frozenset({"may", "june", "april", "august", "march"})
MONTH_BEFORE = set_of("""
in during since until till early late mid last next this of from by before after
""")
TWO_LETTER_WORDS = set_of("""
am an as at be by do go he hi if in is it me my no of oh ok on or ox so to up us we ye ah
""")
CONTRACTIONS = frozenset({"t", "ll", "re", "ve", "d", "m"})
ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth")
# fmt: on
_SEP_INSIDE = re.compile(rf"[\s{_A}{_D}]{{0,3}}\Z")
_RUN_GAP = re.compile(rf"(?:\s*[{_D}]\s*|[ \t]+|[ \t]*\r?\n[ \t]*)\Z")
_COMMA_GAP = re.compile(r",\s+\Z")
_START_GAP = re.compile(r"(?:[.!?:;][\"'’”)\]]*\s*|\n\s*)\Z")
_POSSESSIVE = re.compile(rf"[{_A}][sS](?!\w)|(?<=[sSzZxX])[{_A}](?!\w)")
_ARTICLE = re.compile(r"(?<![\w\ue001])(?:a|an|the)\s+\Z", re.IGNORECASE)
_SPLIT = re.compile(
    r"(?P<a>[^\W\d_]{2,})(?P<gap>-[ \t]*\r?\n[ \t]*|[ \t]*\r?\n[ \t]*|-)(?P<b>[^\W\d_]{2,})"
)
_SPACES = re.compile(r"[ \t]+")
_REL_GAP = re.compile(r"[ \t]+|,[ \t]+")
_APOSTROPHE = re.compile(f"[{_A}]")
_DOT_SPACE = re.compile(r"\.?\s+")
_DIGIT_AFTER = re.compile(r"\s*\d")
_DIGIT_BEFORE = re.compile(r"\d(?:st|nd|rd|th)?\s*\Z")
NAME, ORDINARY, UNKNOWN = "name", "ordinary", "unknown"
VERY_COMMON_ZIPF = 4.5  # "house", "drinking": about once in 30,000 words or more often


@dataclass
class Entry:
    """What a folded word (or joined run of words) stands for."""

    owners: set[int]
    listed: bool  # the recorded name itself, not a derived form
    particle: bool = True  # only ever a particle ("van", "al"): not a name on its own
    word_like: bool = False  # also an ordinary word: the sentence decides
    short: bool = False  # a derived form of two letters: only when capitalised
    family: bool = False  # a recorded family name (a stranger's given name may precede it)


@dataclass
class Named:
    """Someone whose name is redacted: how they are called, and the group of adults who
    share their relationship (so that two parents are told apart)."""

    label: str
    adult: bool
    group: int | None = None  # index into NameIndex.groups
    given: list[str] = field(default_factory=list)
    family: list[str] = field(default_factory=list)
    known_as: list[str] = field(default_factory=list)


@dataclass
class Group:
    noun: str  # "parent", "mother", "adult"
    members: list[int]


def _parts(value: str | None) -> list[str]:
    """Each word of a name and each part of a hyphenated or apostrophised word."""
    out: list[str] = []
    for word in (value or "").split():
        for part in dict.fromkeys([word, *re.split(rf"[{_A}{_D}]", word)]):
            letters = [c for c in part if c.isalpha()]
            if len(letters) >= 2 or (letters and ord(letters[0]) >= 0x2E80):
                out.append(part)
    return out


def _key(text: str) -> str:
    return "".join(fold(w) for w in WORD.findall(text))


class NameIndex:
    """Every form of every listed name, for one incident and child; built once."""

    def __init__(self, people: list[Named], groups: list[Group]) -> None:
        self.people = people
        self.groups = groups
        self.exact: dict[str, Entry] = {}
        self.max_words = 1
        self.starts: set[str] = set()  # first words of names written as several words
        fuzzy: dict[str, set[int]] = {}
        initials: dict[str, set[int]] = {}
        family_initial: dict[str, set[int]] = {}
        given_initial: dict[str, set[int]] = {}
        derived: list[tuple[str, int]] = []
        for i, person in enumerate(people):
            for value, is_family in [
                *((v, False) for v in person.given + person.known_as),
                *((v, True) for v in person.family),
            ]:
                words = value.split()
                for part in [*_parts(value), value if len(words) > 1 else ""]:
                    key = _key(part)
                    if len(key) < 2 and not (key and ord(key[0]) >= 0x2E80):
                        continue
                    is_particle = is_family and len(words) > 1 and key in PARTICLES
                    self._add(key, i, listed=True, particle=is_particle, family=is_family)
                    pieces = WORD.findall(part)
                    if len(pieces) > 1:
                        self.max_words = max(self.max_words, len(pieces))
                        self.starts.add(fold(pieces[0]))
                    if len(key) >= 5 and key.isalpha():
                        fuzzy.setdefault(key, set()).add(i)
                    if len(key) >= 4:  # "Mac Donald" for MacDonald, "Da Silva" for DaSilva
                        self.starts.update(key[:n] for n in range(2, len(key) - 1))
                        self.max_words = max(self.max_words, 2)
                    if not is_family:
                        derived += [(v, i) for v in nickname_variants(key)]
            first = [fold(w)[:1].upper() for w in _given_words(person)]
            last = [fold(w)[:1].upper() for w in _family_words(person)]
            every = [
                fold(w)[:1].upper() for v in person.family for w in re.split(r"[\s'’-]+", v) if w
            ]
            for letter in last[:1]:
                if person.adult:
                    family_initial.setdefault(letter, set()).add(i)
            for letter in first[:1]:
                given_initial.setdefault(letter, set()).add(i)
            if first and last:
                g, f = "".join(first), "".join(last)
                for combo in {first[0] + last[0], g + last[0], first[0] + f, g + f,
                              first[0] + every[0], first[0] + "".join(every)}:  # fmt: skip
                    if 2 <= len(combo) <= 4 and combo.isalpha():
                        initials.setdefault(combo, set()).add(i)
        for variant, i in derived:
            if (variant in self.exact and self.exact[variant].listed) or not variant.isalpha():
                continue
            if variant in FUNCTION_WORDS and variant not in word_names():
                continue
            self._add(variant, i, listed=False, particle=False)
        self.fuzzy_keys = list(fuzzy)
        self.fuzzy_lengths = {n + d for n in map(len, fuzzy) for d in (-1, 0, 1)}
        self.fuzzy_owners = fuzzy
        self.initials = initials
        self.family_initial = family_initial
        self.given_initial = given_initial

    def _add(
        self, key: str, owner: int, *, listed: bool, particle: bool, family: bool = False
    ) -> None:
        entry = self.exact.get(key)
        if entry is None:
            entry = self.exact[key] = Entry(set(), listed)
            entry.word_like = word_like(key, derived=not listed)
            entry.short = not listed and len(key) <= 2
        entry.owners.add(owner)
        entry.particle = entry.particle and particle
        entry.family = entry.family or family
        if listed and not entry.listed:
            entry.listed, entry.word_like, entry.short = True, word_like(key), False

    def is_name(self, word: str) -> bool:
        """Whether ``word`` is one of the listed names (for the place detectors)."""
        entry = self.exact.get(_key(word))
        return entry is not None and entry.listed and not entry.particle

    def is_someone_else(self, word: str) -> bool:
        """Whether ``word`` names a listed person other than the officer ("told the officer
        Catherine had left": Catherine is not the officer's name)."""
        entry = self.exact.get(_key(word))
        if entry is None or entry.particle:
            return False
        return any(self.people[o].label != OFFICER for o in entry.owners)

    def fuzzy(self, key: str) -> set[int] | None:
        """The owners of a listed name one edit away from ``key`` (five letters or more)."""
        if len(key) not in self.fuzzy_lengths:
            return None
        found = process.extractOne(key, self.fuzzy_keys, scorer=OSA.distance, score_cutoff=1)
        return self.fuzzy_owners[found[0]] if found else None

    def join_split_names(self, text: str) -> str:
        """ "Cath-\\nerine" -> "Catherine" where the joined word is a listed name."""

        def join(m: re.Match[str]) -> str:
            a, b = m.group("a"), m.group("b")
            ka, kb, joined = fold(a), fold(b), fold(a + b)
            if ka in self.exact and kb in self.exact:
                return m.group(0)
            if joined in self.exact or (self.fuzzy(joined) and not common_word(joined)):
                return a + b
            return m.group(0)

        return _SPLIT.sub(join, text)


def _given_words(p: Named) -> list[str]:
    return [w for v in p.given for w in re.split(rf"[\s{_D}]+", v) if w][:3]


def _family_words(p: Named) -> list[str]:
    words = [w for v in p.family for w in re.split(rf"[\s{_D}]+", v) if w]
    return [w for w in words if fold(w) not in PARTICLES] or words


@dataclass
class _Unit:
    i: int  # first word
    j: int  # one past the last word
    start: int
    end: int
    owners: set[int]
    entry: Entry | None  # None: initials
    weak: bool = False  # a one-edit form that is also a common word
    stranger: bool = False  # a name nobody listed, after a relationship word or a title
    titled: bool = False  # after "Mr", "Mrs": another adult


@dataclass
class _Call:
    """One scan of one text."""

    index: NameIndex
    text: str
    words: list[tuple[int, int, str]]
    caps_style: bool
    mentioned: dict[int, list[int]] = field(default_factory=dict)
    said: set[int] = field(default_factory=set)

    def gap(self, a: int, b: int) -> str:
        """Text between word ``a`` and word ``b`` (a < b)."""
        return self.text[self.words[a][1] : self.words[b][0]]

    def before(self, i: int) -> str:
        return self.text[self.words[i - 1][1] if i else 0 : self.words[i][0]]

    def after(self, i: int) -> str:
        end = self.words[i + 1][0] if i + 1 < len(self.words) else len(self.text)
        return self.text[self.words[i][1] : end]

    def low(self, i: int) -> str | None:
        return self.words[i][2].casefold() if 0 <= i < len(self.words) else None

    def prev_word(self, i: int) -> str | None:
        """The word before ``i`` when only spaces separate them."""
        if i and _SPACES.fullmatch(self.before(i)):
            return self.low(i - 1)
        if i >= 2 and _APOSTROPHE.fullmatch(self.before(i)) and self.low(i - 1) == "s":
            return "'s"  # "Jane's partner John": a possessive acts as a determiner
        return None

    def next_word(self, i: int) -> str | None:
        if i + 1 < len(self.words) and _SPACES.fullmatch(self.after(i)):
            return self.low(i + 1)
        return None

    def at_start(self, i: int) -> bool:
        """At the start of a sentence, a line or the text: a capital there says nothing."""
        return i == 0 or bool(_START_GAP.search(self.before(i)))


def _context(c: _Call, u: _Unit) -> str:
    """Whether a name that is also a word is used as a name here (item 4)."""
    i = u.i
    w = c.words[i][2]
    start = c.at_start(i)
    capital = w[:1].isupper() and not w.isupper()
    shouting = w.isupper() and len(w) > 1 and not c.caps_style
    key = fold(w)
    prev, nxt = c.prev_word(i), c.next_word(u.j - 1)
    digits_near = bool(_DIGIT_AFTER.match(c.text, u.end)) or bool(
        _DIGIT_BEFORE.search(c.text[max(0, u.start - 8) : u.start])
    )
    if key in MONTH_WORDS and (prev in MONTH_BEFORE or digits_near):
        return ORDINARY  # "in May", "May 2025", "25 May"
    if (capital and not start) or shouting:
        return NAME
    if prev in REL_NOUNS or prev in NAME_INTRO:
        return NAME
    if prev in SUBJECT_PRONOUNS:
        return ORDINARY  # "he rose", "it will", "they rob"
    if prev in DETERMINERS or prev == "'s" or prev in QUALIFIERS:
        return ORDINARY  # "the rose", "a mark", "her hope", "lost faith", "good grace"
    if (
        i >= 2
        and prev is not None
        and prev not in REL_NOUNS
        and c.prev_word(i - 1) in DETERMINERS
        and (c.words[i - 1][2].islower() or c.caps_style)
    ):
        return ORDINARY  # "the window rose", "a red mark"
    if key in MODALS:
        if nxt in MODAL_NEXT:
            return ORDINARY  # "will not", "may be"
        if nxt in SUBJECT_PRONOUNS | {"there"} and (start or prev in {"and", "or", "but", "so"}):
            return ORDINARY  # "Will you ...?"
    if prev in AUXILIARIES:
        return ORDINARY  # "would sue", "did rob"
    if prev == "to" and nxt is not None and nxt not in SPEECH_VERBS:
        return ORDINARY  # "to rob the shop", "to mark it"
    if nxt in SPEECH_VERBS:
        return NAME
    if _POSSESSIVE.match(c.text, u.end):
        return NAME
    return UNKNOWN


def _scan_unit(c: _Call, i: int) -> _Unit | None:
    """The name that starts at word ``i``, if any: the longest joined form first."""
    idx, words, text = c.index, c.words, c.text
    start, _, word = words[i]
    # Initials: "J.D.", "L. J.", and "LJ" (not every capital pair: not "PC" or "TV").
    if len(word) == 1 and word.isupper():
        prev = c.low(i - 1) if i else None
        if prev and fold(prev) in NAME_TITLES and _DOT_SPACE.fullmatch(c.before(i)):
            owners = idx.family_initial.get(fold(word).upper())
            if owners:  # "Mrs H", "Mr O'N"
                tail = re.match(rf"[{_A}][^\W\d_]+", text[words[i][1] :])
                j = i + 2 if tail else i + 1
                end = words[i][1] + (tail.end() if tail else 0)
                return _Unit(i, j, start, end, set(owners), None)
        letters, k = word, i
        while k + 1 < len(words) and len(words[k + 1][2]) == 1 and words[k + 1][2].isupper():
            if not re.fullmatch(r"\.\s?", c.gap(k, k + 1)):
                break
            k += 1
            letters += words[k][2]
        dotted = text[words[k][1] : words[k][1] + 1] == "."
        key = fold(letters).upper()
        if k > i and dotted and key in idx.initials:
            end = words[k][1]
            if re.match(rf"\.\s*(?:[a-z,;:)]|[{_A}]s)", text[end:]):
                end += 1
            return _Unit(i, k + 1, start, end, set(idx.initials[key]), None)
    if 2 <= len(word) <= 4 and word.isupper() and word not in ACRONYMS:
        key, low = fold(word).upper(), fold(word)
        ordinary = low in TWO_LETTER_WORDS if len(low) == 2 else common_word(low)  # "DO", "ME"
        if key in idx.initials and low not in idx.exact and not ordinary:
            return _Unit(i, i + 1, start, words[i][1], set(idx.initials[key]), None)
    key = fold(word)
    if key in idx.starts:  # a name written as several words: "O Neill", "Mac Donald"
        for k in range(min(idx.max_words, len(words) - i), 1, -1):
            last = i + k - 1
            gaps = [c.gap(a, a + 1) for a in range(i, last)]
            if any(not _SEP_INSIDE.match(g) or "\n\n" in g for g in gaps):
                continue
            if words[last][2] in {"s", "S"} and _APOSTROPHE.fullmatch(gaps[-1]):
                continue  # "Jane's"
            entry = idx.exact.get("".join(fold(words[a][2]) for a in range(i, last + 1)))
            if entry is not None:
                return _found(c, i, last, entry)
    entry = idx.exact.get(key)
    if entry is not None:
        return _found(c, i, i, entry)
    if len(key) >= 4 and len(key) in idx.fuzzy_lengths and not _very_common(word, key):
        capital_mid = word[:1].isupper() and not word.isupper() and not c.at_start(i)
        owners = idx.fuzzy(key) if key not in FUNCTION_WORDS or capital_mid else None
        if owners:  # "Cahterine"; "Later More left" for Moore
            after = c.after(i)
            if _APOSTROPHE.fullmatch(after) and c.low(i + 1) in CONTRACTIONS:
                return None
            weak = common_word(key)
            return _Unit(i, i + 1, start, words[i][1], set(owners), None, weak=weak)
    return _stranger(c, i)


def _name_shaped(c: _Call, i: int, *, surname: bool = False, any_word: bool = False) -> bool:
    """A capitalised word that reads as a name nobody listed (Victoria, Jake, Okafor);
    with ``any_word``, any capitalised word that is not a function word or a title
    ("her friend Sue": after a relationship word a capital is a name)."""
    word = c.words[i][2]
    if not word[:1].isupper() or len(word) < 2:
        return False
    key = fold(word)
    if key in NAME_TITLES or key in REL_NOUNS or is_title(word):
        return False
    if any_word and word[1:].islower() and (word not in STOP_CAPITALISED or key in word_names()):
        return True  # "her brother Will", "her friend Sue"
    if word in STOP_CAPITALISED or key in FUNCTION_WORDS:
        return False
    known = all_given_names() | family_names() if surname else all_given_names()
    return key in known or key in c.index.exact or not common_word(key)


def _stranger(c: _Call, i: int) -> _Unit | None:
    """ "her mum Victoria Harrison", "his new partner Dave": a name after a relationship
    word, listed or not, goes with the relationship word kept; "Mrs Green" (nobody
    listed) becomes "another adult"."""
    if not i or not c.words[i][2][:1].isupper():
        return None
    if fold(c.words[i - 1][2]) in NAME_TITLES and _DOT_SPACE.fullmatch(c.before(i)):
        if not _name_shaped(c, i, any_word=True):
            return None
        j = i + 1
        while j < len(c.words) and j < i + 3 and _SPACES.fullmatch(c.before(j)):
            if not _name_shaped(c, j, surname=True):
                break
            j += 1
        end = c.words[j - 1][1]
        return _Unit(i, j, c.words[i][0], end, set(), None, stranger=True, titled=True)
    if c.low(i - 1) not in REL_NOUNS:
        return None
    if not _REL_GAP.fullmatch(c.before(i)) or not _name_shaped(c, i, any_word=True):
        return None
    lead = c.prev_word(i - 1)
    if not (lead in DETERMINERS or lead in RELATION_QUALIFIERS or lead == "'s"):
        return None
    j = i + 1
    while j < len(c.words) and j < i + 3 and _SPACES.fullmatch(c.before(j)):
        if not _name_shaped(c, j, surname=True):
            break
        j += 1
    return _Unit(i, j, c.words[i][0], c.words[j - 1][1], set(), None, stranger=True)


def _very_common(word: str, key: str) -> bool:
    """A lower-case word so frequent ("house", "shouting") that a misspelt name written
    as it would go unread anyway: no need to compare it with every name."""
    return word.islower() and zipf(key) >= VERY_COMMON_ZIPF and key not in given_names()


def _found(c: _Call, i: int, last: int, entry: Entry) -> _Unit | None:
    if _APOSTROPHE.fullmatch(c.after(last)) and c.low(last + 1) in CONTRACTIONS:
        return None  # "Don't", "Will'll"
    if entry.short and not c.words[i][2][:1].isupper():
        return None
    return _Unit(i, last + 1, c.words[i][0], c.words[last][1], set(entry.owners), entry)


def _decide(c: _Call, run: list[_Unit]) -> bool:
    """Whether this run of name-shaped words is a name."""
    definite = False
    for u in run:
        e = u.entry
        if e is None:
            definite = definite or not u.weak or u.stranger
        elif e.particle:
            continue
        elif e.word_like:
            # Unclear cases are names when the name is the recorded one or is capitalised:
            # "rose." alone is Rose; a lower-case "will" derived from William is a word.
            verdict = _context(c, u)
            capital = c.words[u.i][2][:1].isupper()
            if verdict == NAME or (verdict == UNKNOWN and (e.listed or capital)):
                definite = True
        else:
            definite = True
    return definite


def _runs(c: _Call) -> Iterable[list[_Unit]]:
    """Runs of adjacent name-shaped words; a one-edit form that is also a common word
    ("brain" for Brian) stays in a run only next to another form of the same person."""
    for run in _raw_runs(c):
        piece: list[_Unit] = []
        for k, u in enumerate(run):
            if u.weak:
                near = [v for v in run[max(0, k - 1) : k + 2] if v is not u and not v.weak]
                if not any(v.owners & u.owners for v in near) and not _weak_is_name(c, u):
                    if piece:
                        yield piece
                    piece = []
                    continue
                u = _Unit(u.i, u.j, u.start, u.end, u.owners, u.entry)  # a name after all
            piece.append(u)
        if piece:
            yield piece


def _weak_is_name(c: _Call, u: _Unit) -> bool:
    """A misspelling that is also a word ("Start" for Stuart) is a name where the sentence
    says so ("Later Start left", "Seven said"), but not inside a proper noun ("Crown Court"
    for Brown)."""
    nxt = u.j if u.j < len(c.words) else None
    if nxt is not None and _SPACES.fullmatch(c.before(nxt)):
        word = c.words[nxt][2]
        if word[:1].isupper() and fold(word) not in c.index.exact:
            return False
    return _context(c, u) == NAME


def _raw_runs(c: _Call) -> Iterable[list[_Unit]]:
    run: list[_Unit] = []
    i = 0
    while i < len(c.words):
        u = _scan_unit(c, i)
        if u is None:
            if run:
                yield run
                run = []
            i += 1
            continue
        if run:
            gap = c.text[run[-1].end : u.start]
            joined = bool(_RUN_GAP.fullmatch(gap))
            if not joined and _COMMA_GAP.fullmatch(gap):  # "DOE, Jane"
                joined = c.words[run[-1].i][2].isupper() and bool(run[-1].owners & u.owners)
            lone_word = u.entry is not None and u.entry.word_like and c.words[u.i][2].islower()
            if lone_word and not (run[-1].owners & u.owners):
                joined = False  # "Mark Jones rose": "rose" is read on its own
            if not joined:
                yield run
                run = []
        run.append(u)
        i = u.j
    if run:
        yield run


def _ordinal_label(c: _Call, who: int) -> str:
    person = c.index.people[who]
    if person.group is None:
        return person.label
    group = c.index.groups[person.group]
    order = c.mentioned.setdefault(person.group, [])
    if who not in order:
        order.append(who)
    k = order.index(who)
    first_time = who not in c.said
    c.said.add(who)
    two = len(group.members) == 2
    if first_time:
        if k == 0:
            return f"one {group.noun}"
        return f"the other {group.noun}" if two else f"a {ORDINALS[min(k, 5)]} {group.noun}"
    if two:
        return f"the first {group.noun}" if k == 0 else f"the other {group.noun}"
    return f"the {ORDINALS[min(k, 5)]} {group.noun}"


def _label_run(c: _Call, run: list[_Unit], title: bool, ambiguous: str) -> str:
    segments: list[set[int]] = []
    for u in run:
        if segments and segments[-1] & u.owners:
            segments[-1] &= u.owners
        else:
            segments.append(set(u.owners))
    if title:  # "Mrs Doe" is an adult, even if the children share the name
        adults = {o for o in segments[0] if c.index.people[o].adult}
        segments[0] = adults or segments[0]
    labels = []
    for owners in segments:
        said = {c.index.people[o].label for o in owners}
        grouped = any(c.index.people[o].group is not None for o in owners)
        if len(owners) == 1:
            labels.append(_ordinal_label(c, next(iter(owners))))
        else:  # two other children are both "another child"; otherwise who is unknown
            labels.append(said.pop() if len(said) == 1 and not grouped else ambiguous)
    return " ".join(labels)


def _stranger_before(c: _Call, first: int) -> bool:
    """An unlisted given name just before a listed family name ("Victoria Harrison")."""
    if c.before(first) != " ":
        return False
    key = fold(c.words[first - 1][2])
    if c.at_start(first - 1) and key not in given_names():
        return False  # "Later Harrison said"
    return _name_shaped(c, first - 1) and key not in c.index.exact


def _stranger_after(c: _Call, last: int) -> bool:
    """An unlisted family name just after a listed given name ("Catherine Smith")."""
    if last + 1 >= len(c.words) or c.after(last) != " ":
        return False
    return (
        _name_shaped(c, last + 1, surname=True) and fold(c.words[last + 1][2]) not in c.index.exact
    )


def name_spans(index: NameIndex, text: str, *, ambiguous: str) -> list[tuple[int, int, str]]:
    """(start, end, replacement) for every name in ``text``, left to right."""
    words = [(m.start(), m.end(), m.group(0)) for m in WORD.finditer(text)]
    upper, lower = sum(map(str.isupper, text)), sum(map(str.islower, text))
    caps = upper > 0.7 * (upper + lower) if upper else False  # an account written in capitals
    c = _Call(index, text, words, caps)
    spans: list[tuple[int, int, str]] = []
    for run in _runs(c):
        if not _decide(c, run):
            continue
        start, end = run[0].start, run[-1].end
        first, last = run[0].i, run[-1].j - 1
        stranger = False
        head, tail = run[0].entry, run[-1].entry
        if head and head.family and first and _stranger_before(c, first):
            first, start, stranger = first - 1, words[first - 1][0], True  # "Victoria Harrison"
        if tail and not tail.family and _stranger_after(c, last):
            end, stranger = words[last + 1][1], True  # "Catherine Smith"
        title = False
        if (
            first
            and fold(words[first - 1][2]) in NAME_TITLES
            and _DOT_SPACE.fullmatch(c.before(first))
        ):
            title, first, start = True, first - 1, words[first - 1][0]
        if first and len(words[first - 1][2]) == 1 and words[first - 1][2].isupper():
            letter = fold(words[first - 1][2]).upper()
            given = index.given_initial.get(letter, set())
            if given & run[0].owners and _DOT_SPACE.fullmatch(c.before(first)):
                first, start = first - 1, words[first - 1][0]  # "J. Doe"
                run = [_Unit(run[0].i, run[0].j, run[0].start, run[0].end,
                             run[0].owners & given, run[0].entry), *run[1:]]  # fmt: skip
                if first and fold(words[first - 1][2]) in NAME_TITLES:
                    title, first, start = True, first - 1, words[first - 1][0]  # "Mrs J. Doe"
        stranger = stranger or any(u.stranger for u in run)
        value = ambiguous if stranger else _label_run(c, run, title, ambiguous)
        if all(u.titled for u in run):
            value = "another adult"  # "Mrs Green next door", whom the incident does not list
        poss = _POSSESSIVE.match(text, end)
        suffix = ""
        if poss:
            end, suffix = poss.end(), "'s"
        before = text[:start]
        prev = c.prev_word(first) if first < len(words) else None
        if prev in REL_NOUNS or (
            first and c.low(first - 1) in REL_NOUNS and re.fullmatch(r",\s+", c.before(first))
        ):
            # "her partner John" -> "her partner"; "her partner, John, said" -> "her partner said"
            rel_end = words[first - 1][1]
            if re.match(r",", text[end:]) and "," in text[rel_end:start]:
                end += 1
            spans.append((rel_end, end, suffix))
            continue
        article = _ARTICLE.search(before)
        if article:
            start = article.start()
        spans.append((start, end, value + suffix))
    return spans


def people_from(
    labelled: list[tuple[str, bool, str | None, str | None, str | None, str]],
) -> tuple[list[Named], list[Group]]:
    """Persons (label, adult, given, family, known_as, group key) -> index people, groups.

    Adults who share a relationship label form a group; a group of one is no group."""
    people: list[Named] = []
    keys: dict[str, list[int]] = {}
    for label, adult, given, family, known_as, group_key in labelled:
        people.append(
            Named(
                label,
                adult,
                given=[given] if given else [],
                family=[family] if family else [],
                known_as=[known_as] if known_as else [],
            )
        )
        if adult and group_key:
            keys.setdefault(group_key, []).append(len(people) - 1)
    groups: list[Group] = []
    for key, members in keys.items():
        if len(members) > 1:
            for m in members:
                people[m].group = len(groups)
            groups.append(Group(_noun(key), members))
    return people, groups


def _noun(label: str) -> str:
    """ "the child's parent" -> "parent"; "another adult" -> "adult"."""
    return re.sub(r"^(?:the\s+[\w-]+'s|an?|another)\s+", "", label)
