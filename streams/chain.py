"""The pipeline's view of the chain, through py-near: heights, the contract's request view, resolves.

Transient RPC failures (timeouts, connection resets, 5xx, node not synced) are retried with capped
exponential backoff; anything else is raised for the caller to classify. Several function-call access
keys of the operator sign in turn, so resolves in flight do not serialise on one nonce.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from py_near import transactions
from py_near.account import Account
from py_near.exceptions.provider import InvalidNonce, JsonProviderError, RPCTimeoutError

from common.retry import Backoff
from schemas.request_view import RequestView
from streams.errors import ChainError, ResolveRefused
from streams.settle.batching import GAS, BatchResult, parse_result
from streams.settle.core import SentTransaction

T = TypeVar("T")
RESOLVE_GAS = 100 * 10**12  # resolve_execution measured well below this (contract/README.md)
_TRANSIENT = (asyncio.TimeoutError, ConnectionError, OSError, RPCTimeoutError)


class NearChain:
    def __init__(
        self,
        *,
        rpc_url: str,
        contract_id: str,
        operator_id: str = "",
        operator_keys: Sequence[str] = (),
        attempts: int = 5,
        height_ttl_s: float = 0.1,
        height_stale_s: float = 1.0,
    ) -> None:
        self.contract_id = contract_id
        self._account = Account(operator_id or contract_id, list(operator_keys) or None, rpc_addr=rpc_url)
        self._backoff = Backoff(first_s=0.05, max_s=2.0, attempts=attempts)
        self._height_ttl = height_ttl_s
        self._height_stale = height_stale_s
        self._height: tuple[float, int] | None = None
        self._height_read: asyncio.Future[int] | None = None
        self._started = False

    async def start(self) -> None:
        if not self._started:
            await self._account.startup()
            self._started = True

    async def close(self) -> None:
        if self._started:
            await self._account.shutdown()
            self._started = False

    async def final_height(self) -> int:
        """The final height: the last one read if younger than `height_ttl_s`; up to `height_stale_s`
        old it is still answered at once while one read refreshes it in the background; older (or
        none yet), callers wait for that one read. Every event of every stage asks, and under load the
        node answers in 50-100 ms: waiting on each read capped the compile stage's two agents at
        about 25 events/s (bench capacity, 2026-11-29). A height up to 1 s old only makes a deadline
        check that much more lenient, and the chain itself refuses a resolve past its yield (the item
        is skipped and refunded)."""
        known = self._height
        age = time.monotonic() - known[0] if known is not None else math.inf
        if known is not None and age < self._height_ttl:
            return known[1]
        if self._height_read is None or self._height_read.done():
            self._height_read = asyncio.ensure_future(self._read_height())
            self._height_read.add_done_callback(_retrieved)  # a failed background read is not an error
        if known is not None and age < self._height_stale:
            return known[1]
        return await asyncio.shield(self._height_read)

    async def _read_height(self) -> int:
        started = time.monotonic()
        block = await self._retry(lambda: self._account.provider.json_rpc("block", {"finality": "final"}))
        height = int(block["header"]["height"])
        self._height = (started, height)
        return height

    async def view(self, method: str, args: dict[str, Any]) -> Any:
        await self.start()
        result = await self._retry(lambda: self._account.view_function(self.contract_id, method, args))
        return result.result

    async def get_request(self, request_id: str) -> RequestView | None:
        view = await self.view("get_request", {"request_id": request_id})
        return _parse(view) if isinstance(view, dict) else None

    async def list_pending(self, *, page: int = 100) -> list[RequestView]:
        """Every pending request, paged by request id (`from` is inclusive)."""
        out: list[RequestView] = []
        args: dict[str, Any] = {"limit": page}
        while True:
            batch = await self.view("list_pending_requests", args)
            if not isinstance(batch, list) or not batch:
                return out
            out.extend(_parse(item) for item in batch)
            if len(batch) < page:
                return out
            args = {"from": str(int(out[-1].request_id) + 1), "limit": page}

    async def list_pending_before(
        self, height: int, *, after: str | None = None, limit: int = 100
    ) -> list[RequestView]:
        """One page of pending requests created before block `height`, ids above `after`, ascending.
        The contract reads only the page (plus one record), whatever the number of younger requests."""
        args: dict[str, Any] = {"height": height, "limit": limit}
        if after is not None:
            args["from"] = str(int(after) + 1)
        page = await self.view("list_pending_before", args)
        return [_parse(item) for item in page] if isinstance(page, list) else []

    async def resolve_batch(self, args: bytes, items: int) -> tuple[str, BatchResult]:
        """One resolve_executions call (settle's batcher). A batch is safe to resend after an unclear
        failure: the contract skips, and reports, every item it already resolved."""
        await self.start()
        action = transactions.create_function_call_action("resolve_executions", args, GAS.attach(items, len(args)), 0)
        for attempt in self._backoff:
            try:
                result = await self._account.sign_and_submit_tx(self.contract_id, [action])
            except (*_TRANSIENT, JsonProviderError) as exc:
                if isinstance(exc, JsonProviderError) and not _transient_rpc(exc):
                    raise ChainError(f"resolve_executions refused: {exc}") from exc
                if self._backoff.last(attempt):
                    raise ChainError(f"resolve_executions failed after {attempt} attempts: {exc!r}") from exc
                await self._backoff.wait(attempt)
                continue
            status = result.status
            if not isinstance(status, dict) or "SuccessValue" not in status:
                failure = status.get("Failure") if isinstance(status, dict) else status
                raise ResolveRefused(f"resolve_executions failed on chain: {_failure_text(failure)}")
            value = json.loads(base64.b64decode(status["SuccessValue"]))
            return str(result.transaction.hash), parse_result(value)
        raise AssertionError("unreachable")

    async def resolve(self, request_id: str, response: dict[str, Any]) -> SentTransaction:
        """Sends resolve_execution once; after an unclear failure it re-reads the chain before resending."""
        await self.start()
        args = {"request_id": request_id, "response": response}
        for attempt in self._backoff:
            sent_at = datetime.now(UTC)
            try:
                result = await self._account.sign_and_submit_tx(
                    self.contract_id,
                    [transactions.create_function_call_action("resolve_execution", resolve_args(args), RESOLVE_GAS, 0)],
                )
            except (*_TRANSIENT, JsonProviderError) as exc:
                if isinstance(exc, JsonProviderError) and not _transient_rpc(exc):
                    raise ChainError(f"resolve_execution refused: {exc}") from exc
                # The transaction may have landed anyway: never send a second one for a settled request.
                now = await self.get_request(request_id)
                if now is None or not now.awaiting_resolve():
                    return SentTransaction(str(getattr(exc, "trx_hash", "unknown")), "", attempt, sent_at)
                if self._backoff.last(attempt):
                    raise ChainError(f"resolve_execution failed after {attempt} attempts: {exc!r}") from exc
                await self._backoff.wait(attempt)
                continue
            if isinstance(result.status, dict) and "Failure" in result.status:
                raise ResolveRefused(f"resolve_execution failed on chain: {_failure_text(result.status['Failure'])}")
            tx = result.transaction
            return SentTransaction(str(tx.hash), str(getattr(tx, "public_key", "")), attempt, sent_at)
        raise AssertionError("unreachable")

    async def _retry(self, call: Callable[[], Awaitable[T]]) -> T:
        for attempt in self._backoff:
            try:
                return await call()
            except _TRANSIENT as exc:
                error: Exception = exc
            except JsonProviderError as exc:
                if not _transient_rpc(exc):
                    raise ChainError(f"RPC refused: {exc}") from exc
                error = exc
            if self._backoff.last(attempt):
                raise ChainError(f"RPC failed after {attempt} attempts: {error!r}") from error
            await self._backoff.wait(attempt)
        raise AssertionError("unreachable")


def resolve_args(args: dict[str, Any]) -> bytes:
    """resolve_execution's arguments as compact UTF-8 JSON. py-near's default (`json.dumps`, ASCII
    escapes) would send an emoji as a surrogate pair, which MicroPython's json turns into invalid
    UTF-8 (the contract refuses it), and inflates every non-ASCII character to 6 bytes."""
    return json.dumps(args, ensure_ascii=False, separators=(",", ":")).encode()


def _parse(item: Any) -> RequestView:
    """The contract's record of a request; a record we cannot read is the contract's fault, not the
    request's (a ChainError: retried later, never settled as a failure)."""
    try:
        return RequestView.from_json(item if isinstance(item, dict) else {})
    except ValueError as exc:
        raise ChainError(f"the contract returned an unreadable request record: {exc}") from exc


def _failure_text(failure: Any) -> str:
    """The contract's one-line panic out of a receipt failure, else the failure as compact JSON."""
    try:
        err = failure["ActionError"]["kind"]["FunctionCallError"]
        inner = err.get("ExecutionError") or json.dumps(err, separators=(",", ":"))
        return str(inner)[:300]
    except (KeyError, TypeError, AttributeError):
        return json.dumps(failure, separators=(",", ":"), default=str)[:300]


def _transient_rpc(exc: JsonProviderError) -> bool:
    if isinstance(exc, InvalidNonce):
        return True  # another settle replica took this key's next nonce; py-near re-reads it on the retry
    text = repr(exc.args).upper()
    return any(
        word in text
        for word in ("TIMEOUT", "INTERNAL_ERROR", "NO_SYNCED", "NOT_SYNCED", "UNAVAILABLE", "UNKNOWN_BLOCK")
    )


def _retrieved(read: asyncio.Future[int]) -> None:
    """Marks a height read's failure as seen: a caller waiting on it gets it; a background refresh's
    is retried by the next call (asyncio would otherwise log "exception was never retrieved")."""
    if not read.cancelled():
        read.exception()
