"""The NHS number: ten digits, the last a modulus-11 check digit (NHS Data Dictionary).

Read by the police incident (``schemas.incident``), the pupils import and the matcher
(``school_directory``) alike, so it lives here. Pure functions; a problem is described
without repeating the value (it is personal data).

The check digit: the first nine digits weighted 10, 9, ... 2 and summed; 11 minus the
remainder on division by 11 is the check digit, 11 reads as 0, and 10 means no NHS number
is ever issued with those nine digits. Written plain (``9991234543``) or in the 3-3-4 form
with spaces or hyphens (``999 123 4543``, ``999-123-4543``); kept as the ten digits.
"""

from __future__ import annotations

import re

_FORMS = re.compile(r"(\d{3})([ -]?)(\d{3})\2(\d{4})", re.ASCII)  # not other scripts' digits


def check_digit(nine: str) -> int | None:
    """The check digit for nine digits, or None when it would be 10 (no such number)."""
    if len(nine) != 9 or not (nine.isascii() and nine.isdigit()):
        raise ValueError("an NHS number's check digit is computed from nine digits")
    total = sum(int(d) * weight for d, weight in zip(nine, range(10, 1, -1), strict=True))
    check = 11 - total % 11
    if check == 11:
        return 0
    return None if check == 10 else check


def nhs_number_problem(value: str | int | None) -> str | None:
    """Why ``value`` is not a valid NHS number, or None when it is (or when it is empty:
    not recorded is not a problem). The reason never repeats the value."""
    text = "" if value is None else str(value).strip()
    if not text:
        return None
    form = _FORMS.fullmatch(text)
    if form is None:
        return "is not ten digits (or 3-3-4 with spaces or hyphens)"
    digits = form.group(1) + form.group(3) + form.group(4)
    if len(set(digits)) == 1:  # 0000000000 and 1111111111 pass the check: placeholders
        return "is one digit repeated (a placeholder, not a number)"
    check = check_digit(digits[:9])
    if check is None:
        return "has no valid check digit (its first nine digits give 10)"
    if check != int(digits[9]):
        return "fails its check digit"
    return None


def normalise_nhs_number(value: str | int | None) -> str:
    """The ten digits of a valid NHS number; "" for one not recorded or not valid."""
    text = "" if value is None else str(value).strip()
    if not text or nhs_number_problem(text) is not None:
        return ""
    return re.sub(r"[ -]", "", text)


def with_check_digit(nine: str) -> str | None:
    """Nine digits and their check digit, or None when no valid number starts so (for
    synthetic test numbers: the NHS keeps the 999 range for them)."""
    check = check_digit(nine)
    return None if check is None else nine + str(check)
