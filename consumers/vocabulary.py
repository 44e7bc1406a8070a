"""Words read by more than one stage of the pipeline, defined once: the months (the e-mail
writes them; the redactor and the residual check find them in an officer's account), and
the words for someone's relationship to a person and those that introduce a name (the
redactor drops a name after them; the residual check holds a lower-case name after them).
"""

from __future__ import annotations

MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip
# A month as an officer writes it, in full or cut short ("Sept.", "feb"), for a pattern
# matched without case: put it inside a group.
MONTH_PATTERN = (
    r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
)


def month_number(name: str) -> int:
    """1 to 12 for a month's name or its abbreviation: "Sept." -> 9, "feb" -> 2."""
    key = name.strip(".").casefold()[:3]
    return next(i for i, month in enumerate(MONTHS, 1) if month.casefold().startswith(key))


# Someone's relationship to another person, as an officer writes it before a name ("her
# mum Victoria", "his nan pat").
# fmt: off
RELATIONSHIP_WORDS = frozenset({
    "partner", "boyfriend", "girlfriend", "husband", "wife", "ex", "fiance", "fiancee", "mum",
    "mam", "mom", "mummy", "mother", "dad", "daddy", "father", "stepdad", "stepmum",
    "stepfather", "stepmother", "nan", "nana", "nanna", "nanny", "gran", "granny", "grandma",
    "grandad", "grandpa", "grandmother", "grandfather", "aunt", "auntie", "aunty", "uncle",
    "cousin", "brother", "sister", "son", "daughter", "friend", "neighbour", "neighbor",
    "lodger", "carer", "sibling", "stepbrother", "stepsister", "niece", "nephew", "landlord",
    "landlady", "colleague", "flatmate", "housemate", "mate", "pal", "bf", "gf",
})
# fmt: on
# Words that introduce a name ("a man called Dave"); "known as" is two words.
NAME_INTRO = frozenset({"called", "named", "nicknamed", "aka", "alias", "surnamed"})
