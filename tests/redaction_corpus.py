"""An adversarial corpus for minimisation (issue 12, item 5): police accounts written the
way officers write them, each carrying details that must never reach a school.

Every case is one ``PoliceIncident`` (valid against ``schemas/incident.py``), the child the
school is told about, a category, the **forbidden** strings (the exact details that must not
reach the school) and, for benign accounts, the **key facts** that must survive. The cases
are generated, never collected: every name, number and address is synthetic (phone numbers
are Ofcom's drama ranges, e-mail addresses are made up).

The corpus was written from the categories of issue 12, before the redactor or the residual
check was tuned, and it does not look at how either works: a case says what is written and
what must not come out, never how it should be found.

``case(seed, index)`` builds one case from ``random.Random`` seeded with the seed and the
index, so any case can be rebuilt on its own (the property test draws seeds and indexes);
``corpus(seed)`` yields them all. The categories are interleaved, so the first ``n`` cases
cover every category.

``school_email`` is what the school receives without a person reading it: the rendered
notification when the residual check finds nothing in the account, otherwise the same
notification carrying the structured account. ``leaks`` says which forbidden strings appear
in it, compared without case or accents, with spaces normalised, on word boundaries.
"""

from __future__ import annotations

import hashlib
import html
import json
import random
import re
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from foundations.clock import LONDON
from schemas.incident import Person, PoliceIncident
from schemas.notification import FirstResponseContact, SchoolNotification

DEFAULT_SEED = 2026
ROUNDS = 150  # each round holds one case of each adversarial category and BENIGN_PER_ROUND

ADVERSARIAL = (
    "unlisted_adult",  # a grandmother, neighbour, new partner or friend named in the text
    "nickname",  # a listed adult by a nickname that known_as does not hold
    "other_child",  # another child, with age and school
    "initials",  # a listed adult by initials ("LJ")
    "misspelling",  # a listed name misspelt ("Cahterine")
    "accent",  # accents that differ between the record and the text ("Bjorn"/"Björn")
    "particle_spacing",  # "DaSilva" for "da Silva"
    "broken_name",  # a name broken by a hyphen or across a line
    "workplace",  # "works at ..."
    "house_block",  # house and block names ("Owlpen Barn", "Falcon Heights")
    "street_variant",  # streets in lower case or with a less common suffix ("Elson Nook")
    "ni_number",  # National Insurance numbers
    "social_handle",  # social media handles
    "obfuscated_email",  # "name at domain dot com"
    "record_number",  # CAD, log, occurrence and custody numbers ("CAD 622")
    "number_plate",  # vehicle registrations, every current and older UK format
    "unlisted_officer",  # "Insp 930 Palmer", "PS Jones 1234", "DC Smith"
    "adult_dob",  # an adult's date of birth, in many formats ("25-Sep-1998")
    "word_names",  # listed adults called Rose, Mark, Hope, Grace, Will, Dawn...
    "same_relationship",  # two adults with the same relationship to the child
    "listed_details",  # the listed names, addresses, numbers, in the usual forms
    "mixed",  # several of the above in one longer account
)
BENIGN = "benign"
BENIGN_PER_ROUND = 3
CATEGORIES = (*ADVERSARIAL, BENIGN)
SCHEDULE = (*ADVERSARIAL, *([BENIGN] * BENIGN_PER_ROUND))
TOTAL = ROUNDS * len(SCHEDULE)

FIRST_RESPONSE = FirstResponseContact(
    name="First Response team", email="first.response@council.example", phone="0300 555 1384"
)


def _words(text: str) -> list[str]:
    return text.split()


# -- name pools (synthetic; no common English words among them) --------------------------

