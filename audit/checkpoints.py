"""Signed tree heads over the audit ledger.

At intervals and on shutdown the broker signs the Merkle tree head of the audit rows with
Ed25519, stores it in the database, appends it to a file outside the database and publishes
it to ``encompass.audit.v1``. With those heads, someone who can write to the database but
does not hold the signing key cannot rewrite or truncate history unnoticed: every head must
still be the root of a prefix of the rows.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import itertools
import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Integer, String, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from audit import merkle
from audit.ledger import AuditEvent, hash_of, lock_chain
from broker.database import Base, UtcDateTime, utcnow
from broker.identity import database_id


class Checkpoint(Base):
    __tablename__ = "audit_checkpoints"

    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    tree_size: Mapped[int] = mapped_column(Integer)
    root: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    key_id: Mapped[str] = mapped_column(String(16))
    signature: Mapped[str] = mapped_column(String(100))
    # The database signed (broker/identity.py); None for heads from before migration 0013.
    database_id: Mapped[str | None] = mapped_column(String(32), nullable=True)


@dataclass(frozen=True)
class TreeHead:
    number: int
    tree_size: int
    root: str
    signed_at: str
    key_id: str
    signature: str = ""
    # The id of the database whose rows these are, under the signature; "" only in heads
    # signed before databases had ids (their payload stays as it was signed).
    database_id: str = ""

    def payload(self) -> bytes:
        body: dict[str, Any] = {
            "number": self.number,
            "tree_size": self.tree_size,
            "root": self.root,
            "signed_at": self.signed_at,
            "key_id": self.key_id,
        }
        if self.database_id:
            body["database_id"] = self.database_id
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "type": "tree_head",
            "number": self.number,
            "tree_size": self.tree_size,
            "root": self.root,
            "signed_at": self.signed_at,
            "key_id": self.key_id,
            "signature": self.signature,
        }
        if self.database_id:
            data["database_id"] = self.database_id
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TreeHead:
        return cls(
            int(data["number"]),
            int(data["tree_size"]),
            str(data["root"]),
            str(data["signed_at"]),
            str(data["key_id"]),
            str(data["signature"]),
            str(data.get("database_id") or ""),
        )


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def load_or_create_key(path: Path) -> Ed25519PrivateKey:
    """The signing key, made once (mode 0600) with its public half beside it (``.pub``)."""
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path} is not an Ed25519 private key")
        return key
    key = Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    public_path(path).write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return key


def public_path(key_path: Path) -> Path:
    return key_path.with_suffix(".pub")


def load_public_key(path: Path) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(path.read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"{path} is not an Ed25519 public key")
    return key


def leaves(session: Session, upto: int | None = None) -> list[bytes]:
    query = select(AuditEvent.hash).order_by(AuditEvent.seq)
    if upto is not None:
        query = query.where(AuditEvent.seq <= upto)
    return [merkle.leaf_hash(bytes.fromhex(h)) for h in session.execute(query).scalars()]


def sign_head(session: Session, key: Ed25519PrivateKey, checkpoint_file: Path) -> TreeHead | None:
    """Sign the current tree head if the trail grew since the last one (an empty trail
    has nothing to sign)."""
    lock_chain(session)
    size = session.execute(select(func.count(AuditEvent.seq))).scalar_one()
    last = session.execute(
        select(Checkpoint).order_by(Checkpoint.number.desc()).limit(1)
    ).scalar_one_or_none()
    if size == 0 or (last is not None and last.tree_size == size):
        return None
    head = TreeHead(
        number=(last.number + 1) if last else 1,
        tree_size=size,
        root=merkle.root(leaves(session)).hex(),
        signed_at=utcnow().isoformat(timespec="seconds"),
        key_id=key_id(key.public_key()),
        database_id=database_id(session),
    )
    signature = base64.b64encode(key.sign(head.payload())).decode()
    head = dataclasses.replace(head, signature=signature)
    session.add(
        Checkpoint(
            number=head.number,
            tree_size=head.tree_size,
            root=head.root,
            signed_at=datetime.fromisoformat(head.signed_at),
            key_id=head.key_id,
            signature=signature,
            database_id=head.database_id,
        )
    )
    session.flush()
    append_to_file(checkpoint_file, head)
    return head


def append_to_file(path: Path, head: TreeHead) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        out.write(json.dumps(head.as_dict(), sort_keys=True) + "\n")
        out.flush()
        os.fsync(out.fileno())


def read_file(path: Path) -> tuple[list[TreeHead], list[str]]:
    heads: list[TreeHead] = []
    problems: list[str] = []
    if not path.exists():
        return heads, problems
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            heads.append(TreeHead.from_dict(json.loads(line)))
        except (ValueError, KeyError, TypeError):
            problems.append(f"checkpoint file line {number} is not a signed tree head")
    return heads, problems


def signature_ok(head: TreeHead, public: Ed25519PublicKey) -> bool:
    try:
        public.verify(base64.b64decode(head.signature), head.payload())
    except (InvalidSignature, ValueError):
        return False
    return True


def _short(database: str) -> str:
    return database[:12]


def foreign_heads(
    heads: list[TreeHead], this_database: str | None, public: Ed25519PublicKey, where: str
) -> tuple[list[TreeHead], list[str]]:
    """This database's heads (and unnamed ones from before database ids), and a plain
    sentence for each other database whose heads are here. The database id is under the
    signature: a head whose signature fails is not believed, and is checked as this
    database's (where it fails as a forgery)."""
    if not this_database:
        return heads, []
    own: list[TreeHead] = []
    others: dict[str, list[int]] = {}
    for h in heads:
        if h.database_id and h.database_id != this_database and signature_ok(h, public):
            others.setdefault(h.database_id, []).append(h.number)
        else:
            own.append(h)
    problems = [
        f"{where} holds {len(numbers)} signed tree head(s) (number(s) "
        f"{', '.join(map(str, sorted(numbers)))}) of another database (id {_short(other)}), "
        f"not of this one (id {_short(this_database)}): they say nothing about this trail. "
        "The checkpoint file (ENCOMPASS_AUDIT_CHECKPOINT_FILE) and the database "
        "(ENCOMPASS_DATABASE_URL) do not belong together: a new or another database beside "
        "an older checkpoint file?"
        for other, numbers in sorted(others.items())
    ]
    return own, problems


