"""The reviewed word lists the redactor reads: function words, the capitalised words that
are not names, and the words around a name that tell how a sentence uses it.

Data, no logic beyond ``set_of`` and ``is_stop_word``; every list was reviewed against the
redaction corpus (``tests/redaction_corpus.py``).
"""

from __future__ import annotations

import re


def set_of(words: str) -> frozenset[str]:
    """The words of a reviewed list written as text."""
    return frozenset(words.split())


APOS = "'’‘`´ʼ"
DASH = "-‐‑‒–—"
APOS_CLASS, DASH_CLASS = re.escape(APOS), re.escape(DASH)  # inside a character class

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
FUNCTION_WORDS_PATTERN = "|".join(sorted(FUNCTION_WORDS, key=len, reverse=True))


def is_stop_word(word: str) -> bool:
    """A function word ("the", "and", "her"), whatever its case."""
    return word.casefold().strip(APOS + ".") in FUNCTION_WORDS


# Letters written before or after digits that are not a number plate ("24 HRS", "PC 1234").
# Not ACRONYMS (below): a letter group left out of this list is still a plate, so it stays
# short; ACRONYMS, the capitals that are not someone's initials, can be long.
# fmt: off
NOT_PLATE_LETTERS = set_of("""
PC DC DS DI PS CI HRS HR AM PM ST ND RD TH YRS YR YO MPH KM KG CM MM ML GP UK DV DA AE
NHS CAD PNC NI MG CID DCI DSI SGT BST GMT UTC AGE CCTV TV ID NO OK MIN MINS SEC KMH
""")
# fmt: on

# The names pass (``consumers.redact_names``): the words around a name that tell how the
# sentence uses it.
# fmt: off
NAME_TITLES = frozenset({
    "mr", "mrs", "ms", "miss", "mx", "dr", "master", "mister", "madam", "sir", "dame", "mstr",
})
ACRONYMS = set_of("""
PC DC DS DI PS CI GP AE TV OK UK ID IT PE RE MP DJ CC HQ IQ CD DV DA SW IR NE NW SE UN US EU
AI BT CE RC VW BP AM PM NI NB OD ED MH AKA RTA ASB CPS NHS CID BBC ITV PTO ASAP FYI ETA ADHD
ASD SEN DSL IOM CYP LAC CIN CP UTC BST GMT DOB VRM PNC TBC NFA RUI ABH GBH DVA DVPN DVPO DAPN
DAPO MASH DASH IDVA ISVA PCSO DCI DSI CAD URN SMS PIN ATM ICU AMP CEO HR IVF STD STI HIV
""")
SPEECH_VERBS = set_of("""
said says told tells stated states shouted screamed yelled reported disclosed explained
admitted denied claimed alleged replied asked phoned rang texted messaged confirmed agreed
refused threatened punched hit slapped kicked pushed grabbed assaulted attacked strangled
arrived returned answered called cried swore spat bit shoved was is had has who
""")
SUBJECT_PRONOUNS = frozenset({"i", "you", "he", "she", "we", "they", "it", "who", "which"})
DETERMINERS = set_of("""
the a an this these those his her their my your our its no any some every each another
such what whose either neither much more less own one's
""")
AUXILIARIES = set_of("""
would could should might must can cannot will shall did does do not never also just
""")
QUALIFIERS = set_of("""
lost losing lose regained restored renewed good bad false little great free ill blind
strong real true deep sheer pure new whole full
""")
RELATION_QUALIFIERS = set_of("new ex former current old late own older younger")
MODALS = frozenset({"will", "may", "can", "shall", "might", "must"})
MODAL_NEXT = set_of("""
not be have also never always only still just probably well soon then definitely need
""")
# The months that are also names or ordinary words ("May", "June", "march"): a subset of
# consumers.vocabulary.MONTHS, on purpose; the sentence decides.
MONTH_WORDS = frozenset({"may", "june", "april", "august", "march"})
MONTH_BEFORE = set_of("""
in during since until till early late mid last next this of from by before after
""")
TWO_LETTER_WORDS = set_of("""
am an as at be by do go he hi if in is it me my no of oh ok on or ox so to up us we ye ah
""")
CONTRACTIONS = frozenset({"t", "ll", "re", "ve", "d", "m"})
ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth")
# fmt: on