# fmt: off
FEMALE = (
    "Amelia", "Bethany", "Chantelle", "Danielle", "Eleanor", "Francesca", "Georgina", "Harriet",
    "Imogen", "Jasmine", "Kirsty", "Leanne", "Megan", "Natasha", "Olivia", "Paige", "Rachael",
    "Shannon", "Tamsin", "Vanessa", "Yvonne", "Zara", "Lauren", "Catherine", "Kayleigh", "Gemma",
    "Hayley", "Joanne", "Louise", "Michelle", "Nadia", "Priya", "Anjali", "Sunita", "Harpreet",
    "Farzana", "Shabana", "Nasreen", "Ayesha", "Fatima", "Amina", "Khadija", "Hodan", "Ifrah",
    "Agnieszka", "Magdalena", "Joanna", "Ewelina", "Monika", "Oksana", "Svetlana", "Ioana",
    "Andreea", "Chiamaka", "Ngozi", "Adaeze", "Folake", "Abimbola", "Yetunde", "Nia", "Siân",
    "Ffion", "Mairead", "Roisin", "Aoife", "Kerry-Ann", "Shanice", "Tyra", "Mei", "Thuy", "Linh",
)
MALE = (
    "Aaron", "Bradley", "Callum", "Darren", "Elliot", "Frazer", "Gavin", "Harvey", "Ian", "Jamie",
    "Kieran", "Liam", "Marcus", "Nathan", "Owen", "Ryan", "Scott", "Tyler", "Wayne", "Connor",
    "Dean", "Lee", "Craig", "Jason", "Stuart", "Imran", "Arjun", "Rajesh", "Sandeep", "Tariq",
    "Bilal", "Hamza", "Omar", "Yasin", "Abdirahman", "Mahad", "Tomasz", "Piotr", "Marek", "Andrzej",
    "Dmytro", "Bogdan", "Florin", "Ionut", "Chinedu", "Emeka", "Tunde", "Kwame", "Kofi", "Dwayne",
    "Jermaine", "Delroy", "Rhys", "Dafydd", "Cian", "Padraig", "Ruairi", "Angus", "Wei", "Minh",
    "Jayden", "Kyle", "Reece", "Shane",
)
FAMILY = (
    "Ashworth", "Barraclough", "Chadwick", "Dalton", "Ellison", "Fairbrother", "Gledhill",
    "Hargreaves", "Ingham", "Jessop", "Kershaw", "Lomax", "Marsden", "Nuttall", "Ormerod",
    "Pickersgill", "Quayle", "Ramsbottom", "Sutcliffe", "Tattersall", "Uttley", "Varley",
    "Whitworth", "Yeadon", "Harrison", "Jennings", "Morgan", "Pritchard", "Cartwright", "Holloway",
    "Thornton", "Fletcher", "Kendrick", "Wainwright", "Brierley", "Spencer", "Okafor", "Adeyemi",
    "Okonkwo", "Mensah", "Asante", "Boateng", "Oyelaran", "Nwachukwu", "Patel", "Chaudhry",
    "Hussain", "Rahman", "Begum", "Malik", "Sandhu", "Gill", "Dhaliwal", "Mistry", "Qureshi",
    "Abdullahi", "Warsame", "Farah", "Haddad", "Nasser", "Kowalski", "Nowicki", "Wiśniewski",
    "Zielinski", "Kaminska", "Popescu", "Ionescu", "Shevchenko", "Horvat", "Petrov", "McAllister",
    "O'Driscoll", "Gallagher", "Donnelly", "Kavanagh", "Llewellyn", "Prosser", "Griffiths",
    "Campbell", "Fraser", "Nguyen", "Tran", "Chen", "Liang", "Wong", "Forsyth", "Bainbridge",
    "Catterall", "Dewhurst", "Entwistle", "Foulds", "Greenhalgh", "Haworth", "Ibbotson", "Kilner",
    "Lumb", "Mellor", "Oldroyd", "Pilling", "Rushworth", "Stansfield", "Threlfall", "Wolstenholme",
)
# Formal name -> nicknames an officer might write (British and other naming traditions).
NICKNAMES_F = {
    "Rosalind": ("Roz",), "Winifred": ("Winnie",), "Katarzyna": ("Kaśka", "Kasia"),
    "Sharon": ("Shaz",), "Margaret": ("Maggie", "Mags", "Peggy"), "Elizabeth": ("Liz", "Lizzie"),
    "Jennifer": ("Jen", "Jenny"), "Rebecca": ("Becky", "Becca"), "Kathleen": ("Kath",),
    "Deborah": ("Debs", "Debbie"), "Dorothy": ("Dotty",), "Theresa": ("Tess", "Tessa"),
    "Małgorzata": ("Gosia",), "Aleksandra": ("Ola",), "Siobhan": ("Shiv",),
    "Victoria": ("Vicky", "Tori"), "Samantha": ("Sammy",), "Kimberley": ("Kimmy",),
    "Christine": ("Chrissie",), "Patricia": ("Trish", "Tricia"), "Jacqueline": ("Jackie",),
    "Gillian": ("Gill",), "Nicola": ("Nicky",), "Stephanie": ("Steph",), "Caroline": ("Caz",),
    "Karen": ("Kaz",), "Natalie": ("Nat",), "Abigail": ("Abi",), "Charlotte": ("Lottie",),
    "Jessica": ("Jess",), "Frances": ("Fran",), "Oluwakemi": ("Kemi",), "Olufunke": ("Funke",),
    "Folasade": ("Sade",), "Bernadette": ("Bernie",),
}
NICKNAMES_M = {
    "Desmond": ("Des",), "Robert": ("Bob", "Bobby"), "Gareth": ("Gaz",), "Barry": ("Baz",),
    "Mohammed": ("Mo",), "Muhammad": ("Mo",), "Darren": ("Dazza", "Daz"), "William": ("Billy",),
    "Terence": ("Tel", "Terry"), "Derek": ("Del",), "Kevin": ("Kev",), "Stephen": ("Steve",),
    "Christopher": ("Chris",), "Michael": ("Mick", "Mikey"), "Patrick": ("Paddy",),
    "Anthony": ("Tony",), "Gerald": ("Gerry",), "Aleksander": ("Olek",), "Wojciech": ("Wojtek",),
    "Abdullahi": ("Abdi",), "Oluwaseun": ("Seun",), "Adebayo": ("Bayo",), "Raymond": ("Ray",),
    "Leonard": ("Lenny", "Len"), "Nathaniel": ("Nate",), "Jonathan": ("Jonny",),
    "Benjamin": ("Benji",), "Charles": ("Charlie", "Chaz"), "Edward": ("Eddie", "Ted"),
    "Thomas": ("Tommy",), "Kenneth": ("Kenny",), "Lawrence": ("Loz", "Laurie"), "Andrew": ("Andy",),
    "Chukwuemeka": ("Emeka",), "Oluwafemi": ("Femi",), "Jaswinder": ("Jas",),
    "Sukhwinder": ("Suki",), "Krzysztof": ("Krzyś",), "Dariusz": ("Darek",), "Tomasz": ("Tomek",),
    "Gary": ("Gaz",), "Sharif": ("Shaz",), "Sebastian": ("Seb",),
}
# (as recorded, as written in the text): accents differ between the two.
ACCENTED_GIVEN = {
    "female": (
        ("Zoë", "Zoe"), ("Renée", "Renee"), ("Siobhán", "Siobhan"), ("Chloë", "Chloe"),
        ("Noémie", "Noemie"), ("Małgorzata", "Malgorzata"), ("Anaïs", "Anais"), ("Inês", "Ines"),
        ("Gülşen", "Gulsen"), ("Çağla", "Cagla"), ("Hélène", "Helene"), ("Agata", "Agáta"),
        ("Andrea", "Andréa"), ("Łucja", "Lucja"), ("Zsófia", "Zsofia"),
    ),
    "male": (
        ("Björn", "Bjorn"), ("José", "Jose"), ("Łukasz", "Lukasz"), ("Paweł", "Pawel"),
        ("Jiří", "Jiri"), ("Mihály", "Mihaly"), ("Ştefan", "Stefan"), ("João", "Joao"),
        ("Zoltán", "Zoltan"), ("Søren", "Soren"), ("Bartłomiej", "Bartlomiej"),
        ("Raphaël", "Raphael"), ("Dominik", "Dominík"), ("Jozef", "Józef"), ("Ramón", "Ramon"),
    ),
}
ACCENTED_FAMILY = (
    ("Müller", "Muller"), ("Müller", "Mueller"), ("Gonçalves", "Goncalves"), ("Dvořák", "Dvorak"),
    ("Şahin", "Sahin"), ("Núñez", "Nunez"), ("Wójcik", "Wojcik"), ("Słowik", "Slowik"),
    ("Håkansson", "Hakansson"), ("Öztürk", "Ozturk"), ("Pérez", "Perez"), ("Jiménez", "Jimenez"),
    ("Fernández", "Fernandez"), ("Čapek", "Capek"), ("Horváth", "Horvath"), ("Böhm", "Bohm"),
    ("Łuczak", "Luczak"), ("Kowalczyk", "Kowalczýk"), ("Bianchi", "Biànchi"),
    ("Lefèvre", "Lefevre"), ("Ó Briain", "O Briain"), ("Nováková", "Novakova"),
    ("Žukauskas", "Zukauskas"),
)
# (as recorded, forms an officer writes, the core part that alone identifies).
PARTICLE_FAMILY = (
    ("da Silva", ("DaSilva", "Da Silva", "Dasilva", "DASILVA", "da-Silva"), "Silva"),
    ("van der Berg", ("Vanderberg", "Van Der Berg", "VanDerBerg", "Van der berg"), "Berg"),
    ("De Souza", ("DeSouza", "de souza", "Desouza", "D'Souza"), "Souza"),
    ("O'Neill", ("ONeill", "O Neill", "O’Neill", "Oneill"), "Neill"),
    ("Al-Hassan", ("Alhassan", "Al Hassan", "al-hassan", "AlHassan"), "Hassan"),
    ("Le Roux", ("LeRoux", "Leroux", "le Roux"), "Roux"),
    ("St John", ("St. John", "StJohn", "Saint John", "St-John"), None),
    ("Di Marco", ("DiMarco", "Dimarco", "di marco"), "Marco"),
    ("Van Dijk", ("Vandijk", "VanDijk", "van dijk"), "Dijk"),
    ("D'Souza", ("DSouza", "Dsouza", "D Souza", "De Souza"), "Souza"),
    ("El Amrani", ("Elamrani", "El-Amrani", "ElAmrani"), "Amrani"),
    ("Mac Giolla", ("MacGiolla", "Macgiolla", "Mc Giolla"), "Giolla"),
    ("dos Santos", ("DosSantos", "Dos Santos", "Dossantos"), "Santos"),
    ("Ben Ali", ("BenAli", "Benali", "Ben-Ali"), None),
    ("Fitz Gerald", ("FitzGerald", "Fitzgerald", "Fitz-Gerald"), None),
    ("ap Rhys", ("Ap Rhys", "Aprhys", "ApRhys"), "Rhys"),
    ("McKenzie", ("Mc Kenzie", "Mckenzie", "MacKenzie", "Mc-Kenzie"), "Kenzie"),
    ("Abu Bakar", ("Abubakar", "AbuBakar", "Abu-Bakar"), "Bakar"),
)
# Listed adults whose names are ordinary words: name -> (gender, sentences using the word as a
# word; the part in brackets is a key fact that must survive).
WORD_NAMES = {
    "Rose": ("f", (
        "The [rose bush] by the front door was trampled.",
        "[Tension rose] quickly once he had been drinking.",
        "[She rose] from the sofa and went to the kitchen.",
    )),
    "Mark": ("m", (
        "There was [a red mark] on her cheek.", "[A mark] on the wall showed where the mug hit.",
        "[The scuff mark] on the door is recent.",
    )),
    "Hope": ("f", (
        "She said she had [no hope] he would change.",
        "She stayed [in the hope] that he would calm down.",
    )),
    "Grace": ("f", (
        "The family [said grace] before the meal started.",
        "The landlord has given [a grace period] on the rent arrears.",
    )),
    "Will": ("m", (
        "She [will stay] with her sister tonight.", "He kept her in the flat [against her will].",
        "Officers [will return] tomorrow.",
    )),
    "Dawn": ("f", ("The argument went on [until dawn].", "He left [at dawn].")),
    "Faith": ("f", ("She has [lost faith] in the police.", "She acted [in good faith].")),
    "Joy": ("f", ("Attempts to call back had [no joy].",)),
    "Holly": ("f", (
        "The [holly wreath] on the door was torn down.",
        "He threw the phone into [the holly] by the gate.",
    )),
    "Amber": ("f", (
        "An [amber light] was showing on the dashboard.", "There was an [amber warning] for ice.",
    )),
    "Ruby": ("f", ("A [ruby ring] was missing.", "Her [ruby necklace] was snapped.")),
    "Hazel": ("f", (
        "His [hazel eyes] were bloodshot.", "He hid behind [the hazel tree] in the garden.",
    )),
    "Heather": ("f", ("There was [dried heather] on the windowsill.",)),
    "Frank": ("m", (
        "She had [a frank conversation] with officers.", "She was [frank about] the drinking.",
    )),
    "Bill": ("m", (
        "The row started over [an unpaid electricity bill].", "[The gas bill] was on the table.",
    )),
    "Drew": ("m", (
        "He [drew a knife] from the drawer.", "The child [drew a picture] for officers.",
    )),
    "Pat": ("m", ("A [pat down search] found nothing.", "He gave the child [a pat on the back].")),
    "Miles": ("m", (
        "Her mother lives [miles away].", "He was found [several miles] from the address.",
    )),
    "Guy": ("m", (
        "She said [a guy from the pub] had been round.", "[Some guy] was at the door earlier.",
    )),
    "Sky": ("f", ("[The sky] was dark when officers left.", "The [Sky box] was smashed.")),
}
STEMS = (
    "Westgate", "Oakfield", "Brackenfield", "Coldharbour", "Dunmore", "Elson", "Fairholme",
    "Glenfield", "Hartwell", "Ingleby", "Kingsmead", "Longridge", "Netherby", "Oakhurst",
    "Pennington", "Quarrendon", "Redbourne", "Stanway", "Thornbury", "Upton", "Whitcombe",
    "Yardley", "Alderley", "Barnwood", "Calverton", "Denholme", "Eastbury", "Farleigh", "Greystoke",
    "Harcourt", "Ivybridge", "Kelston", "Lydford", "Milbourne", "Northam", "Ockley", "Penhallow",
    "Rowsley", "Saltash", "Tilbrook", "Ulverley", "Wetherden", "Ambleside", "Bramhope", "Cheriton",
    "Dinton", "Egremont", "Fenwick", "Goldthorpe", "Hambledon", "Kirkbride", "Lambourn",
    "Marchwood", "Nettleham", "Otterbourne", "Padstow", "Ravenscar", "Selborne", "Tockington",
    "Wardour", "Owlpen", "Bishopstoke", "Chandlers", "Holbury", "Lockerley", "Sparsholt", "Twyford",
    "Wherwell", "Ashurst", "Brockhurst", "Crondall", "Droxford", "Exbury", "Fordingbridge",
    "Hursley", "Kimpton",
)
BLOCK_WORDS = (
    "Falcon", "Kestrel", "Jubilee", "Clarion", "Beacon", "Marlowe", "Nelson", "Sovereign", "Orchid",
    "Heron", "Buckingham", "Regent", "Harrier", "Osprey",
)
BLOCK_KINDS = (
    "Heights", "Tower", "House", "Court", "Point", "Mansions", "Lodge", "Plaza",
)
HOUSE_KINDS = (
    "Barn", "Cottage", "Farm", "Lodge", "House", "Mill", "Grange", "Manor", "Forge",
)
COMMON_SUFFIXES = (
    "Road", "Street", "Lane", "Close", "Avenue", "Drive", "Way", "Crescent", "Grove", "Gardens",
)
RARE_SUFFIXES = (
    "Nook", "Wynd", "Garth", "Loke", "Twitten", "Chare", "Fold", "Brow", "Leys", "Dene", "Ginnel",
    "Paddock", "Vale", "Holt", "Approach", "Circus", "Broadway", "Spur", "Reach", "Side",
    "Pastures", "Beck", "Shaw", "Bank", "Hey", "Riggs", "Dell", "Glade", "Coppice", "Hollow",
    "Passage", "Ride", "Ings", "Lea", "Gate", "Wharf", "Yard", "Meadow", "Boulevard",
)
SCHOOL_KINDS_PRIMARY = (
    "Primary School", "Infant School", "Junior School", "C of E Primary", "Catholic Primary School",
    "Primary Academy",
)
SCHOOL_KINDS_SECONDARY = (
    "Academy", "High School", "School", "Community College", "Grammar School", "Secondary School",
)
# Two-letter groups an officer might write that are not initials of anyone.
ACRONYMS = frozenset(_words("""
    AA AB AE AM AN AS AT BE BY CS DA DC DI DO DS DV EX GO GP HE HI ID IF IN IP IS IT LA ME MP MY
    NI NO OF OH OK ON OR PC PM PS RD SC SH SO SS ST TA TO TV UK UN UP US WE YO
"""))
# Words that a fragment of a broken name, a stem or a misspelling must not be.
COMMON_WORDS = frozenset(_words("""
    abi allow and ant approach art avenue bank bar barn beacon beck bell ben bill bishop bishops
    boat borne bottom boulevard bourne bride bridge broadway brook brother brow buckingham bury
    camp car carol cart chandlers chant chare chin chris christ circus clarion close cold
    coppice cottage court crescent dawn dear deep deer del dell dene drive east fair falcon fall
    far farm fat field fold ford forge fran frank from gardens garth gate gill ginnel glade glen
    gold grace grange green grey grove harbour hard harp harrier hart hear heights her here
    heron hey hill him his hollow holt hope house hurst ings into jan jess jubilee june kath
    kestrel king kings kit lamb lane lea len leys lin line lock locke locker lodge loke long man
    manor march mark marlowe mars may mead meadow men mill mine mo more nat near nelson nice
    nicky nook ola onto orchid osprey other otter paddock passage pastures pat pick pill plaza
    point pope rave raven ravens ray reach read regent rent ride ridge riggs right road rob rook
    rose rows rush salt same sand scar shaw she side son sons sovereign spar spur step steph
    stoke stow street sue tall tan tar ten tess than that the them then there they this thorn
    tom tory tower twitten vale ward wars was way wear well were west wharf where whit wick will
    win with wood worth wright yard
"""))
PLATFORMS = (
    "Instagram", "Snapchat", "TikTok", "Facebook", "X", "Twitter", "Threads",
)
MAIL_HOSTS = (
    "gmail", "hotmail", "outlook", "yahoo", "icloud", "btinternet", "live",
)
CAR_MAKES = (
    "silver Vauxhall Corsa", "black BMW 3 Series", "white Ford Transit van", "red Fiat 500",
    "grey Audi A3", "blue Ford Focus", "black Range Rover", "white Toyota Prius (private hire)",
    "green Skoda Octavia", "motorbike",
)
PLATE_LETTERS = "ABCDEFGHJKLMNOPRSTUVWXY"
NI_FIRST = "ABCEGHJKLMNOPRSTWXYZ"
NI_SECOND = "ABCEGHJKLMNPRSTWXYZ"
NI_BANNED = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})
RANKS = (
    "PC", "DC", "PS", "DS", "Sgt", "Insp", "DI", "PCSO", "A/Sgt", "T/DS",
)
RANK_WORDS = (
    "Detective Constable", "Police Constable", "Inspector", "Sergeant", "Detective Sergeant",
    "Chief Inspector", "Special Constable",
)
MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)
DAYS = (
    "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday",
)
# fmt: on


