"""The pupil's Unique Pupil Number (DfE): a check letter, then 12 digits."""

from __future__ import annotations

UPN_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"


def upn_check_letter(digits: str) -> str:
    """The check letter for the 12 digits of a UPN (DfE: weights 2-13, modulo 23)."""
    if len(digits) != 12 or not digits.isdigit():
        raise ValueError("a UPN has 12 digits after its check letter")
    total = sum(int(d) * weight for weight, d in enumerate(digits, start=2))
    return UPN_LETTERS[total % 23]


def upn_problem(upn: str) -> str | None:
    """Why ``upn`` is not a valid permanent UPN, or None when it is."""
    if len(upn) != 13:
        return "upn must be 13 characters"
    if not upn[1:].isdigit() or not upn[1:].isascii():
        return "upn must be a check letter then 12 digits"
    if upn[0] != upn_check_letter(upn[1:]):
        return "upn check letter does not match its digits"
    return None
