"""Detectors that need nothing from the incident: links, e-mail addresses and handles,
references and numbers, number plates, dates. Compiled once at import. (Places are in
``consumers.redact_places``, officers in ``consumers.redact_officers``.)

Each detector is a compiled pattern, and where the match alone cannot decide, a function
that returns the replacement (or the match unchanged, to leave it). Over-redaction is
accepted; a leak is not. The ordinary words around a detail are kept.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date

from consumers.redact_labels import DATE, HANDLE, VEHICLE
from consumers.redact_lexicon import common_word
from consumers.redact_words import FUNCTION_WORDS, NOT_PLATE_LETTERS, is_stop_word, set_of
from consumers.vocabulary import MONTH_PATTERN, month_number

I = re.IGNORECASE  # noqa: E741 (as in the re module)
X = re.VERBOSE


# -- links, e-mail addresses, handles ----------------------------------------------------

URL = re.compile(
    r"\b(?:https?://|www\.)[^\s<>\"]+|\b[\w-]+(?:\.[\w-]+)*\.(?:com|co\.uk|org|net|uk|io|me|ly)/[^\s<>\"]*",
    I,
)
EMAIL_ADDRESS = re.compile(r"[\w.+'’-]+@[\w-]+(?:\.[\w-]+)+")
_AT = r"(?:\s*[\[({<]\s*(?:at|@)\s*[\])}>]\s*|\s+at\s+|\s*@\s*)"
_DOT = r"(?:\s*[\[({<]\s*(?:dot|\.)\s*[\])}>]\s*|\s+dot\s+|\.)"
_TLD = r"(?:com|co|uk|org|net|gov|ac|nhs|sch|io|me|info|biz|email|mail|live|ie|eu|de|fr|pl)"
_PROVIDER = (
    r"(?:g\s?mail|googlemail|hotmail|yahoo|outlook|icloud|live|aol|btinternet|sky|"
    r"virginmedia|talktalk|protonmail|proton|msn|ymail|gmx|mail)"
)
EMAIL_WRITTEN = re.compile(
    rf"(?<![\w@])[\w+'’-]+(?:{_DOT}[\w+-]+)*{_AT}"
    rf"(?:[\w-]+(?:{_DOT}[\w-]+)*{_DOT}{_TLD}(?!\w)|{_PROVIDER}(?!\w))",
    I,
)
HANDLE_AT = re.compile(r"(?<![\w@.])@[A-Za-z0-9_](?:[A-Za-z0-9_.]*[A-Za-z0-9_])?")
_PLATFORM = (
    r"snap(?:chat)?|sc|insta(?:gram)?|ig|tik\s?tok|tt|facebook|fb|twitter|x|threads|youtube|yt"
    r"|twitch|discord|telegram|kik|reddit|only\s?fans|linkedin|pinterest|tumblr|whats\s?app"
    r"|signal|wechat|viber|be\s?real|yubo|roblox|xbox|psn|playstation|steam|fortnite|hinge"
    r"|tinder|bumble|grindr|plenty\s+of\s+fish|pof|badoo"
)
HANDLE_PLATFORM = re.compile(
    rf"(?P<lead>\b(?:{_PLATFORM})(?:\s+(?:name|user\s?name|handle|account|id|profile|page|user|tag))?)"
    r"(?P<sep>\s*[:=]\s*|\s+(?:is|as|called|named|under)\s+|\s+)"
    r"(?P<handle>@?[\w'’-]+(?:\.[\w'’-]+)*(?-i:(?:\s+[^\W\d_a-z][\w'’-]*){0,2}))",
    I,
)


def handle_on_platform(m: re.Match[str]) -> str:
    """ "snap: xyz", "insta jdoe_99", "on TikTok as Jane Smith": the name goes, not the app."""
    handle, sep = m.group("handle"), m.group("sep").strip().casefold()
    first = handle.split()[0]
    explicit = sep in {":", "=", "as", "called", "named", "under"}
    handle_like = bool(re.search(r"[\d_@.]", first)) or not common_word(first.strip(".'’"))
    if is_stop_word(first) or not (explicit or handle_like):
        return m.group(0)
    if first[:1].islower() and not explicit:
        handle = first  # a run of capitalised words follows only an explicit "as" or ":"
    rest = m.group("handle")[len(handle) :]
    return m.group("lead") + m.group("sep") + HANDLE + rest


# -- references and numbers ------------------------------------------------------------

CRIME_REF = re.compile(r"(?<![\w/])\d{1,4}\s*/\s*\d{3,9}\s*/\s*\d{2,4}(?![\w/])")
INCIDENT_ID = re.compile(r"(?<![\w-])\d{2,4}-\d{6,8}-\d{2,8}(?![\w-])")
_REF_LEAD = (
    r"crime|incident|occurrence|occ|log|cad|case|storm|custody(?:\s+record)?|urn|pnc|niche"
    r"|athena|ref(?:erence)?|crn|nfa"
)
REF_WORD = re.compile(
    rf"(?P<lead>\b(?:{_REF_LEAD})\s*(?:ref(?:erence)?|no|num|number|#|id)?\.?\s*:?\s*)"
    r"(?P<ref>\d[\d/-]{2,}(?:[A-Za-z]\b)?(?:\s+of\s+\d{1,2}[/.-]\d{1,2}(?:[/.-]\d{2,4})?)?"
    r"|\d[\w/-]*[A-Za-z][\w/-]*|(?=[\w/-]*\d)[A-Za-z][\w/-]{2,})",
    I,
)
LONG_NUMBER = re.compile(r"(?<![\w/])\d{6,}(?![\w/])")
# An NHS number written 3-3-4 (999 123 4543, 999-123-4543): the ten digits run together
# are a LONG_NUMBER already. Never for a school: removed whether its check digit is right.
NHS_NUMBER = re.compile(r"(?<![\w+/.-])\d{3}(?P<sep>[ -])\d{3}(?P=sep)\d{4}(?![\w/-])")
NI = re.compile(
    r"(?<![A-Za-z0-9])(?:[A-Z]{2}(?:[\s-]?\d{2}){3}[\s-]?[A-D]?|[a-z]{2}\d{6}[a-d])(?![A-Za-z0-9])"
)
NI_WORD = re.compile(
    r"(?P<lead>\b(?:ni|nino|national\s+insurance)(?:\s+(?:no|number|num))?\.?\s*:?\s*)"
    r"[A-Za-z]{2}[\s-]?\d{2}[\s-]?\d{2}[\s-]?\d{2}(?:[\s-]?[A-Da-d])?(?![A-Za-z0-9])",
    I,
)
PHONE_UK = re.compile(
    r"(?<![\w+])(?:(?:\+|00)\s*44\s*(?:\(\s*0\s*\)\s*)?|0|\(0(?=\d{2,4}\)))"
    r"\d(?:[\s().-]{0,2}\d){8,9}(?!\d)"
)
PHONE_ANY = re.compile(r"(?<![\w+])\+?\d[\d\s().-]{4,}\d(?!\d)")
PHONE_INTL = re.compile(r"(?<![\w+])(?:\+|00)\d{1,3}(?:[\s().-]{0,2}\d){6,12}(?!\d)")

# -- vehicles --------------------------------------------------------------------------

VEHICLE_CURRENT = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}\s?[A-Z]{3}(?![A-Za-z0-9])", I)
VEHICLE_OLDER = re.compile(
    r"""(?<![A-Za-z0-9&])(?:
        [A-Z]\d{1,3}\s?[A-Z]{3}                    # prefix, 1983-2001: A123 BCD
      | [A-Z]{3}\s?\d{1,3}\s?[A-Z]                 # suffix, 1963-1983: ABC 123D
      | (?P<l1>[A-Z]{2,3})\s?\d{1,4}               # dateless, Northern Ireland: AIZ 1234
      | \d{1,4}\s?(?P<l2>[A-Z]{2,3})               # dateless reversed: 1234 AB
    )(?![A-Za-z0-9&])""",
    X,
)
VEHICLE_WORD = re.compile(
    r"(?P<lead>\b(?:reg(?:istration)?|vrm|index|(?:number\s+)?plates?)\s*(?:no\.?|number|mark)?\s*:?\s*)"
    r"(?P<v>(?=[A-Za-z]*\d)[A-Za-z0-9]{1,4}\s?[A-Za-z0-9]{1,4})(?![A-Za-z0-9])",
    I,
)


def older_plate(m: re.Match[str]) -> str:
    letters = m.group("l1") or m.group("l2")
    if letters and (letters in NOT_PLATE_LETTERS or letters.casefold() in FUNCTION_WORDS):
        return m.group(0)  # "24 HRS", "AT 2240"
    return VEHICLE


# -- dates -----------------------------------------------------------------------------

_MON = rf"(?P<mon>{MONTH_PATTERN})\.?"
_ORD = r"(?:st|nd|rd|th)?"
_YEAR = r"(?P<y>(?:19|20)\d{2}|'\d{2}|\d{2}(?!\d))"
DATES = re.compile(
    rf"""(?<![\w/.:-])(?:
        (?P<d1>\d{{1,2}})\s*(?P<s>[/.-])\s*(?P<m1>\d{{1,2}})\s*(?P=s)\s*(?P<y1>\d{{4}}|\d{{2}})(?![\w/.:-]?\d)
      | (?P<y2>(?:19|20)\d{{2}})-(?P<m2>\d{{1,2}})-(?P<d2>\d{{1,2}})(?!\d)
      | (?P<d3>\d{{1,2}}){_ORD}(?:\s+of)?[\s/.-]*{_MON}(?:[\s/.,-]*{_YEAR})?(?!\w)
      | (?P<mon4>{MONTH_PATTERN})\.?\s+(?:the\s+)?
          (?P<d4>\d{{1,2}}){_ORD}(?:,?\s*(?P<y4>(?:19|20)\d{{2}}))?(?![\w:])
      | (?P<mon5>{MONTH_PATTERN})\.?,?\s+(?P<y5>(?:19|20)\d{{2}})(?!\d)
      | (?P<lead6>)(?<![\d/.,:])(?!24/7\b)(?P<d6>\d{{1,2}})/(?P<m6>\d{{1,2}})(?![\w/.:%-]?\d|%)
    )""",
    I | X,
)
BARE_YEAR = re.compile(r"(?<![\w/.:£$#-])(?P<y>(?:19|20)\d{2})(?![\w/:]|\.\d)")
_TIME_AFTER = re.compile(r"\s*(?:hrs|hours|hr|h)\b", I)
_TIME_BEFORE = re.compile(
    r"\b(?:at|by|around|approx\.?|approximately|about|until|till|from|before|after|between|and|to)\s+\Z",
    I,
)
DATE_OF_BIRTH_PHRASE = re.compile(
    r"\b(?:d\.?\s?o\.?\s?b\.?|date\s+of\s+birth|born(?:\s+(?:on|in))?)\s*:?\s*"
    r"(?:\d{1,2}\s*[/.-]\s*\d{1,2}\s*[/.-]\s*\d{2,4}|\d{4}-\d{2}-\d{2}"
    r"|\d{1,2}(?:st|nd|rd|th)?(?:\s+of)?[\s/.-]*[a-z]{3,9}\.?,?[\s/.-]*(?:\d{4}|'?\d{2})"
    r"|[a-z]{3,9}\.?\s+\d{1,2}(?:st|nd|rd|th)?,?\s+\d{4}|(?:19|20)\d{2})(?!\d)",
    I,
)


def date_replacer(keep: frozenset[date]) -> Callable[[re.Match[str]], str]:
    """Every date goes except the incident's own (``keep``); a year alone likewise."""
    days = {(d.day, d.month) for d in keep}
    months = {(d.month, d.year) for d in keep}

    def year(text: str | None) -> int | None:
        if not text:
            return None
        n = int(text.strip("'"))
        return n if n >= 100 else 2000 + n if n <= 50 else 1900 + n

    def replace(m: re.Match[str]) -> str:
        g = m.groupdict()
        mon = g["mon"] or g["mon4"] or g["mon5"]
        month = month_number(mon) if mon else int(g["m1"] or g["m2"] or g["m6"] or 0)
        day = int(g["d1"] or g["d2"] or g["d3"] or g["d4"] or g["d6"] or 0)
        y = year(g["y1"] or g["y2"] or g["y"] or g["y4"] or g["y5"])
        if not 1 <= month <= 12 or day > 31 or (day == 0 and not g["mon5"]):
            return m.group(0)  # not a date: "13/13", "22.40.10"
        if g["mon5"]:
            return m.group(0) if (month, y) in months else DATE
        if (day, month) in days and (y is None or any(d.year == y for d in keep)):
            return m.group(0)
        return (g["lead6"] or "") + DATE

    return replace