# -- the case ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One account: the incident, the child the school is told about, and what must (not)
    reach the school."""

    seed: int
    index: int
    category: str
    incident: PoliceIncident
    child_id: str
    forbidden: tuple[str, ...]  # none of these may appear in what the school receives
    planted: tuple[str, ...]  # the category's own details, as the account spells them
    keep: tuple[str, ...]  # key facts that must survive (benign accounts; word senses)
    school_name: str
    child_name: str  # as the school knows the child (the directory's name)
    child_date_of_birth: date

    @property
    def benign(self) -> bool:
        return self.category == BENIGN

    @property
    def child(self) -> Person:
        return next(p for p in self.incident.persons if p.person_id == self.child_id)

    def directory(self) -> dict[str, Any]:
        """What ``minimise`` takes from the school directory for this child."""
        day = self.incident.occurred_at.astimezone(LONDON).date() + timedelta(days=1)
        return {
            "reference": f"N-{day.year}-{self.index:06d}",
            "school_name": self.school_name,
            "child_name": self.child_name,
            "child_date_of_birth": self.child_date_of_birth,
            "deliver_by": datetime(day.year, day.month, day.day, 8, 30, tzinfo=LONDON),
            "first_response": FIRST_RESPONSE,
            "ack_url": f"https://encompass.example/ack/c{self.seed}x{self.index}",
        }


def case(seed: int, index: int) -> Case:
    """Case ``index`` (0 <= index < TOTAL) of the corpus drawn with ``seed``."""
    if not 0 <= index < TOTAL:
        raise IndexError(f"the corpus has {TOTAL} cases; no case {index}")
    category = SCHEDULE[index % len(SCHEDULE)]
    rng = random.Random(f"redaction-corpus/{seed}/{index}")
    b = _Builder(rng, category)
    if category == "mixed":
        picks = rng.sample([c for c in ADVERSARIAL if c not in ("mixed",)], rng.randint(3, 4))
        altering = [c for c in picks if c in _ALTERS_NAMES]
        plain = [c for c in picks if c not in _ALTERS_NAMES]
        for name in [*altering[:1], *plain]:  # at most one that changes a listed name
            _PLANTERS[name](b)
    elif category != BENIGN:
        _PLANTERS[category](b)
    return b.finish(seed, index)


def corpus(seed: int = DEFAULT_SEED, limit: int | None = None) -> Iterator[Case]:
    """Every case, categories interleaved; ``limit`` takes the first cases only."""
    for index in range(TOTAL if limit is None else min(limit, TOTAL)):
        yield case(seed, index)


def digest(cases: Sequence[Case]) -> str:
    """One hash over everything the cases hold: equal digests, equal corpora."""
    h = hashlib.sha256()
    for c in cases:
        h.update(c.incident.model_dump_json(by_alias=True).encode())
        h.update(json.dumps([c.category, c.forbidden, c.planted, c.keep]).encode())
    return h.hexdigest()


# -- comparing what the school receives ----------------------------------------------------

_FOLD = str.maketrans({"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "đ": "d", "Đ": "D", "ı": "i",
                       "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "þ": "th", "ð": "d",
                       "’": "'", "‘": "'", "`": "'", "´": "'", "ʼ": "'", "‐": "-", "‑": "-",
                       "‒": "-", "–": "-", "—": "-", "\u00a0": " "})  # fmt: skip


def fold(text: str) -> str:
    """Without case or accents, with every run of white space one space."""
    if text.isascii():
        return " ".join(text.casefold().replace("`", "'").split())
    decomposed = unicodedata.normalize("NFKD", text.translate(_FOLD))
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"\s+", " ", bare.casefold().translate(_FOLD)).strip()


def _in(secret: str, folded: str) -> bool:
    """Whether ``secret`` is in the folded text, on word boundaries."""
    s = fold(secret)
    if not s or s not in folded:  # the common case, and a cheap one
        return False
    head = r"(?<![^\W_])" if re.match(r"[^\W_]", s) else ""
    tail = r"(?![^\W_])" if re.search(r"[^\W_]\Z", s) else ""
    return re.search(head + re.escape(s) + tail, folded) is not None


def found(secrets: Sequence[str], text: str) -> list[str]:
    """The secrets that appear in ``text``: without case or accents, white space
    normalised, on word boundaries (``Des`` is not in ``desk``)."""
    folded = fold(text)
    return [s for s in secrets if _in(s, folded)]


def email_text(rendered: Any) -> str:
    """Everything the school can read in a rendered e-mail: subject, text part and the
    HTML part's text (markup removed, entities decoded)."""
    visible = html.unescape(re.sub(r"<[^>]*>", " ", rendered.html))
    return "\n".join([rendered.subject, rendered.text, visible])


def leaks(c: Case, rendered: Any) -> list[str]:
    """The forbidden strings of ``c`` in the rendered e-mail."""
    return found(c.forbidden, email_text(rendered))


@dataclass(frozen=True)
class Released:
    """What the school receives without a person reading it."""

    notification: SchoolNotification  # the notification as sent
    redacted: str  # the officer's account after redaction (held, or sent)
    held: bool  # the officer's account was held for a person
    suspects: list[Any] = field(default_factory=list)
    rendered: Any = None
    seconds: float = 0.0  # minimisation, residual check and structured account (wall clock)
    cpu_seconds: float = 0.0  # the same, in this process's CPU time


def school_email(
    c: Case,
    *,
    check: Callable[[str, PoliceIncident, Person], list[Any]] | None,
    structured: Callable[[PoliceIncident, Person], str] | None,
) -> Released:
    """The e-mail sent without a person: the notification if ``check`` finds nothing in
    its account, otherwise the same notification with the structured account. With no
    ``check`` (redaction alone) nothing is ever held."""
    from consumers.minimise import minimise
    from consumers.render import render_email

    child, directory = c.child, c.directory()
    started, cpu = time.perf_counter(), time.process_time()
    n = minimise(c.incident, child, **directory)
    suspects = check(n.account, c.incident, child) if check is not None else []
    sent = n
    if suspects:
        if structured is None:
            raise ValueError("an account was held but no structured account was given")
        sent = n.model_copy(update={"account": structured(c.incident, child)})
    took, cpu = time.perf_counter() - started, time.process_time() - cpu
    return Released(sent, n.account, bool(suspects), list(suspects), render_email(sent), took, cpu)


# -- building a case -----------------------------------------------------------------------


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _age_on(dob: date, day: date) -> int:
    return day.year - dob.year - ((day.month, day.day) < (dob.month, dob.day))


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


