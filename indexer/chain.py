"""Pure decisions about the chain of final blocks: which header a raw block carries, whether a block
links to the last one read, and how long a block takes.

neardata answers `null` both for a height that was really skipped and for a height outside the
range the answering host holds. Only the chain can tell them apart: every real header names its
parent (`prev_hash`, and `prev_height` since a protocol upgrade; early mainnet blocks lack it), so a
height that a later block names as its parent was not skipped, whatever the API said.
"""

from __future__ import annotations

import json
import statistics
from collections import deque
from dataclasses import dataclass
from typing import Any

_HEADER_KEY = b'"header"'
_HEADER_PREFIX = 64 * 1024  # a mainnet block header with ~100 approvals is ~10 KiB


@dataclass(frozen=True)
class Header:
    """The fields of a block header the follower needs."""

    height: int
    hash: str
    prev_hash: str
    prev_height: int | None  # absent in early mainnet blocks
    timestamp_ns: int


@dataclass(frozen=True)
class Anchor:
    """The last real block read; `hash` is None when only its height is known (an old checkpoint)."""

    height: int
    hash: str | None


def header_of(raw: bytes, height: int) -> Header | None:
    """The header of a neardata block (or of a `/headers` answer) for `height`; None for `null`.

    Raises ValueError when the answer is not that block (a proxy's error page, another height):
    such an answer must be retried, never taken for a block without events. Only the header is
    decoded (~1 ms for a 1.5 MB mainnet block, where parsing the whole block takes ~50 ms); if the
    first `"header"` key is not the block's (another serialization order), the block is parsed whole.
    """
    body = raw.strip()
    if body == b"null":
        return None
    if body[:1] != b"{" or body[-1:] != b"}":
        raise ValueError("not a JSON object")
    header = _first_header(body)
    if header is None or header.get("height") != height or "prev_hash" not in header:
        doc = json.loads(body)
        try:
            header = doc["block"]["header"] if "block" in doc else doc["header"]
        except (KeyError, TypeError) as exc:
            raise ValueError(f"no block header in the answer for height {height}: {exc!r}") from None
    return _header(header, height)


def _first_header(body: bytes) -> dict[str, Any] | None:
    at = body.find(_HEADER_KEY)
    if at < 0:
        return None
    colon = body.find(b":", at + len(_HEADER_KEY))
    text = body[colon + 1 : colon + 1 + _HEADER_PREFIX].decode("utf-8", "replace").lstrip()
    try:
        found, _ = json.JSONDecoder().raw_decode(text)
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


def _header(header: Any, height: int) -> Header:
    try:
        if int(header["height"]) != height:
            raise ValueError(f"the API answered height {header['height']} for {height}")
        prev_height = header.get("prev_height")
        ts = header.get("timestamp_nanosec", header.get("timestamp", 0))
        return Header(
            height=height,
            hash=str(header["hash"]),
            prev_hash=str(header["prev_hash"]),
            prev_height=None if prev_height is None else int(prev_height),
            timestamp_ns=int(ts),
        )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"unusable header for height {height}: {exc!r}") from None


def link_problem(anchor: Anchor | None, gap: list[int], header: Header) -> str | None:
    """Why `header` cannot follow `anchor` across the heights in `gap` (all answered `null`), or None.

    With the anchor's hash known, the parent must be the anchor (prev_hash; prev_height too when the
    header has it). Without it (first block of a run), the parent must not be a height answered
    `null`. A block without prev_height after an anchor without hash cannot be checked: accepted.
    """
    if anchor is not None and anchor.hash is not None:
        if header.prev_hash != anchor.hash:
            return (
                f"block {header.height} names parent {header.prev_hash} (height {header.prev_height}), but the "
                f"last block read is {anchor.height} ({anchor.hash}) and the API answered null for {_heights(gap)}"
            )
        if header.prev_height is not None and header.prev_height != anchor.height:
            return f"block {header.height} names parent height {header.prev_height}, but parent hash {anchor.height}'s"
        return None
    if header.prev_height is not None and header.prev_height in gap:
        return f"block {header.height} names height {header.prev_height} as parent, but the API answered null for it"
    return None


def _heights(gap: list[int]) -> str:
    if not gap:
        return "no height"
    return str(gap[0]) if len(gap) == 1 else f"{gap[0]}..{gap[-1]}"


class BlockTime:
    """Seconds per height, from the timestamps of the last real blocks read (median: robust to a
    block that came late). Dividing by the height difference keeps a skip from doubling it."""

    def __init__(self, keep: int = 15) -> None:
        self._last: tuple[int, int] | None = None
        self._per_height: deque[float] = deque(maxlen=keep)

    def observe(self, height: int, timestamp_ns: int) -> None:
        last = self._last
        if last is not None and height > last[0] and timestamp_ns > last[1]:
            self._per_height.append((timestamp_ns - last[1]) / 1e9 / (height - last[0]))
        if last is None or height > last[0]:
            self._last = (height, timestamp_ns)

    def seconds(self) -> float | None:
        return statistics.median(self._per_height) if self._per_height else None
