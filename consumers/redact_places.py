"""Detectors of places: streets, house and building names, institutions, postcodes,
schools and workplaces. The kind of place stays ("the police station"); its name goes.

Compiled once at import. Where the match alone cannot decide, a function returns the
replacement, or the match unchanged to leave it; a place that is a listed person's name
("Jane Green") is left to the names pass.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from consumers.redact_labels import ADDRESS, SCHOOL, WORKPLACE
from consumers.redact_lexicon import common_word
from consumers.redact_words import (
    APOS,
    FUNCTION_WORDS,
    FUNCTION_WORDS_PATTERN,
    NAME_TITLES,
    STOP_CAPITALISED,
    is_stop_word,
    set_of,
)

I = re.IGNORECASE  # noqa: E741 (as in the re module)
X = re.VERBOSE

FLAT = r"(?i:flat|apartment|apt|unit|room|maisonette)\s*\d+[a-z]?"
# The kinds of street and building the redactor replaces a name before. Narrower than the
# residual check's PLACE_WORDS (consumers.residual_words) on purpose: these replace text
# with no person looking ("the keep", "the steps" stay), while the residual check only
# holds an account for a person, so it may read more words as kinds of place.
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
STREET_NUMBERED = re.compile(
    rf"(?<!\w)(?:{FLAT}\s*,?\s*)?\d{{1,4}}[A-Za-z]?(?:\s*[-–]\s*\d{{1,4}})?\s*,?\s+"
    rf"(?:(?!(?i:{FUNCTION_WORDS_PATTERN})\b)[^\W\d_][\w'’-]*\s+){{1,4}}(?i:{_SUFFIX})(?!\w)"
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
        if shouting and (is_stop_word(bare) or (k < len(found) - 1 and common_word(bare))):
            continue
        return m.start(group) - m.start() + w.start()
    return None


_PLACE_LEAD = (
    set_of("""
the a an his her their my our your its this that these those on in at to of by for from with
and but or into onto near via past towards toward round around outside inside behind beside
opposite off i he she we they it who when where while then also later after before
""")
    | NAME_TITLES
)


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


_STRONG_SUFFIX = re.compile(rf"(?:{_STREET_STRONG})\Z", I)


def lower_street(is_name: Callable[[str], bool]) -> Callable[[re.Match[str]], str]:
    """ "elson nook", "12 park road": a street in lower case; not "the road", "left side"."""

    def replace(m: re.Match[str]) -> str:
        text, suffix = m.group(0), m.group("suffix")
        at = _kept_from(m, "words", is_stop_word)
        if at is None:
            return text
        words = text[at : m.start("suffix") - m.start()].split()
        if any(is_stop_word(w) for w in words) or is_name(suffix) or any(is_name(w) for w in words):
            return text
        if _STRONG_SUFFIX.match(suffix) or not common_word(words[-1].strip("'’-")):
            return text[:at] + ADDRESS
        return text

    return replace


# -- schools and workplaces ----------------------------------------------------------------

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
    if is_stop_word(w) or common_word(w.strip("'’-")):
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


# -- which passes can match at all: a pass runs only when one of its words is in the text


def _words_of(alternation: str) -> frozenset[str]:
    """The words of a plain alternation of words ("road|rd|meadows?|Coach House")."""
    out: set[str] = set()
    for alt in alternation.casefold().split("|"):
        base = alt.replace("s?", "")
        for word in base.split():
            out |= {word, word + "s"}
    return frozenset(out)


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
