"""Signing in to the console from tests as a person with an authenticator app would: after
the password, set up TOTP when the console asks (reading the key it shows), or enter the
app's current code. Codes are never reused (the console refuses a replay), so each
authenticator remembers the last time step it gave."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

import pyotp

STEP_S = 30


@dataclass
class Authenticator:
    secret: str
    last_step: int = field(default=-1)

    def code(self) -> str:
        """A code the console has not accepted yet (waiting for the next step if needed)."""
        while True:
            now_step = int(time.time() // STEP_S)
            step = max(now_step - 1, self.last_step + 1)
            if step <= now_step + 1:
                break
            time.sleep(1)
        self.last_step = step
        return pyotp.TOTP(self.secret).generate_otp(step)

    def code_at(self, step: int) -> str:
        return pyotp.TOTP(self.secret).generate_otp(step)


# By username: the authenticator each test person set up last.
APPS: dict[str, Authenticator] = {}


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None, page[:2000]
    return found.group(1)


def manual_key(page: str) -> str:
    found = re.search(r'id="manual-key">([A-Z2-7 ]+)<', page)
    assert found is not None, page[:2000]
    return found.group(1).replace(" ", "")


def recovery_codes(page: str) -> list[str]:
    return re.findall(r"<code>([A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4})</code>", page)


def finish(client: Any, response: Any, username: str) -> Any:
    """Given the answer to the password (not followed), do the second factor if one is
    asked for. Works with clients that follow redirects and with those that do not."""
    where = response.headers.get("location", "") if response.status_code == 303 else ""
    if where.startswith("/mfa/enrol"):
        page = client.get(where)
        assert page.status_code == 200, page.text[:500]
        app = APPS[username] = Authenticator(manual_key(page.text))
        form = {"csrf_token": _csrf(page.text), "code": app.code(), "next": "/"}
        done = client.post("/mfa/enrol", data=form, follow_redirects=False)
        assert done.status_code == 200 and "recovery codes" in done.text, done.text[:500]
        return done
    if where.startswith("/login/mfa"):
        page = client.get(where)
        code = APPS[username].code()
        form = {"csrf_token": _csrf(page.text), "code": code, "next": "/"}
        done = client.post("/login/mfa", data=form, follow_redirects=False)
        assert done.status_code == 303, done.text[:500]
        return done
    return response


def post_login(client: Any, data: dict[str, str], **options: Any) -> Any:
    """The sign-in form as a browser sends it: with the sign-in CSRF token from the form."""
    form = {"csrf_token": _csrf(client.get("/login").text), **data}
    return client.post("/login", data=form, **options)


def api_session(client: Any, body: dict[str, Any], **options: Any) -> Any:
    """``POST /api/session`` with the sign-in token from ``GET /api/session``."""
    token = client.get("/api/session").json()["csrf_token"]
    headers = {"X-CSRF-Token": token, **options.pop("headers", {})}
    return client.post("/api/session", json=body, headers=headers, **options)