class _Builder:
    """A case under construction: a family, their incident, and the account's sentences."""

    def __init__(self, rng: random.Random, category: str) -> None:
        self.rng = rng
        self.category = category
        self.benign = category == BENIGN
        self.used: set[str] = set()  # folded names, stems and numbers already in this case
        self.planted: list[str] = []
        self.extra_forbidden: list[str] = []
        self.keep: list[str] = []
        self.inserts: list[str] = []  # the category's sentences, placed among the others
        r = rng
        local = datetime(2025, 9, 1, tzinfo=LONDON) + timedelta(
            days=r.randrange(0, 660), minutes=r.randrange(0, 24 * 60)
        )
        self.occurred = local.replace(second=0, microsecond=0)
        self.reported = self.occurred + timedelta(minutes=r.randint(3, 95))
        self.day = self.occurred.date()
        self.force = r.choice(["01", "03", "20", "22", "30", "42", "43", "44", "46", "52", "62"])
        n = r.randint(1, 999_999)
        self.incident_id = f"{self.force}-{self.day:%Y%m%d}-{n:06d}"
        self.crime_ref = (
            f"{self.force}/{r.randint(100000, 999999)}/{self.day:%y}" if r.random() < 0.8 else None
        )
        # The family: a victim, a suspect, the child; sometimes a third adult, a sibling.
        v_female = r.random() < 0.8
        self.victim = self._adult("p1", "victim", "parent", "female" if v_female else "male")
        s_rel = r.choice(["parent_partner", "parent_partner", "parent", "step_parent"])
        s_gender = ("male" if v_female else "female") if r.random() < 0.9 else None
        self.suspect = self._adult("p2", "suspect", s_rel, s_gender)
        self.adults = [self.victim, self.suspect]
        if r.random() < 0.25:
            rel = r.choice(["grandparent", "other_relative", "other"])
            self.adults.append(self._adult("p3", "other_adult", rel, r.choice(["female", "male"])))
        self.child_age = r.randint(4, 16)
        while True:
            born = self.day - timedelta(
                days=r.randint(self.child_age * 365 + 3, self.child_age * 365 + 362)
            )
            if _age_on(born, self.day) == self.child_age:
                break
        c_gender = r.choice(["female", "male"])
        c_given = self._given(c_gender)
        # The child usually has the mother's family name (then the school knows that name).
        c_family = self.victim["family_name"] if r.random() < 0.6 else self._family()
        self.child: dict[str, Any] = {
            "person_id": "c1", "role": "child", "given_names": c_given, "family_name": c_family,
            "date_of_birth": born.isoformat(), "gender": c_gender,
            "present": r.random() < 0.85, "witnessed": r.random() < 0.6,
            "injured": r.random() < 0.1,
        }  # fmt: skip
        self.children = [self.child]
        if r.random() < 0.3:
            sib_gender = r.choice(["female", "male"])
            self.children.append({
                "person_id": "c2", "role": "child", "given_names": self._given(sib_gender),
                "family_name": c_family, "relationship": "sibling", "gender": sib_gender,
                "date_of_birth": (born - timedelta(days=r.randint(400, 2000))).isoformat(),
            })  # fmt: skip
        self.town = self._stem()
        self.street = f"{r.randint(1, 180)} {self._stem()} {r.choice(COMMON_SUFFIXES)}"
        self.postcode = self._postcode()
        self.location: dict[str, Any] = {
            "lines": [self.street, self.town],
            "postcode": self.postcode,
        }
        for adult in self.adults[:1]:
            adult["address"] = {"lines": [self.street], "postcode": self.postcode}
        self.child["address"] = {"lines": [self.street], "postcode": self.postcode}
        for adult in self.adults[1:]:
            if r.random() < 0.4:
                adult["address"] = {
                    "lines": [f"{r.randint(1, 180)} {self._stem()} {r.choice(COMMON_SUFFIXES)}",
                              self._stem()],
                    "postcode": self._postcode(),
                }  # fmt: skip
            if r.random() < 0.4:
                adult["phone"] = self._phone()
        if r.random() < 0.5:
            self.victim["phone"] = self._phone()
        if r.random() < 0.3:
            self.victim["email"] = self._email(self.victim)
        self.officer_rank = r.choice(["PC", "PC", "PC", "DC", "PS", "Sgt"])
        self.officer_surname = self._family()
        self.collar = self._number(r.choice([3, 4, 4, 5]))
        self.school_name = self._school(self.child_age)
        self.risk = r.choice(["standard", "medium", "high"])
        self.actions = sorted(set(r.sample(
            ["suspect_arrested", "dash_completed", "safeguarding_advice_given",
             "referral_to_marac", "referral_to_childrens_social_care", "suspect_left_scene",
             "bail_with_conditions", "ambulance_called", "crime_recorded", "referral_to_idva"],
            r.randint(1, 4),
        )))  # fmt: skip

    # -- pools, with nothing repeated within a case ----------------------------------------

    def _fresh(self, pool: Sequence[str]) -> str:
        for _ in range(200):
            pick = self.rng.choice(pool)
            key = fold(pick)
            if key not in self.used and not (set(fold(pick).split()) & self.used):
                self.used.add(key)
                self.used.update(fold(pick).replace("-", " ").split())
                return pick
        raise RuntimeError("name pool exhausted")  # pragma: no cover

    def _given(self, gender: str | None) -> str:
        return self._fresh(
            FEMALE if gender == "female" else MALE if gender == "male" else FEMALE + MALE
        )

    def _family(self) -> str:
        return self._fresh(FAMILY)

    def _stem(self) -> str:
        return self._fresh(STEMS)

    def _number(self, digits: int) -> str:
        """A number of ``digits`` digits that is no year, no time and new to this case."""
        while True:
            n = str(self.rng.randint(10 ** (digits - 1), 10**digits - 1))
            timelike = digits == 4 and int(n[:2]) < 24 and int(n[2:]) < 60
            yearlike = digits == 4 and 1900 <= int(n) <= 2100
            if not timelike and not yearlike and n not in self.used:
                self.used.add(n)
                return n

    def _adult(self, pid: str, role: str, rel: str, gender: str | None) -> dict[str, Any]:
        r = self.rng
        person: dict[str, Any] = {
            "person_id": pid, "role": role, "given_names": self._given(gender),
            "family_name": self._family(), "relationship": rel, "gender": gender,
        }  # fmt: skip
        if r.random() < 0.7:
            person["date_of_birth"] = date(
                r.randint(1960, 2003), r.randint(1, 12), r.randint(1, 28)
            ).isoformat()
        if r.random() < 0.15:
            person["given_names"] += " " + self._given(gender)
        return person

    def _postcode(self) -> str:
        r = self.rng
        area = r.choice(["SO", "PO", "GU", "RG", "BH", "SP", "LS", "BD", "M", "B", "CF", "NE", "S"])
        unit = "ABDEFGHJLNPQRSTUWXYZ"
        return f"{area}{r.randint(1, 29)} {r.randint(0, 9)}{r.choice(unit)}{r.choice(unit)}"

    def _phone(self) -> str:
        r = self.rng
        if r.random() < 0.7:
            return f"07700 900{r.randint(0, 999):03d}"
        return f"01632 960{r.randint(0, 999):03d}"

    def _email(self, p: dict[str, Any]) -> str:
        given = fold(p["given_names"].split()[0]).replace("'", "")
        family = fold(p["family_name"]).replace("'", "").replace(" ", "")
        return f"{given}.{family}{self.rng.randint(1, 99)}@example.com"

    def _school(self, age: int) -> str:
        kinds = SCHOOL_KINDS_PRIMARY if age < 11 else SCHOOL_KINDS_SECONDARY
        return f"{self._stem()} {self.rng.choice(kinds)}"

    # -- how the account refers to people --------------------------------------------------

    def pronouns(self, p: dict[str, Any]) -> tuple[str, str, str, str]:
        """(subject, object, possessive, reflexive)."""
        g = p.get("gender")
        if g == "female":
            return "she", "her", "her", "herself"
        if g == "male":
            return "he", "him", "his", "himself"
        return "they", "them", "their", "themselves"

    def role_word(self, p: dict[str, Any]) -> str:
        r = self.rng
        if p is self.victim:
            return r.choice(
                [
                    "the victim",
                    "the IP",
                    "the injured party",
                    "the "
                    + (
                        "mother"
                        if p.get("gender") == "female"
                        else "father"
                        if p.get("gender") == "male"
                        else "parent"
                    ),
                ]
            )
        if p is self.suspect:
            return r.choice(
                [
                    "the suspect",
                    "S1",
                    "the "
                    + (
                        "male"
                        if p.get("gender") == "male"
                        else "female"
                        if p.get("gender") == "female"
                        else "suspect"
                    ),
                    "the partner",
                ]
            )
        return r.choice(["the other adult", "the relative"])

    def ref(self, p: dict[str, Any]) -> str:
        """A listed adult as an officer might write them."""
        if self.benign:
            return self.role_word(p)
        r = self.rng
        given = p["given_names"].split()[0]
        family = p["family_name"]
        known = p.get("known_as")
        forms = [given, given, f"{given} {family}", family.upper(), self.role_word(p)]
        if given in WORD_NAMES:  # the planted sentences use the bare name; here, never
            forms = [f"{given} {family}", family.upper(), self.role_word(p)]
        if p.get("gender") in ("female", "male"):
            forms.append(("Ms " if p["gender"] == "female" else "Mr ") + family)
        if known:
            forms += [known, known]
        return r.choice(forms)

    def child_ref(self) -> str:
        r = self.rng
        his = "daughter" if self.child["gender"] == "female" else "son"
        forms = ["the child", f"the {self.child_age} year old", f"their {his}", "the child"]
        if not self.benign:
            forms += [self.child["given_names"].split()[0]] * 2
        return r.choice(forms)

    # -- the account -----------------------------------------------------------------------

    def when(self) -> str:
        t = self.occurred
        return self.rng.choice(
            [
                f"{t:%H:%M}",
                f"{t:%H%M}hrs",
                f"approx {t:%H:%M}",
                f"{t.hour % 12 or 12}:{t:%M}{'pm' if t.hour >= 12 else 'am'}",
                f"{t:%H.%M}",
            ]
        )

    def on_day(self) -> str:
        d = self.day
        return self.rng.choice(
            [
                f"{d:%d/%m/%Y}",
                f"{d:%d/%m/%y}",
                f"{_ordinal(d.day)} {MONTHS[d.month - 1]}",
                f"{DAYS[d.weekday()]} {d.day} {MONTHS[d.month - 1]} {d.year}",
                f"{d.day} {MONTHS[d.month - 1][:3]}",
            ]
        )

    def fill(self, template: str, **extra: str) -> str:
        v, s = self.victim, self.suspect
        vs, vo, vp, vr = self.pronouns(v)
        ss, so, sp, sr = self.pronouns(s)
        cs, _, cp, _ = self.pronouns(self.child)
        values = {
            "V": self.ref(v),
            "S": self.ref(s),
            "C": self.child_ref(),
            "Vs": vs,
            "Vo": vo,
            "Vp": vp,
            "Vr": vr,
            "Ss": ss,
            "So": so,
            "Sp": sp,
            "Sr": sr,
            "Cs": cs,
            "Cp": cp,
            "time": self.when(),
            "date": self.on_day(),
            "age": str(self.child_age),
            "risk": self.risk,
            "Vv": self.ref(v),
            "Sv": self.ref(s),
            "mum": "mum" if v.get("gender") == "female" else "dad",
        }
        values.update(extra)
        out = template.format(**values)
        return _cap(out)

    def finish(self, seed: int, index: int) -> Case:
        r = self.rng
        sentences: list[str] = []
        opener = r.choice(OPENERS)
        sentences.append(self.fill(opener))
        facts: list[str] = []
        for pool, k in (
            (EVENTS, r.randint(2, 4)),
            (CHILD, r.randint(1, 2)),
            (ACTIONS, r.randint(1, 3)),
        ):
            for template, fact in r.sample(pool, k):
                sentences.append(self.fill(template))
                if fact:
                    facts.append(fact)
        if self.benign:
            for template in r.sample(COLOUR, r.randint(2, 4)):
                sentences.append(self.fill(template))
            for template, fact in r.sample(BENIGN_TERMS, r.randint(1, 3)):
                sentences.append(self.fill(template))
                facts.append(fact)
        # The category's sentences go anywhere but first.
        for extra in self.inserts:
            sentences.insert(r.randint(1, len(sentences)), extra)
        summary = _paragraphs(sentences, r)
        persons = [*self.adults, *self.children]
        raw = {
            "schema": "police.incident/1",
            "incident_id": self.incident_id,
            "revision": 1,
            "force_code": self.force,
            "occurred_at": self.occurred.isoformat(),
            "reported_at": self.reported.isoformat(),
            "classification": "domestic_abuse",
            "dash_risk": self.risk,
            "crime_reference": self.crime_ref,
            "location": self.location,
            "summary": summary,
            "police_actions": self.actions,
            "officer": {
                "collar_number": self.collar,
                "name": f"{self.officer_rank} {self.officer_surname}",
            },
            "persons": persons,
        }
        incident = PoliceIncident.model_validate(raw)
        child_name = f"{self.child['given_names'].split()[0]} {self.child['family_name']}"
        born = date.fromisoformat(self.child["date_of_birth"])
        # What the school is told anyway: the child's name and date of birth, its own name,
        # the dates and times of the incident, the reference and the contacts.
        known = " ".join(
            [
                child_name,
                self.school_name,
                f"{born.day} {MONTHS[born.month - 1]} {born.year}",
                _long(self.occurred),
                _long(self.reported),
                _long(self.occurred + timedelta(days=1)),
                f"N-{self.day.year + 1}-{index:06d}",
                f"N-{self.day.year}-{index:06d}",
                FIRST_RESPONSE.name,
                FIRST_RESPONSE.email,
                FIRST_RESPONSE.phone,
                f"https://encompass.example/ack/c{seed}x{index}",
            ]
        )
        forbidden = [
            s
            for s in dict.fromkeys([*self._listed(), *self.extra_forbidden, *self.planted])
            if s.strip()
        ]
        known = fold(known)
        forbidden = [s for s in forbidden if _keepable(s, known)]
        # A name that is also a word ("Hope") is never forbidden bare, whichever planter put
        # it in (as in _listed): "no hope he would change" must survive. Its name uses are.
        forbidden = [s for s in forbidden if s not in WORD_NAMES]
        # The category's own details that the account spells out as they stand.
        written = fold(summary)
        planted = [s for s in dict.fromkeys(self.planted) if s in forbidden and _in(s, written)]
        keep = list(dict.fromkeys([*self.keep, *(facts if self.benign else [])]))
        return Case(
            seed=seed,
            index=index,
            category=self.category,
            incident=incident,
            child_id="c1",
            forbidden=tuple(forbidden),
            planted=tuple(planted),
            keep=tuple(keep),
            school_name=self.school_name,
            child_name=child_name,
            child_date_of_birth=date.fromisoformat(self.child["date_of_birth"]),
        )

    def _listed(self) -> list[str]:
        """The listed details of everyone but the subject child, as usual."""
        out: list[str] = []
        for p in [*self.adults, *self.children[1:]]:
            given = p.get("given_names") or ""
            family = p.get("family_name") or ""
            # A name that is also a word ("Rose") is forbidden only where used as a name:
            # the word_names category plants those forms itself.
            out += [g for g in [given, *given.split()] if g not in WORD_NAMES]
            out += [family, f"{given.split()[0]} {family}".strip()]
            if p.get("known_as"):
                out.append(p["known_as"])
            if p.get("date_of_birth"):
                d = date.fromisoformat(p["date_of_birth"])
                out += [f"{d:%d/%m/%Y}", d.isoformat(), f"{d.day} {MONTHS[d.month - 1]} {d.year}"]
            for key in ("phone", "email"):
                if p.get(key):
                    out.append(p[key])
            if p.get("address"):
                out += p["address"]["lines"]
                out += _postcode_forms(p["address"]["postcode"])
        out += self.location["lines"] + _postcode_forms(self.postcode)
        out += [
            self.incident_id,
            f"{self.officer_rank} {self.officer_surname}",
            self.officer_surname,
            self.collar,
        ]
        if self.crime_ref:
            out.append(self.crime_ref)
        return out