def check_heads(
    all_leaves: list[bytes],
    file_heads: list[TreeHead],
    db_heads: list[TreeHead],
    public: Ed25519PublicKey,
    this_database: str | None = None,
) -> list[str]:
    """Every head signed, none missing, each the root of a prefix of the rows. Heads that
    name another database are reported as such, and not checked against these rows."""
    problems: list[str] = []
    file_heads, foreign = foreign_heads(file_heads, this_database, public, "the checkpoint file")
    problems += foreign
    db_heads, foreign = foreign_heads(db_heads, this_database, public, "the database's own table")
    problems += foreign
    by_number = {h.number: h for h in file_heads}
    for h in db_heads:
        if h.number not in by_number:
            problems.append(f"checkpoint {h.number} is in the database but not in the file")
    heads = sorted(
        {**{h.number: h for h in db_heads}, **by_number}.values(), key=lambda h: h.number
    )
    expected = 1
    for head in heads:
        if head.number != expected:
            problems.append(f"checkpoints {expected}..{head.number - 1} are missing")
        expected = head.number + 1
        if not signature_ok(head, public):
            problems.append(f"checkpoint {head.number}: signature does not verify")
            continue
        if head.tree_size > len(all_leaves):
            problems.append(
                f"rows {len(all_leaves) + 1}..{head.tree_size} are missing: checkpoint "
                f"{head.number} signed {head.tree_size} rows, the trail has {len(all_leaves)}"
            )
            continue
        if merkle.root(all_leaves[: head.tree_size]).hex() != head.root:
            problems.append(
                f"checkpoint {head.number}: rows 1..{head.tree_size} no longer hash to the "
                "signed root (history was rewritten)"
            )
    for older, newer in itertools.pairwise(heads):
        if newer.tree_size < older.tree_size:
            problems.append(f"checkpoint {newer.number} is smaller than {older.number}")
    return problems


def db_heads(session: Session) -> list[TreeHead]:
    rows = session.execute(select(Checkpoint).order_by(Checkpoint.number)).scalars()
    return [
        TreeHead(
            c.number,
            c.tree_size,
            c.root,
            c.signed_at.isoformat(timespec="seconds"),
            c.key_id,
            c.signature,
            c.database_id or "",
        )
        for c in rows
    ]


def prove(session: Session, seq: int, head: TreeHead) -> dict[str, Any]:
    """An inclusion proof of row ``seq`` against a signed head, checkable offline."""
    if not 1 <= seq <= head.tree_size:
        raise ValueError(
            f"row {seq} is not covered by checkpoint {head.number} "
            f"({head.tree_size} rows): sign a newer head first"
        )
    tree = leaves(session, upto=head.tree_size)
    row = session.get(AuditEvent, seq)
    assert row is not None
    proof = merkle.inclusion_proof(seq - 1, tree)
    return {
        "row": row.as_message(),
        "leaf_index": seq - 1,
        "leaf_hash": tree[seq - 1].hex(),
        "proof": [p.hex() for p in proof],
        "tree_head": head.as_dict(),
    }


def check_proof(document: dict[str, Any], public: Ed25519PublicKey) -> list[str]:
    """What someone given a proof and the public key runs: empty when it holds."""
    problems = []
    head = TreeHead.from_dict(document["tree_head"])
    if not signature_ok(head, public):
        problems.append("the tree head's signature does not verify with this public key")
    row = document["row"]
    recomputed = hash_of(
        AuditEvent(
            seq=row["seq"],
            at=datetime.fromisoformat(row["at"]),
            action=row["action"],
            actor=row["actor"],
            incident_id=row["incident_id"],
            notification_id=row["notification_id"],
            details=row["details"],
            content_sha256=row["content_sha256"],
            prev_hash=row["prev_hash"],
        )
    )
    if recomputed != row["hash"]:
        problems.append("the row's content does not match its hash")
    leaf = merkle.leaf_hash(bytes.fromhex(row["hash"]))
    proof = [bytes.fromhex(p) for p in document["proof"]]
    if not merkle.verify_inclusion(
        leaf, document["leaf_index"], head.tree_size, proof, bytes.fromhex(head.root)
    ):
        problems.append("the row is not included in the signed tree head")
    return problems
