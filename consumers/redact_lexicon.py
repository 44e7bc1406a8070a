"""What the redactor knows about words and names, loaded once per process.

- ``nickname_variants``: the nicknames of a name and, from a nickname, its formal names and
  their other nicknames: the ``nicknames`` package (PyPI) plus the curated supplement for
  British and other traditions in ``names_data/nicknames_supplement.csv``.
- ``word_like``: a name that is also an ordinary English word ("Rose", "Will", "Brown"),
  so that the sentence decides whether it is used as a name.
- ``common_word``: a frequent English word that is not a given name (``wordfreq``), so
  that a one-edit variant such as "brain" of "Brian" is left alone while "Cahterine" is not.

Pure functions over data files read on first use; nothing here depends on an incident.
"""

from __future__ import annotations

import csv
from functools import cache, lru_cache
from importlib import resources

from consumers.words import fold, zipf

_DATA = "names_data"
COMMON_ZIPF = 3.0  # wordfreq's Zipf scale: 3 is about once in a million words
WORD_LIKE_ZIPF = 3.2


def _data_lines(name: str) -> list[str]:
    text = resources.files("consumers").joinpath(_DATA, name).read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line.strip() and not line.startswith("#")]


def _words(name: str) -> frozenset[str]:
    return frozenset(fold(w) for line in _data_lines(name) for w in line.split())


@cache
def word_names() -> frozenset[str]:
    """Names that are also ordinary words (reviewed list)."""
    return _words("word_names.txt")


@cache
def nickname_exclusions() -> frozenset[str]:
    """Package "nicknames" that are really ordinary words or terms of address."""
    return _words("nickname_exclusions.txt")


@cache
def _nickname_graph() -> tuple[dict[str, frozenset[str]], dict[str, frozenset[str]]]:
    """(formal -> nicknames, nickname -> formal names), package and supplement together."""
    from nicknames import NickNamer

    nicks: dict[str, set[str]] = {}
    for formal, names in NickNamer().nickname_lookup.items():
        nicks.setdefault(fold(formal), set()).update(fold(n) for n in names)
    rows = csv.DictReader(_data_lines("nicknames_supplement.csv"))
    for row in rows:
        nicks.setdefault(fold(row["formal"]), set()).add(fold(row["nickname"]))
    formals: dict[str, set[str]] = {}
    for formal, names in nicks.items():
        for n in names:
            formals.setdefault(n, set()).add(formal)
    return (
        {k: frozenset(v) for k, v in nicks.items()},
        {k: frozenset(v) for k, v in formals.items()},
    )


@lru_cache(maxsize=4096)
def nickname_variants(name: str) -> frozenset[str]:
    """Folded names that may stand for ``name``: its nicknames, its formal names and their
    nicknames. Excluded words, and ``name`` itself, are left out."""
    nicks, formals = _nickname_graph()
    key = fold(name)
    out = set(nicks.get(key, ()))
    for formal in formals.get(key, ()):
        out.add(formal)
        out.update(nicks.get(formal, ()))
    out.discard(key)
    return frozenset(out - nickname_exclusions())


@cache
def given_names() -> frozenset[str]:
    """Given names that are names first: the formal names of the nickname lists and
    Faker's en_GB first names (a nickname such as "wood" or "trace" is not among them)."""
    from faker.providers.person.en_GB import Provider

    nicks, _ = _nickname_graph()
    names = set(nicks)
    names |= {fold(n) for n in (*Provider.first_names_female, *Provider.first_names_male)}
    return frozenset(names - nickname_exclusions() - word_names())


@cache
def all_given_names() -> frozenset[str]:
    """Given names and every nickname the lists know ("Dave", "Gaz"), reviewed words out."""
    _, formals = _nickname_graph()
    names = given_names() | set(formals)
    return frozenset(names - nickname_exclusions() - word_names())


@cache
def family_names() -> frozenset[str]:
    """Common British family names (Faker's en_GB list)."""
    from faker.providers.person.en_GB import Provider

    return frozenset(fold(n) for n in Provider.last_names)


@lru_cache(maxsize=65536)
def common_word(word: str) -> bool:
    """A frequent English word that is not a given name ("brain", "crown"; not "katherine")."""
    key = fold(word)
    return key not in given_names() and zipf(key) >= COMMON_ZIPF


@lru_cache(maxsize=65536)
def word_like(word: str, *, derived: bool = False) -> bool:
    """A name that is also an ordinary word, whose use the sentence decides: any listed
    name that is a frequent word and not a given name ("Rose", "Will", "Wood", "Brown");
    of the nicknames derived from a listed name, only those on the reviewed list ("will",
    "bill", "pat"), since "Bob", "Jim" or "Tom" written in any case are names."""
    key = fold(word)
    if key in word_names():
        return True
    return not derived and key not in given_names() and zipf(key) >= WORD_LIKE_ZIPF
