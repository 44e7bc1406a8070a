"""The names of one incident's people in every form an officer writes them, built once per
incident and child (``NameIndex``): recorded given, known-as and family names, their parts,
their nicknames and diminutives, their initials, and the long names one edit away.

Read by the names pass (``consumers.redact_names``) and by the place and officer detectors
(a listed name is not a street, "PC Smith" is the officer).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rapidfuzz import process
from rapidfuzz.distance import OSA

from consumers.redact_labels import OFFICER
from consumers.redact_lexicon import common_word, nickname_variants, word_like, word_names
from consumers.redact_words import APOS_CLASS, DASH_CLASS, FUNCTION_WORDS
from consumers.words import fold
from foundations.vocabulary import PARTICLES

WORD = re.compile(r"[^\W\d_]+")
_SPLIT = re.compile(
    r"(?P<a>[^\W\d_]{2,})(?P<gap>-[ \t]*\r?\n[ \t]*|[ \t]*\r?\n[ \t]*|-)(?P<b>[^\W\d_]{2,})"
)


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
        for part in dict.fromkeys([word, *re.split(rf"[{APOS_CLASS}{DASH_CLASS}]", word)]):
            letters = [c for c in part if c.isalpha()]
            if len(letters) >= 2 or (letters and ord(letters[0]) >= 0x2E80):
                out.append(part)
    return out


def name_key(text: str) -> str:
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
                    key = name_key(part)
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
        entry = self.exact.get(name_key(word))
        return entry is not None and entry.listed and not entry.particle

    def is_someone_else(self, word: str) -> bool:
        """Whether ``word`` names a listed person other than the officer ("told the officer
        Catherine had left": Catherine is not the officer's name)."""
        entry = self.exact.get(name_key(word))
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
    return [w for v in p.given for w in re.split(rf"[\s{DASH_CLASS}]+", v) if w][:3]


def _family_words(p: Named) -> list[str]:
    words = [w for v in p.family for w in re.split(rf"[\s{DASH_CLASS}]+", v) if w]
    return [w for w in words if fold(w) not in PARTICLES] or words


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
