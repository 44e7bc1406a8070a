"""The console's routes and their guards (console.routing): every route is in the map
below with who may use it, so a new route cannot be added without saying so; a person
signed out is sent to sign in (the API answers 401), a role that may not is refused 403,
a form or API call without the session's CSRF token is refused 403, a notification that
does not exist is 404 (``review.NotFound``), and a refused action leaves nothing behind:
not even the claim taken before it, on the pages and in the API alike."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker
from starlette.routing import Mount

from consumers import review
from foundations.database import transaction
from tests import test_console
from tests.factories import TWIN_A_UPN
from tests.test_console import TWINS, api_sign_in, events, publish, sign_in

directory = test_console.directory
app_settings = test_console.app_settings
client = test_console.client

PUBLIC, ANYONE, REVIEWER, AUDITOR = "public", "anyone signed in", "reviewer", "auditor"
ADMIN = "admin"
ROUTES = {
    ("GET", "/"): PUBLIC,  # to sign in, or to the queue or the audit page
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,  # its own CSRF token (console.signin_csrf)
    ("POST", "/logout"): PUBLIC,  # a session at any level
    ("GET", "/login/mfa"): PUBLIC,  # a session waiting for its code
    ("POST", "/login/mfa"): PUBLIC,
    ("GET", "/mfa/enrol"): PUBLIC,  # a session setting up its second factor
    ("GET", "/mfa/enrol/qr.svg"): PUBLIC,
    ("POST", "/mfa/enrol"): PUBLIC,
    ("GET", "/ack/{token}"): PUBLIC,  # the link is the key
    ("POST", "/ack/{token}"): PUBLIC,
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/api/session"): PUBLIC,
    ("POST", "/api/session"): PUBLIC,
    ("DELETE", "/api/session"): PUBLIC,
    ("GET", "/account"): ANYONE,
    ("POST", "/account/signout-all"): ANYONE,
    ("GET", "/api/openapi.json"): ANYONE,
    ("GET", "/queue"): REVIEWER,
    ("GET", "/notifications/{nid}"): REVIEWER,
    ("GET", "/sent"): REVIEWER,
    ("GET", "/mail"): REVIEWER,
    ("POST", "/queue/approve"): REVIEWER,
    ("POST", "/notifications/{nid}/claim"): REVIEWER,
    ("POST", "/notifications/{nid}/approve"): REVIEWER,
    ("POST", "/notifications/{nid}/choose"): REVIEWER,
    ("POST", "/notifications/{nid}/reject"): REVIEWER,
    ("POST", "/notifications/{nid}/edit"): REVIEWER,
    ("POST", "/notifications/{nid}/account/release"): REVIEWER,
    ("POST", "/notifications/{nid}/account/discard"): REVIEWER,
    ("POST", "/notifications/{nid}/recall"): REVIEWER,
    ("POST", "/notifications/{nid}/route"): REVIEWER,
    ("GET", "/api/queue"): REVIEWER,
    ("GET", "/api/notifications/{nid}"): REVIEWER,
    ("POST", "/api/notifications/{nid}/claim"): REVIEWER,
    ("POST", "/api/notifications/{nid}/approve"): REVIEWER,
    ("POST", "/api/notifications/{nid}/reject"): REVIEWER,
    ("POST", "/api/notifications/{nid}/account"): REVIEWER,
    ("POST", "/api/notifications/{nid}/rematch"): REVIEWER,
    ("POST", "/api/queue/approve"): REVIEWER,
    ("POST", "/api/notifications/{nid}/recall"): REVIEWER,
    ("POST", "/api/notifications/{nid}/route"): REVIEWER,
    ("GET", "/audit"): AUDITOR,
    ("GET", "/directory/health"): AUDITOR,
    ("GET", "/accounts"): ADMIN,  # every account and its councils (docs/councils.md)
    ("POST", "/accounts/{username}/councils"): ADMIN,
}


def routes_of(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(method, path) of every route, the mounted API's included; not the static files.
    An included ``APIRouter`` is one entry of ``app.routes``: FastAPI's
    ``iter_route_contexts`` opens it."""
    for route in iter_route_contexts(routes):
        if isinstance(route.original_route, Mount):
            if route.path != "/static":
                yield from routes_of(route.original_route.routes, prefix + str(route.path))
        else:
            for method in route.methods or ():
                yield method, prefix + str(route.path)


def guarded(*roles: str) -> list[tuple[str, str]]:
    return [key for key, role in ROUTES.items() if role in roles]


