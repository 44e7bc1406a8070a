"""The structured account: what happened, composed only from the incident's structured
fields (the classification, when, who by relationship, the child's circumstances, the
police actions), never from the officer's free text.

When the residual check (``consumers.residual``) holds the officer's account for a person,
the school still gets this one before the deadline; the officer's account follows once a
person has read it. Nothing here can carry a name: every sentence is our own words, with
the adults named only by relationship (``consumers.redact_labels.relationship_label``).
"""

from __future__ import annotations

from collections import Counter

from consumers.minimise import POLICE_ACTIONS
from consumers.redact_labels import relationship_label
from consumers.render import long_date
from foundations.clock import LONDON
from schemas.incident import Person, PoliceIncident, Role
from schemas.notification import DEFAULT_PROFILE, MinimisationProfile

FOLLOWS = (
    "The officer's own account is being read by First Response before it is shared; "
    "if it can be shared, it will follow in a separate e-mail with the same reference."
)
_NUMBERS = {2: "two", 3: "three", 4: "four", 5: "five"}


def _when(incident: PoliceIncident) -> str:
    local = incident.occurred_at.astimezone(LONDON)  # English names, whatever the locale
    return f"on {long_date(local.date())}, at about {local:%H:%M}"


def _joined(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def adults_involved(incident: PoliceIncident) -> str | None:
    """ "the child's mother and the mother's partner": relationships only, each once."""
    counts = Counter(relationship_label(p, incident) for p in incident.adults)
    if not counts:
        return None
    parts = [
        label if n == 1 else f"{_NUMBERS.get(n, 'several')} adults described as {label}"
        for label, n in counts.items()
    ]
    return _joined(parts)


def _circumstances(child: Person) -> str | None:
    said: list[str] = []
    if child.present is not None:
        said.append("was present" if child.present else "was not present")
    if child.witnessed is not None:
        said.append("saw or heard what happened" if child.witnessed else "did not see or hear it")
    if child.injured is not None:
        said.append("was injured" if child.injured else "was not injured")
    return f"The child {_joined(said)}." if said else None


def structured_account(
    incident: PoliceIncident, child: Person, profile: MinimisationProfile = DEFAULT_PROFILE
) -> str:
    """The account the school gets while the officer's own waits for a person."""
    if child.role is not Role.CHILD:
        raise ValueError("a notification is about a child: person role must be 'child'")
    sentences = [f"Police attended a domestic abuse incident {_when(incident)}."]
    adults = adults_involved(incident)
    if adults:
        sentences.append(f"The adults involved were {adults}.")
    if "circumstances" not in profile.omit:
        circumstances = _circumstances(child)
        if circumstances:
            sentences.append(circumstances)
    if "police_actions" not in profile.omit:
        codes = [c.strip() for c in incident.police_actions]
        known = [POLICE_ACTIONS[c] for c in codes if c in POLICE_ACTIONS]
        if known:
            done = [known[0], *(a[:1].lower() + a[1:] for a in known[1:])]
            sentences.append(f"What the police did: {'; '.join(dict.fromkeys(done))}.")
    sentences.append(FOLLOWS)
    return " ".join(sentences)
