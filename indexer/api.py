"""The neardata client: the paths the indexer reads, within fastnear's rules.

- Auth: the API key goes in the `apiKey` query parameter (fastnear's documented way) of every
  request, redirects included: redirects are followed here, hop by hop, and the key is put back on
  each target (aiohttp would drop an `Authorization` header on a cross-host redirect, and a
  server may drop the query). The key is never logged: URLs in logs and errors are redacted.
- Cost: at the tip the follower asks for the block just above the final one, and neardata holds
  that request open until the block is final (fastnear/neardata-server src/api.rs: up to 10 blocks
  ahead; its README: "poll the server for the new blocks incrementing the block height by one,
  making sure you wait for the response"): one request per block, answered when it is final. An API
  that answers 404 instead is probed: the final height comes from the `Location` of
  `/last_block/final/headers` (one small request, no block downloaded); the first height likewise
  from `/first_block`.
- Limits: 429 pauses every request for its `Retry-After` (else an exponential back-off); 5xx
  (neardata's "block not cached" just below the tip), 404 and network errors are retried with
  exponential back-off. 401/403 end the run: retrying cannot fix a key.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Literal

import aiohttp
from yarl import URL

from common.retry import Backoff
from indexer import metrics
from indexer.chain import Header, header_of
from indexer.errors import BlockApiError

if TYPE_CHECKING:
    from indexer.follower import IndexerConfig

log = logging.getLogger("offshore.indexer")
KEY_PARAM = "apiKey"
MAX_HOPS = 5  # neardata needs at most 2 (archive host, then fresh host)
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_BLOCK_PATH = re.compile(r"/block/(\d+)(?:/headers)?/?$")
_FIRST_DELAY_S = 0.05


def redact(url: URL | str) -> str:
    """The URL as it may appear in a log or an error: the API key's value replaced."""
    url = URL(url) if isinstance(url, str) else url
    if KEY_PARAM not in url.query:
        return str(url)
    return str(url.update_query({KEY_PARAM: "REDACTED"}))


def retry_after_s(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date; `now` = epoch s)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(parsedate_to_datetime(value).timestamp() - now, 0.0)
    except (TypeError, ValueError, IndexError):
        return None


