"""Outcomes of executed requests, so a redelivered event is answered without running the program again.

One file per request on the artifact volume that every execute pod shares, named by the sha256 of the
request id (ids come from messages: never trusted as paths), written by atomic rename, and pruned
after `retention_s`: an outcome only matters while its request can still be redelivered or re-driven,
which ends with the yield window. A Faust table did this first, but its changelog is replayed on every
restart and grows forever here (Tansu never compacts, and faust-streaming's key expiry does not work).
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

DAY_S = 24 * 3600.0


class ResultStore:
    def __init__(self, root: Path, *, retention_s: float = DAY_S) -> None:
        self.root = root
        self.retention_s = retention_s
        root.mkdir(parents=True, exist_ok=True)

    def _path(self, request_id: str) -> Path:
        digest = hashlib.sha256(request_id.encode()).hexdigest()
        return self.root / digest[:2] / digest

    def get(self, request_id: str) -> bytes | None:
        try:
            return self._path(request_id).read_bytes()
        except FileNotFoundError:
            return None

    def put(self, request_id: str, data: bytes) -> None:
        path = self._path(request_id)
        path.parent.mkdir(exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)

    def prune(self, *, now: float | None = None) -> int:
        """Deletes outcomes older than the retention; returns how many."""
        cutoff = (now if now is not None else time.time()) - self.retention_s
        removed = 0
        for path in self.root.glob("*/*"):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        return removed
