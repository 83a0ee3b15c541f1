"""Content-addressed artifact store on a directory, shared by every executor process or pod.

Why a directory: artifacts are immutable blobs named by their sha256, so writers need no
coordination beyond an atomic rename, readers need no locks, and a ReadWriteMany volume in
Kubernetes (or a local dir in dev) serves many pods. Postgres is a rebuildable projection in this
design; putting megabytes of bytea through it would couple builds to the projector's database.

Layout::

    root/blobs/ab/<sha256>.wasm     content (verified against its name on every read)
    root/refs/<key-hash>.json       build key (repo, commit, target, path, builder) -> sha256
    root/tmp/                       staging for atomic renames
    root/.lock                      flock held while evicting

LRU: a read bumps the blob's mtime; eviction deletes the oldest blobs until the total is under
`max_bytes`. A ref whose blob was evicted reads as a miss and the source is rebuilt.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from executor._types import StoreConfig
from executor.errors import ArtifactStoreError

_SHA = re.compile(r"^[0-9a-f]{64}$")


class ArtifactStore:
    """sha256 -> bytes on a directory, with build refs and size-bounded LRU eviction."""

    def __init__(self, config: StoreConfig | None = None) -> None:
        self.config = config or StoreConfig()
        self.root = self.config.root
        try:
            for sub in ("blobs", "refs", "tmp"):
                (self.root / sub).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ArtifactStoreError(f"cannot create artifact store at {self.root}: {exc}") from exc

    def _blob(self, sha: str) -> Path:
        return self.root / blob_relpath(sha)

    def put(self, data: bytes) -> str:
        """Stores `data` (idempotent); returns its sha256. May evict older blobs."""
        sha = hashlib.sha256(data).hexdigest()
        target = self._blob(sha)
        if target.exists():
            _touch(target)
            return sha
        try:
            target.parent.mkdir(exist_ok=True)
            self._atomic_write(target, data)
        except OSError as exc:
            raise ArtifactStoreError(f"cannot store artifact {sha}: {exc}") from exc
        self.evict(keep=sha)
        return sha

    def get(self, sha: str) -> bytes | None:
        """The blob, or None when absent; a blob that fails its hash check is deleted and reported."""
        path = self._blob(sha)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ArtifactStoreError(f"cannot read artifact {sha}: {exc}") from exc
        if hashlib.sha256(data).hexdigest() != sha:
            path.unlink(missing_ok=True)
            raise ArtifactStoreError(f"artifact {sha} is corrupt; deleted")
        _touch(path)
        return data

    def has(self, sha: str) -> bool:
        return self._blob(sha).exists()

    def get_ref(self, key: dict[str, Any]) -> str | None:
        """The artifact built for `key` if both the ref and its blob still exist."""
        path = self._ref_path(key)
        try:
            record = json.loads(path.read_text())
        except (FileNotFoundError, ValueError):
            return None
        except OSError as exc:
            raise ArtifactStoreError(f"cannot read ref: {exc}") from exc
        sha = record.get("sha256")
        if not isinstance(sha, str) or not _SHA.match(sha) or record.get("key") != key:
            return None
        return sha if self.has(sha) else None

    def put_ref(self, key: dict[str, Any], sha: str) -> None:
        record = json.dumps({"key": key, "sha256": sha}, sort_keys=True).encode()
        try:
            self._atomic_write(self._ref_path(key), record)
        except OSError as exc:
            raise ArtifactStoreError(f"cannot write ref: {exc}") from exc

    def _ref_path(self, key: dict[str, Any]) -> Path:
        return self.root / ref_relpath(key)

    def total_bytes(self) -> int:
        return sum(size for _, size, _ in self._blobs())

    def evict(self, *, keep: str | None = None) -> int:
        """Deletes least-recently-used blobs until the store fits `max_bytes`; returns bytes freed."""
        with self._evict_lock():
            blobs = sorted(self._blobs())
            total = sum(size for _, size, _ in blobs)
            freed = 0
            for _mtime, size, path in blobs:
                if total - freed <= self.config.max_bytes:
                    break
                if keep is not None and path.name == f"{keep}.wasm":
                    continue
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    freed += size
            return freed

    def _blobs(self) -> Iterator[tuple[float, int, Path]]:
        for path in (self.root / "blobs").glob("*/*.wasm"):
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            yield st.st_mtime, st.st_size, path

    @contextlib.contextmanager
    def _evict_lock(self) -> Iterator[None]:
        with _THREAD_LOCK, open(self.root / ".lock", "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _atomic_write(self, target: Path, data: bytes) -> None:
        tmp = self.root / "tmp" / f"{target.name}.{os.getpid()}.{threading.get_ident()}"
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)


_THREAD_LOCK = threading.Lock()


def blob_relpath(sha: str) -> str:
    """Where a blob lives under the store's root: also its URL path in a published copy of the store
    (`offshore verify --io-store URL` reads recorded guest HTTP from there)."""
    if not _SHA.match(sha):
        raise ArtifactStoreError("artifact id must be 64 lowercase hex digits")
    return f"blobs/{sha[:2]}/{sha}.wasm"


def ref_relpath(key: dict[str, Any]) -> str:
    """Where the ref for `key` lives under the store's root (a JSON `{"key": ..., "sha256": ...}`)."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
    return f"refs/{digest}.json"


def _touch(path: Path) -> None:
    with contextlib.suppress(OSError):
        os.utime(path)
