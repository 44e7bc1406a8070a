"""The residual check's number and contact readers: runs of digits other than times, the
incident's dates, short durations, service numbers and the child's age; and ``@``,
handles, links and e-mail addresses written out.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

from consumers.residual_suspect import CONTACT, NUMBER, Suspect
from consumers.vocabulary import MONTH_PATTERN, month_number
from foundations.clock import LONDON
from schemas.incident import Person, PoliceIncident

_DIGITS = re.compile(r"\d+")
_TIME = re.compile(
    r"(?<![\d/.:-])(?:[01]?\d|2[0-3])(?:[:.][0-5]\d(?:\s*(?:am|pm|hrs|hours|h))?"
    r"|\s*(?:am|pm|o'?clock))(?![\w/]|[:.]\d)"
    r"|(?<![\d/.:-])(?:[01]\d|2[0-3])[0-5]\d\s*(?:hrs|hours|h)\b",
    re.I,
)
# Numbers every account may carry: the emergency and non-emergency lines.
_SERVICE_NUMBERS = (
    r"(?:(?<=called )|(?<=dialled )|(?<=dialed )|(?<=rang )|(?<=phoned )|(?<=call )"
    r"|(?<=nhs ))(?:999|112|111|101)(?!\d)|(?<!\d)(?:999|112|111|101)(?=\s+(?:call|calls"
    r"|operator|line)\b)"
)
_DURATION = re.compile(
    r"(?<![\d/.:-])\d{1,2}\s*(?:-\s*)?(?:minutes?|mins?|hours?|hrs?|seconds?|secs?|days?"
    r"|nights?|weeks?|times)\b",
    re.I,
)
_CONTACT = re.compile(
    r"(?i)@\S*|\b\w+_\w*|\S*(?:https?://|www\.)\S*|#\w+|\b\w+(?:\s*[\[(]?\s*(?:dot|\.)\s*[\])]?\s*\w+)*"
    r"\s*[\[(]\s*at\s*[\])]\s*\S+|\b\w+\s+at\s+\w+\s+dot\s+\w+(?:\s+dot\s+\w+)*"
    r"|\b\S+\s*[\[(]?\s*dot\s*[\])]?\s*(?:com|co|uk|org|net|io|me)\b"
)
_MONTH = r"(?P<{g}>" + MONTH_PATTERN + r")\.?"
_NUMBERS = re.compile(
    "|".join(
        f"(?:{p})"
        for p in [
            _TIME.pattern,
            _DURATION.pattern,
            _SERVICE_NUMBERS,
            r"(?<!\d)(?P<d1>\d{1,2})\s*[/.-]\s*(?P<m1>\d{1,2})"
            r"(?:\s*[/.-]\s*(?P<y1>\d{4}|\d{2}))?(?![\d/.-]?\d)",
            r"(?<!\d)(?P<y2>\d{4})-(?P<m2>\d{2})-(?P<d2>\d{2})(?!\d)",
            r"(?<!\d)(?P<d3>\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?"
            + _MONTH.format(g="n3")
            + r"(?:,?\s+(?P<y3>\d{4}))?(?!\d)",
            r"\b" + _MONTH.format(g="n4") + r"\s+(?P<d4>\d{1,2})(?:st|nd|rd|th)?"
            r"(?:,?\s+(?P<y4>\d{4}))?(?!\d)",
            r"(?<![\d/.:-])(?P<y5>(?:19|20)\d\d)(?![\d/.:-]?\d)",
            r"\b(?:aged?|is|was)\s+(?P<a1>\d{1,2})\b(?!\s*[/.:-]\d)",
            r"(?<![\d/.:-])(?P<a2>\d{1,2})\s*-?\s*(?:years?|yrs?|y/?o)\b",
        ]
    ),
    re.I,
)


@dataclass(frozen=True)
class _Allowed:
    """The dates and the age an account may carry: the incident's, the child's."""

    days: frozenset[date]
    age: int | None

    @classmethod
    def of(cls, incident: PoliceIncident, child: Person) -> _Allowed:
        days: set[date] = set()
        for moment in (incident.occurred_at, incident.reported_at):
            days |= {moment.astimezone(LONDON).date(), moment.date()}
        age = None
        if child.date_of_birth is not None:
            on, born = incident.occurred_at.astimezone(LONDON).date(), child.date_of_birth
            age = on.year - born.year - ((on.month, on.day) < (born.month, born.day))
        return cls(frozenset(days), age)

    def date(self, day: str, month: str, year: str | None) -> bool:
        m = int(month) if month.isdigit() else month_number(month)
        return any(
            (int(day), m) == (d.day, d.month)
            and (year is None or int(year) in (d.year, d.year % 100))
            for d in self.days
        )

    def allows(self, m: re.Match[str]) -> bool:
        g = m.groupdict()
        if g["a1"] or g["a2"]:
            return self.age is not None and int(g["a1"] or g["a2"]) == self.age
        if g["y5"]:
            return int(g["y5"]) in {d.year for d in self.days}
        for i in "1234":
            day, month = g[f"d{i}"], g.get(f"m{i}") or g.get(f"n{i}")
            if day and month:
                return self.date(day, month, g[f"y{i}"])
        return True  # a time, a duration, a service number


def number_suspects(text: str, incident: PoliceIncident, child: Person) -> Iterator[Suspect]:
    allowed = _Allowed.of(incident, child)
    spans = [(m.start(), m.end()) for m in _NUMBERS.finditer(text) if allowed.allows(m)]
    for m in _DIGITS.finditer(text):
        if not any(a <= m.start() and m.end() <= b for a, b in spans):
            start, end = m.start(), m.end()
            while start > 0 and (text[start - 1].isalnum() or text[start - 1] in "/-"):
                start -= 1
            while end < len(text) and (text[end].isalnum() or text[end] in "/-"):
                end += 1
            yield Suspect(start, end, text[start:end], NUMBER)


def contact_suspects(text: str) -> Iterator[Suspect]:
    for m in _CONTACT.finditer(text):
        yield Suspect(m.start(), m.end(), m.group(0), CONTACT)
