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

Everything that depends only on the incident is built once (``NameIndex``, in
``consumers.redact_name_index``); a call scans the words of the text once
(``consumers.redact_name_reading``), with dictionary look-ups, not one regex per name. Here:
runs of name-shaped words, whether each run is a name, and what replaces it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from consumers.redact_lexicon import given_names
from consumers.redact_name_index import WORD, NameIndex
from consumers.redact_name_reading import (
    DOT_SPACE,
    NAME,
    POSSESSIVE,
    SPACES,
    UNKNOWN,
    Scan,
    Unit,
    name_shaped,
    scan_unit,
    usage,
)
from consumers.redact_words import DASH_CLASS, NAME_TITLES, ORDINALS
from consumers.vocabulary import RELATIONSHIP_WORDS
from consumers.words import fold

_RUN_GAP = re.compile(rf"(?:\s*[{DASH_CLASS}]\s*|[ \t]+|[ \t]*\r?\n[ \t]*)\Z")
_COMMA_GAP = re.compile(r",\s+\Z")
_ARTICLE = re.compile(r"(?<![\w\ue001])(?:a|an|the)\s+\Z", re.IGNORECASE)


def _decide(c: Scan, run: list[Unit]) -> bool:
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
            verdict = usage(c, u)
            capital = c.words[u.i][2][:1].isupper()
            if verdict == NAME or (verdict == UNKNOWN and (e.listed or capital)):
                definite = True
        else:
            definite = True
    return definite


def _runs(c: Scan) -> Iterable[list[Unit]]:
    """Runs of adjacent name-shaped words; a one-edit form that is also a common word
    ("brain" for Brian) stays in a run only next to another form of the same person."""
    for run in _raw_runs(c):
        piece: list[Unit] = []
        for k, u in enumerate(run):
            if u.weak:
                near = [v for v in run[max(0, k - 1) : k + 2] if v is not u and not v.weak]
                if not any(v.owners & u.owners for v in near) and not _weak_is_name(c, u):
                    if piece:
                        yield piece
                    piece = []
                    continue
                u = Unit(u.i, u.j, u.start, u.end, u.owners, u.entry)  # a name after all
            piece.append(u)
        if piece:
            yield piece


def _weak_is_name(c: Scan, u: Unit) -> bool:
    """A misspelling that is also a word ("Start" for Stuart) is a name where the sentence
    says so ("Later Start left", "Seven said"), but not inside a proper noun ("Crown Court"
    for Brown)."""
    nxt = u.j if u.j < len(c.words) else None
    if nxt is not None and SPACES.fullmatch(c.before(nxt)):
        word = c.words[nxt][2]
        if word[:1].isupper() and fold(word) not in c.index.exact:
            return False
    return usage(c, u) == NAME


def _raw_runs(c: Scan) -> Iterable[list[Unit]]:
    run: list[Unit] = []
    i = 0
    while i < len(c.words):
        u = scan_unit(c, i)
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


def _ordinal_label(c: Scan, who: int) -> str:
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


def _label_run(c: Scan, run: list[Unit], title: bool, ambiguous: str) -> str:
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


def _stranger_before(c: Scan, first: int) -> bool:
    """An unlisted given name just before a listed family name ("Victoria Harrison")."""
    if c.before(first) != " ":
        return False
    key = fold(c.words[first - 1][2])
    if c.at_start(first - 1) and key not in given_names():
        return False  # "Later Harrison said"
    return name_shaped(c, first - 1) and key not in c.index.exact


def _stranger_after(c: Scan, last: int) -> bool:
    """An unlisted family name just after a listed given name ("Catherine Smith")."""
    if last + 1 >= len(c.words) or c.after(last) != " ":
        return False
    return (
        name_shaped(c, last + 1, surname=True) and fold(c.words[last + 1][2]) not in c.index.exact
    )


def name_spans(index: NameIndex, text: str, *, ambiguous: str) -> list[tuple[int, int, str]]:
    """(start, end, replacement) for every name in ``text``, left to right."""
    words = [(m.start(), m.end(), m.group(0)) for m in WORD.finditer(text)]
    upper, lower = sum(map(str.isupper, text)), sum(map(str.islower, text))
    caps = upper > 0.7 * (upper + lower) if upper else False  # an account written in capitals
    c = Scan(index, text, words, caps)
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
            and DOT_SPACE.fullmatch(c.before(first))
        ):
            title, first, start = True, first - 1, words[first - 1][0]
        if first and len(words[first - 1][2]) == 1 and words[first - 1][2].isupper():
            letter = fold(words[first - 1][2]).upper()
            given = index.given_initial.get(letter, set())
            if given & run[0].owners and DOT_SPACE.fullmatch(c.before(first)):
                first, start = first - 1, words[first - 1][0]  # "J. Doe"
                run = [Unit(run[0].i, run[0].j, run[0].start, run[0].end,
                             run[0].owners & given, run[0].entry), *run[1:]]  # fmt: skip
                if first and fold(words[first - 1][2]) in NAME_TITLES:
                    title, first, start = True, first - 1, words[first - 1][0]  # "Mrs J. Doe"
        stranger = stranger or any(u.stranger for u in run)
        value = ambiguous if stranger else _label_run(c, run, title, ambiguous)
        if all(u.titled for u in run):
            value = "another adult"  # "Mrs Green next door", whom the incident does not list
        poss = POSSESSIVE.match(text, end)
        suffix = ""
        if poss:
            end, suffix = poss.end(), "'s"
        before = text[:start]
        prev = c.prev_word(first) if first < len(words) else None
        if prev in RELATIONSHIP_WORDS or (
            first
            and c.low(first - 1) in RELATIONSHIP_WORDS
            and re.fullmatch(r",\s+", c.before(first))
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