def year_replacer(keep: frozenset[date]) -> Callable[[re.Match[str]], str]:
    years = {d.year for d in keep}

    def replace(m: re.Match[str]) -> str:
        value = int(m.group("y"))
        if value in years or _TIME_AFTER.match(m.string, m.end()):
            return m.group(0)
        hh, mm = divmod(value, 100)
        before = m.string[max(0, m.start() - 24) : m.start()]
        if hh <= 23 and mm <= 59 and _TIME_BEFORE.search(before):
            return m.group(0)  # "at 1930": a time
        return DATE

    return replace


# -- which passes can match at all: a pass runs only when one of its words is in the text

EMAIL_HINTS = set_of(
    """dot com co uk org net gov ac nhs sch io me info biz email mail live ie eu de fr pl gmail
    g googlemail hotmail yahoo outlook icloud aol btinternet sky virginmedia talktalk
    protonmail proton msn ymail gmx"""
)
REF_HINTS = set_of(
    """crime incident occurrence occ log cad case storm custody urn pnc niche athena ref
    reference crn nfa"""
)
NI_HINTS = frozenset({"ni", "nino", "national"})
PLATFORM_HINTS = set_of(
    """snap snapchat sc insta instagram ig tik tiktok tt facebook fb twitter x threads youtube
    yt twitch discord telegram kik reddit only onlyfans linkedin pinterest tumblr whats
    whatsapp signal wechat viber be bereal yubo roblox xbox psn playstation steam fortnite
    hinge tinder bumble grindr plenty pof badoo"""
)
VEHICLE_HINTS = frozenset({"reg", "registration", "vrm", "index", "plate", "plates"})
