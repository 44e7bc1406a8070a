"""Words about people that several layers read, defined once: the particles of a family
name, and the words for a person's gender. The matcher (``school_directory``) and the
redactor (``consumers``) read the same lists; each used to keep its own, with different
contents.
"""

from __future__ import annotations

# Particles of a family name that are not the name itself on their own: "Al-Hassan",
# "Ní Bhriain", "van Dijk", "Da Silva", "ap Rhys", "O Neill", "St John", "Mc Donald".
# fmt: off
PARTICLES = frozenset({
    "ab", "al", "ap", "bin", "binti", "bint", "da", "das", "de", "del", "della", "den", "der",
    "di", "dos", "du", "el", "ibn", "la", "le", "mac", "mc", "ni", "nic", "o", "st", "ten",
    "ter", "ul", "van", "von",
})
# fmt: on

# How a police record or a pupil roll writes a person's gender, case aside.
FEMALE = frozenset({"f", "female", "girl", "woman"})
MALE = frozenset({"m", "male", "boy", "man"})


def gender_code(value: str | None) -> str:
    """ "female", "F", "girl", "woman" -> "f"; "male", "M", "boy", "man" -> "m"; else ""."""
    word = (value or "").strip().casefold()
    return "f" if word in FEMALE else "m" if word in MALE else ""