class _Retry(Exception):
    """An answer to retry after a back-off, with the metric kind."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class BlockApi:
    """The neardata paths the indexer reads. Every call retries until the API answers."""

    def __init__(self, http: aiohttp.ClientSession, config: IndexerConfig) -> None:
        self._http = http
        base = URL(config.block_api_url)
        self._base = base.with_path(base.path.rstrip("/"))
        self._key = config.api_key or None
        self._backoff = Backoff(first_s=_FIRST_DELAY_S, max_s=config.max_retry_delay_s)  # forever: never skip a block
        self._paused_until = 0.0  # monotonic; a 429's Retry-After holds every request, not just its own

    async def final_height(self) -> int:
        return await self._height("/last_block/final/headers", "final")

    async def first_height(self) -> int:
        return await self._height("/first_block", "first")

    async def block(self, height: int) -> dict[str, Any] | None:
        """The block parsed, or None if the API answers `null` for the height."""
        raw = await self.raw_block(height)
        block: dict[str, Any] | None = json.loads(raw)
        return block

    async def raw_block(self, height: int) -> bytes:
        """The block's JSON as sent (`null` when the API answers so)."""
        return (await self.fetch(height))[1]

    async def fetch(self, height: int) -> tuple[Header | None, bytes]:
        """The block's header (None for `null`) and raw JSON, so the block is parsed only when needed.
        An answer that is not recognisably this block (a proxy's error page with status 200) is
        retried: unparsed, it would otherwise pass for a block without our events."""
        for attempt in self._backoff:  # a garbled answer is retried like an error
            raw = await self._get(f"/block/{height}", "block")
            assert isinstance(raw, bytes)
            try:
                return header_of(raw, height), raw
            except ValueError:
                metrics.API_ERRORS.labels("invalid_block").inc()
            await self._backoff.wait(attempt)
        raise AssertionError("unreachable: the back-off has no attempt limit")

    async def next_block(self, height: int) -> tuple[Header | None, bytes] | Literal["not_held", "failed"]:
        """The block just above the final height, once the API holds the request open until it is
        final (one attempt). "not_held" when the API answers 404 (it does not wait: probe instead);
        "failed" on any other error or a timeout, left to the caller's retrying paths."""
        url = self._base.with_path(f"{self._base.path}/block/{height}")
        try:
            raw = await self._follow(url, "next_block", stop_at_block=False)
            assert isinstance(raw, bytes)
            return header_of(raw, height), raw
        except _Retry as retry:
            kind = retry.kind
        except (aiohttp.ClientError, TimeoutError) as exc:
            kind = type(exc).__name__  # the exception text may hold the URL: never logged
        except ValueError:
            kind = "invalid_block"
        if kind == "not_found":
            return "not_held"
        metrics.API_ERRORS.labels(kind).inc()
        return "failed"

    async def _height(self, path: str, label: str) -> int:
        """The height a redirecting path points at: read from the `Location` naming `/block/{h}`
        (not followed: one request), or from the answer's header if a hop answers 200."""
        for attempt in self._backoff:  # a garbled answer is retried like an error
            answer = await self._get(path, label, stop_at_block=True)
            if isinstance(answer, int):
                return answer
            try:
                doc = json.loads(answer)
                header = doc["block"]["header"] if "block" in doc else doc["header"]
                return int(header["height"])
            except (ValueError, KeyError, TypeError):
                metrics.API_ERRORS.labels("invalid_json").inc()
            await self._backoff.wait(attempt)
        raise AssertionError("unreachable: the back-off has no attempt limit")

    async def _get(self, path: str, label: str, *, stop_at_block: bool = False) -> bytes | int:
        """The body of `path` (following redirects with the key), or with `stop_at_block` the height
        of the first redirect to a block. Retries until answered; raises only on 401/403."""
        for attempt in self._backoff:  # retry until the API answers; a block is never skipped on error
            try:
                return await self._follow(self._base.with_path(self._base.path + path), label, stop_at_block)
            except _Retry as retry:
                kind = retry.kind
            except (aiohttp.ClientError, TimeoutError) as exc:
                kind = type(exc).__name__  # the exception text may hold the URL: never logged
            metrics.API_ERRORS.labels(kind).inc()
            await self._backoff.wait(attempt, at_least_s=self._paused_until - time.monotonic())
        raise AssertionError("unreachable: the back-off has no attempt limit")

    async def _follow(self, url: URL, label: str, stop_at_block: bool) -> bytes | int:
        for _ in range(MAX_HOPS + 1):
            url = self._with_key(url)
            await self._respect_pause()
            metrics.REQUESTS.labels(label).inc()
            async with self._http.get(url, allow_redirects=False) as resp:
                if resp.status == 200:
                    return await resp.read()
                if resp.status in _REDIRECTS and "Location" in resp.headers:
                    try:
                        target = url.join(URL(resp.headers["Location"]))
                    except ValueError:
                        raise _Retry("invalid_redirect") from None
                    match = _BLOCK_PATH.search(target.path)
                    if stop_at_block and match:
                        return int(match.group(1))
                    if url.scheme == "https" and target.scheme != "https" and self._key:
                        raise BlockApiError(f"block API redirects {redact(url)} to {redact(target)}: not https")
                    url = target
                    continue
                if resp.status in (401, 403):
                    raise BlockApiError(
                        f"block API refused {redact(url)}: HTTP {resp.status} (check OFFSHORE_BLOCK_API_KEY)"
                    )
                if resp.status == 429:
                    self._pause(resp.headers.get("Retry-After"), url)
                raise _Retry("not_found" if resp.status == 404 else f"http_{resp.status}")
        raise _Retry("too_many_redirects")

    def _with_key(self, url: URL) -> URL:
        return url.update_query({KEY_PARAM: self._key}) if self._key else url

    def _pause(self, retry_after: str | None, url: URL) -> None:
        seconds = retry_after_s(retry_after, time.time())
        if seconds is not None:  # else the caller's exponential back-off
            self._paused_until = max(self._paused_until, time.monotonic() + seconds)
        log.warning("block API rate limit (429) on %s: Retry-After %s", redact(url), retry_after)

    async def _respect_pause(self) -> None:
        wait = self._paused_until - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)  # poll: the API asked us to wait (Retry-After)