def _long(moment: datetime) -> str:
    local = moment.astimezone(LONDON)
    return (
        f"{DAYS[local.weekday()]} {local.day} {MONTHS[local.month - 1]} {local.year} {local:%H:%M}"
    )


def _postcode_forms(code: str) -> list[str]:
    outward = code.split()[0]
    return [code, code.replace(" ", "")] + ([outward] if len(outward) >= 3 else [])


def _keepable(secret: str, known: str) -> bool:  # known: folded
    """A forbidden string must be something the school is not told anyway: not the
    child's name as the school holds it, its own name, the dates or the contacts."""
    if len(re.sub(r"[\W_]", "", fold(secret))) < 2:
        return False
    return not _in(secret, known)


def _paragraphs(sentences: list[str], r: random.Random) -> str:
    """Sentences as an officer types them: one paragraph, or a few, or a line each."""
    style = r.random()
    if style < 0.6:
        return " ".join(sentences)
    if style < 0.85:
        cut = sorted(r.sample(range(1, len(sentences)), min(2, len(sentences) - 1)))
        parts = [sentences[a:b] for a, b in zip([0, *cut], [*cut, len(sentences)], strict=True)]
        return "\n\n".join(" ".join(p) for p in parts)
    return "\n".join(sentences)


# -- the frame of every account (adults referred to by name, or by role if benign) ----------

OPENERS = (
    "Police were called at {time} on {date} by {V} reporting that {S} was being abusive.",
    "Officers attended at {time} following a 999 call from {V}.",
    "At {time} {V} called police stating {Vs} had been assaulted by {S}.",
    "Police attended the home address at {time} after a neighbour reported shouting and banging.",
    "Call from {V} at {time}: {S} had turned up drunk and would not leave.",
    "On {date} at {time} officers were dispatched to a report of a male shouting and a female"
    " screaming.",
    "Attended following an abandoned 999 call at {time} on {date}.",
    "{V} flagged down a passing patrol at {time} saying {S} had hit {Vo}.",
)
EVENTS = (
    ("{S} had been drinking and pushed {V} into the kitchen door.", "pushed"),
    ("{S} grabbed {V} by the throat during the argument.", "by the throat"),
    ("{S} threw a mug at {V}, which smashed against the wall.", "threw a mug"),
    ("{S} took {Vp} phone and smashed it so {Vs} could not call for help.", "smashed it"),
    ("{V} locked {Vr} in the bathroom until officers arrived.", "locked"),
    ("{V} had a cut to {Vp} lip and redness to {Vp} neck.", "cut to"),
    ("{V} was tearful and shaking when officers arrived.", "tearful"),
    ("{S} had left the address before police arrived and was located nearby.", "located nearby"),
    ("There was damage to the living room door and a broken television.", "broken television"),
    ("{V} states this is the third incident this month.", "third incident"),
    ("{S} accused {V} of seeing someone else and became aggressive.", "became aggressive"),
    ("{S} has been sending threatening messages on WhatsApp all evening.", "threatening messages"),
    ("{V} says the arguments have got worse since {Ss} lost {Sp} job.", "got worse"),
    ("{S} was verbally abusive to officers and refused to give details.", "verbally abusive"),
    ("{S} punched the wall next to {V}'s head.", "punched the wall"),
    (
        "{V} did not want to make a statement but supported the arrest.",
        "did not want to make a statement",
    ),
    ("{S} kicked the bedroom door off its hinges.", "kicked the bedroom door"),
    ("{S} threatened to kill {V} if {Vs} called the police.", "threatened to kill"),
)
CHILD = (
    ("{C} was upstairs in bed and heard the shouting.", "heard the shouting"),
    ("{C} hid upstairs in {Cp} bedroom with the door shut.", "hid upstairs"),
    ("{C} came downstairs and saw {S} push {V}.", "came downstairs"),
    ("{C} was in the room throughout and was crying.", "crying"),
    ("{C} was asleep and did not wake.", "did not wake"),
    (
        "{C} was injured when {Cs} tried to get between them and has a bruise on {Cp} arm.",
        "bruise on",
    ),
    ("{C} told officers {Cs} was scared and wanted to stay with {Cp} {mum}.", "scared"),
    ("{C} ran to a neighbour's house to call for help.", "call for help"),
    ("{C} was at a sleepover and was not present.", "not present"),
    ("{C} was spoken to with {V} present and appeared calm.", "appeared calm"),
    ("{C} told officers {Cs} had covered {Cp} ears with a pillow.", "covered"),
)
ACTIONS = (
    ("{S} was arrested for assault and taken to custody.", "arrested"),
    ("{S} was arrested on suspicion of ABH and conveyed to custody.", "arrested"),
    ("DASH completed with {V}, graded {risk}.", "DASH"),
    ("Case to be referred to MARAC.", "MARAC"),
    ("Referral made to children's social care.", "social care"),
    ("{V} was advised to attend A&E for {Vp} injuries.", "A&E"),
    ("An ambulance attended and {V} was treated at the scene.", "ambulance"),
    ("BWV was captured throughout.", None),
    ("Safeguarding advice given and {V} was signposted to the local IDVA service.", "IDVA"),
    ("{S} was released on bail with conditions not to contact {V}.", "bail"),
    ("The duty sergeant authorised a DVPN.", "DVPN"),
    ("The PCSO will carry out a welfare visit tomorrow.", "welfare visit"),
)
# Only in benign accounts: times, ranks without names, common words an officer uses.
COLOUR = (
    "The call came in at {time} and the first unit arrived eight minutes later.",
    "The duty inspector was updated.",
    "Officers remained on scene for about an hour.",
    "{C} is {age} and was due at school the next morning.",
    "Both adults had been drinking since the afternoon.",
    "There are two previous incidents at the address this year.",
    "The sergeant reviewed the body worn video before the end of the shift.",
    "A Ring doorbell camera captured part of the argument.",
    "The house was untidy but there were no concerns about food or heating.",
    "Officers checked on {C} before leaving, and {Cs} was watching television.",
    "A PCSO and two constables attended.",
    "The incident happened on {date}.",
)
BENIGN_TERMS = (
    ("The family spent Christmas apart last year after a similar incident.", "Christmas"),
    ("Messages were shown to officers on WhatsApp and Snapchat.", "WhatsApp"),
    ("{V} had called NHS 111 earlier in the day.", "NHS 111"),
    ("Previous DASH in the summer was graded standard.", "DASH"),
    ("The detective sergeant on the safeguarding team has been informed.", "safeguarding team"),
    ("The case will be discussed at MARAC next week.", "MARAC"),
    ("{V} attended A&E later that night with a sprained wrist.", "sprained wrist"),
    ("{S} was seen leaving on Facebook Live footage shortly before.", "Facebook"),
    ("The argument started over the Xbox and money for Universal Credit.", "Universal Credit"),
    ("Early Help are already working with the family.", "Early Help"),
)


# -- the categories ------------------------------------------------------------------------


def _target(b: _Builder, *, family_differs: bool = True) -> dict[str, Any]:
    """A listed adult whose family name the child does not share (if asked)."""
    pool = [
        a
        for a in b.adults
        if not family_differs or fold(a["family_name"]) != fold(b.child["family_name"])
    ]
    return b.rng.choice(pool or [b.suspect])


def _unlisted_person(b: _Builder, gender: str | None = None) -> tuple[str, str, str]:
    g = gender or b.rng.choice(["female", "male"])
    given, family = b._given(g), b._family()
    return given, family, g


