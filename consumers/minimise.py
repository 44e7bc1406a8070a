"""Minimisation (SPEC section 4): one PoliceIncident and one child -> a SchoolNotification.

Pure functions, no I/O. The notification is built from an allowlist: every field is set
explicitly in ``minimise``; nothing is copied from the incident and then trimmed.
``redact`` (``consumers.redact``) turns the officer's free text into an account in which
adults appear only by their relationship to the child, and other children, addresses,
postcodes, phone numbers, e-mail addresses, references and officer details do not appear
at all. Over-redaction is accepted; a leak is not.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime

from consumers.batch_memo import redacted
from consumers.redact_labels import labelled
from consumers.redact_literals import name_key
from schemas.incident import Address, Person, PoliceIncident, Role
from schemas.notification import (
    DEFAULT_PROFILE,
    FirstResponseContact,
    MinimisationProfile,
    SchoolNotification,
)

ACCOUNT_MAX_CHARS = 1500
NO_ACCOUNT = "The police record gives no further details."

POLICE_ACTIONS: dict[str, str] = {
    "suspect_arrested": "A suspect was arrested",
    "suspect_charged": "A suspect was charged",
    "suspect_removed": "A suspect was removed from the home",
    "suspect_left_scene": "The suspect had left before police arrived",
    "bail_with_conditions": "The suspect was released on bail with conditions",
    "released_under_investigation": "The suspect was released while police investigate",
    "dapn_issued": "A domestic abuse protection notice was issued",
    "dvpn_issued": "A domestic violence protection notice was issued",
    "dash_completed": "Police completed a domestic abuse risk assessment",
    "safeguarding_advice_given": "Police gave safeguarding advice to the family",
    "referral_to_idva": "The adult victim was referred to a domestic abuse adviser",
    "referral_to_marac": "The case was referred to a multi-agency risk assessment conference",
    "referral_to_childrens_social_care": "Children's social care have been informed",
    "referral_to_mash": "A referral was made to the multi-agency safeguarding hub (MASH)",
    "ambulance_called": "An ambulance was called",
    "crime_recorded": "A crime was recorded",
    "no_further_action": "No further police action is planned",
}
# fmt: off
SOCIAL_CARE_CODES = frozenset({
    "referral_to_childrens_social_care", "referral_to_mash", "referral_to_social_care",
    "childrens_social_care_informed", "social_care_referral",
})
# fmt: on
_RISK = {"standard": "standard", "low": "standard", "medium": "medium", "high": "high"}


def _account(incident: PoliceIncident, child: Person) -> str:
    return trimmed(redacted(incident.summary, incident, child) if incident.summary.strip() else "")


def trimmed(account: str) -> str:
    """The redacted summary as the school's account: cut at a word, or ``NO_ACCOUNT``."""
    if len(account) > ACCOUNT_MAX_CHARS:
        account = account[:ACCOUNT_MAX_CHARS].rsplit(None, 1)[0] + " …"
    return account or NO_ACCOUNT


def police_actions_in_plain_words(
    codes: Iterable[str], incident: PoliceIncident, child: Person
) -> list[str]:
    """Known codes in plain words; unknown ``snake_case`` codes humanised (and redacted)."""
    out: list[str] = []
    for raw in codes:
        code = raw.strip()
        if code in POLICE_ACTIONS:
            words = POLICE_ACTIONS[code]
        elif (plain := humanised(code)) is not None:
            words = redacted(plain, incident, child)
        else:
            continue
        if words not in out:
            out.append(words)
    return out


def humanised(code: str) -> str | None:
    """An unknown ``snake_case`` police code as words, before redaction; None: left out."""
    if not (re.fullmatch(r"[a-z_]{1,64}", code) and code.strip("_")):
        return None
    plain = " ".join(code.split("_")).strip()
    return plain[:1].upper() + plain[1:]


def social_care_informed(codes: Iterable[str]) -> bool:
    """Whether the police actions say children's social care has been told."""
    return any(
        c in SOCIAL_CARE_CODES or "social_care" in c or "mash" in c.split("_") for c in codes
    )


def _same_place(a: Address | None, b: Address | None) -> bool:
    if a is None or b is None:
        return False
    pa, pb = (re.sub(r"\W", "", x.postcode or "").upper() for x in (a, b))
    la, lb = (name_key(x.lines[0]) if x.lines else "" for x in (a, b))
    if pa and pb:
        return pa == pb and (not la or not lb or la == lb)
    return bool(la) and la == lb


def place_kind(incident: PoliceIncident, child: Person) -> str | None:
    """The kind of place ("at the child's home"), never the address itself."""
    where = incident.location
    if where is None or not (where.lines or where.postcode):
        return None
    if _same_place(where, child.address):
        return "at the child's home"
    for person, label in labelled(incident, child):
        if person.role is not Role.CHILD and _same_place(where, person.address):
            return f"at the home of {label}"
    return "at an address other than the child's home" if child.address else None


def minimise(
    incident: PoliceIncident,
    child: Person,
    *,
    reference: str,
    school_name: str,
    child_name: str,
    child_date_of_birth: date,
    deliver_by: datetime,
    first_response: FirstResponseContact,
    ack_url: str | None = None,
    is_update: bool = False,
    profile: MinimisationProfile = DEFAULT_PROFILE,
) -> SchoolNotification:
    """The school-facing notification for ``child``, field by field from an allowlist.

    ``child_name`` and ``child_date_of_birth`` come from the school directory, never
    from the police record.
    """
    if child.role is not Role.CHILD:
        raise ValueError("a notification is about a child: person role must be 'child'")
    if all(p.person_id != child.person_id for p in incident.persons):
        raise ValueError(f"person {child.person_id!r} is not in incident {incident.incident_id!r}")
    voice = child.voice_of_child if profile.include_voice_of_child else None
    risk = (incident.dash_risk or "").strip().casefold() if profile.include_risk_level else ""
    police_reference = incident.crime_reference or incident.incident_id
    omit = profile.omit
    circumstances = "circumstances" not in omit
    return SchoolNotification(
        reference=reference,
        school_name=school_name,
        child_name=child_name,
        child_date_of_birth=child_date_of_birth,
        occurred_at=incident.occurred_at,
        reported_at=incident.reported_at,
        deliver_by=deliver_by,
        present=child.present if circumstances else None,
        witnessed=child.witnessed if circumstances else None,
        injured=child.injured if circumstances else None,
        account=_account(incident, child) if "account" not in omit else "",
        police_actions=(
            police_actions_in_plain_words(incident.police_actions, incident, child)
            if "police_actions" not in omit
            else []
        ),
        omitted=sorted(omit),
        social_care_informed=social_care_informed(incident.police_actions),
        first_response=first_response,
        ack_url=ack_url,
        is_update=is_update,
        # Only what the profile switches on:
        police_reference=police_reference if profile.include_police_reference else None,
        place_kind=place_kind(incident, child) if profile.include_place_kind else None,
        voice_of_child=redacted(voice, incident, child) if voice and voice.strip() else None,
        risk_level=_RISK.get(risk),
    )
