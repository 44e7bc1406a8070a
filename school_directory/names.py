"""Names for comparison: normalising, name parts, phonetic keys, nicknames and postcodes.

Police record the name a child is known by, often as heard: "Alfie" for Alfred, "Mohamed"
for Muhammad, "Kovalski" for Kowalski. The keys here are what the directory indexes and
what the matcher compares, computed the same way on both sides.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import jellyfish

_VOWELS = frozenset("AEIOU")
_NOT_LETTERS = re.compile(r"[^a-z ]+")
_SPACES = re.compile(r"\s+")
# Letters that NFKD does not decompose into a plain letter and an accent. Not the redactor's
# table (consumers.words): the directory's stored keys were computed with this one, and an
# import does not recompute a key whose source column is unchanged.
_LETTERS = str.maketrans(
    {"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "ß": "ss", "æ": "ae", "Æ": "AE", "đ": "d",
     "Đ": "D", "ı": "i", "œ": "oe", "Œ": "OE", "þ": "th", "ð": "d", "ħ": "h"}
)  # fmt: skip

# Formal given name -> the names it is also recorded as: short forms, pet names and
# transliterations. Both sides are mapped to the formal name before comparing.
_VARIANTS: dict[str, tuple[str, ...]] = {
    "alexander": ("alex", "alexandr", "sandy", "xander", "alec", "aleksander", "olek"),
    "alexandra": ("alex", "lexi", "lexie", "sasha", "aleksandra", "ola"),
    "alfred": ("alfie", "alf", "fred", "freddie"),
    "andrew": ("andy", "drew"),
    "anthony": ("tony", "antoni", "antonio"),
    "benjamin": ("ben", "benji", "benny"),
    "catherine": ("katherine", "kathryn", "kate", "katie", "kat", "cathy", "kitty", "katarzyna",
                  "kasia"),
    "charles": ("charlie", "chas", "chuck"),
    "charlotte": ("lottie", "charlie", "lotte"),
    "christopher": ("chris", "kit", "krzysztof"),
    "daniel": ("dan", "danny", "dani"),
    "edward": ("ed", "eddie", "ted", "teddy", "ned"),
    "elizabeth": ("liz", "lizzie", "libby", "beth", "bess", "betty", "eliza", "elza", "elzbieta"),
    "eleanor": ("ellie", "nell", "nellie", "elle", "nora"),
    "florence": ("flo", "florrie", "flossie"),
    "frederick": ("fred", "freddie", "freddy"),
    "harold": ("harry", "hal"),
    "henry": ("harry", "hal", "hank"),
    "isabella": ("bella", "izzy", "isabel", "isobel", "izabela"),
    "jacob": ("jake", "jakub", "kuba", "yakub", "yaqub"),
    "james": ("jim", "jimmy", "jamie", "jay"),
    "jessica": ("jess", "jessie"),
    "john": ("jack", "johnny", "jon", "jan"),
    "jonathan": ("jon", "jonny", "nathan"),
    "joseph": ("joe", "joey", "yusuf", "yousef", "youssef", "josef", "jozef"),
    "joshua": ("josh",),
    "margaret": ("maggie", "meg", "megan", "peggy", "maisie", "daisy", "marge", "greta",
                 "margot", "malgorzata", "gosia"),
    "mary": ("molly", "polly", "mae", "maria", "marie", "maryam", "mariam", "miriam"),
    "matthew": ("matt", "matty", "mateusz"),
    "michael": ("mike", "mikey", "mick", "micky", "michal", "mikhail"),
    "muhammad": ("mohammed", "mohamed", "mohammad", "muhammed", "mohamad", "mohd", "muhamed",
                 "mehmet", "mahomed"),
    "nicholas": ("nick", "nicky", "mikolaj"),
    "oliver": ("ollie", "olly"),
    "patrick": ("pat", "paddy"),
    "rebecca": ("becky", "becca"),
    "richard": ("rich", "richie", "rick", "dick"),
    "robert": ("rob", "robbie", "bob", "bobby", "bert"),
    "samuel": ("sam", "sammy"),
    "samantha": ("sam", "sammie"),
    "sarah": ("sara", "sally", "sadie"),
    "stephen": ("steve", "steven", "stevie"),
    "susan": ("sue", "susie", "suzy"),
    "theodore": ("theo", "ted", "teddy"),
    "thomas": ("tom", "tommy", "tomasz"),
    "victoria": ("vicky", "tori", "viktoria", "wiktoria"),
    "william": ("will", "bill", "billy", "liam", "willie", "wilhelm"),
    "abdullah": ("abdulla", "abdallah"),
    "ahmed": ("ahmad", "ahmet", "ahmat"),
    "aisha": ("ayesha", "aysha", "aishah", "ayeesha", "aicha"),
    "fatima": ("fatimah", "fatma", "fatimeh"),
    "hussain": ("hussein", "husain", "hossain", "hossein", "husein"),
    "ibrahim": ("ebrahim", "ibraheem", "abraham"),
    "khadija": ("khadijah", "khadeeja", "hatice"),
    "mustafa": ("mostafa", "moustafa", "mustapha"),
    "omar": ("umar", "omer"),
    "yusra": ("yousra", "usra"),
    "zainab": ("zaynab", "zeinab"),
    "oluwaseun": ("seun", "shola"),
    "oluwatobi": ("tobi",),
    "oluwadamilare": ("dami", "damilare"),
    "chukwuemeka": ("emeka",),
    "chinonso": ("nonso",),
    "adebayo": ("bayo",),
    "olamide": ("lami",),
}  # fmt: skip
NICKNAMES: dict[str, tuple[str, ...]] = {}
for _formal, _others in _VARIANTS.items():
    NICKNAMES.setdefault(_formal, ())
    NICKNAMES[_formal] += (_formal,)
    for _other in _others:
        NICKNAMES[_other] = (*NICKNAMES.get(_other, ()), _formal)


def _ascii_lower(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name.translate(_LETTERS))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def normalise(name: str | None) -> str:
    """``"  O'Brien-Smith "`` -> ``"obriensmith"``; ``"Zoë"`` -> ``"zoe"``."""
    if not name:
        return ""
    ascii_only = _ascii_lower(name).replace("-", " ")
    return _NOT_LETTERS.sub("", _SPACES.sub(" ", ascii_only)).replace(" ", "")


@lru_cache(maxsize=16_384)
def parts(name: str | None) -> tuple[str, ...]:
    """The words of a name, normalised: ``"Smith-Jones"`` -> ``("smith", "jones")``;
    ``"O'Brien"`` -> ``("obrien",)``."""
    if not name:
        return ()
    words = _NOT_LETTERS.sub("", _ascii_lower(name).replace("-", " ").replace(",", " "))
    return tuple(w for w in words.split() if w)


def first_given(name: str | None) -> str:
    """The first of someone's given names, normalised."""
    found = parts(name)
    return found[0] if found else ""