def plant_unlisted_adult(b: _Builder) -> None:
    r = b.rng
    given, family, g = _unlisted_person(b)
    full = f"{given} {family}"
    title = "Mrs" if g == "female" else "Mr"
    she = "she" if g == "female" else "he"
    intro = r.choice(
        [
            (
                f"the child's mother's {'mum' if g == 'female' else 'dad'} {full}",
                [full, given, family],
            ),
            (
                f"{'maternal grandmother' if g == 'female' else 'maternal grandfather'} {full}",
                [full, given, family],
            ),
            (f"next door neighbour {full}", [full, given, family]),
            (f"the neighbour {title} {family}", [f"{title} {family}", family]),
            (f"{'her' if g == 'male' else 'his'} new partner {given}", [given]),
            (f"family friend {full}", [full, given, family]),
            (
                f"{'her' if g == 'female' else 'his'} friend {given} {family.upper()}",
                [f"{given} {family.upper()}", given, family],
            ),
            (
                f"the victim's {'sister' if g == 'female' else 'brother'} {full}",
                [full, given, family],
            ),
            (f"the lodger, {given} ({family})", [given, family]),
            (f"the suspect's ex-partner {full}", [full, given, family]),
            (f"{'aunt' if g == 'female' else 'uncle'} {given}", [given]),
        ]
    )
    who, secrets = intro
    sentence = r.choice(
        [
            "{X} came round after the argument and took the child to {her} house.",
            "{X} had been staying at the address for two weeks.",
            "{X} called police after hearing screaming through the wall.",
            "{X} was present and tried to calm things down.",
            "The victim says the suspect has been seeing {X}.",
            "Officers spoke to {X}, who said this has happened before.",
            "The child will stay tonight with {X}.",
        ]
    ).format(X=who, her="her" if g == "female" else "his")
    b.inserts.append(_cap(sentence))
    if r.random() < 0.6:
        again = r.choice([given, f"{title} {family}", family])
        b.inserts.append(
            r.choice(
                [
                    f"{again} left before police arrived.",
                    f"{again} has agreed to help with school runs.",
                    f"{_cap(she)} is a protective factor; {again} has the child's trust.",
                ]
            )
        )
        secrets = [*secrets, again]
    b.planted += secrets


def plant_nickname(b: _Builder) -> None:
    r = b.rng
    p = _target(b, family_differs=False)
    female = p.get("gender") == "female" if p.get("gender") else r.random() < 0.5
    table = NICKNAMES_F if female else NICKNAMES_M
    formal = r.choice([f for f in table if fold(f) not in b.used])
    nick = r.choice(table[formal])
    b.used.update({fold(formal), fold(nick)})
    p["given_names"] = formal
    p.pop("known_as", None)
    forms = [nick, nick, f"{nick} {p['family_name']}", nick.upper()]
    for _ in range(r.randint(1, 3)):
        form = r.choice(forms)
        b.inserts.append(
            r.choice(
                [
                    f"{form} was shouting in the street.",
                    f"{form} admitted pushing the door.",
                    f"The victim says {form} has a temper when drinking.",
                    f"{form} told officers nothing had happened.",
                    f"The child calls the suspect {form}.",
                    f"{form}'s car was parked across the drive.",
                    f"Everyone knows {form} as trouble.",
                ]
            )
        )
        b.planted.append(form)
    b.planted += [nick, formal]


def _other_school(b: _Builder, age: int) -> tuple[str, str]:
    kinds = SCHOOL_KINDS_PRIMARY if age < 11 else SCHOOL_KINDS_SECONDARY
    stem = b._stem()
    return f"{stem} {b.rng.choice(kinds)}", stem


def plant_other_child(b: _Builder) -> None:
    r = b.rng
    age = r.randint(2, 17)
    g = r.choice(["female", "male"])
    school, stem = _other_school(b, age)
    listed = len(b.children) > 1 and r.random() < 0.5
    if listed:
        other = b.children[1]
        name, g = other["given_names"], other.get("gender") or g
    else:
        name = b._given(g)
    kin = "daughter" if g == "female" else "son"
    family = b.child["family_name"] if listed else (b._family() if r.random() < 0.4 else None)
    who = f"{name} {family}" if family and not listed else name
    sentence = r.choice(
        [
            "Her {kin} {who} ({age}) at {school} was also in the house.",
            "{who}, {age}, who attends {school}, was at a friend's.",
            "The suspect has a {kin} {who} aged {age} from a previous relationship who goes to"
            " {school}.",
            "{who} ({age}) from {school} was present and very upset.",
            "Half-{sib} {who} is in Year {year} at {school}.",
            "{who} (DOB {year_born}) goes to {school} and witnessed the assault.",
            "The victim's eldest, {who}, goes to {school_lower}.",
        ]
    ).format(
        kin=kin,
        who=who,
        age=age,
        school=school,
        sib="sister" if g == "female" else "brother",
        year=max(1, min(13, age - 4)),
        year_born=b.day.year - age,
        school_lower=school.lower(),
    )
    b.inserts.append(_cap(sentence))
    b.planted += [name, school, stem] + ([family, who] if family and not listed else [])
    if "DOB" in sentence:
        b.planted.append(str(b.day.year - age))


def _initials(p: dict[str, Any]) -> list[str]:
    parts = [w for w in p["given_names"].replace("-", " ").split()] + p["family_name"].replace(
        "-", " "
    ).replace("'", "").split()
    letters = [fold(w)[0].upper() for w in parts if w[:1].isalpha()]
    two = letters[0] + letters[-1]
    return [two] + (["".join(letters)] if len(letters) > 2 else [])


def plant_initials(b: _Builder) -> None:
    r = b.rng
    choices = [a for a in b.adults if _initials(a)[0] not in ACRONYMS]
    while not choices:  # a listed adult whose initials are no common abbreviation
        extra = b._adult(
            f"p{len(b.adults) + 1}", "other_adult", "other", r.choice(["female", "male"])
        )
        b.adults.append(extra)
        choices = [a for a in [extra] if _initials(a)[0] not in ACRONYMS]
    p = r.choice(choices)
    ini = r.choice(_initials(p))
    forms = [ini, ini, ".".join(ini) + ".", " ".join(ini), f"({ini})"]
    for _ in range(r.randint(1, 3)):
        form = r.choice(forms)
        b.inserts.append(
            r.choice(
                [
                    f"{form} stated that the suspect had hit her.",
                    f"{form} was arrested at the scene.",
                    f"The IP ({ini}) declined to provide a statement.",
                    f"Suspect {form} was intoxicated.",
                    f"Account from {form}: the argument began over money.",
                    f"{form} has previous for similar offences.",
                ]
            )
        )
        b.planted.append(form.strip("()"))
    b.planted.append(ini)


def _misspell(name: str, r: random.Random) -> str:
    letters = list(name)
    for _ in range(20):
        out = letters[:]
        i = r.randrange(1, len(out) - 1) if len(out) > 2 else 0
        kind = r.choice(["swap", "drop", "double", "vowel", "neighbour"])
        if kind == "swap" and i + 1 < len(out):
            out[i], out[i + 1] = out[i + 1], out[i]
        elif kind == "drop":
            del out[i]
        elif kind == "double":
            out.insert(i, out[i])
        elif kind == "vowel" and out[i] in "aeiou":
            out[i] = r.choice([v for v in "aeiou" if v != out[i]])
        elif kind == "neighbour":
            near = {
                "a": "s",
                "e": "r",
                "i": "o",
                "o": "i",
                "n": "m",
                "m": "n",
                "r": "t",
                "t": "r",
                "l": "k",
                "s": "a",
                "c": "v",
                "h": "j",
                "d": "s",
                "y": "u",
                "u": "y",
            }
            out[i] = near.get(out[i], out[i])
        variant = "".join(out)
        if fold(variant) != fold(name) and fold(variant) not in COMMON_WORDS and len(variant) >= 3:
            return variant
    return name[:-1] + name[-1] * 2


def plant_misspelling(b: _Builder) -> None:
    r = b.rng
    p = _target(b)
    which = r.choice(["given", "given", "family"])
    name = p["given_names"].split()[0] if which == "given" else p["family_name"]
    wrong = _misspell(name, r)
    forms = [
        wrong,
        f"{wrong} {p['family_name']}"
        if which == "given"
        else f"{p['given_names'].split()[0]} {wrong}",
        wrong.upper(),
    ]
    for _ in range(r.randint(1, 2)):
        form = r.choice(forms)
        b.inserts.append(
            r.choice(
                [
                    f"{form} stated that the argument started in the kitchen.",
                    f"Officers spoke to {form} separately.",
                    f"{form} denies any assault.",
                    f"According to {form} this has been going on for months.",
                ]
            )
        )
        b.planted.append(form)
    b.planted.append(wrong)


def plant_accent(b: _Builder) -> None:
    r = b.rng
    p = _target(b)
    if r.random() < 0.5:
        gender = p.get("gender") or r.choice(["female", "male"])
        recorded, written = r.choice(ACCENTED_GIVEN[gender])
        if r.random() < 0.5:
            recorded, written = written, recorded
        p["given_names"] = recorded
        b.used.add(fold(recorded))
        forms = [written, f"{written} {p['family_name']}", written.upper()]
    else:
        recorded, written = r.choice(ACCENTED_FAMILY)
        if r.random() < 0.5:
            recorded, written = written, recorded
        p["family_name"] = recorded
        b.used.add(fold(recorded))
        forms = [
            written,
            f"{p['given_names'].split()[0]} {written}",
            written.upper(),
            f"Mr {written}",
        ]
    for _ in range(r.randint(1, 2)):
        form = r.choice(forms)
        b.inserts.append(
            r.choice(
                [
                    f"{form} was interviewed with an interpreter.",
                    f"{form} said the injuries were accidental.",
                    f"The victim says {form} controls all the money.",
                    f"{form} left in a taxi.",
                ]
            )
        )
        b.planted.append(form)
    b.planted += [recorded, written]


def plant_particle_spacing(b: _Builder) -> None:
    r = b.rng
    p = _target(b)
    recorded, forms, core = r.choice(PARTICLE_FAMILY)
    p["family_name"] = recorded
    b.used.add(fold(recorded))
    for _ in range(r.randint(1, 2)):
        form = r.choice(forms)
        written = r.choice(
            [
                form,
                f"{p['given_names'].split()[0]} {form}",
                f"Mrs {form}" if p.get("gender") == "female" else f"Mr {form}",
            ]
        )
        b.inserts.append(
            r.choice(
                [
                    f"{written} was spoken to at the door.",
                    f"The victim named the suspect as {written}.",
                    f"{written} has a history of domestic incidents.",
                    f"Officers were told {written} had left.",
                ]
            )
        )
        b.planted += [written, form]
    b.planted.append(recorded)
    if core:
        b.extra_forbidden.append(core)


def plant_broken_name(b: _Builder) -> None:
    r = b.rng
    p = _target(b)
    kind = r.choice(["soft", "soft", "newline", "double", "space"])
    if kind == "double":  # a double-barrelled name split at its hyphen, across a line
        first, second = b._family(), b._family()
        p["family_name"] = f"{first}-{second}"
        broken = r.choice([f"{first}-\n{second}", f"{first} -\n{second}", f"{first}- {second}"])
        b.planted += [broken, first, second]
    else:  # a long name broken inside the word
        given = p["given_names"].split()[0]
        if len(given) >= 6 and r.random() < 0.5:
            name = given
        else:
            if len(p["family_name"]) < 6 or not p["family_name"].isalpha():
                p["family_name"] = b._fresh([f for f in FAMILY if len(f) >= 7 and f.isalpha()])
            name = p["family_name"]
        k = r.randint(3, len(name) - 3)
        head, tail = name[:k], name[k:]
        broken = {
            "soft": f"{head}-\n{tail}",
            "newline": f"{head}\n{tail}",
            "space": f"{head} {tail}",
        }[kind]
        b.planted += [broken, name]
        b.planted += [x for x in (head, tail) if len(x) >= 5 and fold(x) not in COMMON_WORDS]
    b.inserts.append(
        r.choice(
            [
                f"Statement taken from {broken} at the scene.",
                f"{broken} was arrested and conveyed.",
                f"{broken} has bruising to both arms.",
                f"Details of {broken} passed to the safeguarding hub.",
            ]
        )
    )


