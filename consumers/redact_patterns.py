"""Detectors that need nothing from the incident: references, numbers, dates, places,
workplaces, schools, officers, handles. Compiled once at import.

Each detector is a compiled pattern, and where the match alone cannot decide, a function
that returns the replacement (or the match unchanged, to leave it). Over-redaction is
accepted; a leak is not. The ordinary words around a detail are kept.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date

from consumers.redact_lexicon import common_word, family_names, fold, given_names

I = re.IGNORECASE  # noqa: E741 (as in the re module)
X = re.VERBOSE


def set_of(words: str) -> frozenset[str]:
    """The words of a reviewed list written as text."""
    return frozenset(words.split())


ADDRESS = "[address removed]"
PHONE = "[phone number removed]"
EMAIL = "[e-mail address removed]"
REFERENCE = "[reference removed]"
DATE = "[date removed]"
DATE_OF_BIRTH = "[date of birth removed]"
NUMBER = "[number removed]"
LINK = "[link removed]"
VEHICLE = "[vehicle registration removed]"
NI_NUMBER = "[national insurance number removed]"
HANDLE = "[social media name removed]"
WORKPLACE = "[workplace removed]"
SCHOOL = "[school removed]"
OFFICER = "an officer"
OFFICER_DETAILS = "[officer details removed]"

APOS = "'’‘`´ʼ"
DASH = "-‐‑‒–—"

# fmt: off
FUNCTION_WORDS = set_of("""
a about above across after again against all along also although always am among an and
another any are around as at away back be because been before behind being below beside
between both but by can could did do does doing done down during each either else even
ever every few for from further had has have having he her here hers herself him himself
his how however i if in inside into is it its itself just least less many may me might
mine more most much must my myself near neither never next no nor not now of off often on
once one only onto or other our ours out outside over own past per perhaps quite rather
round same several shall she should since so some such than that the their theirs them
themselves then there these they this those though through till to too towards under
until up upon us very was we well were what when where whether which while who whom whose
why will with within without would yet you your yours yourself
""")
STOP_CAPITALISED = frozenset(w.capitalize() for w in FUNCTION_WORDS) | set_of("""
Police Officer Officers Mum Dad Mother Father Nan Gran Later Today Tonight Yesterday
Earlier Afterwards Meanwhile Both Child Children Victim Suspect School Social Care
""")
# fmt: on


def _stop(word: str) -> bool:
    """A function word ("the", "and", "her"), whatever its case."""
    return word.casefold().strip(APOS + ".") in FUNCTION_WORDS


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
    if _stop(first) or not (explicit or handle_like):
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
COLLAR = re.compile(r"\b(?:collar|shoulder|warrant)\s*(?:number|no\.?|#)?\s*:?\s*[a-z]*\d+", I)

# -- vehicles --------------------------------------------------------------------------

VEHICLE_CURRENT = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}\s?[A-Z]{3}(?![A-Za-z0-9])", I)
# fmt: off
_NOT_PLATE = set_of("""
PC DC DS DI PS CI HRS HR AM PM ST ND RD TH YRS YR YO MPH KM KG CM MM ML GP UK DV DA AE
NHS CAD PNC NI MG CID DCI DSI SGT BST GMT UTC AGE CCTV TV ID NO OK MIN MINS SEC KMH
""")
# fmt: on
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
    if letters and (letters in _NOT_PLATE or letters.casefold() in FUNCTION_WORDS):
        return m.group(0)  # "24 HRS", "AT 2240"
    return VEHICLE


# -- dates -----------------------------------------------------------------------------

_MON = (
    r"(?P<mon>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_ORD = r"(?:st|nd|rd|th)?"
_YEAR = r"(?P<y>(?:19|20)\d{2}|'\d{2}|\d{2}(?!\d))"
DATES = re.compile(
    rf"""(?<![\w/.:-])(?:
        (?P<d1>\d{{1,2}})\s*(?P<s>[/.-])\s*(?P<m1>\d{{1,2}})\s*(?P=s)\s*(?P<y1>\d{{4}}|\d{{2}})(?![\w/.:-]?\d)
      | (?P<y2>(?:19|20)\d{{2}})-(?P<m2>\d{{1,2}})-(?P<d2>\d{{1,2}})(?!\d)
      | (?P<d3>\d{{1,2}}){_ORD}(?:\s+of)?[\s/.-]*{_MON}(?:[\s/.,-]*{_YEAR})?(?!\w)
      | (?P<mon4>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?
          |sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?\s+(?:the\s+)?
          (?P<d4>\d{{1,2}}){_ORD}(?:,?\s*(?P<y4>(?:19|20)\d{{2}}))?(?![\w:])
      | (?P<mon5>january|february|march|april|may|june|july|august|september|october|november
          |december|jan|feb|mar|apr|jun|jul|aug|sept?|oct|nov|dec)\.?,?\s+(?P<y5>(?:19|20)\d{{2}})(?!\d)
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
_MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8,
    "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip


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
        month = _MONTHS[mon[:3].casefold()] if mon else int(g["m1"] or g["m2"] or g["m6"] or 0)
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


# -- places ----------------------------------------------------------------------------

FLAT = r"(?i:flat|apartment|apt|unit|room|maisonette)\s*\d+[a-z]?"
_STREET_STRONG = (
    r"road|rd|street|st|avenue|ave|lane|ln|crescent|cres|terrace|gardens|gdns|mews|nook|wynd"
    r"|garth|ginnel|loke|holme|dene|leys|boulevard|cottages?|vennel|snicket|twitten|chare"
)
_STREET_WEAK = (
    r"close|drive|dr|way|court|ct|place|pl|grove|hill|park|square|sq|row|walk|rise|view|green"
    r"|parade|gate|chase|croft|meadows?|drove|wharf|quay|yard|estate|end|fold|vale|brow|bank"
    r"|side|lea|copse|shaw|circus|approach|passage|alley|path|mead|dale|hey|heath|common"
    r"|mount|ridge|hollow|fields?|orchard|paddock|pastures?|broadway|causeway|esplanade"
    r"|promenade|embankment|crossing|circle|cross|hurst|bottom|top|ley|heights|grange|ings"
)
_SUFFIX = f"{_STREET_STRONG}|{_STREET_WEAK}"
_FUNC = "|".join(sorted(FUNCTION_WORDS, key=len, reverse=True))
STREET_NUMBERED = re.compile(
    rf"(?<!\w)(?:{FLAT}\s*,?\s*)?\d{{1,4}}[A-Za-z]?(?:\s*[-–]\s*\d{{1,4}})?\s*,?\s+"
    rf"(?:(?!(?i:{_FUNC})\b)[^\W\d_][\w'’-]*\s+){{1,4}}(?i:{_SUFFIX})(?!\w)"
)


def _or_capitals(pattern: str) -> str:
    """``pattern`` (written in title case) or the same in capitals, for accounts written in
    capitals ("MILL LANE"); escapes such as ``\\s`` are left as they are."""
    out, escaped = [], False
    for ch in pattern:
        out.append(ch if escaped else ch.upper())
        escaped = ch == "\\" and not escaped
    return f"(?:{pattern}|{''.join(out)})"


_NAMED_SUFFIX = _or_capitals("|".join(s.capitalize() for s in _SUFFIX.split("|") if len(s) > 2))
STREET_NAMED = re.compile(  # "Church Road", "Elson Nook": capitalised words and a suffix
    rf"(?<!\w)(?P<words>(?:[^\W\d_a-z][\w'’-]*\s+){{1,3}})(?P<suffix>{_NAMED_SUFFIX})(?!\w)"
)
STREET_LOWER = re.compile(
    rf"(?<![\w'’-])(?P<words>(?:[a-z][a-z'’-]+\s+){{1,2}})(?P<suffix>{_SUFFIX})(?![\w'’-])"
)
_HOUSE = (
    "House|Cottage|Cottages|Barn|Farm|Farmhouse|Heights|Court|Tower|Towers|Lodge|Manor|Hall"
    "|Mill|Villa|Villas|Grange|Mansions|Buildings|Point|Plaza|Wharf|Apartments|Flats|Bungalow"
    "|Chambers|Rectory|Vicarage|Oast|Granary|Stables|Coach House|Gatehouse|Croft"
)
HOUSE_NAME = re.compile(
    rf"(?<!\w)(?P<words>(?:[^\W\d_a-z][\w'’-]*\s+){{1,3}})(?P<suffix>{_or_capitals(_HOUSE)})(?!\w)"
)
_INSTITUTION = (
    r"Police\s+Station|Custody\s+Suite|(?:General\s+|Community\s+|Children's\s+|Royal\s+)?Hospital"
    r"|Medical\s+Centre|Health\s+Centre|Surgery|Children's\s+Centre|Family\s+Centre"
    r"|Leisure\s+Centre|Community\s+Centre|Sports\s+Centre|Shopping\s+Centre|Retail\s+Park"
    r"|Train\s+Station|Railway\s+Station|Bus\s+Station|Refuge|Hostel|Hotel|Pub|Inn|Arms"
)
INSTITUTION = re.compile(
    rf"(?<!\w)(?P<words>(?:[^\W\d_a-z][\w'’-]*\s+){{1,3}})"
    rf"(?P<suffix>{_or_capitals(_INSTITUTION)})(?!\w)"
)


def institution(m: re.Match[str]) -> str:
    """ "Basingstoke Police Station" -> "the police station": the kind of place stays."""
    at = _kept_from(m, "words", _leading_stop)
    if at is None:
        return m.group(0)
    kind = re.sub(r"\s+", " ", m.group("suffix")).casefold()
    kind = re.sub(r"^(?:general|community|royal) ", "", kind)
    kind = "pub" if kind in {"inn", "arms"} else kind
    lead = m.group(0)[:at]
    before = m.string[max(0, m.start() - 8) : m.start()] + lead
    article = "" if re.search(r"\b(?:the|a|an)\s+\Z", before, I) else "the "
    return lead + article + kind


_COURTS = frozenset({"Crown", "Magistrates", "Magistrates'", "Family", "County", "Youth", "High"})
FLAT_ONLY = re.compile(rf"(?<!\w){FLAT}(?!\w)")
POSTCODE = re.compile(
    r"(?<![A-Za-z0-9])(?:GIR\s*0AA|[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2})(?![A-Za-z0-9])", I
)
OUTWARD = re.compile(r"(?<![A-Za-z0-9])[A-Z]{1,2}\d[A-Z\d]?(?![A-Za-z0-9])")


def _kept_from(m: re.Match[str], group: str, drop: Callable[[str], bool]) -> int | None:
    """Offset in the match of the first word of ``group`` that ``drop`` does not strip.

    In an account written in capitals a capital says nothing: there, common words are
    stripped too, but the word next to the suffix stays ("WALKED DOWN [MILL LANE]")."""
    found = list(re.finditer(r"\S+", m.group(group)))
    shouting = all(w.group(0).isupper() for w in found) and m.group(0).isupper()
    for k, w in enumerate(found):
        word = w.group(0)
        if drop(word):
            continue
        bare = word.strip(APOS + ".-")
        if shouting and (_stop(bare) or (k < len(found) - 1 and common_word(bare))):
            continue
        return m.start(group) - m.start() + w.start()
    return None


_PLACE_LEAD = set_of("""
the a an his her their my our your its this that these those on in at to of by for from with
and but or into onto near via past towards toward round around outside inside behind beside
opposite off i he she we they it who when where while then also later after before
mr mrs ms miss mx dr master mister sir dame madam
""")


def _leading_stop(word: str) -> bool:
    """A word a place name cannot start with ("the", "on", "Police"); "Back Lane", "High
    Street", "Old Road" are place names."""
    key = word.casefold().strip(APOS + ".")
    if key in _PLACE_LEAD:
        return True
    return word in STOP_CAPITALISED and key not in FUNCTION_WORDS


def named_place(
    is_name: Callable[[str], bool], label: str = ADDRESS
) -> Callable[[re.Match[str]], str]:
    """A capitalised place name ("Church Road", "Falcon Heights"); left alone when it is a
    listed person ("Jane Green"); "Winchester Crown Court" becomes "the Crown Court"."""

    def replace(m: re.Match[str]) -> str:
        text, suffix = m.group(0), m.group("suffix")
        at = _kept_from(m, "words", _leading_stop)
        if at is None:
            return text
        words = text[at : m.start("suffix") - m.start()].split()
        if is_name(suffix):
            return text  # "Jane Green", where Green is a listed family name
        if suffix == "Court" and words[-1] in _COURTS:
            return text if len(words) == 1 else text[:at] + f"the {words[-1]} Court"
        return text[:at] + label

    return replace


def lower_street(is_name: Callable[[str], bool]) -> Callable[[re.Match[str]], str]:
    """ "elson nook", "12 park road": a street in lower case; not "the road", "left side"."""
    strong = re.compile(rf"(?:{_STREET_STRONG})\Z", I)

    def replace(m: re.Match[str]) -> str:
        text, suffix = m.group(0), m.group("suffix")
        at = _kept_from(m, "words", _stop)
        if at is None:
            return text
        words = text[at : m.start("suffix") - m.start()].split()
        if any(_stop(w) for w in words) or is_name(suffix) or any(is_name(w) for w in words):
            return text
        if strong.match(suffix) or not common_word(words[-1].strip("'’-")):
            return text[:at] + ADDRESS
        return text

    return replace


# -- schools and workplaces ------------------------------------------------------------

_SCHOOL_KIND = (
    r"School|Academy|Primary|Secondary|College|High|Infants?|Juniors?|Nursery|Pre-?[Ss]chool"
    r"|Grammar|Comprehensive|Sixth\s+Form|University|Montessori|Prep(?:aratory)?|UTC"
)
_SCHOOL_SUFFIX = (
    r"(?:(?:C\s*of\s*E|CofE|CE|RC|Catholic|Church|Methodist|Community|Infant|Junior"
    rf"|Primary|Secondary|High|Grammar|Free|Special|Foundation)\s+)*(?:{_SCHOOL_KIND})"
    r"(?:\s+(?:School|Academy|Infants?|Juniors?|College))?"
)
SCHOOL_NAMED = re.compile(
    r"(?<!\w)(?P<words>(?:(?:St\.?|Saint|Our|Lady|Holy|of|the|and|C|E|&)\s+"
    r"|[^\W\d_a-z][\w'’.-]*\s+){1,5})"
    rf"(?P<suffix>{_or_capitals(_SCHOOL_SUFFIX)})(?!\w)"
)
_GENERIC_SCHOOL_WORDS = set_of(
    """High Primary Secondary Junior Juniors Infant Infants Nursery Grammar Special Sixth
    Boarding Private State Local New Old Forest Sunday Same Other Previous Current Next
    Different Mainstream Village Faith Church Catholic Free Community Independent Alternative
    Pupil Referral Unit Further Education Medical Police Night Driving Dance Summer Holiday
    Art Music Swimming Football Drama Language Day Home"""
)
SCHOOL_LOWER = re.compile(
    r"(?<![\w'’-])(?P<w>[a-z][\w'’-]+)\s+(?:school|academy|college|primary|nursery|high)(?!\w)"
)


def named_school(is_name: Callable[[str], bool]) -> Callable[[re.Match[str]], str]:
    """ "Westgate Academy", "St Mary's C of E Primary": not "the High School"."""

    def drop(word: str) -> bool:
        return _leading_stop(word) or word in _GENERIC_SCHOOL_WORDS

    def replace(m: re.Match[str]) -> str:
        at = _kept_from(m, "words", drop)
        return m.group(0) if at is None else m.group(0)[:at] + SCHOOL

    return replace


def lower_school(m: re.Match[str]) -> str:
    w = m.group("w")
    if _stop(w) or common_word(w.strip("'’-")):
        return m.group(0)
    return SCHOOL


_WORK_LEAD = r"""
    (?:works?|worked|working|employed|volunteers?|volunteering|volunteered)\s+(?:at|for|by|with)
  | (?:works?|worked|working)\s+in(?=\s+(?-i:[^\W\d_a-z]))
  | (?:works?|worked|working|employed)\s+as\s+an?\s+[\w-]+(?:\s+[\w-]+)?\s+(?:at|for|with|in)
  | employer(?:\s+is)?|place\s+of\s+work(?:\s+is)?|workplace(?:\s+is)?|employment\s+(?:at|with)
  | (?:job|shift|shifts|placement|apprenticeship|role)\s+(?:at|with|for)
  | (?:at\s+)?(?:his|her|their|my)\s+(?:work|job|workplace)\s*[,:(-]
"""
_WORK_STOP = (
    r"and|but|so|because|when|while|where|who|which|that|as|then|until|since|although|though"
    r"|if|after|before|he|she|they|it|her|his|their|was|is|were|had|has|on|for|from|to|with"
    r"|during|this|last"
    r"|yesterday|today|tonight|at|the\s+(?:weekend|time)|weekends|nights|home"
)
_WORK_TOKEN = r"[\w&'’-]+(?:\.[\w&'’-]+)*"  # noqa: S105 ("Smith's", "B&Q"; not a full stop)
WORKPLACE_PHRASE = re.compile(
    rf"(?P<lead>\b(?:{_WORK_LEAD})\s*:?\s*)"
    rf"(?P<place>(?!(?:{_WORK_STOP})\b){_WORK_TOKEN}(?:\s+(?!(?:{_WORK_STOP})\b){_WORK_TOKEN}){{0,5}})",
    I | X,
)
_NOT_WORKPLACE = re.compile(r"(?:the\s+)?(?:weekends?|night|nights|home|the\s+moment)\b", I)


def workplace(m: re.Match[str]) -> str:
    place = m.group("place")
    if _NOT_WORKPLACE.match(place):
        return m.group(0)
    trail = re.search(r"[.'’-]+\Z", place)
    return m.group("lead") + WORKPLACE + (trail.group(0).lstrip("'’-") if trail else "")


# -- officers --------------------------------------------------------------------------

_RANK_WORDS = (
    r"detective\s+chief\s+superintendent|detective\s+chief\s+inspector"
    r"|detective\s+(?:constable|sergeant|inspector|superintendent)|chief\s+(?:inspector|superintendent)"
    r"|police\s+(?:constable|sergeant|officer)|special\s+constable|superintendent|pcso|sergeant|sgt"
    r"|inspector|insp|supt|constable|officer"
)
_RANK_SHORT = (
    r"(?i:pcso|dci|dsi|dsu|dcs|pc|dc|ds|ps)|DI|[TA]/(?:Sgt|Insp|DS|PS|DI)|Ch\.?\s*Insp|Ch\.?\s*Supt"
)
RANK = rf"(?:(?i:{_RANK_WORDS})|{_RANK_SHORT})"
_TITLE_WORDS = set_of(
    "detective chief superintendent inspector constable sergeant police officer special pcso"
    " sgt insp supt pc dc ds di ps dci dsi dsu dcs"
)
_ITEM_WORD = rf"\s+(?!(?i:{_FUNC})\b)(?!{RANK}\b)[^\W\d_][\w'’-]*"
_HELD = "\ue000[\ue100-\ue109]+\ue001"  # a detail already replaced (the listed collar number)
OFFICER_ANY_ORDER = re.compile(
    rf"(?<![\w/])(?P<rank>{RANK})\.?(?P<items>(?:\s*(?:(?i:no)\.?\s*)?\d{{2,7}}(?!\d)"
    rf"|\s*{_HELD}|{_ITEM_WORD}){{0,3}})"
)
OFFICER_NAME_FIRST = re.compile(
    rf"(?<!\w)(?P<pre>[^\W\d_a-z][\w'’-]+)\s*(?:,\s*|\(\s*)(?P<rank>{RANK})\.?\s*"
    r"(?:(?i:no)\.?\s*)?\d{2,7}(?!\d)(?:\s*\))?"
)


def is_title(word: str) -> bool:
    bare = word.strip(".")
    return bare.casefold() in _TITLE_WORDS and (len(bare) > 2 or bare.isupper())


def _name_like(word: str, is_name: Callable[[str], bool]) -> bool:
    """A word after a rank that is the officer's name (capitalised, or a known name)."""
    bare = word.strip(".'’-")
    if not bare or _stop(bare) or bare in STOP_CAPITALISED:
        return False
    key = fold(bare)
    if bare[:1].isupper() and not (len(bare) > 1 and bare.isupper()):
        return True  # "Palmer"; but "ATTENDED" in an account written in capitals is a word
    return is_name(bare) or key in family_names() or key in given_names() or not common_word(bare)


def officer(
    is_name: Callable[[str], bool], someone_else: Callable[[str], bool] = lambda _: False
) -> Callable[[re.Match[str]], str]:
    """Rank, number and name in any order ("Insp 930 Palmer", "PS Jones 1234"): all of it
    goes, leaving "an officer"; a rank alone ("the sergeant said") stays."""
    item = re.compile(rf"\s*(?:(?i:no)\.?\s*)?\d{{2,7}}(?!\d)|\s*{_HELD}|\s+[^\W\d_][\w'’-]*")

    def replace(m: re.Match[str]) -> str:
        end = m.end("rank")
        if m.string[end : end + 1] == ".":
            end += 1
        taken = False
        for it in item.finditer(m.group("items")):
            text = it.group(0)
            if m.group("rank").islower() and someone_else(text.strip()):
                break  # "told the officer Catherine had left"; "PC Smith" is the officer
            if re.search(r"\d|\ue000", text) or _name_like(text.strip(), is_name):
                taken, end = True, m.start("items") + it.end()
            else:
                break
        if not taken:
            return m.group(0)
        rest = m.string[end : m.end()]
        before = m.string[max(0, m.start() - 5) : m.start()]
        label = "officer" if re.search(r"\b(?:the|an?)\s+\Z", before, I) else OFFICER
        return label + rest

    return replace


def officer_name_first(m: re.Match[str]) -> str:
    """ "Smith (PC 1234)", "Palmer, Insp 930"; "Later, PC 1234" keeps "Later"."""
    pre, text = m.group("pre"), m.group(0)
    close = ")" if text.endswith(")") else ""
    bracketed = "(" in text[len(pre) : m.start("rank") - m.start()]
    surname = fold(pre) in family_names() or bracketed or not common_word(pre)
    if pre in STOP_CAPITALISED or pre in _NOT_PLATE or not surname:
        return text[: m.start("rank") - m.start()] + OFFICER + close
    return OFFICER


# -- which passes can match at all: a pass runs only when one of its words is in the text


def _words_of(alternation: str) -> frozenset[str]:
    """The words of a plain alternation of words ("road|rd|meadows?|Coach House")."""
    out: set[str] = set()
    for alt in alternation.casefold().split("|"):
        base = alt.replace("s?", "")
        for word in base.split():
            out |= {word, word + "s"}
    return frozenset(out)


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
RANK_HINTS = set_of(
    """detective chief superintendent inspector constable sergeant police officer special
    pcso sgt insp supt pc dc ds di ps dci dsi dsu dcs"""
)
COLLAR_HINTS = frozenset({"collar", "shoulder", "warrant"})
STREET_HINTS = _words_of(_SUFFIX)
HOUSE_HINTS = _words_of(_HOUSE)
INSTITUTION_HINTS = set_of(
    "station suite hospital centre surgery park refuge hostel hotel pub inn arms"
)
SCHOOL_HINTS = set_of(
    """school schools academy primary secondary college high infant infants junior juniors
    nursery pre preschool grammar comprehensive sixth university montessori prep
    preparatory utc"""
)
WORK_HINTS = set_of(
    """work works worked working employed employer employment workplace job shift shifts
    placement apprenticeship role volunteer volunteers volunteering volunteered"""
)