def formal(word: str) -> tuple[str, ...]:
    """The formal names a given-name word may stand for: ``"alfie"`` -> ``("alfred",)``;
    a name with no known variants stands for itself."""
    return NICKNAMES.get(word, (word,))


@lru_cache(maxsize=16_384)
def phonetic(word: str) -> str:
    """A sound key that forgives spelling: Mohammed, Muhammad and Mohamed give ``MHMT``;
    Kowalski and Kovalski give the same key (w and v are heard alike), and so do Usama and
    Osama, Iman and Eman (a first vowel is written as heard)."""
    if not word:
        return ""
    spelt = word[0] + word[1:].replace("y", "i")
    key = jellyfish.metaphone(spelt.replace("w", "v"))
    return ("A" + key[1:] if key[:1] in _VOWELS else key)[:16]


def family_key(family_name: str | None) -> str:
    """The indexed family-name key: the sound of the whole name, spaces and hyphens
    dropped, so "Al-Hassan", "Alhassan" and "Al Hasan" share one key."""
    return phonetic("".join(parts(family_name)))


def given_key(given_names: str | None) -> str:
    """The indexed given-name key: the sound of the formal form of the first given name."""
    first = first_given(given_names)
    return phonetic(formal(first)[0]) if first else ""


def name_keys(*names: str | None) -> set[str]:
    """Every key a police-recorded name could have in the directory, as either a given
    or a family name: each word, each word's formal forms, and the whole name."""
    keys: set[str] = set()
    for name in names:
        words = parts(name)
        if not words:
            continue
        keys.add(family_key(name))
        for word in words:
            keys.add(phonetic(word))
            keys.update(phonetic(f) for f in formal(word))
    keys.discard("")
    return keys


def postcode(value: str | None) -> str:
    """UK postcode in its written form: ``"so238uj"`` -> ``"SO23 8UJ"``."""
    if not value:
        return ""
    compact = "".join(value.upper().split())
    return f"{compact[:-3]} {compact[-3:]}" if 5 <= len(compact) <= 7 else compact


def postcode_district(value: str) -> str:
    """The outward code: ``"SO23 8UJ"`` -> ``"SO23"``."""
    return value.split(" ")[0] if " " in value else ""


def postcode_sector(value: str) -> str:
    """The outward code and the first digit of the inward one: ``"SO23 8"``."""
    return value[:-2] if " " in value else ""


# Words in school names that say nothing about which school it is.
SCHOOL_GENERIC = frozenset({"primary", "school", "academy", "st", "saint", "c", "of", "e",
    "ce", "infant", "infants", "junior", "juniors", "high", "church", "catholic", "the",
    "community", "college", "and", "england", "secondary", "rc", "free", "centre",
    "nursery", "va", "vc", "trust"})  # fmt: skip


def school_words(name: str | None) -> tuple[str, ...]:
    """The words of a school's name (or of an officer's hint) that tell one school from
    another: "St Luke's C of E Primary" -> ("lukes",)."""
    return tuple(w[:60] for w in parts(name) if w not in SCHOOL_GENERIC and len(w) > 2)