def plant_workplace(b: _Builder) -> None:
    r = b.rng
    stem = b._stem()
    surname = b._family()
    town = b._stem()
    place = r.choice(
        [
            (f"{surname}'s Garage", [surname]),
            (f"{stem} Care Home", [stem]),
            (f"{stem} Logistics", [stem]),
            (f"{stem} Dental Practice", [stem]),
            (f"the {stem} Arms", [stem]),
            (f"{surname} & Sons Builders", [surname]),
            (f"{stem} Veterinary Surgery", [stem]),
            (f"{stem} Medical Centre", [stem]),
            (f"Royal {stem} Hospital", [stem]),
            (f"{stem} Primary School", [stem]),
            (f"the Tesco Extra in {town}", [town]),
            (f"{surname} Roofing Ltd", [surname]),
            (f"{stem} Leisure Centre", [stem]),
            (f"the {stem} Road depot", [stem]),
            (f"{stem} Fisheries", [stem]),
        ]
    )
    name, parts = place
    sentence = r.choice(
        [
            "{S} works at {W}.",
            "{V} is employed as a carer at {W}.",
            "{S} works nights at {W} in {T}.",
            "{V} had just finished {Vp} shift at {W}.",
            "{S} drives for {W}.",
            "{V} says {S} turns up at {W} where {Vs} works.",
            "{S} is a mechanic at {W}.",
            "{V} works part time at {W} and has told {Vp} manager.",
        ]
    )
    b.inserts.append(b.fill(sentence, W=name, T=town))
    b.planted += [name.removeprefix("the "), *parts] + ([town] if "{T}" in sentence else [])


def plant_house_block(b: _Builder) -> None:
    r = b.rng
    if r.random() < 0.5:  # the incident's own address is a house name
        stem = b._stem()
        house = f"{stem} {r.choice(HOUSE_KINDS)}"
        b.location["lines"] = [house, b.town]
        b.victim["address"] = {"lines": [house, b.town], "postcode": b.postcode}
        b.child["address"] = dict(b.victim["address"])
        written = r.choice(
            [house, house.lower(), house.upper(), f"the {house.split()[1].lower()} at {stem}", stem]
        )
        b.inserts.append(
            r.choice(
                [
                    f"On arrival at {written} the door was open.",
                    f"Officers attended {written} on the edge of the village.",
                    f"The family have lived at {written} for three years.",
                ]
            )
        )
        b.planted += [written, house, stem]
    else:  # somewhere else the text names
        word = r.choice(BLOCK_WORDS)
        block = f"{word} {r.choice(BLOCK_KINDS)}"
        flat = r.randint(1, 120)
        written = r.choice(
            [
                block,
                f"Flat {flat}, {block}",
                f"{flat} {block}",
                block.lower(),
                f"flat {flat} {block.lower()}",
            ]
        )
        b.inserts.append(
            r.choice(
                [
                    f"{_cap(b.ref(b.suspect))} is staying at {written}.",
                    f"The victim has gone to her sister's flat in {written}.",
                    f"{_cap(b.ref(b.suspect))} was located at {written} and arrested.",
                    f"The child will stay with grandparents at {written} tonight.",
                ]
            )
        )
        b.planted += [written, block]


def plant_street_variant(b: _Builder) -> None:
    r = b.rng
    stem = b._stem()
    suffix = r.choice(RARE_SUFFIXES) if r.random() < 0.7 else r.choice(COMMON_SUFFIXES)
    street = f"{stem} {suffix}"
    num = r.randint(1, 200)
    listed = r.random() < 0.5
    if listed:
        line = f"{num} {street}"
        b.location["lines"] = [line, b.town]
        b.victim["address"] = {"lines": [line, b.town], "postcode": b.postcode}
        b.child["address"] = dict(b.victim["address"])
    written = r.choice(
        [
            f"{num} {street}".lower(),
            street.lower(),
            f"{num} {street}",
            street,
            f"{num}, {street}",
            f"no. {num} {street.lower()}",
            street.upper(),
        ]
    )
    b.inserts.append(
        r.choice(
            [
                f"{_cap(b.ref(b.suspect))} was found sitting in a car on {written}.",
                f"The family moved from {written} last year.",
                f"Police attended {written} at the request of the victim.",
                f"{_cap(b.ref(b.suspect))}'s mother lives on {written}.",
                f"A witness on {written} heard the argument.",
            ]
        )
    )
    b.planted += [written, street, stem]


def _ni_number(r: random.Random) -> tuple[str, str, str]:
    while True:
        prefix = r.choice(NI_FIRST) + r.choice(NI_SECOND)
        if prefix not in NI_BANNED:
            break
    digits = f"{r.randint(0, 999999):06d}"
    return prefix, digits, r.choice("ABCD")


def plant_ni_number(b: _Builder) -> None:
    r = b.rng
    prefix, digits, suffix = _ni_number(r)
    d = digits
    written = r.choice(
        [
            f"{prefix} {d[:2]} {d[2:4]} {d[4:]} {suffix}",
            f"{prefix}{d}{suffix}",
            f"{prefix.lower()}{d}{suffix.lower()}",
            f"{prefix}-{d[:2]}-{d[2:4]}-{d[4:]}-{suffix}",
            f"{prefix} {d} {suffix}",
        ]
    )
    b.inserts.append(
        b.fill(
            r.choice(
                [
                    "{S} (NI number {N}) is unemployed.",
                    "{V} gave {Vp} National Insurance number as {N}.",
                    "NINO for the suspect: {N}.",
                    "{S}, NI no. {N}, was arrested.",
                    "Benefit fraud was mentioned; NI {N}.",
                ]
            ),
            N=written,
        )
    )
    b.planted += [written, f"{prefix}{d}{suffix}", d]


def plant_social_handle(b: _Builder) -> None:
    r = b.rng
    p = r.choice(b.adults)
    given = fold(p["given_names"].split()[0]).replace("'", "")
    family = fold(p["family_name"]).replace("'", "").replace(" ", "")
    handle = r.choice(
        [
            f"{given}{r.randint(1, 99)}",
            f"{given}_{family}",
            f"lil_{given}",
            f"{given}.{family}x",
            f"{given[:3]}{family[:3]}_{r.randint(80, 99)}",
            f"xX_{given}_Xx",
            f"{family}official",
            f"{given}{family[0]}_{r.randint(1990, 2005)}",
        ]
    )
    platform = r.choice(PLATFORMS)
    written = r.choice([f"@{handle}", handle, f"'{handle}'"])
    b.inserts.append(
        b.fill(
            r.choice(
                [
                    "{S} has been sending abusive messages from the {P} account {H}.",
                    "{V} blocked {S} on {P} ({H}) but messages continued.",
                    "{P} name {H}.",
                    "Threats were posted on {P} by {H} last night.",
                    "{S} uses the {P} handle {H} to contact the child.",
                ]
            ),
            P=platform,
            H=written,
        )
    )
    b.planted += [written.strip("'"), handle]


def plant_obfuscated_email(b: _Builder) -> None:
    r = b.rng
    p = r.choice(b.adults)
    given = fold(p["given_names"].split()[0]).replace("'", "")
    family = fold(p["family_name"]).replace("'", "").replace(" ", "")
    local = r.choice(
        [
            f"{given}.{family}",
            f"{given[0]}{family}{r.randint(1, 99)}",
            f"{given}_{family[0]}_{r.randint(1980, 2004)}",
            f"{given}{family}",
        ]
    )
    custom = r.random() < 0.2
    host = (
        f"{family}{r.choice(['roofing', 'cleaning', 'motors'])}" if custom else r.choice(MAIL_HOSTS)
    )
    tld = r.choice(["com", "co.uk", "net"])
    spoken_tld = " dot ".join(tld.split("."))
    written = r.choice(
        [
            f"{local} at {host} dot {spoken_tld}",
            f"{local}[at]{host}[dot]{tld.replace('.', '[dot]')}",
            f"{local} (at) {host}.{tld}",
            f"{local.upper()} AT {host.upper()} DOT {spoken_tld.upper()}",
            f"{local.replace('.', ' dot ')} at {host} dot {spoken_tld}",
            f"{local} @ {host} . {tld.replace('.', ' . ')}",
            f"{local}@{host} dot {spoken_tld}",
        ]
    )
    b.inserts.append(
        b.fill(
            r.choice(
                [
                    "{V} gave an e-mail address of {E}.",
                    "Contact for {S} is {E}.",
                    "{S} has been e-mailing the school from {E}.",
                    "Emails were sent from {E} overnight.",
                ]
            ),
            E=written,
        )
    )
    b.planted += [written, local, local.replace(".", " dot ")] + ([host] if custom else [])


def plant_record_number(b: _Builder) -> None:
    r = b.rng
    kind = r.randint(0, 9)
    n3, n4 = b._number(3), b._number(4)
    long = b._number(r.choice([7, 8, 10, 11]))
    options = [
        (f"CAD {n3}", n3),
        (f"CAD{n4}", n4),
        (f"cad no {n4}", n4),
        (f"log {n4} of {b.day:%d/%m}", n4),
        (f"occurrence number {long}", long),
        (f"Niche occurrence {b.day:%y}*{long}", long),
        (f"custody record {b.force}/{n4}/{b.day:%y}", n4),
        (f"custody no. CU/{b.day.year}/{long}", long),
        (f"STORM log {n4}", n4),
        (f"URN {b.force}TB{long}", long),
    ]
    written, digits = options[kind]
    b.inserts.append(
        _cap(
            r.choice(
                [
                    "Ref {R} for the earlier call.",
                    "This links to {R} from last week.",
                    "Suspect booked in under {R}.",
                    "See {R}.",
                    "Previous attendance recorded on {R}.",
                    "{R} refers.",
                ]
            ).format(R=written)
        )
    )
    b.planted += [written, digits]


