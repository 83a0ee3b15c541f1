from __future__ import annotations

import os
import time
from pathlib import Path

from streams.execute.results import ResultStore


def test_put_get_and_missing(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "results")
    assert store.get("7") is None
    store.put("7", b"outcome")
    assert store.get("7") == b"outcome"
    assert ResultStore(tmp_path / "results").get("7") == b"outcome"  # another pod sees it


def test_request_ids_are_never_paths(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "results")
    store.put("../../escape", b"x")
    assert not (tmp_path / "escape").exists()
    assert [p.parent.parent for p in (tmp_path / "results").glob("*/*")] == [tmp_path / "results"]
    assert store.get("../../escape") == b"x"


def test_prune_removes_only_expired_outcomes(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "results", retention_s=3600)
    store.put("old", b"1")
    store.put("new", b"2")
    old = next(p for p in (tmp_path / "results").glob("*/*") if p.read_bytes() == b"1")
    an_hour_and_more_ago = time.time() - 3700
    os.utime(old, (an_hour_and_more_ago, an_hour_and_more_ago))
    assert store.prune() == 1
    assert (store.get("old"), store.get("new")) == (None, b"2")
