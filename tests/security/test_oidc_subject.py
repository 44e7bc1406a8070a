"""Issue 13, item 10: OIDC accounts are keyed on the provider's issuer and subject (``sub``),
not on ``preferred_username``, which a provider may change or hand to someone else. A new
person given an old name gets a new account; a renamed person keeps theirs; a disabled
subject stays out under any name; an account from before subjects were kept is never
taken over by whoever next shows its name. The provider's own second factor counts
only when its ID token says so (``amr``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from console.app import create_app
from foundations.database import transaction
from foundations.models import ConsoleUser
from foundations.settings import Settings
from tests.test_console_oidc import CLIENT_ID, CLIENT_SECRET, Provider, provider, sign_in_with

__all__ = ["provider"]  # the fixture, used by name


@pytest.fixture
def console(
    sessions: sessionmaker[Session], tmp_path: Path, provider: Provider
) -> Iterator[TestClient]:
    settings = Settings(
        data_dir=tmp_path, secret_key="k" * 32, public_url="http://testserver",
        console_cookie_secure=False, oidc_issuer=provider.base, oidc_client_id=CLIENT_ID,
        oidc_client_secret=CLIENT_SECRET,
    )  # fmt: skip
    with TestClient(create_app(settings, sessions), follow_redirects=False) as client:
        yield client


def accounts(sessions: sessionmaker[Session]) -> dict[str, tuple[str | None, str | None, bool]]:
    with transaction(sessions) as s:
        users = s.execute(select(ConsoleUser)).scalars()
        return {u.username: (u.oidc_issuer, u.oidc_subject, u.active) for u in users}


def signed_in_as(client: TestClient, provider: Provider) -> str | None:
    """Sign in through the provider; the console account it opened, or None if refused."""
    client.cookies.clear()
    done = sign_in_with(client, provider)
    if done.status_code != 200:
        return None
    page = client.get("/account")
    assert page.status_code == 200, page.text[:300]
    start = page.text.index('Name</dt><dd class="govuk-summary-list__value">')
    return page.text[start:].split(">", 3)[2].split("<", 1)[0]


def test_a_new_person_given_an_old_name_gets_a_new_account(
    console: TestClient, provider: Provider, sessions: sessionmaker[Session]
) -> None:
    assert signed_in_as(console, provider) == "oidc:olive"
    provider.subject = "u-9999"  # the provider gave "olive" to someone else
    other = signed_in_as(console, provider)
    assert other is not None and other.startswith("oidc:olive~") and other != "oidc:olive"
    held = accounts(sessions)
    assert held["oidc:olive"] == (provider.base, "u-1234", True)
    assert held[other] == (provider.base, "u-9999", True)


def test_a_renamed_person_keeps_their_account(
    console: TestClient, provider: Provider, sessions: sessionmaker[Session]
) -> None:
    assert signed_in_as(console, provider) == "oidc:olive"
    provider.username = "olive.smith"
    assert signed_in_as(console, provider) == "oidc:olive"
    assert list(accounts(sessions)) == ["oidc:olive"]


def test_a_disabled_subject_stays_out_under_any_name(
    console: TestClient, provider: Provider, sessions: sessionmaker[Session]
) -> None:
    assert signed_in_as(console, provider) == "oidc:olive"
    with transaction(sessions) as s:
        user = s.get(ConsoleUser, "oidc:olive")
        assert user is not None
        user.active = False
    provider.username = "olive.new"
    assert signed_in_as(console, provider) is None
    assert list(accounts(sessions)) == ["oidc:olive"]  # no fresh account under a new name


def test_an_account_from_before_subjects_is_never_taken_over(
    console: TestClient, provider: Provider, sessions: sessionmaker[Session]
) -> None:
    with transaction(sessions) as s:  # as the console kept OIDC accounts before
        s.add(ConsoleUser(username="oidc:olive", role="admin", active=True))
    mine = signed_in_as(console, provider)
    assert mine is not None and mine.startswith("oidc:olive~")
    assert accounts(sessions)["oidc:olive"] == (None, None, True)  # untouched, not adopted
    with transaction(sessions) as s:  # an administrator had disabled the old one: stays out
        s.add(ConsoleUser(username="oidc:oscar", role="reviewer", active=False))
    provider.subject, provider.username = "u-5555", "oscar"
    assert signed_in_as(console, provider) is None


def test_the_second_factor_is_the_providers_only_when_its_token_says_so(
    console: TestClient, provider: Provider
) -> None:
    provider.roles = ["auditor"]
    asked = sign_in_with(console, provider)
    assert asked.status_code == 200 and "url=/mfa/enrol" in asked.text
    assert console.get("/audit").status_code == 303
    console.cookies.clear()
    provider.amr = ["pwd", "mfa"]
    done = sign_in_with(console, provider)
    assert done.status_code == 200 and 'url=/"' in done.text
    assert console.get("/audit").status_code == 200


def test_one_subject_of_one_issuer_is_one_account(sessions: sessionmaker[Session]) -> None:
    with pytest.raises(IntegrityError), transaction(sessions) as s:
        for name in ("oidc:a", "oidc:b"):
            s.add(ConsoleUser(username=name, role="reviewer", active=True,
                              oidc_issuer="https://idp.example", oidc_subject="same"))  # fmt: skip
            s.flush()


def test_a_councils_claim_sets_the_accounts_councils_at_every_sign_in_and_fails_closed(
    sessions: sessionmaker[Session], tmp_path: Path, provider: Provider
) -> None:
    """docs/councils.md: with ENCOMPASS_OIDC_COUNCILS_CLAIM, the provider's claim decides
    the account's councils, like its role; a token without it gives none."""
    settings = Settings(
        data_dir=tmp_path, secret_key="k" * 32, public_url="http://testserver",
        console_cookie_secure=False, oidc_issuer=provider.base, oidc_client_id=CLIENT_ID,
        oidc_client_secret=CLIENT_SECRET, oidc_councils_claim="councils",
    )  # fmt: skip

    def councils() -> str:
        with transaction(sessions) as s:
            user = s.get(ConsoleUser, "oidc:olive")
            assert user is not None
            return user.councils

    with TestClient(create_app(settings, sessions), follow_redirects=False) as client:
        provider.councils = ["851", "not-a-code"]
        assert signed_in_as(client, provider) == "oidc:olive"
        assert councils() == "851"
        provider.councils = None  # the claim is gone: no council, nothing seen
        assert signed_in_as(client, provider) == "oidc:olive"
        assert councils() == ""
