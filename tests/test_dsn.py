"""Bounces (issue 18, item 2), without a database: each e-mail's return path names it and is
signed, so a forged bounce is told from a real one; a delivery status notification (RFC 3464)
is read as permanent or delayed, and anything else is not a bounce."""

from __future__ import annotations

from pathlib import Path

import pytest

from consumers.dsn import DeliveryReport, NotADsn, parse
from consumers.return_path import ReturnPaths
from foundations.models import BounceKind, notification_id
from foundations.settings import Settings
from tests.bounce_reports import delayed, delivered, dsn, out_of_office

DSL = "dsl@100001.school.example"
DEPUTY = "deputy@100001.school.example"
NID = notification_id("44-20261121-000123", 1, "c1", "100001")


@pytest.fixture
def paths() -> ReturnPaths:
    return ReturnPaths(b"s" * 40, "bounces", "council.example")


# --- return paths ---------------------------------------------------------------------------


def test_each_email_has_a_return_path_of_its_own(paths: ReturnPaths) -> None:
    to_dsl = paths.for_notification(NID, DSL)
    to_deputy = paths.for_notification(NID, DEPUTY)
    reminder = paths.for_step(7, DSL)
    assert to_dsl and to_deputy and reminder
    assert paths.for_step(10**9, DSL) is None  # past what a token holds: From, as before
    assert len({to_dsl, to_deputy, reminder, paths.for_step(8, DSL)}) == 4
    for path in (to_dsl, to_deputy, reminder):
        local, _, domain = path.partition("@")
        assert local.startswith("bounces+") and domain == "council.example"
        assert len(local) <= 64 and path == path.lower()  # RFC 5321; lowercasing is harmless
    claim = paths.claim(to_dsl)
    assert claim is not None and claim.ident == NID
    assert paths.verify(claim, DSL) and not paths.verify(claim, DEPUTY)
    upper = paths.claim(f"<{to_dsl.upper()}>")
    assert upper is not None and paths.verify(upper, DSL.upper())


def test_a_forged_return_path_does_not_verify(paths: ReturnPaths) -> None:
    real = paths.for_notification(NID, DSL)
    assert real is not None
    local, _, domain = real.partition("@")
    changed_mac = local[:-1] + ("a" if local[-1] != "a" else "b")
    other_id = paths.for_notification(notification_id("44-1", 1, "c1", "100001"), DSL)
    assert other_id is not None
    # Another notification's signature with this notification's id: the id is signed.
    spliced = local.split(".")[0] + "." + ".".join(other_id.partition("@")[0].split(".")[1:])
    for forged in (f"{changed_mac}@{domain}", f"{spliced}@{domain}"):
        claim = paths.claim(forged)
        assert claim is not None and not paths.verify(claim, DSL)
    # Signed with another key (another installation, or a guess): refused.
    theirs = ReturnPaths(b"t" * 40, "bounces", "council.example")
    guessed = paths.claim(theirs.for_notification(NID, DSL) or "")
    assert guessed is not None and not paths.verify(guessed, DSL)
    # Not a return path of ours at all.
    not_ours = (
        "bounces@council.example",
        f"{local}@elsewhere.example",
        "dsl+x@council.example",
        "bounces+nnot-a-token@council.example",
    )
    for address in not_ours:
        assert paths.claim(address) is None


def test_no_bounce_address_no_return_paths(tmp_path: Path) -> None:
    assert ReturnPaths.from_settings(Settings(data_dir=tmp_path)) is None
    made = ReturnPaths.from_settings(
        Settings(data_dir=tmp_path, bounce_address="Bounces@Council.Example", secret_key="k" * 40)
    )
    assert made is not None and made.local == "bounces" and made.domain == "council.example"


# --- reading reports ------------------------------------------------------------------------


def test_a_permanent_failure_is_read_with_its_status_and_words(paths: ReturnPaths) -> None:
    path = paths.for_notification(NID, DSL) or ""
    report = parse(dsn(path, DSL))
    assert isinstance(report, DeliveryReport)
    assert report.kind is BounceKind.PERMANENT
    assert (report.status, report.action, report.final_recipient) == ("5.1.1", "failed", DSL)
    assert report.diagnostic == f"550 5.1.1 <{DSL}>: Recipient address rejected: User unknown"
    assert report.addressed_to == (path,)


def test_a_delay_is_read_as_delayed() -> None:
    report = parse(delayed("bounces+x@council.example", DSL))
    assert isinstance(report, DeliveryReport)
    assert report.kind is BounceKind.DELAYED and report.status == "4.4.1"
    assert report.action == "delayed"


def test_a_failure_without_an_action_is_read_from_its_status_class() -> None:
    lazy = dsn("b@council.example", DSL).replace(b"Action: failed\r\n", b"")
    report = parse(lazy)
    assert isinstance(report, DeliveryReport) and report.kind is BounceKind.PERMANENT
    given_up = dsn("b@council.example", DSL, action="failed", status="4.4.7")
    report = parse(given_up)  # the reporting system stopped trying: failed for good
    assert isinstance(report, DeliveryReport) and report.kind is BounceKind.PERMANENT


def test_what_is_not_a_failure_is_not_a_bounce() -> None:
    assert parse(out_of_office("bounces+x@council.example")) is NotADsn.NOT_A_REPORT
    assert parse(delivered("bounces+x@council.example", DSL)) is NotADsn.NO_FAILURE
    assert parse(b"") is NotADsn.NOT_A_REPORT
    assert parse(b"\xff\xfe garbage \x00") is NotADsn.NOT_A_REPORT
    other_report = dsn("b@council.example", DSL).replace(
        b"report-type=delivery-status", b"report-type=disposition-notification"
    )
    assert parse(other_report) is NotADsn.NOT_A_REPORT


def test_a_report_to_several_recipients_is_read_by_its_worst() -> None:
    two = dsn("b@council.example", DSL, action="delayed", status="4.2.2").replace(
        b"\r\n--DSN-1\r\nContent-Description: Undelivered",
        b"\r\nFinal-Recipient: rfc822; other@x.example\r\nAction: failed\r\nStatus: 5.2.1\r\n"
        b"\r\n--DSN-1\r\nContent-Description: Undelivered",
    )
    report = parse(two)
    assert isinstance(report, DeliveryReport)
    assert report.kind is BounceKind.PERMANENT and report.status == "5.2.1"
