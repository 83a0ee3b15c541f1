"""Settle's chain client against the contract on the devnet node, through real transactions: a
hostile Text output resolves and reaches the caller intact (UTF-8 arguments, no surrogates), and a
resolve the contract refuses raises ResolveRefused, after which the fallback failure settles the
request with its compute charged."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from pathlib import Path
from typing import Any

import pytest
from py_near.account import Account

from contract import Pricing, charge
from contract.testing import SOURCE, used
from devnet import TGAS, Devnet
from offshore.testing import offshore_devnet_config
from schemas.request_view import RequestView
from streams.chain import NearChain
from streams.errors import ResolveRefused

pytestmark = pytest.mark.asyncio(loop_scope="session")
OFFSHORE = "offshore.test.near"
OWNER = "owner.test.near"
OPERATOR = "operator.test.near"
ALICE = "alice.test.near"
USAGE = used(instructions=4_000_000, time_ms=12, compile_time_ms=300)


async def _until(what: str, probe: Any) -> Any:
    deadline = time.monotonic() + 30
    while True:  # poll: transactions land a block or two later
        try:
            value = await probe()
            if value:
                return value
        except Exception:
            if time.monotonic() > deadline:
                raise
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)  # poll


async def test_settle_chain_client_on_the_node(offshore_wasm: bytes, tmp_path: Path) -> None:
    wasm = tmp_path / "offshore.wasm"
    wasm.write_bytes(offshore_wasm)
    config = offshore_devnet_config(
        wasm,
        tmp_path / "credentials",
        owner=OWNER,
        operator=OPERATOR,
        accounts=(OWNER, OPERATOR, ALICE),
        contract_id=OFFSHORE,
    )
    async with Devnet(config) as d:
        alice = Account(ALICE, d.key(ALICE).secret_key_str, rpc_addr=d.rpc_url)
        await alice.startup()
        chain = NearChain(
            rpc_url=d.rpc_url,
            contract_id=OFFSHORE,
            operator_id=OPERATOR,
            operator_keys=[d.key(OPERATOR).secret_key_str],
        )
        try:
            need = int(await _until("init", lambda: chain.view("estimate_execution_cost", {})))
            hostile = '\x01"\\\U0001f600' * 2340  # 16380 bytes: every escape the arguments can need
            texts = {}
            for name, fmt in (("hostile", "Text"), ("refused", "Text")):
                texts[name] = await alice.function_call(
                    OFFSHORE,
                    "request_execution",
                    {"code_source": SOURCE, "response_format": fmt},
                    amount=need,
                    gas=100 * TGAS,
                    nowait=True,
                )
            pending = await _until("two pending requests", lambda: _pending(chain, 2))
            ok_id, bad_id = (r.request_id for r in pending)

            sent = await chain.resolve(ok_id, {"success": True, "output": hostile, "resources_used": USAGE})
            tx = await d.wait_for_tx(texts["hostile"], timeout=60)
            assert sent.attempts == 1
            assert json.loads(base64.b64decode(tx["status"]["SuccessValue"])) == hostile  # intact, valid UTF-8

            with pytest.raises(ResolveRefused, match=r"response\.output exceeds 16384 bytes"):
                await chain.resolve(bad_id, {"success": True, "output": "a" * 16385, "resources_used": USAGE})
            fallback = {"success": False, "error": "resolve_refused: output too large", "resources_used": USAGE}
            await chain.resolve(bad_id, fallback)
            view = await _until("settled", lambda: _settled(chain, bad_id))
            assert view["status"] == "failed" and view["error"].startswith("resolve_refused")
            charged = int(view["payment_charged"])
            assert charged == charge(Pricing(), need, **USAGE) and charged + int(view["payment_refunded"]) == need
        finally:
            await chain.close()
            await alice.shutdown()


async def _pending(chain: NearChain, count: int) -> list[RequestView] | None:
    got = await chain.list_pending()
    return got if len(got) >= count else None


async def _settled(chain: NearChain, rid: str) -> dict[str, Any] | None:
    view = await chain.view("get_request", {"request_id": rid})  # the full record: charge, refund, error
    return view if isinstance(view, dict) and view["status"] != "pending" else None
