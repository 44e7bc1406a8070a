"""``encompass audit``: for auditors."""

from __future__ import annotations

import argparse
import json
from collections import Counter

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from audit.ledger import AuditEvent
from audit.ledger import verify as verify_chain
from broker.database import transaction
from broker.store import Notification, NotificationStatus

Sessions = sessionmaker[Session]


def verify(sessions: Sessions, args: argparse.Namespace) -> int:
    with transaction(sessions) as session:
        result = verify_chain(session)
    if args.json:
        print(
            json.dumps(
                {
                    "ok": result.ok,
                    "rows": result.rows,
                    "first_broken_seq": result.first_broken_seq,
                    "problem": result.problem,
                    "head": result.last_hash,
                }
            )
        )
    elif result.ok:
        print(f"audit trail intact: {result.rows} rows, head {result.last_hash}")
    else:
        print(
            f"audit trail BROKEN at row {result.first_broken_seq}: {result.problem} "
            f"({result.rows} rows before it verified)"
        )
    return 0 if result.ok else 1


def report(sessions: Sessions, args: argparse.Namespace) -> int:
    with transaction(sessions) as session:
        actions = Counter(
            dict(
                session.execute(
                    select(AuditEvent.action, func.count()).group_by(AuditEvent.action)
                ).all()
            )
        )
        statuses = Counter(
            dict(
                session.execute(
                    select(Notification.status, func.count()).group_by(Notification.status)
                ).all()
            )
        )
        sent = (
            session.execute(
                select(Notification)
                .where(Notification.status == NotificationStatus.SENT.value)
                .order_by(Notification.sent_at)
            )
            .scalars()
            .all()
        )
        approvals = dict(
            session.execute(
                select(AuditEvent.notification_id, AuditEvent.actor).where(
                    AuditEvent.action == "approved"
                )
            ).all()
        )
        shared = [
            {
                "notification_id": n.id,
                "incident_id": n.incident_id,
                "urn": n.urn,
                "upn": n.upn,
                "recipient": n.recipient,
                "sent_at": n.sent_at.isoformat() if n.sent_at else None,
                "approved_by": approvals.get(n.id),
                "content_sha256": n.content_sha256,
            }
            for n in sent
        ]
        chain = verify_chain(session)
    data = {
        "audit_rows_by_action": dict(actions),
        "notifications_by_status": dict(statuses),
        "sent": shared,
        "chain_intact": chain.ok,
        "audit_rows": chain.rows,
    }
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    print(f"Audit trail: {chain.rows} rows, {'intact' if chain.ok else 'BROKEN'}")
    print("Notifications by status: " + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())))
    print("Steps recorded: " + ", ".join(f"{k} {v}" for k, v in sorted(actions.items())))
    print(f"\nShared with schools ({len(shared)}):")
    for s in shared:
        print(
            f"  {s['sent_at']}  {s['notification_id']}  school {s['urn']}  to {s['recipient']}"
            f"  approved by {s['approved_by']}  sha256 {s['content_sha256']}"
        )
    return 0
