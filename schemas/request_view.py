"""The contract's record of one request, typed: parsed once from its JSON, used by every reader.

Two JSON shapes carry it: the `execution_requested` event log (what the indexer sees; no status, the
request's time as `timestamp`, its height is the block's) and the `get_request` /
`list_pending_requests` views (what settle, execute and the reconciler read; with `status`,
`resolved`, `created_height`, `created_at_ns`). Both go through `RequestView.from_json`, and both
become an `ExecutionRequested` through `to_requested`, so the indexer and the reconciler can no
longer disagree on how a request is read (they did: payment normalised in one and not the other,
input required in one and defaulted in the other).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schemas.events import CodeSource, ExecutionRequested, ResourceLimits

# Skip reasons for a request that no longer awaits a resolve (SettlementSkipped.reason).
_FINISHED = {"completed": "already_resolved", "resolved": "already_resolved", "cancelled": "cancelled"}


@dataclass(frozen=True, kw_only=True)
class RequestView:
    request_id: str
    sender_id: str
    code_source: CodeSource
    resource_limits: ResourceLimits
    input_data: str | None  # None once the request is finished: the contract drops the input then
    encrypted_secrets: str | None
    response_format: str
    payment: str  # yoctoNEAR as a decimal string, normalised (no sign, no leading zeros)
    data_id: str
    created_at_ns: int
    created_height: int | None = None  # None in an event log: the block's height is the request's
    status: str = "pending"  # an event log describes a request that was just made
    resolved: bool = False

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RequestView:
        """Parses either shape; raises ValueError naming what is missing or mistyped."""
        try:
            src, limits = data["code_source"], data["resource_limits"]
            input_data = data["input_data"]
            if input_data is not None and not isinstance(input_data, str):
                raise TypeError(f"input_data must be a string, not {type(input_data).__name__}")
            secrets = data.get("encrypted_secrets")
            height = data.get("created_height")
            return cls(
                request_id=str(data["request_id"]),
                sender_id=str(data["sender_id"]),
                code_source=CodeSource(
                    repo=str(src["repo"]),
                    commit=str(src["commit"]),
                    build_target=str(src["build_target"]),
                    path=None if src.get("path") is None else str(src["path"]),
                ),
                resource_limits=ResourceLimits(
                    max_instructions=int(limits["max_instructions"]),
                    max_memory_mb=int(limits["max_memory_mb"]),
                    max_execution_seconds=int(limits["max_execution_seconds"]),
                ),
                input_data=input_data,
                encrypted_secrets=None if secrets is None else str(secrets),
                response_format=str(data.get("response_format") or "Text"),
                payment=str(_amount(data["payment"])),
                data_id=str(data["data_id"]),
                created_at_ns=int(data.get("created_at_ns", data.get("timestamp")) or 0),
                created_height=None if height is None else int(height),
                status=str(data.get("status", "pending")).lower(),
                resolved=bool(data.get("resolved", False)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed request record: {type(exc).__name__}: {exc}") from exc

    def awaiting_resolve(self) -> bool:
        """Pending on chain and not yet resolved. A resolved request stays `pending` until its callback
        runs a block later; resolving it again would be a second transaction."""
        return self.status == "pending" and not self.resolved

    def not_pending_reason(self) -> str | None:
        """Why no resolve may be sent for this request (a SettlementSkipped reason), None if one may."""
        if self.awaiting_resolve():
            return None
        if self.status == "pending":
            return "already_resolved"
        return _FINISHED.get(self.status, "timed_out" if "time" in self.status else f"not_pending:{self.status}")

    def to_requested(
        self,
        *,
        event_id: str,
        occurred_at: datetime,
        producer: str,
        block_height: int | None = None,
        block_hash: str = "",
        receipt_id: str = "",
        timestamp_ns: int | None = None,
    ) -> ExecutionRequested:
        """The request event. The indexer knows the block (height, hash, timestamp) and the receipt; a
        re-drive from a view does not (hash and receipt stay empty; height and time are the stored
        `created_height` and `created_at_ns`, which the contract took from that same block)."""
        height = block_height if block_height is not None else self.created_height
        if height is None:
            raise ValueError(f"request {self.request_id}: no block height (an event log needs the block's)")
        if self.input_data is None:  # a request is made with its input ("" for none); only a finished one lacks it
            raise ValueError(f"request {self.request_id}: no input (finished, or not a request of ours)")
        return ExecutionRequested(
            event_id=event_id,
            request_id=self.request_id,
            occurred_at=occurred_at,
            producer=producer,
            sender_id=self.sender_id,
            code_source=self.code_source,
            resource_limits=self.resource_limits,
            input_data=self.input_data,
            encrypted_secrets=self.encrypted_secrets,
            response_format=self.response_format,
            payment=self.payment,
            data_id=self.data_id,
            block_height=height,
            block_hash=block_hash,
            receipt_id=receipt_id,
            timestamp_ns=self.created_at_ns if timestamp_ns is None else timestamp_ns,
        )


def _amount(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"payment must be a decimal string, not {type(value).__name__}")
    amount = int(value)
    if amount < 0:
        raise ValueError("payment must not be negative")
    return amount
