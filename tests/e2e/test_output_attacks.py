"""Guests whose output attacks settlement, through the whole real platform (devnet with the nearc
contract, broker, every stage): each request settles within the yield window with the right outcome
(a completed output the caller receives intact, or a failure with a one-line error that is still
charged for the compute), charged + refunded == paid, charged <= the estimate, and a normal request
still settles afterwards.

Before the fix: control characters and invalid UTF-8 ran resolve out of gas (the yield timed out,
charged 0), `[` x 6000 nested / a 12,000-digit integer trapped the callback (stuck pending + resolved).
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio

import executor.examples as examples
from contract.pricing import Pricing, charge, estimate
from offshore.client import Submitted
from offshore.local import CLIENTS

from .conftest import LIMITS, Harness

pytestmark = pytest.mark.integration
MAX = 12 * 1024  # the executor's stdout cap (OFFSHORE_MAX_OUTPUT_BYTES)


@dataclass(frozen=True)
class Attack:
    name: str
    input: str
    fmt: str
    returned: Any = None  # the caller's result when it completes
    error: str | None = None  # else the failure's error prefix


ATTACKS = [
    Attack("Text: 12 KiB of control characters", f"ctrl {MAX}", "Text", returned="\x01" * MAX),
    Attack("Text: 12 KiB of NUL bytes", f"nul {MAX}", "Text", returned="\x00" * MAX),
    Attack("Text: 12 KiB of invalid UTF-8", f"badutf8 {MAX}", "Text", error="invalid_output: Text output is not valid"),
    Attack("Text: 12 KiB of quotes", f"quotes {MAX}", "Text", returned='"' * MAX),
    Attack("Text: 12 KiB of backslashes", f"backslash {MAX}", "Text", returned="\\" * MAX),
    Attack("Text: 3072 emoji (12 KiB)", f"emoji {MAX // 4}", "Text", returned="\U0001f600" * (MAX // 4)),
    Attack("Text: max size", f"fill {MAX}", "Text", returned="a" * MAX),
    Attack("Text: one byte over the executor cap", f"fill {MAX + 1}", "Text", error="output_too_large"),
    Attack("Json: [ x 6000", "brackets 6000", "Json", error="invalid_output: Json output nests 6000 deep"),
    Attack("Json: nested 64 deep", "nested 64", "Json"),  # returned: _nested(64)
    Attack("Json: nested 65 deep", "nested 65", "Json", error="invalid_output: Json output nests 65 deep"),
    Attack("Json: 12,000-digit integer", "digits 12000", "Json", error="invalid_output: Json output has a 12000-char"),
    Attack("Json: max size", f"jsonstr {MAX - 4}", "Json", returned=["x" * (MAX - 4)]),
    Attack("Json: NaN", "nan 1", "Json", error="invalid_output: Json output contains NaN"),
    Attack("Json: 1e999", "bigfloat 1", "Json", error="invalid_output: Json output has a number out of range"),
    Attack("Bytes: max size, every byte value", f"bin {MAX}", "Bytes", returned=None),
    Attack(
        "Bytes: 12 KiB of control characters", f"ctrl {MAX}", "Bytes", returned=base64.b64encode(b"\x01" * MAX).decode()
    ),
]


def _nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


def _expected_return(attack: Attack) -> Any:
    if attack.input == "nested 64":
        return _nested(64)
    if attack.input.startswith("bin"):
        return base64.b64encode(bytes(i & 0xFF for i in range(MAX))).decode()
    return attack.returned


@dataclass
class Settled:
    sent: dict[str, Submitted]
    views: dict[str, dict[str, Any]]
    results: dict[str, Any]
    pricing: Pricing
    after: dict[str, Any]


@pytest_asyncio.fixture(scope="module")
async def settled(harness: Harness) -> AsyncIterator[Settled]:
    url, commit = examples.publish("hostile_output", harness.info.state_dir / "repos")
    sent: dict[str, Submitted] = {}
    async with harness.client(CLIENTS[1]) as alice:
        pricing = Pricing.from_json(await alice.view("get_pricing", {}))
        for attack in ATTACKS:
            sent[attack.name] = await alice.request(
                repo=url, commit=commit, input_data=attack.input, response_format=attack.fmt, limits=LIMITS
            )
        views = await harness.finals([s.request_id for s in sent.values()], timeout_s=240)
        results = {name: await alice.result(s.tx_hash) for name, s in sent.items()}
        echo_url, echo_commit = harness.repos["json_echo"]
        normal = await alice.request(repo=echo_url, commit=echo_commit, input_data='{"ok": 1}', response_format="Json")
        after = (await harness.finals([normal.request_id]))[normal.request_id]
        after["result"] = await alice.result(normal.tx_hash)
    yield Settled(sent, {n: views[s.request_id] for n, s in sent.items()}, results, pricing, after)


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
async def test_hostile_output_settles_with_the_refund_rule(settled: Settled, attack: Attack) -> None:
    view, sent = settled.views[attack.name], settled.sent[attack.name]
    charged, refunded = int(view["payment_charged"]), int(view["payment_refunded"])
    assert charged + refunded == sent.deposit
    ceiling = estimate(
        settled.pricing,
        max_instructions=LIMITS["max_instructions"],
        max_execution_seconds=LIMITS["max_execution_seconds"],
    )
    assert charged <= ceiling
    used = {k: int(view["resources_used"][k]) for k in ("instructions", "time_ms", "compile_time_ms")}
    assert used["instructions"] > 0  # the guest ran: its compute is charged whatever the outcome
    caps = {"max_instructions": LIMITS["max_instructions"], "max_execution_seconds": LIMITS["max_execution_seconds"]}
    assert charged == charge(settled.pricing, sent.deposit, **used, **caps)
    if attack.error is None:
        assert view["status"] == "completed", view["error"]
        assert settled.results[attack.name] == _expected_return(attack)
    else:
        assert view["status"] == "failed"
        assert view["error"].startswith(attack.error), view["error"]
        assert settled.results[attack.name] is None


async def test_a_normal_request_still_settles_after_the_attacks(settled: Settled) -> None:
    assert settled.after["status"] == "completed"
    assert settled.after["result"] == {"ok": 1}