def _plate(r: random.Random) -> str:
    L = PLATE_LETTERS

    def letters(n: int) -> str:
        return "".join(r.choice(L) for _ in range(n))

    kind = r.randint(0, 7)
    if kind == 0:  # current, since 2001: AB12 CDE
        age = r.choice([r.randint(2, 25), r.randint(51, 75)])
        return f"{letters(2)}{age:02d} {letters(3)}"
    if kind == 1:  # prefix, 1983-2001: A123 BCD
        return f"{r.choice('ABCDEFGHJKLMNPRSTVWXY')}{r.randint(1, 999)} {letters(3)}"
    if kind == 2:  # suffix, 1963-1983: ABC 123D
        return f"{letters(3)} {r.randint(1, 999)}{r.choice('ABCDEFGHJKLMNPRSTVWXY')}"
    if kind == 3:  # dateless: ABC 123 or 123 ABC
        return (
            f"{letters(3)} {r.randint(1, 999)}"
            if r.random() < 0.5
            else f"{r.randint(1, 999)} {letters(3)}"
        )
    if kind == 4:  # dateless: AB 1234 or 1234 AB
        return (
            f"{letters(2)} {r.randint(100, 9999)}"
            if r.random() < 0.5
            else f"{r.randint(100, 9999)} {letters(2)}"
        )
    if kind == 5:  # Northern Ireland: ABZ 1234
        first, last = r.choice("ABCDGHJKLMNOPRSTUVWX"), r.choice("ABCDGHJKLMNOPRSTUVWXY")
        return f"{first}{r.choice('IZ')}{last} {r.randint(1, 9999)}"
    if kind == 6:  # short dateless: A 1, 1 A, AB 12
        return r.choice(
            [
                f"{letters(1)} {r.randint(1, 99)}",
                f"{r.randint(1, 99)} {letters(2)}",
                f"{letters(2)} {r.randint(10, 99)}",
            ]
        )
    return f"{letters(2)}{r.randint(51, 75)} {letters(3)}"  # second-half-year current


def plant_number_plate(b: _Builder) -> None:
    r = b.rng
    plate = _plate(r)
    written = r.choice(
        [plate, plate.replace(" ", ""), plate.lower(), plate.replace(" ", "").lower(), plate]
    )
    b.inserts.append(
        b.fill(
            r.choice(
                [
                    "{S} drove off in a {M}, reg {P}.",
                    "{S} left in a {M} (VRM {P}).",
                    "A {M}, index {P}, was seen outside.",
                    "{V} says {S} has been following {Vo} in a {M} registration {P}.",
                    "PNC check on {P} showed no insurance.",
                    "Vehicle: {M} {P}.",
                ]
            ),
            M=r.choice(CAR_MAKES),
            P=written,
        )
    )
    b.planted += [written, plate.replace(" ", "")]


def plant_unlisted_officer(b: _Builder) -> None:
    r = b.rng
    surname = b._family()
    given = b._given(r.choice(["female", "male"]))
    collar = b._number(r.choice([3, 4, 4]))
    rank = r.choice(RANKS)
    long_rank = r.choice(RANK_WORDS)
    written, parts = r.choice(
        [
            (f"{rank} {collar} {surname}", [surname, collar]),
            (f"{rank} {surname} {collar}", [surname, collar]),
            (f"{rank} {surname}", [surname]),
            (f"{long_rank} {given} {surname}", [surname, given]),
            (f"{long_rank} {surname} (collar {collar})", [surname, collar]),
            (f"{rank}{collar} {surname.upper()}", [surname, collar]),
            (f"{surname} {rank} {collar}", [surname, collar]),
            (f"{rank} {given[0]}. {surname}", [surname]),
            (f"officer {collar} {surname}", [surname, collar]),
        ]
    )
    b.inserts.append(
        _cap(
            r.choice(
                [
                    "{O} attended as the second unit.",
                    "{O} took the first account.",
                    "Handed over to {O} for the arrest.",
                    "{O} completed the DASH.",
                    "{O} authorised the DVPN.",
                    "Update given to {O} at 0200.",
                ]
            ).format(O=written)
        )
    )
    b.planted += [written, *parts]


def plant_adult_dob(b: _Builder) -> None:
    r = b.rng
    if r.random() < 0.7:
        p = r.choice(b.adults)
        if not p.get("date_of_birth"):
            p["date_of_birth"] = date(
                r.randint(1960, 2003), r.randint(1, 12), r.randint(1, 28)
            ).isoformat()
        d = date.fromisoformat(p["date_of_birth"])
        who = b.ref(p)
    else:
        given, family, _ = _unlisted_person(b)
        d = date(r.randint(1960, 2003), r.randint(1, 12), r.randint(1, 28))
        who = r.choice([f"new partner {given} {family}", f"{given} {family}"])
        b.planted += [f"{given} {family}", given, family]
    mon = MONTHS[d.month - 1]
    written = r.choice(
        [
            f"{d.day:02d}-{mon[:3]}-{d.year}",
            f"{d.day:02d}/{d.month:02d}/{d.year}",
            f"{d.day:02d}.{d.month:02d}.{d.year % 100:02d}",
            f"{d.day}/{d.month}/{d.year % 100:02d}",
            f"{_ordinal(d.day)} {mon} {d.year}",
            f"{_ordinal(d.day)} {mon[:3]} {d.year}",
            f"{mon} {_ordinal(d.day)}, {d.year}",
            d.isoformat(),
            f"{d.day:02d}{d.month:02d}{d.year % 100:02d}",
            f"{d.day:02d}{d.month:02d}{d.year}",
            f"{d.day:02d} {d.month:02d} {d.year}",
            f"{d.day:02d}{mon[:3].upper()}{d.year % 100:02d}",
            f"{d.day} {mon[:4] if mon == 'September' else mon[:3]} {d.year % 100:02d}",
        ]
    )
    label = r.choice(["DOB", "d.o.b", "date of birth", "born", "b.", "", "DoB:"])
    phrase = f"{who} ({label} {written})".replace("( ", "(") if label else f"{who} {written}"
    b.inserts.append(
        _cap(
            r.choice(
                [
                    "{X} was present at the time.",
                    "Suspect is {X}.",
                    "Details obtained for {X}.",
                    "{X} was spoken to by officers.",
                ]
            ).format(X=phrase)
        )
    )
    b.planted += [written, str(d.year)]


NAME_SENTENCES = (
    "{N} shouted at officers.",
    "{N} pushed past officers in the hallway.",
    "{N} told officers nothing had happened.",
    "{N} denied any assault.",
    "{N} grabbed the phone from the child.",
    "{N} admitted pushing the door.",
    "{N} refused to leave the address.",
    "Later {N} stated that the child had been asleep.",
    "The child said {N} hit the wall.",
    "Officers asked {N} to sit down.",
)


def plant_word_names(b: _Builder) -> None:
    r = b.rng
    name = r.choice(list(WORD_NAMES))
    gender, senses = WORD_NAMES[name]
    g = "female" if gender == "f" else "male"
    p = r.choice([a for a in b.adults if a.get("gender") == g] or [b.suspect])
    p["given_names"] = name
    p["gender"] = g
    b.used.add(fold(name))
    family = p["family_name"]
    for template in r.sample(NAME_SENTENCES, r.randint(1, 3)):
        form = r.choice([name, name, f"{name} {family}", name.upper()])
        sentence = template.format(N=form)
        b.inserts.append(sentence)
        after = sentence.split(form, 1)[1].split()[0].strip(".,")
        b.planted.append(f"{form} {after}")  # the name where it is used as a name
        if " " in form:
            b.planted.append(form)
    if r.random() < 0.5:
        b.inserts.append(f"{name}'s car was parked outside.")
        b.planted.append(f"{name}'s car")
    for sense in r.sample(senses, min(len(senses), r.randint(1, 2))):
        b.inserts.append(sense.replace("[", "").replace("]", ""))
        b.keep.append(sense[sense.index("[") + 1 : sense.index("]")])


def plant_same_relationship(b: _Builder) -> None:
    r = b.rng
    rel = r.choice(["parent", "grandparent", "other", "parent_partner"])
    genders = r.choice(
        [("female", "male"), (None, None), ("female", "female"), ("male", "male"), ("female", None)]
    )
    b.victim["relationship"] = rel
    b.suspect["relationship"] = rel
    b.victim["gender"], b.suspect["gender"] = genders
    extra = None
    if r.random() < 0.3:  # a third, unlisted relative in the same role
        given, family, _ = _unlisted_person(b)
        extra = f"{given} {family}"
        b.planted += [extra, given, family]
    a, c = b.victim["given_names"].split()[0], b.suspect["given_names"].split()[0]
    af, cf = b.victim["family_name"], b.suspect["family_name"]
    lines = [
        f"{a} and {c} argued about contact arrangements.",
        f"{c} said {a} started it.",
        f"{a} {af} and {c} {cf} both gave accounts.",
        f"{a} told officers {c} had been drinking.",
        f"{c.upper()} and {a.upper()} were separated by officers.",
    ]
    for line in r.sample(lines, r.randint(2, 3)):
        b.inserts.append(line)
    if extra:
        b.inserts.append(f"{extra} arrived later and took the child out.")
    b.planted += [a, c]


def plant_listed_details(b: _Builder) -> None:
    r = b.rng
    v, s = b.victim, b.suspect
    vf = f"{v['given_names'].split()[0]} {v['family_name']}"
    sf = f"{s['given_names'].split()[0]} {s['family_name']}"
    where = ", ".join(b.location["lines"])
    lines = [
        f"Police were called to {where} {b.postcode} by {vf}.",
        f"{sf.upper()} was arrested by {b.officer_rank} {b.officer_surname}"
        f" (collar number {b.collar}).",
        f"{s['family_name']}, {s['given_names'].split()[0]} denied the assault.",
        f"Mrs {v['family_name']}'s neck was red.",
        f"{s['given_names'].split()[0].lower()} said it was an accident.",
        f"{b.officer_rank} {b.collar} completed DASH with {vf}.",
    ]
    if b.crime_ref:
        lines.append(f"Crime ref {b.crime_ref}, incident {b.incident_id}.")
    if v.get("phone"):
        lines.append(f"{vf} can be reached on {v['phone']}.")
    if v.get("email"):
        lines.append(f"E-mail {v['email']}.")
    if v.get("date_of_birth"):
        d = date.fromisoformat(v["date_of_birth"])
        lines.append(f"{vf} (DOB {d:%d/%m/%Y}) was the caller.")
    for line in r.sample(lines, min(len(lines), r.randint(3, 5))):
        b.inserts.append(line)
    b.planted += [
        vf,
        sf,
        v["family_name"],
        s["family_name"],
        s["given_names"].split()[0],
        where,
        b.postcode,
        b.officer_surname,
        b.collar,
        b.crime_ref or "",
        b.incident_id,
        v.get("phone") or "",
        v.get("email") or "",
        sf.upper(),
    ]
    if v.get("date_of_birth"):
        b.planted.append(f"{date.fromisoformat(v['date_of_birth']):%d/%m/%Y}")


_PLANTERS: dict[str, Callable[[_Builder], None]] = {
    name.removeprefix("plant_"): fn for name, fn in globals().items() if name.startswith("plant_")
}
# Planters that change a listed person or the incident's address: at most one per account,
# before the others, so that nothing written refers to a name that is no longer listed.
_ALTERS_NAMES = frozenset(
    {
        "nickname",
        "accent",
        "particle_spacing",
        "word_names",
        "same_relationship",
        "broken_name",
        "house_block",
        "street_variant",
    }
)
assert set(_PLANTERS) == set(ADVERSARIAL) - {"mixed"}, set(ADVERSARIAL) ^ set(_PLANTERS)
