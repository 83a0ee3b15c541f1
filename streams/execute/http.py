"""The HTTP grant of one request, for the execute stage: read from the contract, never from Kafka.

Why on chain: the grant decides which hosts the executor fetches on a guest's behalf and how much it
bills; a forged `ExecutionRequested` on the broker must not widen it (the same rule as secrets,
streams/execute/core.py). Why only sometimes: a guest that does not import the `offshore` host API
cannot call the web, so only such modules (`executor.uses_http`, a scan of the import section) cost
the one `get_request` view. The Avro `ResourceLimits` does not carry the grant either.

Wiring (execute stage): `grant = await request_grant(wasm, req.request_id, chain)` before the run,
then `runner.run_async(..., http=grant, io_store=artifacts)`; the result's `http_calls`,
`http_bytes`, `io_sha256` travel in ExecutionFinished, and settle adds `http_calls`/`http_bytes` to
`resources_used` (the contract caps and charges them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import executor
from streams.errors import ChainError


class ChainViews(Protocol):
    async def view(self, method: str, args: dict[str, Any]) -> Any: ...


class GrantUnavailable(ChainError):
    """The grant could not be read from the chain: the run must wait (the stage shell retries chain
    errors), not run without it."""


def grant_from_record(record: Mapping[str, Any] | None) -> executor.HttpGrant:
    """The grant in the contract's request record; no record or no grant = no network. Pure.

    The contract validated and capped it at request time; a value the executor cannot parse gives no
    network rather than failing the request (the guest then sees -2 on each call).
    """
    if not isinstance(record, Mapping):
        return executor.HttpGrant()
    try:
        return executor.HttpGrant.from_mapping(record.get("resource_limits"))
    except (ValueError, TypeError):
        return executor.HttpGrant()


async def request_grant(wasm: bytes, request_id: str, chain: ChainViews | None) -> executor.HttpGrant | None:
    """None for a guest without the host API; else the grant the contract stored for `request_id`."""
    if not executor.uses_http(wasm):
        return None
    if chain is None:
        raise GrantUnavailable("no chain view to read the HTTP grant from")
    try:
        record = await chain.view("get_request", {"request_id": request_id})
    except Exception as exc:  # py-near raises its own, aiohttp's and OS errors: retried by the stage
        raise GrantUnavailable(f"cannot read request {request_id} from the chain: {type(exc).__name__}") from exc
    return grant_from_record(record if isinstance(record, Mapping) else None)
