"""The incident's own details found in the text, in any case, accent, spacing or
hyphenation: its addresses and postcodes, e-mail addresses, references, the officer's name
and collar number (``Phrases``), and its phone numbers however they are written.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable

from consumers.redact_labels import PHONE
from consumers.redact_places import FLAT
from consumers.redact_words import APOS, DASH
from consumers.words import fold
from schemas.incident import Address

_SEPS = DASH + APOS
_PRIVATE = re.compile("[\ue000-\uf8ff]")
_INVISIBLE = re.compile("[\u00ad\u200b-\u200d\u2060\ufeff]")


def clean(text: str) -> str:
    """NFC, without private-use characters (the redactor's own markers live there) and
    without invisible characters that could split a name ("Ja\u200bne")."""
    return _INVISIBLE.sub("", _PRIVATE.sub("", unicodedata.normalize("NFC", text)))


def name_key(text: str) -> str:
    """How a name token is compared: case-folded, without spaces, apostrophes, hyphens."""
    return re.sub(rf"[{_SEPS}\s]", "", clean(text).casefold())


_TOKEN = re.compile(r"[^\W_]+")
_GAP_IGNORED = re.compile(rf"[\s{re.escape(_SEPS)}]+")


def _skeleton(text: str) -> str:
    """How a literal is compared: folded words and digits, with the punctuation between
    them but without spaces, apostrophes or hyphens ("SO23 8UJ" = "so238uj",
    "Smith-Jones Road" = "SmithJones road", "jane.doe@example.com" keeps "." and "@")."""
    out: list[str] = []
    at = 0
    for m in _TOKEN.finditer(text):
        if out:
            out.append(_GAP_IGNORED.sub("", text[at : m.start()]))
        out.append(fold(m.group(0)))
        at = m.end()
    return "".join(out)


class Phrases:
    """Literal strings the incident lists (its addresses, postcodes and outward codes,
    e-mail addresses, references, the officer's name and collar number), found in any
    case, accent, spacing or hyphenation. Built with dictionaries, not regexes: a regex
    per incident costs more to compile than to run."""

    def __init__(self, items: Iterable[tuple[str | None, str]]) -> None:
        self.by_head: dict[str, list[tuple[str, str]]] = {}
        for value, replacement in items:
            skeleton = _skeleton(clean(value or ""))
            if len(skeleton) >= 2:
                self.by_head.setdefault(skeleton[0], []).append((skeleton, replacement))
        for found in self.by_head.values():
            found.sort(key=lambda item: len(item[0]), reverse=True)

    def spans(self, text: str) -> list[tuple[int, int, str]]:
        if not self.by_head:
            return []
        tokens = [(m.start(), m.end(), fold(m.group(0))) for m in _TOKEN.finditer(text)]
        out: list[tuple[int, int, str]] = []
        i = 0
        while i < len(tokens):
            matched = self._match(text, tokens, i)
            if matched:
                j, replacement = matched
                out.append((tokens[i][0], tokens[j][1], replacement))
                i = j + 1
            else:
                i += 1
        return out

    def _match(
        self, text: str, tokens: list[tuple[int, int, str]], i: int
    ) -> tuple[int, str] | None:
        for skeleton, replacement in self.by_head.get(tokens[i][2][:1], ()):
            built, j = "", i
            while j < len(tokens):
                built += tokens[j][2]
                if not skeleton.startswith(built):
                    break
                if len(built) == len(skeleton):
                    if skeleton.isdigit() and (
                        text[tokens[i][0] - 1 : tokens[i][0]] == "/"
                        or text[tokens[j][1] : tokens[j][1] + 1] == "/"
                    ):
                        break  # a number inside "44/123456/26" is not the collar number
                    return j, replacement
                if j + 1 == len(tokens):
                    break
                gap = text[tokens[j][1] : tokens[j + 1][0]]
                if "\n\n" in gap or len(gap) > 4 or _PRIVATE.search(gap):
                    break
                built += _GAP_IGNORED.sub("", gap)
                j += 1
        return None


def address_lines(address: Address | None) -> list[str]:
    """Each line, the line without its house or flat number, and each comma part."""
    out: list[str] = []
    for line in address.lines if address else []:
        bare = re.sub(
            rf"^(?:{FLAT}\s*,?\s*)?\d+[a-z]?(?:\s*-\s*\d+)?\s*,?\s*", "", line, flags=re.IGNORECASE
        )
        out += [line, bare, *line.split(",")]
    return [v.strip() for v in out if re.search(r"[^\W\d_]", v)]


def outward(code: str | None) -> str | None:
    compact = re.sub(r"\W", "", code or "").upper()
    return compact[:-3] if 5 <= len(compact) <= 7 else None


def _national(digits: str) -> str:
    """A UK phone number's digits without 00 44, 44 or the leading 0."""
    digits = digits[2:] if digits.startswith("00") else digits
    return digits[2:] if digits.startswith("44") and len(digits) > 10 else digits.lstrip("0")


def phone_replacer(numbers: Iterable[str | None]) -> Callable[[re.Match[str]], str]:
    """Any digit run that is one of these numbers, however it is spaced or prefixed."""
    listed = {_national(re.sub(r"\D", "", n or "")) for n in numbers}
    listed = {n for n in listed if len(n) >= 6}

    def replace(m: re.Match[str]) -> str:
        return PHONE if _national(re.sub(r"\D", "", m.group(0))) in listed else m.group(0)

    return replace
