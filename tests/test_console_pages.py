"""Issue 15 on the console's pages other than the queue, over HTTP with something of every
kind on them (tests/console_pages.py): words, not codes, on every page and in every e-mail;
a late notification marked late, and a sent one showing what happened instead of the time
left; the preview as the school will get it; each candidate beside the child as the police
recorded them. The API keeps its codes: it is a contract."""

from __future__ import annotations

import re
from collections.abc import Iterator
from email import policy
from email.parser import BytesParser
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from console.app import create_app
from foundations.database import make_engine, session_factory, upgrade
from tests.conftest import TEST_KEYRING
from tests.console_pages import (
    ACTOR_CODE,
    PASSWORD,
    SNAKE_CODE,
    Seeded,
    seed,
    settings_for,
)
from tests.console_signin import finish, post_login


class _Visible(HTMLParser):
    """The text a person reads (or hears): text outside scripts and styles, and the
    titles and labels a screen reader says."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        for name, value in attrs:
            if name in ("title", "aria-label", "alt", "placeholder") and value:
                self.parts.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def visible(html: str) -> str:
    parser = _Visible()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


# What the seeded pages must say instead: each kind of actor, step and status in words.
WORDS = (
    "rita (console)",
    "root (command line)",
    "kim@council.example (console, single sign-on)",
    "automatic release of an exact match",
    "Reminder to the DSL",
    "Reminder to the deputy DSL",
    "Not acknowledged: First Response alerted",
    "Waiting for review",
    "Not found in the directory",
    "Replaced by a newer report",
    "Could not be sent",
    "Being sent",
    "Withdrawn",
    "is being worked on by rob (console)",
)


def codes_in(text: str) -> list[str]:
    """Every status, step, policy, field or actor said as a code."""
    return re.findall(ACTOR_CODE, text) + re.findall(SNAKE_CODE, text)


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Path, Seeded, sessionmaker[Session]]]:
    folder = tmp_path_factory.mktemp("pages")
    url = f"sqlite:///{folder / 'pages.db'}"
    upgrade(url)
    engine = make_engine(url, TEST_KEYRING)
    sessions = session_factory(engine)
    seeded = seed(sessions, folder)
    yield folder, seeded, sessions
    engine.dispose()


def client_for(world: tuple[Path, Seeded, sessionmaker[Session]], username: str) -> TestClient:
    folder, _, sessions = world
    client = TestClient(create_app(settings_for(folder), sessions), base_url="https://testserver")
    if username:
        signed = post_login(client, {"username": username, "password": PASSWORD},
                            follow_redirects=False)  # fmt: skip
        assert signed.status_code == 303, signed.text[:300]
        finish(client, signed, username)
    return client


def pages(world: tuple[Path, Seeded, sessionmaker[Session]]) -> Iterator[tuple[str, str, str]]:
    """(who, path, visible text) for every page but the queue, as each kind of person."""
    folder, seeded, _ = world
    mails = sorted(p.name for p in (folder / "demo-mail").glob("*.eml"))
    reviewer = client_for(world, "rita")
    # A refused action comes back to the notification with why, in words.
    twins = seeded.ids["twins"]
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', reviewer.get("/sent").text)
    assert csrf is not None
    refused = reviewer.post(f"/notifications/{twins}/reject", follow_redirects=False,
                            data={"csrf_token": csrf.group(1), "reason": "x"})  # fmt: skip
    assert refused.status_code == 303
    sent = seeded.ids["sent"]
    refused_recall = reviewer.post(f"/notifications/{seeded.ids['approved']}/recall",
                                   follow_redirects=False,
                                   data={"csrf_token": csrf.group(1), "reason": "x"})  # fmt: skip
    for path in [
        "/sent", "/mail", *(f"/mail?name={quote(m)}" for m in mails), "/account",
        *(f"/notifications/{nid}" for nid in seeded.ids.values()),
        refused.headers["location"], refused_recall.headers["location"],
        f"/notifications/{sent}?upn=nobody", "/notifications/N-none", "/audit",
    ]:  # fmt: skip
        yield "rita", path, visible(reviewer.get(path).text)
    for who in ("aud", "dana"):
        person = client_for(world, who)
        for path in ("/audit", "/audit?school=100001", "/audit?school=100002",
                     "/audit?from=2026-01-01", "/account", "/accounts"):  # fmt: skip
            yield who, path, visible(person.get(path).text)
    public = client_for(world, "")
    for path in ("/login", f"/ack/{seeded.ack_token}", "/ack/not-a-token"):
        yield "", path, visible(public.get(path).text)


def test_every_page_says_statuses_steps_and_actors_in_words(
    world: tuple[Path, Seeded, sessionmaker[Session]],
) -> None:
    walked = list(pages(world))
    assert len(walked) > 30
    found = {f"{who} {path}": codes_in(text) for who, path, text in walked if codes_in(text)}
    assert found == {}
    everything = " ".join(text for _, _, text in walked)
    for words in WORDS:
        assert words in everything, words


def test_every_email_says_its_codes_in_words(
    world: tuple[Path, Seeded, sessionmaker[Session]],
) -> None:
    folder, _, _ = world
    mails = sorted((folder / "demo-mail").glob("*.eml"))
    subjects = []
    for path in mails:
        message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        subjects.append(str(message["subject"]))
        text = message.get_body(("plain",))
        html = message.get_body(("html",))
        assert text is not None and html is not None
        for body in (text.get_content(), visible(html.get_content()), str(message["subject"])):
            assert codes_in(body) == [], (path.name, codes_in(body))
    kinds = " ".join(subjects)
    for kind in ("withdrawn", "the officer's account", "alert", "Reminder", "not yet acknowledged"):
        assert kind in kinds, kind


def test_the_api_keeps_its_codes(world: tuple[Path, Seeded, sessionmaker[Session]]) -> None:
    client = client_for(world, "rita")
    rows = client.get("/api/queue").json()
    assert {"pending_review", "not_found"} <= {r["status"] for r in rows}


def test_a_late_notification_is_marked_late_and_a_sent_one_shows_what_happened(
    world: tuple[Path, Seeded, sessionmaker[Session]],
) -> None:
    _, seeded, _ = world
    client = client_for(world, "rita")
    ids = seeded.ids
    rows = {
        nid: visible(row)
        for nid, row in re.findall(
            r'href="/notifications/([^"]+)">.*?</a>(.*?)</tr>', client.get("/sent").text, re.S
        )
    }
    assert "Late" in rows[ids["late"]] and "sent 3 h 0 min after its deadline" in rows[ids["late"]]
    assert "Late" in rows[ids["follow_up"]]
    assert "Late" not in rows[ids["sent"]] and "Late" not in rows[ids["recalled"]]
    assert "automatic release of an exact match" in rows[ids["late"]]
    assert "rita (console)" in rows[ids["sent"]]

    late = visible(client.get(f"/notifications/{ids['late']}").text)
    assert "Late" in late and "sent 3 h 0 min after its deadline" in late
    assert "released by policy" not in late and "below the release threshold" not in late
    assert "to deputy@100002.school.example (the deputy DSL)" in late
    assert "Released by automatic release of an exact match" in late
    on_time = visible(client.get(f"/notifications/{ids['sent']}").text)
    assert "(sent in time)" in on_time and "Late" not in on_time
    assert "review policy holds every notification" not in on_time
    assert "Released by rita (console)" in on_time
    assert "Acknowledged" in on_time and "Not yet" not in on_time
    for sent in (late, on_time):
        assert re.search(r"\d+h \d\dm", sent) is None  # no time left once it has gone
    overdue = visible(client.get(f"/notifications/{ids['overdue']}").text)
    assert "Late" in overdue and re.search(r"\(0h 4\dm late\)", overdue)
    assert "by kim@council.example (console, single sign-on)" in overdue
    waiting = visible(client.get(f"/notifications/{ids['waiting']}").text)
    assert "Late" not in waiting and re.search(r"\(\d+h \d\dm\)", waiting)


def test_the_preview_is_the_email_the_school_gets_with_the_place_of_its_link(
    world: tuple[Path, Seeded, sessionmaker[Session]],
) -> None:
    _, seeded, _ = world
    client = client_for(world, "rita")
    to_deputy = visible(client.get(f"/notifications/{seeded.ids['deputy']}").text)
    assert "Dear deputy designated safeguarding lead at St Mary" in to_deputy
    to_dsl = visible(client.get(f"/notifications/{seeded.ids['waiting']}").text)
    assert "Dear designated safeguarding lead at Example Primary School" in to_dsl
    for page in (to_deputy, to_dsl):
        assert "Please confirm to First Response" not in page
        assert "the school's own confirmation link goes here when the e-mail is sent" in page
        assert "it works for 14 days" in page
    api = client.get(f"/api/notifications/{seeded.ids['deputy']}").json()
    assert "Dear deputy designated safeguarding lead" in api["preview_text"]


def test_each_candidate_is_shown_beside_the_child_with_what_differs(
    world: tuple[Path, Seeded, sessionmaker[Session]],
) -> None:
    _, seeded, _ = world
    client = client_for(world, "rita")
    twins = visible(client.get(f"/notifications/{seeded.ids['twins']}").text)
    assert "Leo Twin, born 5 May 2017" in twins
    assert twins.count("Agree: given names, family name, date of birth") == 2
    amy = visible(client.get(f"/notifications/{seeded.ids['waiting']}").text)
    assert "Amy Louise Doe (known as Amy), born 14 September 2016" in amy
    assert "Differ:" not in amy
    close = visible(client.get(f"/notifications/{seeded.ids['close']}").text)
    assert "Differ: date of birth (one digit differs)" in close
