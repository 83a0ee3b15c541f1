"""A dApp developer's client for the offshore contract (what `offshore request` and the demo use)."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from dataclasses import dataclass
from typing import Any

from py_near.account import Account

from offshore.errors import OffshoreError

REQUEST_GAS = 100 * 10**12
# Limits a `python` request gets where it names none: the contract's defaults (10e9 instructions,
# 128 MB, 10 s) fit C, not an interpreter that spends 0.1-0.9e9 instructions starting and importing
# numpy and ~5e9 on a small pandas job (executor/README.md, measured). Within the contract's caps.
PYTHON_DEFAULT_LIMITS = {"max_instructions": 20_000_000_000, "max_memory_mb": 256, "max_execution_seconds": 30}
_EVENT = "EVENT_JSON:"


@dataclass(frozen=True)
class Submitted:
    request_id: str
    tx_hash: str
    deposit: int


class OffshoreClient:
    def __init__(
        self, *, rpc_url: str, account_id: str, secret_key: str, contract_id: str, block_api_url: str | None = None
    ) -> None:
        self.account_id = account_id
        self.contract_id = contract_id
        self.block_api_url = block_api_url  # set: wait/wait_many follow blocks instead of polling views
        self._account = Account(account_id, secret_key, rpc_addr=rpc_url)

    async def __aenter__(self) -> OffshoreClient:
        try:
            await self._account.startup()
        except Exception as exc:  # py-near raises its own, aiohttp's and OS errors here
            await self._account.shutdown()
            raise OffshoreError(f"cannot reach the NEAR RPC: {exc}") from exc
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._account.shutdown()

    async def view(self, method: str, args: dict[str, Any]) -> Any:
        return (await self._account.view_function(self.contract_id, method, args)).result

    async def estimate(self, limits: dict[str, int]) -> int:
        return int(await self.view("estimate_execution_cost", {"resource_limits": limits}))

    async def request(
        self,
        *,
        repo: str,
        commit: str,
        build_target: str = "wasm32-wasip1",
        path: str | None = None,
        input_data: str = "",
        limits: dict[str, int] | None = None,
        response_format: str = "Text",
        encrypted_secrets: str | None = None,
        deposit: int | None = None,
        timeout_s: float = 30.0,
    ) -> Submitted:
        """Sends request_execution with the estimated deposit; returns once the request exists on chain."""
        limits = limits or {}
        if build_target == "python":
            limits = {**PYTHON_DEFAULT_LIMITS, **limits}
        amount = deposit if deposit is not None else await self.estimate(limits)
        source: dict[str, Any] = {"repo": repo, "commit": commit, "build_target": build_target}
        if path is not None:
            source["path"] = path
        args = {
            "code_source": source,
            "resource_limits": limits,
            "input_data": input_data,
            "encrypted_secrets": encrypted_secrets,
            "response_format": response_format,
        }
        tx_hash = str(
            await self._account.function_call(
                self.contract_id, "request_execution", args, gas=REQUEST_GAS, amount=amount, included=True
            )
        )
        request_id = await self._request_id_of(tx_hash, timeout_s)
        return Submitted(request_id, tx_hash, amount)

    async def _request_id_of(self, tx_hash: str, timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:  # poll: the receipt runs a block after inclusion
            outcome = await self._tx(tx_hash)
            for receipt in outcome.get("receipts_outcome") or ():
                status = receipt["outcome"].get("status") or {}
                if isinstance(status, dict) and "Failure" in status:
                    raise OffshoreError(f"request_execution failed: {json.dumps(status['Failure'])[:400]}")
                for log in receipt["outcome"].get("logs") or ():
                    if log.startswith(_EVENT):
                        event = json.loads(log[len(_EVENT) :])
                        if event.get("event") == "execution_requested":
                            data = event["data"]
                            return str((data[0] if isinstance(data, list) else data)["request_id"])
            await asyncio.sleep(0.05)  # poll
        raise OffshoreError(f"request transaction {tx_hash} produced no request within {timeout_s:.0f}s")

    async def result(self, tx_hash: str, *, timeout_s: float = 60.0) -> Any:
        """What the contract returned to the caller once the yield resumed (Json parsed, Bytes base64)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:  # poll: the callback runs after the resume
            outcome = await self._tx(tx_hash)
            status = outcome.get("status") or {}
            if outcome.get("final_execution_status") == "FINAL" and isinstance(status, dict):
                if "Failure" in status:
                    raise OffshoreError(f"request transaction failed: {json.dumps(status['Failure'])[:400]}")
                value = status.get("SuccessValue") or ""
                return json.loads(base64.b64decode(value)) if value else None
            await asyncio.sleep(0.05)  # poll
        raise OffshoreError(f"request transaction {tx_hash} not final after {timeout_s:.0f}s")

    async def _tx(self, tx_hash: str) -> dict[str, Any]:
        """The transaction's outcome so far (receipts executed up to now), once it is included."""
        outcome: dict[str, Any] = await self._account.provider.json_rpc(
            "tx", {"tx_hash": tx_hash, "sender_account_id": self.account_id, "wait_until": "INCLUDED"}
        )
        return outcome

    async def get_request(self, request_id: str) -> dict[str, Any] | None:
        view = await self.view("get_request", {"request_id": request_id})
        return view if isinstance(view, dict) else None

    async def wait_many(self, request_ids: list[str], *, timeout_s: float = 120.0) -> dict[str, dict[str, Any]]:
        """Each request's final on-chain record. With a block API: by following final blocks (one
        block read per block for all of them, offshore/follow.py); without: `wait` on each."""
        if self.block_api_url is None:
            views = await asyncio.gather(*(self._poll(rid, timeout_s) for rid in request_ids))
            return dict(zip(request_ids, views, strict=True))
        from offshore.follow import wait_settled

        return await wait_settled(
            request_ids,
            view=self.get_request,
            block_api_url=self.block_api_url,
            contract_id=self.contract_id,
            timeout_s=timeout_s,
        )

    async def wait(self, request_id: str, *, timeout_s: float = 120.0) -> dict[str, Any]:
        """The request's final on-chain record (status no longer pending)."""
        return (await self.wait_many([request_id], timeout_s=timeout_s))[request_id]

    async def _poll(self, request_id: str, timeout_s: float) -> dict[str, Any]:
        """Without a block API (an RPC node only): the request's view, every 100 ms."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:  # poll
            view = await self.view("get_request", {"request_id": request_id})
            if isinstance(view, dict) and view.get("status") != "pending":
                return view
            await asyncio.sleep(0.1)  # poll
        raise OffshoreError(f"request {request_id} still pending after {timeout_s:.0f}s")
