"""Builds ``names.txt``: given and family names, nicknames included, folded (lower case,
no accents), one a line, for the residual check (``consumers.residual``).

Sources, both from PyPI: Faker's person providers in every locale it has (given and family
names), and the ``nicknames`` package (its names and their diminutives). Run it again after
upgrading either: ``python consumers/data/make_names.py``.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import unicodedata
from pathlib import Path

import faker.providers.person as person_providers
from nicknames import NickNamer

HERE = Path(__file__).parent


def fold(word: str) -> str:
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def words(values: object) -> set[str]:
    out: set[str] = set()
    for value in values:  # type: ignore[attr-defined]
        for w in re.split(r"[\s\-'’.]+", str(value)):
            w = fold(w)
            if len(w) >= 2 and w.isalpha() and w.isascii():
                out.add(w)
    return out


def main() -> None:
    names: set[str] = set()
    for module in pkgutil.iter_modules(person_providers.__path__):
        provider = importlib.import_module(f"{person_providers.__name__}.{module.name}").Provider
        for attr in ("first_names", "first_names_female", "first_names_male", "last_names"):
            values = getattr(provider, attr, ())
            if isinstance(values, (list, tuple, dict)):
                names |= words(values)
    namer = NickNamer()
    csv = Path(importlib.import_module("nicknames").__file__ or "").parent / "names.csv"
    for line in csv.read_text(encoding="utf-8").splitlines()[1:]:
        names |= words(line.split(","))
    names |= words(w for n in list(names) for w in namer.nicknames_of(n))
    header = "# Built by consumers/data/make_names.py from Faker and nicknames (PyPI)\n"
    (HERE / "names.txt").write_text(header + "\n".join(sorted(names)) + "\n", encoding="utf-8")
    print(f"{len(names)} names")


if __name__ == "__main__":
    main()
