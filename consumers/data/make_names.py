"""Builds ``names.txt`` (given and family names, nicknames included) and
``given_names.txt`` (given names and nicknames only), folded (lower case, no accents), one
a line, for the residual check (``consumers.residual``).

Sources: from PyPI, Faker's person providers in every locale it has (given and family
names), the ``nicknames`` package (its names and their diminutives) and the ``names``
package (the United States census lists: 88,799 family names, 5,494 given names); and the
project's own supplement of British and other nicknames (``consumers/names_data``). Run it
again after upgrading any of them: ``pip install names && python consumers/data/make_names.py``.
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
    given: set[str] = set()
    family: set[str] = set()
    for module in pkgutil.iter_modules(person_providers.__path__):
        provider = importlib.import_module(f"{person_providers.__name__}.{module.name}").Provider
        for attr in ("first_names", "first_names_female", "first_names_male", "last_names"):
            values = getattr(provider, attr, ())
            if isinstance(values, (list, tuple, dict)):
                (family if attr == "last_names" else given).update(words(values))
    namer = NickNamer()
    csv = Path(importlib.import_module("nicknames").__file__ or "").parent / "names.csv"
    for line in csv.read_text(encoding="utf-8").splitlines()[1:]:
        given |= words(line.split(","))
    given |= words(w for n in list(given) for w in namer.nicknames_of(n))
    census = Path(importlib.import_module("names").__file__ or "").parent
    for part in ("dist.all.last", "dist.female.first", "dist.male.first"):
        lines = (census / part).read_text(encoding="utf-8").splitlines()
        found = words(line.split()[0] for line in lines if line.strip())
        (family if part.endswith("last") else given).update(found)
    supplement = HERE.parent / "names_data" / "nicknames_supplement.csv"
    rows = [r for r in supplement.read_text(encoding="utf-8").splitlines() if r[:1] != "#"]
    given |= words(v for row in rows[1:] for v in row.split(",")[:2])  # formal, nickname
    header = (
        "# Built by consumers/data/make_names.py from Faker, nicknames and names (PyPI)"
        " and consumers/names_data/nicknames_supplement.csv\n"
    )
    for name, found in (("names.txt", given | family), ("given_names.txt", given)):
        (HERE / name).write_text(header + "\n".join(sorted(found)) + "\n", encoding="utf-8")
        print(f"{name}: {len(found)} names")


if __name__ == "__main__":
    main()
