"""Gas of every method, at its worst case (largest input, secrets and output the config allows), on
the devnet VM: each stays under 100 TGas, and the yield callback under the gas it is given."""

from __future__ import annotations

import pytest

from contract.testing import OPERATOR, OWNER, SOURCE, Offshore, used
from devnet.vm.config import TGAS

LIMIT = 100 * TGAS


def _gas(chain: Offshore) -> int:
    out = chain.outcomes[-1]
    assert out.error is None, out.error
    return out.gas_burnt


@pytest.fixture
def gas_table(offshore: Offshore) -> dict[str, int]:
    chain = offshore
    cfg = chain.view("get_config")
    table: dict[str, int] = {}
    big = {
        "code_source": {**SOURCE, "build_target": "wasm", "path": "p/" + "a" * 200 + ".wasm"},
        "input_data": "\u20ac" * (cfg["max_input_bytes"] // 3),  # bytes, not characters
        "encrypted_secrets": "s" * cfg["max_secrets_bytes"],
        "response_format": "Text",
    }
    rids = [chain.request(**big) for _ in range(3)]
    table["request_execution"] = _gas(chain)
    # the worst output: 16 KB of control characters, each escaped to 6 bytes in the arguments and in
    # the value returned to the caller
    worst = "\x01" * cfg["max_output_bytes"]
    out = {"success": True, "output": worst, "resources_used": used(10**11, 60_000, 10**6)}
    payload = chain.resolve(rids[0], out)
    table["resolve_execution"] = _gas(chain)
    assert table["resolve_execution"] < cfg["resolve_gas"]  # the gas settle attaches
    callback = chain.callback(rids[0], payload)
    assert callback.error is None
    table["on_execution_response"] = callback.gas_burnt
    assert callback.gas_burnt < cfg["callback_gas"]  # the gas request_execution reserves for it
    for fmt, output in (("Json", "9" * cfg["max_output_bytes"]), ("Bytes", "QUJD" * (cfg["max_output_bytes"] // 4))):
        rid = chain.request(response_format=fmt)
        payload = chain.resolve(rid, {**out, "output": output})
        table[f"resolve_execution ({fmt})"] = _gas(chain)
        callback = chain.callback(rid, payload)
        assert callback.error is None
        table[f"on_execution_response ({fmt})"] = callback.gas_burnt
        assert table[f"resolve_execution ({fmt})"] < cfg["resolve_gas"] and callback.gas_burnt < cfg["callback_gas"]
    chain.callback(rids[1], None)
    table["on_execution_response (timeout)"] = _gas(chain)
    chain.now_ns += 600 * 10**9
    chain.call("cancel_stale_execution", {"request_id": rids[2]})
    table["cancel_stale_execution"] = _gas(chain)
    rid = chain.request()
    chain.call("emergency_cancel_execution", {"request_id": rid, "reason": "r" * 256}, predecessor=OWNER)
    table["emergency_cancel_execution"] = _gas(chain)
    admin: tuple[tuple[str, dict[str, object]], ...] = (
        ("set_owner", {"owner_id": OWNER}),
        ("set_operator", {"operator_id": OPERATOR}),
        ("set_paused", {"paused": False}),
        ("set_pricing", {"pricing": {"base_fee": "1", "compile_allowance_ms": 1}}),
    )
    for method, args in admin:
        chain.call(method, args, predecessor=OWNER)
        table[method] = _gas(chain)
    for _ in range(120):
        chain.request()  # a long pending list: list_pending_requests pages over it
    views: tuple[tuple[str, dict[str, object]], ...] = (
        ("get_request", {"request_id": rids[0]}),
        ("list_pending_requests", {"from": "1", "limit": 100}),
        ("get_stats", {}),
        ("get_pricing", {}),
        ("get_config", {}),
        ("is_paused", {}),
        ("estimate_execution_cost", {"resource_limits": chain.view("get_max_limits")}),
        ("get_max_limits", {}),
    )
    for method, args in views:
        chain.call(method, args, predecessor="viewer.test", view=True)
        table[method] = _gas(chain)
    fresh = Offshore(chain.code)
    fresh.init()
    table["new"] = _gas(fresh)
    return table


def test_every_method_under_100_tgas_at_its_worst_case(gas_table: dict[str, int]) -> None:
    print("\n" + "\n".join(f"| `{k}` | {v / TGAS:.1f} |" for k, v in sorted(gas_table.items())))
    assert len(gas_table) == 23
    over = {k: v for k, v in gas_table.items() if v >= LIMIT}
    assert over == {}
