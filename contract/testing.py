"""Driving the offshore contract on the devnet VM call by call, without a node (for tests and tools).

`Offshore(load_contract(wasm))` deploys it on an in-memory state with a hand-driven clock (`height`,
`now_ns`); the yield callback is run explicitly, resumed or timed out, so every branch is reachable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from devnet.vm import CompiledContract, execute
from devnet.vm.config import TGAS
from devnet.vm.testing import MemoryChainState, call_context
from devnet.vm.types import Outcome, PromiseResult, Transfer

NEAR = 10**24
CONTRACT = "offshore.test"
OWNER = "owner.test"
OPERATOR = "operator.test"
CLIENT = "client.test"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
SOURCE = {"repo": "https://github.com/near-offshore/echo.git", "commit": COMMIT, "build_target": "wasm32-wasip1"}
T0 = 1_800_000_000_000_000_000


__all__ = [
    "CLIENT",
    "CONTRACT",
    "NEAR",
    "OPERATOR",
    "OWNER",
    "SOURCE",
    "CallFailed",
    "Offshore",
    "events_of",
    "transfers",
    "used",
]


class CallFailed(AssertionError):
    """A call expected to succeed panicked or failed; the message is the contract's."""


@dataclass
class Offshore:
    """The offshore contract on the VM with an in-memory state and a hand-driven clock.

    `call` commits successful outcomes like the node does; the yield callback is driven explicitly with
    `callback(request_id, payload)` (resumed) or `callback(request_id, None)` (the yield timed out).
    """

    code: CompiledContract
    chain: MemoryChainState = field(default_factory=lambda: MemoryChainState(CONTRACT))
    height: int = 1000
    now_ns: int = T0
    outcomes: list[Outcome] = field(default_factory=list)
    _receipts: int = 0

    def call(
        self,
        method: str,
        args: Any = None,
        *,
        predecessor: str = CLIENT,
        deposit: int = 0,
        promise_results: tuple[PromiseResult, ...] = (),
        gas: int = 300 * TGAS,
        view: bool = False,
    ) -> Outcome:
        self._receipts += 1
        ctx = call_context(
            current_account_id=CONTRACT,
            signer_account_id=predecessor,
            predecessor_account_id=predecessor,
            input=_encode(args),
            block_height=self.height,
            block_timestamp_ns=self.now_ns,
            account_balance=10**9 * NEAR + deposit,  # holds every payment the tests refund
            attached_deposit=deposit,
            prepaid_gas=gas,
            receipt_id=self._receipts.to_bytes(32, "big"),
            promise_results=promise_results,
            is_view=view,
        )
        outcome = execute(self.code, method, ctx, self.chain)
        self.chain.apply(outcome)
        self.outcomes.append(outcome)
        return outcome

    def ok(self, method: str, args: Any = None, **kw: Any) -> Any:
        """Calls and returns the JSON result; raises CallFailed with the contract's message."""
        out = self.call(method, args, **kw)
        if out.error is not None:
            raise CallFailed(f"{method}: {out.error.kind}: {out.error.message}")
        return None if out.return_value is None else json.loads(out.return_value)

    def view(self, method: str, args: Any = None) -> Any:
        return self.ok(method, args, predecessor="viewer.test", view=True)

    def err(self, method: str, args: Any = None, **kw: Any) -> str:
        """Calls, expects the contract to panic, returns the panic message."""
        out = self.call(method, args, **kw)
        assert out.error is not None, f"{method} unexpectedly succeeded"
        assert out.error.kind == "GuestPanic", out.error
        assert not out.storage_writes and not out.receipts and not out.yield_resumes
        return out.error.message

    def init(self, **kw: Any) -> None:
        self.ok("new", {"owner_id": OWNER, "operator_id": OPERATOR, **kw}, predecessor=CONTRACT)

    def estimate(self, limits: dict[str, int] | None = None) -> int:
        return int(self.view("estimate_execution_cost", {"resource_limits": limits}))

    def request(self, *, deposit: int | None = None, sender: str = CLIENT, **args: Any) -> str:
        args.setdefault("code_source", SOURCE)
        args.setdefault("input_data", "hi")
        pay = self.estimate(args.get("resource_limits")) if deposit is None else deposit
        out = self.call("request_execution", args, predecessor=sender, deposit=pay, gas=100 * TGAS)
        if out.error is not None:
            raise CallFailed(f"request_execution: {out.error.message}")
        assert out.return_promise is not None  # the callback's result becomes the call's result
        event = events_of(out)[0]
        return str(event["data"][0]["request_id"])

    def resolve(self, request_id: str, response: dict[str, Any], *, predecessor: str = OPERATOR) -> bytes:
        """Resolves and returns the yield payload the contract resumed with."""
        out = self.call("resolve_execution", {"request_id": request_id, "response": response}, predecessor=predecessor)
        if out.error is not None:
            raise CallFailed(f"resolve_execution: {out.error.message}")
        (resume,) = out.yield_resumes
        return resume.payload

    def callback(self, request_id: str, payload: bytes | None) -> Outcome:
        result = PromiseResult("failed") if payload is None else PromiseResult("successful", payload)
        return self.call(
            "on_execution_response",
            {"request_id": request_id},
            predecessor=CONTRACT,
            promise_results=(result,),
            gas=50 * TGAS,
        )

    def settle(self, request_id: str, response: dict[str, Any]) -> Outcome:
        out = self.callback(request_id, self.resolve(request_id, response))
        assert out.error is None, out.error
        return out


def _encode(args: Any) -> bytes:
    """Arguments as UTF-8 JSON, as settle sends them (`\\uXXXX` escapes of astral characters would reach
    MicroPython as surrogates); `bytes` are sent as they are (to test other encodings)."""
    if args is None:
        return b""
    if isinstance(args, bytes):
        return args
    return json.dumps(args, ensure_ascii=False).encode()


def events_of(outcome: Outcome) -> list[dict[str, Any]]:
    prefix = "EVENT_JSON:"
    return [json.loads(line[len(prefix) :]) for line in outcome.logs if line.startswith(prefix)]


def transfers(outcome: Outcome) -> list[tuple[str, int]]:
    return [(r.receiver_id, a.deposit) for r in outcome.receipts for a in r.actions if isinstance(a, Transfer)]


def used(
    instructions: int = 0,
    time_ms: int = 0,
    compile_time_ms: int = 0,
    http_calls: int | None = None,
    http_bytes: int | None = None,
) -> dict[str, int]:
    out = {"instructions": instructions, "time_ms": time_ms, "compile_time_ms": compile_time_ms}
    if http_calls is not None:  # guest HTTP usage travels only when there was a network grant
        out["http_calls"] = http_calls
    if http_bytes is not None:
        out["http_bytes"] = http_bytes
    return out