def call(c: TestClient, method: str, path: str, token: str = "") -> Any:
    url = path.replace("{nid}", "N-x").replace("{token}", "x").replace("{username}", "rita")
    if not url.startswith("/api/"):
        return c.request(method, url, data={"csrf_token": token} if token else None)
    headers = {"X-CSRF-Token": token} if token else {}
    return c.request(method, url, json={} if method == "POST" else None, headers=headers)


def test_every_route_of_the_console_is_in_the_map(client: TestClient) -> None:
    assert sorted(routes_of(client.app.routes)) == sorted(ROUTES)  # type: ignore[attr-defined]


def test_signed_out_every_guarded_route_sends_to_sign_in_or_answers_401(
    client: TestClient,
) -> None:
    for method, path in guarded(ANYONE, REVIEWER, AUDITOR, ADMIN):
        response = call(client, method, path)
        if path.startswith("/api/"):
            assert response.status_code == 401, (method, path)
        else:
            assert response.status_code == 303, (method, path)
            assert response.headers["location"].startswith("/login?next="), (method, path)


def test_a_role_that_may_not_is_refused_before_anything_is_read(client: TestClient) -> None:
    token = sign_in(client, "aud")
    for method, path in guarded(REVIEWER, ADMIN):
        assert call(client, method, path, token).status_code == 403, (method, path)
    client.cookies.clear()
    token = sign_in(client, "rita")
    assert call(client, "GET", "/audit", token).status_code == 403
    for method, path in guarded(ADMIN):
        assert call(client, method, path, token).status_code == 403, (method, path)


def test_every_form_and_api_call_of_a_reviewer_needs_the_csrf_token(
    client: TestClient, directory: sessionmaker[Session]
) -> None:
    nid = publish(directory, TWINS)
    sign_in(client, "rita")
    unsafe = [(m, p.replace("{nid}", nid)) for m, p in guarded(REVIEWER) if m == "POST"]
    for method, path in unsafe:
        assert call(client, method, path).status_code == 403, path
        assert call(client, method, path, "wrong").status_code == 403, path
    with transaction(directory) as s:
        n = review.get(s, nid)
        assert n.status == "pending_review" and n.review_claimed_by is None
    assert events(directory, "claimed") == []


def test_a_notification_that_does_not_exist_is_404_and_acting_on_it_is_refused(
    client: TestClient, directory: sessionmaker[Session]
) -> None:
    with (
        pytest.raises(review.NotFound, match=r"^no notification N-nope$") as found,
        transaction(directory) as s,
    ):
        review.get(s, "N-nope")
    assert isinstance(found.value, review.ReviewError)  # refused like any other action
    token = sign_in(client, "rita")
    assert client.get("/notifications/N-nope").status_code == 404
    back = client.post("/notifications/N-nope/claim", data={"csrf_token": token})
    assert back.status_code == 303
    assert back.headers["location"] == "/notifications/N-nope?error=no%20notification%20N-nope"
    client.cookies.clear()
    api_token = api_sign_in(client, "rita").json()["csrf_token"]
    assert client.get("/api/notifications/N-nope").json() == {"detail": "no notification N-nope"}
    claim = client.post("/api/notifications/N-nope/claim", headers={"X-CSRF-Token": api_token})
    assert claim.status_code == 404 and claim.json()["detail"] == "no notification N-nope"


def test_a_refused_action_leaves_no_claim_behind_and_an_approval_releases_it(
    client: TestClient, directory: sessionmaker[Session]
) -> None:
    nid = publish(directory, TWINS)  # two twins: no school until a reviewer chooses
    token = sign_in(client, "rita")
    refused = client.post(f"/notifications/{nid}/approve", data={"csrf_token": token})
    assert refused.status_code == 303 and "no%20school%20yet" in refused.headers["location"]
    client.cookies.clear()
    api_token = api_sign_in(client, "rita").json()["csrf_token"]
    headers = {"X-CSRF-Token": api_token}
    conflict = client.post(f"/api/notifications/{nid}/approve", json={}, headers=headers)
    assert conflict.status_code == 409 and "no school yet" in conflict.json()["detail"]
    with transaction(directory) as s:
        assert review.get(s, nid).review_claimed_by is None
    assert events(directory, "claimed") == []
    body = {"upn": TWIN_A_UPN, "urn": "100001"}
    done = client.post(f"/api/notifications/{nid}/approve", json=body, headers=headers)
    assert done.status_code == 200 and done.json()["status"] == "approved"
    with transaction(directory) as s:
        assert review.get(s, nid).review_claimed_by is None  # claimed, approved, released
    assert [e.actor for e in events(directory, "claimed")] == ["console:rita"]
