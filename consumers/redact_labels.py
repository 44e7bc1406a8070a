"""What the school reads in place of what was removed: the labels of removed details
("[address removed]"), and people by their relationship to the child ("the child's
mother", "another child").
"""

from __future__ import annotations

from foundations.vocabulary import gender_code
from schemas.incident import Person, PoliceIncident, Relationship, Role

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
SUBJECT_CHILD = "the child"
OTHER_CHILD = "another child"
AMBIGUOUS = "a family member"


def _gendered(person: Person, female: str, male: str, neutral: str) -> str:
    gender = gender_code(person.gender)
    return female if gender == "f" else male if gender == "m" else neutral


_KIN = {
    Relationship.PARENT: ("mother", "father", "parent"),
    Relationship.STEP_PARENT: ("stepmother", "stepfather", "step-parent"),
    Relationship.GRANDPARENT: ("grandmother", "grandfather", "grandparent"),
    Relationship.SIBLING: ("adult sister", "adult brother", "adult sibling"),
}


def relationship_label(person: Person, incident: PoliceIncident) -> str:
    """How an adult appears to the school: only by relationship to the child."""
    rel = person.relationship
    if rel in _KIN:
        return "the child's " + _gendered(person, *_KIN[rel])
    if rel is Relationship.PARENT_PARTNER:
        parents = [p for p in incident.adults if p.relationship is Relationship.PARENT]
        word = (
            _gendered(parents[0], "mother", "father", "parent") if len(parents) == 1 else "parent"
        )
        return f"the {word}'s partner"
    return "an adult relative" if rel is Relationship.OTHER_RELATIVE else "another adult"


def labelled(incident: PoliceIncident, child: Person) -> list[tuple[Person, str]]:
    """The subject child first, then everyone in the incident, with their label; two
    adults of the same kin where only one has a known gender are "the child's mother"
    and "the child's other parent"."""
    out = [(child, SUBJECT_CHILD)]
    for person in incident.persons:
        if person.person_id == child.person_id:
            out.append((person, SUBJECT_CHILD))
        elif person.role is Role.CHILD:
            out.append((person, OTHER_CHILD))
        else:
            out.append((person, relationship_label(person, incident)))
    for rel, (_, _, neutral) in _KIN.items():
        kin = [
            i for i, (q, _) in enumerate(out) if q.role is not Role.CHILD and q.relationship is rel
        ]
        unknown = [i for i in kin if out[i][1] == f"the child's {neutral}"]
        if len(kin) > 1 and len(unknown) == 1:
            i = unknown[0]
            out[i] = (out[i][0], f"the child's other {neutral}")
    return out
