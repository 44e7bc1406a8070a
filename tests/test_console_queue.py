"""The review queue as First Response triages a Monday morning (issue 15, item 1), over
HTTP against both databases: each row shows the child as the police recorded them, the
DASH risk (high marked), the best candidate's school, why it waits, the time left and who
has claimed it; the queue sorts and filters by each, pages through long queues in SQL
and decrypts only the page it shows; "Approve the selected notifications" is offered only
when something on the page can be selected."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Text, cast, select, update
from sqlalchemy.orm import Session, sessionmaker

from console.accounts import add_user
from console.app import create_app
from console.queue_query import Query
from console.queue_view import PAGE_SIZE
from consumers import review
from consumers.retention import purge
from foundations import crypto
from foundations.clock import utcnow
from foundations.database import transaction
from foundations.models import Notification
from foundations.settings import Settings
from tests.console_signin import post_login
from tests.queue_seed import MONDAY_0730, Seeded, seed_queue

PASSWORD = "correct horse battery"
FEW = {"release_grade": 3, "twins": 2, "not_found": 2, "account_held": 2, "update": 2}


def settings_for(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, secret_key="k" * 32, public_url="https://console.example")


def client_for(sessions: sessionmaker[Session], tmp_path: Path) -> TestClient:
    with transaction(sessions) as s:
        for name in ("rita", "rob"):
            add_user(s, name, "reviewer", PASSWORD, actor="test")
    app = create_app(settings_for(tmp_path), sessions, clock=lambda: MONDAY_0730)
    client = TestClient(app, base_url="https://testserver", follow_redirects=False)
    assert post_login(client, {"username": "rita", "password": PASSWORD}).status_code == 303
    return client


@pytest.fixture
def few(sessions: sessionmaker[Session], tmp_path: Path) -> Iterator[tuple[TestClient, Seeded]]:
    seeded = seed_queue(sessions, settings_for(tmp_path), tmp_path / "directory", FEW)
    with client_for(sessions, tmp_path) as client:
        yield client, seeded


def rows(page: str) -> list[dict[str, str]]:
    """The queue table's rows: each cell's text, by column header, and the row's id."""
    if 'id="queue"' not in page:
        return []
    table = page.split('id="queue"', 1)[1].split("</table>", 1)[0]
    heads = [strip(h) for h in re.findall(r"<th[^>]*>(.*?)</th>", table, re.S)]
    out = []
    for row in re.findall(r"<tr class=\"govuk-table__row\" data-why[^>]*>(.*?)</tr>", table, re.S):
        cells = [strip(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        found = dict(zip(heads[-len(cells) :], cells, strict=True))
        found["id"] = re.search(r'href="/notifications/([^"]+)"', row).group(1)  # type: ignore[union-attr]
        out.append(found)
    return out


def strip(html: str) -> str:
    text = re.sub(r"<br>", " / ", html)
    text = re.sub(r"<[^>]+>", "", text).replace("&#39;", "'").replace("&amp;", "&")
    return re.sub(r"\s+", " ", text.replace("▲", "").replace("▼", "")).strip()


def test_each_row_shows_the_child_the_risk_the_school_why_it_waits_and_the_time_left(
    few: tuple[TestClient, Seeded], sessions: sessionmaker[Session]
) -> None:
    client, seeded = few
    page = client.get("/queue").text
    shown = {r["id"]: r for r in rows(page)}
    assert len(shown) == sum(FEW.values())
    sure = shown[seeded.ids["release_grade"][0]]
    assert re.fullmatch(r"[A-Z][a-z]+ [A-Z][a-z]+ / \d+ years old", sure["Child"]), sure
    assert sure["Why it waits"] == "Sure match"
    assert re.fullmatch(r".+ \(10000[12]\)", sure["School"]), sure
    assert re.fullmatch(r"1h [01]0m / Mon 23 Nov 08:[34]0", sure["Time left"])
    assert sure["Claimed by"] == "Nobody"
    for nid in seeded.ids["twins"]:
        assert shown[nid]["Why it waits"].startswith("Twins?")
        assert shown[nid]["School"].endswith("/ best candidate")  # no school chosen yet
    for nid in seeded.ids["not_found"]:
        assert shown[nid]["Why it waits"] == "Not found"
        assert shown[nid]["Notification"].endswith("/ Not found in the directory")
    for nid in seeded.ids["account_held"]:
        assert "Account held: names found (1)" in shown[nid]["Why it waits"]
    for nid in seeded.ids["update"]:
        assert shown[nid]["Why it waits"] == "Update to a sent notification"
    # High risk is marked as such; the others in words.
    risks = {r["Risk"] for r in shown.values()}
    assert risks <= {"High risk", "Medium", "Standard"} and "High risk" in risks
    assert '<strong class="govuk-tag govuk-tag--red">High risk</strong>' in page
    # The opaque id never wraps: it sits whole in a nowrap link.
    assert re.search(
        r'class="govuk-link console-nowrap" href="/notifications/N-[0-9a-f]{20}"', page
    )

    nid = seeded.ids["twins"][0]
    with transaction(sessions) as s:
        review.claim(s, settings_for(Path()), nid, actor="console:rob")
    again = {r["id"]: r for r in rows(client.get("/queue").text)}
    assert again[nid]["Claimed by"] == "rob (console)"


WHY_ORDER = ["Sure match", "Update to a sent notification", "Twins?", "Match not sure", "Not found"]


@pytest.mark.parametrize(
    ("sort", "column", "key"),
    [
        ("child", "Child", lambda c: (c.split(" / ")[0].split()[-1], c.split()[0])),
        ("risk", "Risk", ["High risk", "Medium", "Standard"].index),
        ("why", "Why it waits", lambda w: WHY_ORDER.index(w.split(" / ")[0])),
        ("school", "School", lambda s: (s == "No candidate", s.split(" (")[0])),
        ("status", "Notification", lambda s: s.split(" / ")[1]),
    ],
)
def test_the_queue_sorts_by_each_column_both_ways(
    few: tuple[TestClient, Seeded], sort: str, column: str, key: Any
) -> None:
    client, _ = few
    up = [r[column] for r in rows(client.get("/queue", params={"sort": sort}).text)]
    down_page = client.get("/queue", params={"sort": sort, "order": "desc"}).text
    down = [r[column] for r in rows(down_page)]
    if sort == "status":  # by code: "not_found" before "pending_review"
        up, down = [s.split(" / ")[1] for s in up], [s.split(" / ")[1] for s in down]
        key = ["Not found in the directory", "Waiting for review"].index
        up_keys = [key(s) for s in up]
    else:
        up_keys = [key(v) for v in up]
    assert up_keys == sorted(up_keys), up
    assert [key(v) for v in down] == sorted(up_keys, reverse=True), down


def test_the_queue_sorts_by_age_and_by_who_has_claimed_it(
    few: tuple[TestClient, Seeded], sessions: sessionmaker[Session]
) -> None:
    client, seeded = few
    ages = [int(r["Child"].split(" / ")[1].split()[0]) for r in
            rows(client.get("/queue", params={"sort": "age"}).text)]  # fmt: skip
    assert ages == sorted(ages)
    names = [r["Child"] for r in rows(client.get("/queue", params={"sort": "child"}).text)]
    # Rows made before the child's sort key was kept are sorted from the police record.
    with transaction(sessions) as s:
        s.execute(update(Notification).where(Notification.id.in_(seeded.ids["twins"]
                  + seeded.ids["release_grade"])).values(child_sort=None))  # fmt: skip
    assert [r["Child"] for r in rows(client.get("/queue", params={"sort": "child"}).text)] == names
    again = [int(r["Child"].split(" / ")[1].split()[0]) for r in
             rows(client.get("/queue", params={"sort": "age"}).text)]  # fmt: skip
    assert again == ages
    with transaction(sessions) as s:
        review.claim(s, settings_for(Path()), seeded.ids["update"][0], actor="console:rob")
        review.claim(s, settings_for(Path()), seeded.ids["not_found"][0], actor="console:ann")
    claimed = [r["Claimed by"] for r in rows(client.get("/queue", params={"sort": "claimed"}).text)]
    assert claimed[:2] == ["ann (console)", "rob (console)"] and set(claimed[2:]) == {"Nobody"}


def test_the_queue_filters_by_each_column(
    few: tuple[TestClient, Seeded], sessions: sessionmaker[Session]
) -> None:
    client, seeded = few

    def ids(**params: str) -> set[str]:
        return {r["id"] for r in rows(client.get("/queue", params=params).text)}

    for kind in ("twins", "not_found", "update"):
        assert ids(why=kind) == set(seeded.ids[kind])
    assert ids(why="account_held") == set(seeded.ids["account_held"])
    assert ids(why="release_grade") == set(seeded.ids["release_grade"] + seeded.ids["account_held"])
    high = ids(risk="high")
    assert high and all(r["Risk"] == "High risk" for r in rows(client.get("/queue?risk=high").text))
    assert high | ids(risk="medium") | ids(risk="standard") == ids()
    assert ids(due="4h") == ids() and ids(due="late") == set()
    within = rows(client.get("/queue", params={"due": "1h"}).text)
    assert 0 < len(within) < len(ids()) and all(r["Time left"].startswith("1h 00m") for r in within)
    assert ids(status="not_found") == set(seeded.ids["not_found"])

    with transaction(sessions) as s:
        review.claim(s, settings_for(Path()), seeded.ids["update"][0], actor="console:rita")
        review.claim(s, settings_for(Path()), seeded.ids["update"][1], actor="console:rob")
    assert ids(claimed="me") == {seeded.ids["update"][0]}
    assert ids(claimed="others") == {seeded.ids["update"][1]}
    assert len(ids(claimed="nobody")) == sum(FEW.values()) - 2

    one = rows(client.get("/queue").text)[0]
    name = one["Child"].split(" / ")[0]
    assert one["id"] in ids(child=name.split()[-1].lower())
    family = name.split()[-1]
    assert all(family in r["Child"] for r in rows(client.get(f"/queue?child={family}").text))
    urn = one["School"].split("(")[1].rstrip(")").split(")")[0]
    by_urn = ids(school=urn)
    assert one["id"] in by_urn and ids(school="Primary") >= by_urn
    schooled = {r["id"] for r in rows(client.get("/queue").text) if r["School"] != "No candidate"}
    assert ids(la="850") == schooled and ids(la="999") == set()
    # Unknown values are ignored, not errors.
    assert (
        client.get("/queue", params={"why": "nonsense", "page": "x", "sort": "?"}).status_code
        == 200
    )


def test_a_long_queue_is_paged_with_links_that_keep_the_filters(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    mix = {"release_grade": PAGE_SIZE * 2 + 10, "not_found": 3}
    seed_queue(sessions, settings_for(tmp_path), tmp_path / "directory", mix)
    with client_for(sessions, tmp_path) as client:
        first = client.get("/queue", params={"why": "release_grade", "sort": "risk"}).text
        assert len(rows(first)) == PAGE_SIZE
        assert f"Showing 1 to {PAGE_SIZE} of {PAGE_SIZE * 2 + 10} notifications" in first
        assert 'href="/queue?why=release_grade&amp;sort=risk&amp;page=2" rel="next"' in first
        assert 'aria-label="Page 3"' in first
        third = client.get("/queue", params={"why": "release_grade", "sort": "risk", "page": 3})
        assert len(rows(third.text)) == 10
        assert 'rel="prev"' in third.text
        wanted = {"why": "release_grade", "sort": "risk"}
        pages = [client.get("/queue", params={**wanted, "page": p}).text for p in (1, 2, 3)]
        seen = {r["id"] for page in pages for r in rows(page)}
        assert len(seen) == PAGE_SIZE * 2 + 10  # every one once
        beyond = client.get("/queue", params={"why": "release_grade", "page": 99}).text
        assert f"Showing {PAGE_SIZE * 2 + 1} to {PAGE_SIZE * 2 + 10}" in beyond  # the last page


def test_only_the_page_shown_is_decrypted(
    sessions: sessionmaker[Session], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Thousands pending must not mean thousands of police records decrypted per request:
    twice the queue, the same number of values decrypted."""
    mix = {"release_grade": PAGE_SIZE + 5}
    seed_queue(sessions, settings_for(tmp_path), tmp_path / "directory", mix)
    calls: list[int] = []
    real = crypto.Keyring._open

    def counting(self: crypto.Keyring, expected: str, stored: str, associated: bytes) -> bytes:
        calls.append(1)
        return real(self, expected, stored, associated)

    monkeypatch.setattr(crypto.Keyring, "_open", counting)
    with client_for(sessions, tmp_path) as client:
        client.get("/queue")
        calls.clear()
        assert len(rows(client.get("/queue").text)) == PAGE_SIZE
        smaller = len(calls)
        with transaction(sessions) as s:
            clones = list(s.execute(select(Notification.id)).scalars())
        _double(sessions, clones)
        calls.clear()
        assert len(rows(client.get("/queue").text)) == PAGE_SIZE
        assert len(calls) == smaller
        assert smaller <= 3 * PAGE_SIZE


def _double(sessions: sessionmaker[Session], ids: list[str]) -> None:
    """As many notifications again (later ones), without going through the pipeline."""
    with transaction(sessions) as s:
        for nid in ids:
            n = s.get(Notification, nid)
            assert n is not None
            copy = Notification(**{c.key: getattr(n, c.key) for c in Notification.__table__.c})
            copy.id, copy.person_id = "N-copy" + nid[6:], "c1-copy"
            copy.deliver_by = n.deliver_by.replace(year=2027)
            s.add(copy)


def test_approving_the_selected_is_offered_only_when_something_can_be_selected(
    few: tuple[TestClient, Seeded], sessions: sessionmaker[Session]
) -> None:
    client, _ = few
    button = "Approve the selected notifications"
    assert button in client.get("/queue").text
    for why in ("twins", "not_found", "update"):
        page = client.get("/queue", params={"why": why}).text
        assert button not in page and 'name="ids"' not in page and "Select" not in page
    page = client.get("/queue", params={"why": "release_grade"}).text
    assert page.count('name="ids"') == FEW["release_grade"] + FEW["account_held"]
    with transaction(sessions) as s:
        s.execute(update(Notification).values(status="rejected"))
    assert button not in client.get("/queue").text


def test_the_query_keeps_only_what_it_knows() -> None:
    q = Query.of({"why": "twins", "risk": "bogus", "page": "-3", "sort": "child", "order": "x"})
    assert (q.why, q.risk, q.page, q.sort, q.order) == ("twins", "", 1, "child", "asc")
    assert q.link(page=2) == "/queue?why=twins&sort=child&page=2"
    assert q.sorted_by("child") == "/queue?why=twins&sort=child&order=desc"
    assert Query.of({"child": "a\x00b"}).child == ""


def test_the_bulk_approval_comes_back_to_the_queue_as_it_was_filtered(
    few: tuple[TestClient, Seeded], sessions: sessionmaker[Session]
) -> None:
    client, seeded = few
    page = client.get("/queue", params={"why": "release_grade", "sort": "risk", "page": "1"})
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    back = re.search(r'name="back" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    ids = seeded.ids["release_grade"]
    done = client.post("/queue/approve", data={"csrf_token": token, "ids": ids,
                                                "back": back.replace("&amp;", "&")})  # fmt: skip
    assert done.headers["location"].startswith("/queue?why=release_grade&sort=risk&notice=3")
    # Whatever is sent back, the way back leads to the queue and nowhere else.
    for odd in ("https://elsewhere.example/queue?why=twins", "//elsewhere.example", "\x00"):
        again = client.post("/queue/approve", data={"csrf_token": token, "back": odd})
        assert again.headers["location"].startswith("/queue"), again.headers["location"]
    with transaction(sessions) as s:
        assert {review.get(s, nid).status for nid in ids} == {"approved"}


def test_the_childs_sort_key_is_encrypted_and_purged_with_the_police_record(
    few: tuple[TestClient, Seeded], sessions: sessionmaker[Session]
) -> None:
    _, seeded = few
    nid = seeded.ids["update"][0]
    with transaction(sessions) as s:
        stored = s.execute(
            select(cast(Notification.child_sort, Text)).where(Notification.id == nid)
        ).scalar_one()
        assert stored.startswith("enc") and "family_name" not in stored
        sent = [n for n in s.execute(select(Notification)).scalars() if n.status == "sent"]
        assert sent and all(n.child_sort for n in sent)
        purge(s, now=utcnow() + timedelta(days=401), keep_days=400)
    with transaction(sessions) as s:
        assert all(s.get(Notification, n.id).child_sort is None for n in sent)  # type: ignore[union-attr]
