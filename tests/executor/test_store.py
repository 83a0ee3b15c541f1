"""Artifact store: content addressing, integrity, refs, LRU eviction, sharing between instances."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from executor import ArtifactStore, ArtifactStoreError, StoreConfig


def test_put_get_is_content_addressed(tmp_path: Path) -> None:
    store = ArtifactStore(StoreConfig(root=tmp_path))
    sha = store.put(b"\0asm module")
    assert sha == hashlib.sha256(b"\0asm module").hexdigest()
    assert store.put(b"\0asm module") == sha  # idempotent
    assert store.get(sha) == b"\0asm module"
    assert store.get("0" * 64) is None
    with pytest.raises(ArtifactStoreError):
        store.get("../../etc/passwd")


def test_two_store_instances_share_one_directory(tmp_path: Path) -> None:
    """Several executor processes/pods mount the same directory."""
    a = ArtifactStore(StoreConfig(root=tmp_path))
    b = ArtifactStore(StoreConfig(root=tmp_path))
    sha = a.put(b"shared")
    key = {"repo": "https://github.com/a/b", "commit": "c" * 40}
    a.put_ref(key, sha)
    assert b.get(sha) == b"shared" and b.get_ref(key) == sha
    assert b.get_ref({**key, "commit": "d" * 40}) is None


def test_corrupt_blob_is_detected_and_removed(tmp_path: Path) -> None:
    store = ArtifactStore(StoreConfig(root=tmp_path))
    sha = store.put(b"good bytes")
    (path,) = (tmp_path / "blobs").rglob("*.wasm")
    path.write_bytes(b"flipped")
    with pytest.raises(ArtifactStoreError, match="corrupt"):
        store.get(sha)
    assert store.get(sha) is None


def test_lru_eviction_keeps_recently_used(tmp_path: Path) -> None:
    store = ArtifactStore(StoreConfig(root=tmp_path, max_bytes=3000))
    shas = []
    for i in range(3):
        shas.append(store.put(bytes([i]) * 1000))
        path = next((tmp_path / "blobs").rglob(f"{shas[-1]}.wasm"))
        os.utime(path, (1_000_000 + i, 1_000_000 + i))  # distinct ages without sleeping
    assert store.get(shas[0]) is not None  # touch: now the most recent
    newest = store.put(b"x" * 1000)  # over 3000 bytes: the least recently used goes
    assert store.has(shas[0]) and store.has(newest) and store.has(shas[2])
    assert not store.has(shas[1])
    assert store.total_bytes() <= 3000


def test_ref_to_an_evicted_blob_is_a_miss(tmp_path: Path) -> None:
    store = ArtifactStore(StoreConfig(root=tmp_path, max_bytes=1500))
    key = {"k": 1}
    sha = store.put(b"a" * 1000)
    store.put_ref(key, sha)
    store.put(b"b" * 1000)
    assert store.get_ref(key) is None
