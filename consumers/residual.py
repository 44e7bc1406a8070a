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

Here: the language model's reader and the check as a whole. The word readers are in
``consumers.residual_words``, the number and contact readers in
``consumers.residual_numbers``, what they read against in ``consumers.residual_lists``,
and what they report (``Suspect``) in ``consumers.residual_suspect``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

from consumers.residual_lists import (
    allowed_phrases,
    allowlist,
    given_names,
    language_model,
    names,
)
from consumers.residual_numbers import contact_suspects, number_suspects
from consumers.residual_suspect import ENTITY, Suspect
from consumers.residual_words import COMMON_CAPITALISED, WORD, core, word_suspects
from consumers.words import fold, zipf
from schemas.incident import Person, PoliceIncident

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
EVERYDAY = 6.0  # "the", "she", "said": too common for anyone to be called by them
_PLACEHOLDER = re.compile(r"\[[a-z -]{3,40} removed\]")


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


_SENTENCE = re.compile(r"[^.!?\n]+(?:[.!?]+|\n|\Z)")


def _uncertain_sentences(text: str, found: list[Suspect]) -> list[tuple[int, str]]:
    """The sentences only the language model can judge: those that open with a name that is
    also a common word ("Mark shouted", "Will said", "Young was"), which the word readers
    let through. Every other capitalised word is already held unless it is allowlisted."""
    out: list[tuple[int, str]] = []
    for sentence in _SENTENCE.finditer(text):
        first = WORD.search(sentence.group(0))
        if first is None or not first.group(0)[:1].isupper():
            continue
        start = sentence.start() + first.start()
        key = core(first.group(0))
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
            words = WORD.findall(ent.text)
            telling = [
                w
                for w in words
                if w[0].isupper()
                and core(w) not in allowed
                and (core(w) in names() or zipf(core(w)) < COMMON_CAPITALISED)
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
        *contact_suspects(text),
        *number_suspects(text, incident, child),
        *word_suspects(text),
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
