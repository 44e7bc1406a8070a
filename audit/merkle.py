"""A Merkle tree over the audit rows with RFC 9162 (Certificate Transparency v2) hashing:
tree heads, inclusion proofs, and the compact range of a growing log. Pure functions over
leaf hashes."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


EMPTY_ROOT = hashlib.sha256(b"").digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def root(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) over leaf hashes (RFC 9162 section 2.1.1)."""
    if not leaves:
        return EMPTY_ROOT
    level = list(leaves)
    # Bottom-up with the RFC's shape: pair left to right, carry an odd last node up.
    while len(level) > 1:
        nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]) (RFC 9162 section 2.1.3.1)."""
    n = len(leaves)
    if not 0 <= index < n:
        raise IndexError(f"leaf {index} is not in a tree of {n}")
    if n == 1:
        return []
    k = _split(n)
    if index < k:
        return [*inclusion_proof(index, leaves[:k]), root(leaves[k:])]
    return [*inclusion_proof(index - k, leaves[k:]), root(leaves[:k])]


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], expected_root: bytes
) -> bool:
    """RFC 9162 section 2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == expected_root


# --- a compact range: the tree head of a growing log without its leaves -----------------------
# The roots of the perfect subtrees that make up a tree of n leaves (one per set bit of n,
# largest first) are enough to add leaves and to compute MTH(D[n]): what an incremental
# check keeps between runs instead of re-reading every leaf.


def append_leaf(frontier: Sequence[bytes], size: int, leaf: bytes) -> list[bytes]:
    """The compact range of ``size + 1`` leaves, from that of ``size`` leaves."""
    out = [*frontier, leaf]
    n = size
    while n & 1:  # each trailing set bit: two subtrees of one size merge
        right, left = out.pop(), out.pop()
        out.append(node_hash(left, right))
        n >>= 1
    return out


def frontier_root(frontier: Sequence[bytes]) -> bytes:
    """MTH(D[n]) from the compact range of n leaves: the subtree roots folded from the
    right, as RFC 9162's split at the largest power of two below n does."""
    if not frontier:
        return EMPTY_ROOT
    acc = frontier[-1]
    for subtree in reversed(frontier[:-1]):
        acc = node_hash(subtree, acc)
    return acc
