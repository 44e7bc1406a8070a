"""Issue 14, item 9: every key for one purpose is derived from its master secret one way,
``foundations.purpose_keys.purpose_key``. What is already stored or held keeps working: the
keys that encrypt and index the database, and that sign the console's cookies, are the bytes
they were before the one function existed (pinned below), so an upgrade re-encrypts nothing,
re-indexes nothing and signs nobody out."""

from __future__ import annotations

import ast
from pathlib import Path

from console.auth import SessionCookies
from console.signin_csrf import SignInCsrf
from foundations.crypto import keyring_from_material
from foundations.purpose_keys import Purpose, purpose_key
from foundations.settings import Settings

DATA_KEY = bytes(range(32))
SECRET = b"x" * 40
ROOT = Path(__file__).parents[2]


def test_each_purpose_has_a_key_of_its_own() -> None:
    labels = [p.value for p in Purpose]
    assert len(set(labels)) == len(labels)
    keys = {purpose_key(SECRET, p) for p in Purpose}
    assert len(keys) == len(Purpose) and {len(k) for k in keys} == {32}
    assert purpose_key(b"y" * 40, Purpose.ACKNOWLEDGEMENT_LINK) != purpose_key(
        SECRET, Purpose.ACKNOWLEDGEMENT_LINK
    )


def test_the_keys_of_stored_data_are_the_bytes_they_always_were() -> None:
    """A changed derivation would leave every encrypted value unreadable and every blind
    index unmatched: these are the keys made before ``purpose_key`` existed."""
    keyring = keyring_from_material([("k1", DATA_KEY), ("k2", b"\x02" * 32)])
    assert keyring.keys["k1"].hex() == (
        "270689a0b3cf5e9940e0ab4d7061f6201fe54597f9bbb88377b382576b81214e"
    )
    # The blind index key comes from the oldest data key, whatever is added after it.
    assert keyring.index_key.hex() == (
        "3fba70b06172a5f6de06caa59ed65a25d35386752f00bbd9337b1ad8bd11d743"
    )
    assert keyring.blind("SMITH") == "3065486ee2ada7e765ec79d092236707"


def test_the_console_signs_with_the_keys_it_signed_with_before() -> None:
    """Session cookies in reviewers' browsers and open sign-in forms stay valid."""
    cookies = SessionCookies(SECRET, Settings())
    assert cookies._serializer.secret_keys[-1].hex() == (
        "30f424847d771a41aee4dc604bb1779d35237aad5cc126741c7fba0200968fe3"
    )
    assert SignInCsrf(SECRET, secure=True)._key.hex() == (
        "403cd234b63cbf90d76a82f15113b7909b1e22c9490dea896e4b3d7923f5ba9f"
    )
    # console/oidc.py: the state cookie's key, as hex.
    assert purpose_key(SECRET, Purpose.OIDC_STATE).hex() == (
        "5c5569abac3025880cb0626a00674c4169d7fb97b12864941ca81521a7fb3512"
    )


def hmac_new_calls() -> list[str]:
    """Where the project's code calls ``hmac.new``, as "path:line"."""
    found = []
    packages = (
        "foundations",
        "schemas",
        "school_directory",
        "audit",
        "consumers",
        "console",
        "broker",
    )
    for package in packages:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "new"
                    and isinstance(node.func.value, ast.Name)
                    and node.func.value.id == "hmac"
                ):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_no_module_derives_a_key_of_its_own() -> None:
    """``hmac.new`` appears where a key is derived (``purpose_key``) and where a derived key
    signs a message; a new purpose is a new ``Purpose`` label, not a new derivation."""
    where = {call.split(":")[0] for call in hmac_new_calls()}
    assert where == {
        "foundations/purpose_keys.py",  # the derivation
        "console/signin_csrf.py",  # the sign-in token: HMAC of a nonce, with its purpose key
        "consumers/acknowledge.py",  # links in the old form, read until they expire
        "consumers/return_path.py",  # the bounce address token: HMAC with its purpose key
    }
