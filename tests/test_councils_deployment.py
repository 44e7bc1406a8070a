"""Issue 17, item 1: one deployment, several councils (docs/councils.md).

Each notification belongs to the council of its school, or for a child at no school the
deployment knows, of the child's home; its e-mail carries that council's First Response,
its alerts go to that council's duty inbox, and that council's review policy and
minimisation profile apply. Console accounts are scoped to their councils: a reviewer sees
and acts on only their councils' notifications, in the queue, the pages, the API, bulk
approval and the audit search; another council's notification is "not found", never
"forbidden". An account with no council sees nothing. On both databases.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from audit.reports import ReportQuery, notification_rows
from console.accounts import add_user, set_councils
from console.app import create_app
from console.oidc import councils_from
from consumers import review, review_view
from consumers.alerts import FIRST_RESPONSE, duty_inbox
from consumers.escalate import raise_due
from consumers.intake import parse_incident
from consumers.pipeline import process_incident
from consumers.profiles import check_profiles
from foundations.clock import utcnow
from foundations.council_scope import EVERYTHING, NOTHING, scope_for
from foundations.councils import councils_for
from foundations.database import transaction
from foundations.models import AuditEvent, EscalationStep, Notification
from foundations.settings import Settings
from foundations.startup import StartupRefused, refuse_unsafe_settings
from tests.console_signin import finish, post_login
from tests.councils_setup import ALLOW, HAMPSHIRE, PORTSMOUTH, move_school, write_councils
from tests.factories import child, default_pupils, import_directory, incident, upn, write_directory

PASSWORD = "correct horse battery"
PIP_UPN = upn("851200116001")
PORTSMOUTH_HOME = {"lines": ["1 Quay Street"], "postcode": "PO1 3AB"}
AMY = incident()  # the SPEC's example: Amy, at 100001 in Hampshire, lives in SO23
PIP = incident(  # Pip, at 100002 (moved to Portsmouth), lives in PO1
    incident_id="44-20261121-000201",
    location=PORTSMOUTH_HOME,
    persons=[*incident()["persons"][:2],
             child("c1", "Pip", "Harbour", "2016-02-02", address=PORTSMOUTH_HOME)],
)  # fmt: skip
NO_ROLL = incident(  # a child the directory does not know, living in Portsmouth
    incident_id="44-20261121-000202",
    location={"lines": ["2 Dock Road"], "postcode": "PO2 1AA"},
    persons=[*incident()["persons"][:2], child("c1", "Nell", "Nowhere", "2015-07-07",
             address={"lines": ["2 Dock Road"], "postcode": "PO2 1AA"})],
)  # fmt: skip


def pupils() -> list[dict[str, str]]:
    pip = {"upn": PIP_UPN, "given_names": "Pip", "family_name": "Harbour",
           "date_of_birth": "2016-02-02", "gender": "M", "postcode": "PO1 3AB",
           "urn": "100002", "on_roll_from": "2021-09-01"}  # fmt: skip
    return [*default_pupils(), pip]


def deployment(tmp_path: Path, **councils: Any) -> Settings:
    return Settings(
        data_dir=tmp_path, secret_key="k" * 32, public_url="https://console.example",
        **write_councils(tmp_path / "councils", **councils),
    )  # fmt: skip


def seed(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    files = write_directory(tmp_path / "directory", pupils())
    with transaction(sessions) as session:
        import_directory(session, files)
        move_school(session, "100002", PORTSMOUTH)


def publish(sessions: sessionmaker[Session], settings: Settings, data: dict[str, Any]) -> str:
    with transaction(sessions) as session:
        process_incident(session, settings, parse_incident(json.dumps(data).encode()), "t/0/0")
        return session.execute(
            select(Notification.id).where(Notification.incident_id == data["incident_id"])
        ).scalar_one()


@pytest.fixture
def two(sessions: sessionmaker[Session], tmp_path: Path) -> tuple[sessionmaker[Session], Settings]:
    seed(sessions, tmp_path)
    return sessions, deployment(tmp_path)


def get(sessions: sessionmaker[Session], nid: str) -> Notification:
    with transaction(sessions) as session:
        n = session.get(Notification, nid)
        assert n is not None
        session.expunge(n)
        return n


# --- which council owns a notification, and what follows from it ---------------------------


def test_each_notification_belongs_to_its_schools_council_else_the_childs_home(
    two: tuple[sessionmaker[Session], Settings], tmp_path: Path
) -> None:
    sessions, settings = two
    amy, pip, nell = (publish(sessions, settings, d) for d in (AMY, PIP, NO_ROLL))
    assert get(sessions, amy).council == HAMPSHIRE  # her school's council
    assert get(sessions, pip).council == PORTSMOUTH
    nell_row = get(sessions, nell)
    assert nell_row.status == "not_found" and nell_row.council == PORTSMOUTH  # her home's


def test_a_single_council_deployment_gives_no_council_and_everyone_sees_everything(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    seed(sessions, tmp_path)
    nid = publish(sessions, Settings(), AMY)
    assert get(sessions, nid).council is None
    assert scope_for(councils_for(Settings()), "") is EVERYTHING
    with transaction(sessions) as session:
        assert [n.id for n in review.queue(session, EVERYTHING)] == [nid]


def test_the_email_carries_the_owning_councils_first_response(
    two: tuple[sessionmaker[Session], Settings],
) -> None:
    sessions, settings = two
    amy, pip = publish(sessions, settings, AMY), publish(sessions, settings, PIP)
    with transaction(sessions) as session:
        to_pip = review_view.preview(session, settings, review.get(session, pip))
        to_amy = review_view.preview(session, settings, review.get(session, amy))
    assert get(sessions, pip).content["first_response"] == {  # type: ignore[index]
        "name": "Portsmouth MASH",
        "email": "mash@portsmouth.test",
        "phone": "0300 555 0851",
    }
    assert to_pip is not None and to_amy is not None
    assert "Portsmouth MASH" in to_pip.text and "0300 555 0851" in to_pip.text
    assert "Hampshire" not in to_pip.text
    assert "Hampshire Children's Front Door" in to_amy.text and "Portsmouth" not in to_amy.text


def test_each_council_has_its_own_review_policy(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    seed(sessions, tmp_path)
    settings = deployment(tmp_path, policies={HAMPSHIRE: "auto_release_exact"})
    amy, pip = publish(sessions, settings, AMY), publish(sessions, settings, PIP)
    assert get(sessions, amy).status == "approved"  # Hampshire releases a unique exact match
    assert get(sessions, pip).status == "pending_review"  # Portsmouth: ENCOMPASS_REVIEW_POLICY
    with transaction(sessions) as session:
        approvals = session.execute(
            select(AuditEvent.notification_id, AuditEvent.actor).where(
                AuditEvent.action == "approved"
            )
        ).all()
    assert [tuple(a) for a in approvals] == [(amy, "policy:auto_release_exact")]


def test_a_councils_named_profile_applies_to_its_schools(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    seed(sessions, tmp_path)
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "portsmouth.toml").write_text(
        'name = "portsmouth-2026"\nversion = 1\ninclude = ["police_reference"]\n'
    )
    settings = deployment(tmp_path, profiles={PORTSMOUTH: "portsmouth-2026"}).model_copy(
        update={"profiles_dir": profiles}
    )
    check_profiles(settings)  # the name exists: the start goes on
    amy, pip = publish(sessions, settings, AMY), publish(sessions, settings, PIP)
    assert get(sessions, pip).content["police_reference"] == "44/123456/26"  # type: ignore[index]
    assert (get(sessions, amy).content or {}).get("police_reference") is None  # the default
    with transaction(sessions) as session:
        minimised = session.execute(
            select(AuditEvent.details).where(
                AuditEvent.action == "minimised", AuditEvent.notification_id == pip
            )
        ).scalar_one()
    assert minimised["profile"] == "portsmouth-2026"


def test_alerts_go_to_the_owning_councils_duty_inbox(
    two: tuple[sessionmaker[Session], Settings],
) -> None:
    sessions, settings = two
    amy, pip = publish(sessions, settings, AMY), publish(sessions, settings, PIP)
    now = utcnow()
    with transaction(sessions) as session:
        for nid in (amy, pip):  # both still waiting for review, due within the hour
            n = session.get(Notification, nid)
            assert n is not None
            n.deliver_by = now + timedelta(minutes=10)
    with transaction(sessions) as session:
        assert raise_due(session, settings, now) == 2
        sent_to = dict(
            session.execute(
                select(EscalationStep.notification_id, EscalationStep.recipient).where(
                    EscalationStep.role == FIRST_RESPONSE
                )
            ).all()
        )
    assert sent_to == {amy: "duty@hants.test", pip: "mash@portsmouth.test"}
    assert duty_inbox(settings, None) == "duty@hants.test"  # an old row: the lead's
    assert duty_inbox(Settings(first_response_email="fr@x.test"), None) == "fr@x.test"


# --- checked at start -------------------------------------------------------------------------


def test_a_councils_folder_is_checked_at_start(tmp_path: Path) -> None:
    settings = deployment(tmp_path).model_copy(
        update={"allow_unsafe": "", "public_url": "https://encompass.hants.gov.uk"}
    )
    with pytest.raises(StartupRefused) as refused:
        refuse_unsafe_settings(settings)
    said = str(refused.value)
    assert "851.toml [first_response] email 'mash@portsmouth.test'" in said
    assert "850.toml [first_response] duty_email 'duty@hants.test'" in said
    assert f"ENCOMPASS_ALLOW_UNSAFE={ALLOW}" in said
    refuse_unsafe_settings(settings.model_copy(update={"allow_unsafe": ALLOW}))  # accepted
    broken = Settings(**write_councils(tmp_path / "broken"))
    (tmp_path / "broken" / "851.toml").write_text('la_code = "851"\nname = "Portsmouth"\n')
    with pytest.raises(StartupRefused, match=r"ENCOMPASS_COUNCILS_DIR: 851.toml: .*first_response"):
        refuse_unsafe_settings(broken)


def test_a_council_naming_an_unknown_profile_is_refused_at_start(tmp_path: Path) -> None:
    settings = deployment(tmp_path, profiles={PORTSMOUTH: "no-such-agreement"})
    with pytest.raises(StartupRefused, match=r"851.toml: profile 'no-such-agreement'"):
        check_profiles(settings)


# --- the console: each council's accounts see only its notifications ---------------------------


@pytest.fixture
def console(
    two: tuple[sessionmaker[Session], Settings],
) -> Iterator[tuple[TestClient, sessionmaker[Session], dict[str, str]]]:
    sessions, settings = two
    ids = {name: publish(sessions, settings, data)
           for name, data in (("amy", AMY), ("pip", PIP), ("nell", NO_ROLL))}  # fmt: skip
    with transaction(sessions) as session:
        for name, role, councils in (
            ("hana", "reviewer", HAMPSHIRE), ("pat", "reviewer", PORTSMOUTH),
            ("nemo", "reviewer", ""), ("audrey", "auditor", PORTSMOUTH),
            ("ada", "admin", HAMPSHIRE),
        ):  # fmt: skip
            add_user(session, name, role, PASSWORD, actor="test", councils=councils)
    app = create_app(settings.model_copy(update={"login_max_failures": 1000}), sessions)
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        yield client, sessions, ids


def sign_in(client: TestClient, username: str) -> str:
    client.cookies.clear()
    finish(client, post_login(client, {"username": username, "password": PASSWORD}), username)
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/account").text)
    assert found is not None
    return found.group(1)


def api_token(client: TestClient, username: str) -> str:
    client.cookies.clear()
    token = client.get("/api/session").json()["csrf_token"]
    body = {"username": username, "password": PASSWORD}
    signed = client.post("/api/session", json=body, headers={"X-CSRF-Token": token})
    assert signed.status_code == 200, signed.text
    return str(signed.json()["csrf_token"])


def test_each_councils_reviewer_sees_only_its_own_notifications(
    console: tuple[TestClient, sessionmaker[Session], dict[str, str]],
) -> None:
    client, _, ids = console
    sign_in(client, "pat")
    queue = client.get("/queue").text
    assert ids["pip"] in queue and ids["nell"] in queue and ids["amy"] not in queue
    assert client.get(f"/notifications/{ids['pip']}").status_code == 200
    # Another council's notification does not exist for Pat: 404, not 403.
    assert client.get(f"/notifications/{ids['amy']}").status_code == 404
    sign_in(client, "hana")
    queue = client.get("/queue").text
    assert ids["amy"] in queue and ids["pip"] not in queue and ids["nell"] not in queue
    api_token(client, "pat")
    listed = {row["notification_id"] for row in client.get("/api/queue").json()}
    assert listed == {ids["pip"], ids["nell"]}
    missing = client.get(f"/api/notifications/{ids['amy']}")
    assert missing.status_code == 404
    assert missing.json() == {"detail": f"no notification {ids['amy']}"}  # as if none existed


def test_a_reviewer_cannot_act_on_another_councils_notification(
    console: tuple[TestClient, sessionmaker[Session], dict[str, str]],
) -> None:
    client, sessions, ids = console
    amy = ids["amy"]
    token = sign_in(client, "pat")
    for action, form in (("claim", {}), ("reject", {"reason": "not ours"}),
                         ("approve", {}), ("edit", {"account": "changed"})):  # fmt: skip
        back = client.post(f"/notifications/{amy}/{action}", data={"csrf_token": token, **form})
        assert back.status_code == 303
        assert back.headers["location"].endswith(f"error=no%20notification%20{amy}"), action
    bulk = client.post("/queue/approve", data={"csrf_token": token, "ids": [amy]})
    assert bulk.status_code == 303 and "0%20approved" in bulk.headers["location"]
    headers = {"X-CSRF-Token": api_token(client, "pat")}
    for action, body in (("claim", {}), ("approve", {}), ("reject", {"reason": "x"})):
        answer = client.post(f"/api/notifications/{amy}/{action}", json=body, headers=headers)
        assert answer.status_code == 404, action
    refused = client.post("/api/queue/approve", json={"notification_ids": [amy]}, headers=headers)
    assert refused.json() == {"approved": [], "refused": {amy: f"no notification {amy}"}}
    n = get(sessions, amy)
    assert (n.status, n.review_claimed_by, n.edited_by) == ("pending_review", None, None)
    with transaction(sessions) as session:
        acted = session.execute(
            select(AuditEvent.action).where(
                AuditEvent.notification_id == amy, AuditEvent.actor == "console:pat"
            )
        ).scalars()
        assert list(acted) == []  # not even a view


def test_an_account_with_no_council_sees_nothing(
    console: tuple[TestClient, sessionmaker[Session], dict[str, str]],
) -> None:
    client, _, ids = console
    sign_in(client, "nemo")
    queue = client.get("/queue").text
    assert not any(nid in queue for nid in ids.values())
    assert client.get(f"/notifications/{ids['pip']}").status_code == 404
    api_token(client, "nemo")
    assert client.get("/api/queue").json() == []


def test_rows_with_no_council_are_seen_by_the_lead_councils_accounts_only(
    console: tuple[TestClient, sessionmaker[Session], dict[str, str]],
) -> None:
    client, sessions, ids = console
    with transaction(sessions) as session:  # as if made before councils were configured
        n = session.get(Notification, ids["nell"])
        assert n is not None
        n.council = None
    sign_in(client, "hana")  # Hampshire is the lead
    assert client.get(f"/notifications/{ids['nell']}").status_code == 200
    sign_in(client, "pat")
    assert client.get(f"/notifications/{ids['nell']}").status_code == 404


def test_the_audit_search_shows_only_the_auditors_councils(
    console: tuple[TestClient, sessionmaker[Session], dict[str, str]],
) -> None:
    client, sessions, ids = console
    sign_in(client, "audrey")  # an auditor of Portsmouth
    theirs = client.get("/audit", params={"incident": PIP["incident_id"]}).text
    assert ids["pip"] in theirs
    other = client.get("/audit", params={"incident": AMY["incident_id"]}).text
    assert ids["amy"] not in other
    with transaction(sessions) as session:
        everything = notification_rows(session, ReportQuery())
        nothing = notification_rows(session, ReportQuery(), scope=NOTHING)
        reports = session.execute(
            select(AuditEvent.details).where(AuditEvent.action == "report_produced")
        ).scalars()
        assert [r["councils"] for r in reports] == [PORTSMOUTH, PORTSMOUTH]
    assert len(everything) == 3 and nothing == []


def test_an_administrator_sets_an_accounts_councils(
    console: tuple[TestClient, sessionmaker[Session], dict[str, str]],
) -> None:
    client, sessions, ids = console
    token = sign_in(client, "ada")
    page = client.get("/accounts").text
    assert 'id="account-nemo"' in page and "Portsmouth (851)" in page
    done = client.post(
        "/accounts/nemo/councils", data={"csrf_token": token, "councils": [PORTSMOUTH]}
    )
    assert done.status_code == 303 and "councils%20851" in done.headers["location"]
    sign_in(client, "nemo")  # sees Portsmouth's now
    assert client.get(f"/notifications/{ids['pip']}").status_code == 200
    assert "Portsmouth (851)" in client.get("/account").text
    with transaction(sessions) as session:
        [changed] = session.execute(
            select(AuditEvent).where(AuditEvent.action == "user_councils_set")
        ).scalars()
        assert changed.actor == "console:ada"
        assert changed.details == {"user": "nemo", "before": "", "after": PORTSMOUTH}
        set_councils(session, "nemo", "", actor="test")  # none again: nothing
    sign_in(client, "nemo")
    assert client.get(f"/notifications/{ids['pip']}").status_code == 404


def test_the_scope_is_one_rule_for_every_door(tmp_path: Path) -> None:
    councils = councils_for(deployment(tmp_path))
    both = scope_for(councils, "851,850")
    assert both.allows(HAMPSHIRE) and both.allows(PORTSMOUTH) and both.allows(None)
    portsmouth = scope_for(councils, PORTSMOUTH)
    assert not portsmouth.allows(HAMPSHIRE) and not portsmouth.allows(None)
    assert scope_for(councils, "999,nonsense") == NOTHING  # not a member: nothing
    assert scope_for(councils, "") == NOTHING


def test_an_oidc_councils_claim_grants_only_la_codes() -> None:
    assert councils_from(["850", "851"]) == "850,851"
    assert councils_from("851, 850") == "851,850"
    assert councils_from(None) == "" and councils_from(["admin", 850]) == "850"


def test_the_acknowledgement_page_names_the_owning_councils_first_response(
    console: tuple[TestClient, sessionmaker[Session], dict[str, str]],
) -> None:
    client, _, ids = console
    links = client.app.state.console.links  # type: ignore[attr-defined]
    for nid, phone in ((ids["pip"], "0300 555 0851"), (ids["amy"], "0300 555 0850")):
        url = links.url(nid, "dsl", utcnow())
        page = client.get(url.removeprefix(links.base_url)).text  # not sent yet: call them
        assert phone in page, nid
    assert "0300 555 0850" in client.get("/ack/not-a-link").text  # no notification: the lead's
