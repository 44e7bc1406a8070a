"""The structured account: what happened, composed only from the incident's structured
fields, never from the officer's free text. (Interface first.)"""

from __future__ import annotations

from schemas.incident import Person, PoliceIncident


def structured_account(incident: PoliceIncident, child: Person) -> str:
    raise NotImplementedError
