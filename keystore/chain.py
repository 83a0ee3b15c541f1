"""The keystore's own read-only view of the chain: NEAR JSON-RPC `get_request` and the final height.

It holds no account key and sends no transaction; two view calls per decrypt. Transport failures
raise ChainUnavailable (the decrypt API answers 503 and the execute stage retries the request
later); a refused view is an answer (None), not an outage.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import aiohttp


class ChainUnavailable(Exception):
    """The NEAR RPC could not be asked; nothing was decided."""


class ChainReader:
    def __init__(self, rpc_url: str, contract_id: str, *, timeout_s: float = 10.0) -> None:
        self._url = rpc_url
        self.contract_id = contract_id
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _call(self, method: str, params: dict[str, Any]) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        body = {"jsonrpc": "2.0", "id": "keystore", "method": method, "params": params}
        try:
            async with self._session.post(self._url, json=body) as resp:
                if resp.status >= 500:
                    raise ChainUnavailable(f"NEAR RPC answered HTTP {resp.status}")
                data = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise ChainUnavailable(f"NEAR RPC unreachable: {type(exc).__name__}") from None
        if not isinstance(data, dict):
            raise ChainUnavailable("NEAR RPC answered something that is not JSON-RPC")
        if "error" in data:
            raise ChainUnavailable(f"NEAR RPC error: {json.dumps(data['error'])[:300]}")
        return data.get("result")

    async def final_height(self) -> int:
        block = await self._call("block", {"finality": "final"})
        try:
            return int(block["header"]["height"])
        except (KeyError, TypeError, ValueError):
            raise ChainUnavailable("NEAR RPC block without a header height") from None

    async def get_request(self, request_id: str) -> dict[str, Any] | None:
        """The contract's record of the request with its stored input and ciphertext, or None."""
        args = base64.b64encode(json.dumps({"request_id": request_id}).encode()).decode()
        result = await self._call(
            "query",
            {
                "request_type": "call_function",
                "finality": "final",
                "account_id": self.contract_id,
                "method_name": "get_request",
                "args_base64": args,
            },
        )
        if not isinstance(result, dict) or "error" in result or "result" not in result:
            return None  # the view panicked (e.g. a malformed id): no such request
        try:
            view = json.loads(bytes(result["result"]))
        except (TypeError, ValueError):
            return None
        return view if isinstance(view, dict) else None
