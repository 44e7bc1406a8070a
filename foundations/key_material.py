"""Key material for encryption at rest: ``ENCOMPASS_DATA_KEY`` entries (``id:base64``,
newest last) and the 0600 key file (a JSON list of ``{"id", "key"}``), made, read and
extended for a rotation. ``foundations.crypto.keyring_from_material`` turns them into a
keyring."""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
from pathlib import Path

from foundations.crypto import KeyError_


def parse_key_spec(spec: str) -> list[tuple[str, bytes]]:
    """``ENCOMPASS_DATA_KEY``: ``id:base64`` entries separated by commas, newest last."""
    entries = []
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        kid, _, material = part.partition(":")
        if not kid or not material:
            raise KeyError_("ENCOMPASS_DATA_KEY entries are id:base64key, newest last")
        try:
            raw = base64.b64decode(material + "=" * (-len(material) % 4), validate=True)
        except binascii.Error as exc:
            raise KeyError_(f"data key {kid!r} is not base64") from exc
        if len(raw) < 32:
            raise KeyError_(f"data key {kid!r} is shorter than 32 bytes")
        entries.append((kid, raw))
    return entries


def load_key_file(path: Path) -> list[tuple[str, bytes]]:
    """A JSON list of {"id", "key"} (base64), newest last; made (mode 0600) if missing."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        first = [{"id": "k1", "key": base64.b64encode(secrets.token_bytes(32)).decode()}]
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first: read theirs
        else:
            with os.fdopen(fd, "w") as out:
                json.dump(first, out)
    data = json.loads(path.read_text())
    return [(str(e["id"]), base64.b64decode(e["key"])) for e in data]


def new_key_spec(key_id: str = "k1") -> str:
    """A new random key as an ``ENCOMPASS_DATA_KEY`` entry: ``id:base64``."""
    if not key_id or any(c in key_id for c in ":,. "):
        raise KeyError_("a key id is a short word without ':', ',', '.' or spaces")
    return f"{key_id}:{base64.b64encode(secrets.token_bytes(32)).decode()}"


def new_key_file(path: Path, key_id: str = "k1") -> None:
    """A new key file (0600); an existing one is never overwritten."""
    kid, _, material = new_key_spec(key_id).partition(":")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump([{"id": kid, "key": material}], out)


def add_key_to_file(path: Path) -> str:
    """Rotation, step one: a new current key. Returns its id."""
    entries = json.loads(path.read_text()) if path.exists() else []
    new_id = f"k{len(entries) + 1}"
    entries.append({"id": new_id, "key": base64.b64encode(secrets.token_bytes(32)).decode()})
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(entries, out)
    os.replace(tmp, path)
    return new_id
