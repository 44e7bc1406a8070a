"""A deployment of two councils, for the tests (and the end-to-end test of issue 17).

``write_councils(folder)`` writes one TOML file per member council (docs/councils.md) and
returns the Settings update that turns a deployment into theirs:

    settings = Settings(..., **write_councils(tmp_path / "councils"))

- 850 "Hampshire" (the lead): children living in SO and GU51 postcodes; its First Response
  ``front.door@hants.test`` with the duty inbox ``duty@hants.test``.
- 851 "Portsmouth": children living in PO1-PO6; ``mash@portsmouth.test``, no separate duty
  inbox (alerts go to ``mash@portsmouth.test``).

The addresses are synthetic, in the reserved ``.test`` domain, so the update also allows
them by name (``ENCOMPASS_ALLOW_UNSAFE=first_response_email,first_response_duty_email``),
as a test installation must. ``policies`` and ``profiles`` set a council's
``review_policy`` and ``profile`` (a profile's name in ``ENCOMPASS_PROFILES_DIR``).

The test directory (tests/factories.py) has its schools in 850 only: :func:`move_school`
puts one in another council, e.g. ``move_school(session, "100002", "851")``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from foundations.models import School

HAMPSHIRE, PORTSMOUTH = "850", "851"
CONTACTS = {
    HAMPSHIRE: {"name": "Hampshire Children's Front Door", "email": "front.door@hants.test",
                "phone": "0300 555 0850", "duty": "duty@hants.test"},
    PORTSMOUTH: {"name": "Portsmouth MASH", "email": "mash@portsmouth.test",
                 "phone": "0300 555 0851", "duty": "mash@portsmouth.test"},
}  # fmt: skip
ALLOW = "first_response_email,first_response_duty_email"


def council_toml(la: str, *, policy: str | None = None, profile: str | None = None) -> str:
    """One member council's file."""
    hampshire = la == HAMPSHIRE
    contact = CONTACTS[la]
    lines = [
        f'la_code = "{la}"',
        f'name = "{"Hampshire" if hampshire else "Portsmouth"}"',
        "postcode_prefixes = "
        + ('["SO", "GU51"]' if hampshire else '["PO1", "PO2", "PO3", "PO4", "PO5", "PO6"]'),
        f"lead = {'true' if hampshire else 'false'}",
    ]
    if policy:
        lines.append(f'review_policy = "{policy}"')
    if profile:
        lines.append(f'profile = "{profile}"')
    lines += [
        "[first_response]",
        f'name = "{contact["name"]}"',
        f'email = "{contact["email"]}"',
        f'phone = "{contact["phone"]}"',
    ]
    if hampshire:
        lines.append(f'duty_email = "{contact["duty"]}"')
    return "\n".join(lines) + "\n"


def write_councils(
    folder: Path,
    *,
    policies: dict[str, str] | None = None,
    profiles: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Write 850.toml and 851.toml into ``folder``; return the Settings update."""
    folder.mkdir(parents=True, exist_ok=True)
    for la in (HAMPSHIRE, PORTSMOUTH):
        text = council_toml(la, policy=(policies or {}).get(la), profile=(profiles or {}).get(la))
        (folder / f"{la}.toml").write_text(text, encoding="utf-8")
    return {"councils_dir": folder, "allow_unsafe": ALLOW}


def move_school(session: Session, urn: str, la_code: str) -> None:
    """Put a directory school in another council (the test directory's are all 850)."""
    school = session.get(School, urn)
    assert school is not None, urn
    school.la_code = la_code
