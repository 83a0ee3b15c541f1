"""Versioned state and `migrate` on the devnet VM: the released contract before versioning (a
fixture built from its source) is replaced by the current code with requests pending, and each one
still settles and refunds; an unknown stored version is refused without a write."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from contract import Pricing, charge
from contract.testing import CLIENT, CONTRACT, OPERATOR, Offshore, events_of, transfers, used
from devnet.vm import CompiledContract, load_contract

V0_WASM = Path(__file__).parent / "fixtures" / "offshore-v0.wasm"  # see fixtures/README.md
CODE_VERSION = 1


@pytest.fixture(scope="module")
def v0_code() -> CompiledContract:
    return load_contract(V0_WASM.read_bytes())


def test_a_new_state_is_stamped_with_the_code_version(offshore: Offshore) -> None:
    assert offshore.view("get_state_version") == {"state_version": CODE_VERSION, "code_version": CODE_VERSION}
    assert offshore.chain.data[b"v"] == str(CODE_VERSION).encode()


def test_migrate_at_the_current_version_changes_nothing(offshore: Offshore) -> None:
    before = dict(offshore.chain.data)
    assert offshore.ok("migrate", {}, predecessor=CONTRACT) == {"from_version": 1, "to_version": 1}
    assert offshore.chain.data == before


def test_only_the_contract_account_migrates(offshore: Offshore) -> None:
    for caller in (CLIENT, OPERATOR, "owner.test"):
        assert "only the contract account can migrate" in offshore.err("migrate", {}, predecessor=caller)


@pytest.mark.parametrize("stored", [b"2", b"99", b"-1", b'"1"', b"true"])
def test_an_unknown_stored_version_is_refused(offshore: Offshore, stored: bytes) -> None:
    offshore.chain.data[b"v"] = stored  # state written by a newer release (or corrupted)
    message = offshore.err("migrate", {}, predecessor=CONTRACT)
    assert message.startswith("unknown state version ") and "migrates versions 0 to 1" in message
    assert offshore.chain.data[b"v"] == stored


def test_migrate_before_init_is_refused(offshore_code: CompiledContract) -> None:
    empty = Offshore(offshore_code)
    assert "not initialized" in empty.err("migrate", {}, predecessor=CONTRACT)


def test_pending_requests_of_the_unversioned_release_settle_after_the_upgrade(
    v0_code: CompiledContract, offshore_code: CompiledContract
) -> None:
    old = Offshore(v0_code)
    old.init()
    assert b"v" not in old.chain.data  # the release before versioning: state version 0
    pay = old.estimate(None) + 10**22
    ok, failed, late = (old.request(deposit=pay) for _ in range(3))

    # The upgrade transaction: new code on the same storage and pending yields, then migrate.
    new = Offshore(offshore_code, chain=old.chain, height=old.height, now_ns=old.now_ns)
    assert new.ok("migrate", {}, predecessor=CONTRACT) == {"from_version": 0, "to_version": 1}
    assert new.view("get_state_version") == {"state_version": 1, "code_version": 1}
    pending = json.loads(new.call("list_pending_requests", {}, view=True).return_value or b"")
    assert {str(r["request_id"]) for r in pending} == {ok, failed, late}

    res = used(instructions=5_000_000, time_ms=3, compile_time_ms=900)
    out = new.settle(ok, {"success": True, "output": "hi", "resources_used": res})
    assert transfers(out) == [(CLIENT, pay - charge(Pricing(), pay, **res))]
    out = new.settle(failed, {"success": False, "error": "fuel_exhausted", "resources_used": res})
    assert events_of(out)[0]["event"] == "execution_completed"
    assert transfers(out) == [(CLIENT, pay - charge(Pricing(), pay, **res))]
    out = new.callback(late, None)  # its yield timed out across the upgrade: refunded in full
    assert out.error is None and transfers(out) == [(CLIENT, pay)]
    stats = new.view("get_stats")
    assert (stats["pending"], stats["completed"], stats["failed"], stats["timed_out"]) == (0, 1, 1, 1)
    assert int(stats["total_charged"]) + int(stats["total_refunded"]) == int(stats["total_payment"]) == 3 * pay
