"""Delivery status notifications (RFC 3464) as receiving mail systems write them, for the
bounce tests: a permanent failure, a delay, a report of a delivery, and an ordinary e-mail."""

from __future__ import annotations


def dsn(
    return_path: str,
    final_recipient: str,
    *,
    action: str = "failed",
    status: str = "5.1.1",
    diagnostic: str = "smtp; 550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown",
    message_id: str = "<N-1@council.example>",
    to_header: bool = True,
    reporter: str = "mx.school.example",
) -> bytes:
    """A DSN to ``return_path`` about the e-mail to ``final_recipient``, in the shape Postfix
    writes: a part for people, the delivery status, and the returned message's headers."""
    to = f"To: {return_path}\r\n" if to_header else ""
    text = (
        f"From: MAILER-DAEMON@{reporter} (Mail Delivery System)\r\n"
        f"{to}"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status;\r\n boundary="DSN-1"\r\n'
        "\r\n"
        "This is a MIME-encapsulated message.\r\n"
        "\r\n"
        "--DSN-1\r\n"
        "Content-Description: Notification\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n"
        "\r\n"
        "I'm sorry to have to inform you that your message could not\r\n"
        "be delivered to one or more recipients.\r\n"
        "\r\n"
        "--DSN-1\r\n"
        "Content-Description: Delivery report\r\n"
        "Content-Type: message/delivery-status\r\n"
        "\r\n"
        f"Reporting-MTA: dns; {reporter}\r\n"
        "Arrival-Date: Mon, 23 Nov 2026 07:01:02 +0000 (GMT)\r\n"
        "\r\n"
        f"Final-Recipient: rfc822; {final_recipient}\r\n"
        f"Original-Recipient: rfc822;{final_recipient}\r\n"
        f"Action: {action}\r\n"
        f"Status: {status}\r\n"
        f"Remote-MTA: dns; {reporter}\r\n"
        f"Diagnostic-Code: {diagnostic.format(rcpt=final_recipient)}\r\n"
        "\r\n"
        "--DSN-1\r\n"
        "Content-Description: Undelivered Message Headers\r\n"
        "Content-Type: text/rfc822-headers\r\n"
        "\r\n"
        "From: encompass@council.example\r\n"
        f"To: {final_recipient}\r\n"
        f"Message-ID: {message_id}\r\n"
        "Subject: Operation Encompass notification\r\n"
        "\r\n"
        "--DSN-1--\r\n"
    )
    return text.encode("ascii")


def delayed(return_path: str, final_recipient: str) -> bytes:
    return dsn(
        return_path,
        final_recipient,
        action="delayed",
        status="4.4.1",
        diagnostic="X-Postfix; connect to mx.school.example: Connection timed out",
    )


def delivered(return_path: str, final_recipient: str) -> bytes:
    return dsn(return_path, final_recipient, action="delivered", status="2.0.0",
               diagnostic="smtp; 250 2.0.0 Ok: queued")  # fmt: skip


def out_of_office(to: str) -> bytes:
    return (
        f"From: dsl@100001.school.example\r\nTo: {to}\r\nSubject: Out of office\r\n"
        "Auto-Submitted: auto-replied\r\n\r\nI am away until Monday.\r\n"
    ).encode()
