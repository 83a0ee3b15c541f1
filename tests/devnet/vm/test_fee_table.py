"""The devnet's fee table (devnet/vm/config.py) and the README's copy of it against nearcore's own
parameter snapshot for the protocol version the devnet claims (fixture copied from near/nearcore).

Fails when a value drifts from nearcore, when the README's table disagrees with the code, and when a
new VMConfig field is added without saying where nearcore keeps it."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

from devnet.vm.config import DEFAULT_CONFIG, PROTOCOL_VERSION, Fee

FIXTURE = Path(__file__).parent / "fixtures" / f"nearcore_runtime_config_{PROTOCOL_VERSION}.json.snap"
README = Path(__file__).parents[3] / "devnet" / "README.md"
SOURCE = f"near_parameters__config_store__tests__{PROTOCOL_VERSION}.json.snap"

_TX = "transaction_costs"
_ACT = f"{_TX}.action_creation_config"
_EXT = "wasm_config.ext_costs"
_LIM = "wasm_config.limit_config"

# VMConfig field -> path in nearcore's snapshot
PATHS: dict[str, str] = {
    "action_receipt": f"{_TX}.action_receipt_creation_config",
    "data_receipt_base": f"{_TX}.data_receipt_creation_config.base_cost",
    "data_receipt_byte": f"{_TX}.data_receipt_creation_config.cost_per_byte",
    "create_account": f"{_ACT}.create_account_cost",
    "deploy_contract": f"{_ACT}.deploy_contract_cost",
    "deploy_contract_byte": f"{_ACT}.deploy_contract_cost_per_byte",
    "function_call": f"{_ACT}.function_call_cost",
    "function_call_byte": f"{_ACT}.function_call_cost_per_byte",
    "transfer": f"{_ACT}.transfer_cost",
    "stake": f"{_ACT}.stake_cost",
    "add_key_full_access": f"{_ACT}.add_key_cost.full_access_cost",
    "add_key_function_call": f"{_ACT}.add_key_cost.function_call_cost",
    "add_key_byte": f"{_ACT}.add_key_cost.function_call_cost_per_byte",
    "delete_key": f"{_ACT}.delete_key_cost",
    "delete_account": f"{_ACT}.delete_account_cost",
    "burnt_gas_reward": f"{_TX}.burnt_gas_reward",
    "storage_amount_per_byte": "storage_amount_per_byte",
    "storage_num_bytes_account": f"{_TX}.storage_usage_config.num_bytes_account",
    "storage_num_extra_bytes_record": f"{_TX}.storage_usage_config.num_extra_bytes_record",
    "regular_op_cost": "wasm_config.regular_op_cost",
    "contract_loading_byte": f"{_EXT}.contract_loading_bytes",
}
_EXT_NAMES = {
    "contract_loading_base", "base", "read_memory_base", "read_memory_byte", "write_memory_base",
    "write_memory_byte", "read_register_base", "read_register_byte", "write_register_base",
    "write_register_byte", "utf8_decoding_base", "utf8_decoding_byte", "utf16_decoding_base",
    "utf16_decoding_byte", "sha256_base", "sha256_byte", "keccak256_base", "keccak256_byte", "keccak512_base",
    "keccak512_byte", "ripemd160_base", "ripemd160_block", "ecrecover_base", "ed25519_verify_base",
    "ed25519_verify_byte", "p256_verify_base", "p256_verify_byte", "log_base", "log_byte",
    "storage_write_base", "storage_write_key_byte", "storage_write_value_byte", "storage_write_evicted_byte",
    "storage_read_base", "storage_read_key_byte", "storage_read_value_byte", "storage_remove_base",
    "storage_remove_key_byte", "storage_remove_ret_value_byte", "storage_has_key_base", "storage_has_key_byte",
    "touching_trie_node", "read_cached_trie_node", "promise_and_base", "promise_and_per_promise",
    "promise_return", "yield_create_base", "yield_create_byte", "yield_create_with_id_base",
    "yield_resume_base", "yield_resume_byte", "validator_stake_base", "validator_total_stake_base",
}  # fmt: skip
PATHS.update({name: f"{_EXT}.{name}" for name in _EXT_NAMES})
_LIMIT_NAMES = {
    "max_gas_burnt", "max_total_prepaid_gas", "max_actions_per_receipt", "max_deploy_actions_per_receipt",
    "max_number_bytes_method_names", "max_length_method_name", "max_arguments_length", "max_transaction_size",
    "max_number_logs", "max_total_log_length", "max_length_returned_data", "max_length_storage_key",
    "max_length_storage_value", "max_register_size", "max_number_registers", "registers_memory_limit",
    "max_promises_per_function_call_action", "max_number_input_data_dependencies", "max_contract_size",
    "max_yield_payload_size", "yield_timeout_length_in_blocks", "initial_memory_pages", "max_memory_pages",
    "max_stack_height", "max_functions_number_per_contract", "max_locals_per_contract",
    "max_tables_per_contract", "max_elements_per_contract_table", "max_function_body_size",
    "max_types_per_contract", "max_params_per_function",
}  # fmt: skip
PATHS.update({name: f"{_LIM}.{name}" for name in _LIMIT_NAMES})
# In nearcore's parameters but not in this snapshot view: max_gas_burnt_view (83.yaml sets it to 1 PGas).
NOT_IN_SNAPSHOT = {"max_gas_burnt_view": 1_000 * 10**12}


def nearcore() -> dict[str, Any]:
    text = FIXTURE.read_text()
    data: dict[str, Any] = json.loads(text[text.index("{") :])
    return data


def lookup(path: str) -> Any:
    node: Any = nearcore()
    for part in path.split("."):
        node = node[part]
    return node


def as_nearcore(value: Any) -> Any:
    """Our value in the snapshot's JSON shape."""
    if isinstance(value, Fee):
        return {"send_sir": value.send_sir, "send_not_sir": value.send_not_sir, "execution": value.execution}
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, int) and value > 2**63:
        return str(value)
    return value


def test_fixture_names_its_source_and_protocol_version() -> None:
    first = FIXTURE.read_text().splitlines()[0]
    assert first.startswith("# source: https://github.com/near/nearcore/blob/")
    assert re.search(r"/blob/[0-9a-f]{40}/", first) and first.rstrip().split("/")[-1].startswith(SOURCE)


def test_every_config_value_is_nearcores() -> None:
    fields = {f.name for f in dataclasses.fields(DEFAULT_CONFIG)}
    assert fields == set(PATHS) | set(NOT_IN_SNAPSHOT), "map every VMConfig field to nearcore's parameter"
    drift = {
        name: (as_nearcore(getattr(DEFAULT_CONFIG, name)), lookup(path))
        for name, path in PATHS.items()
        if as_nearcore(getattr(DEFAULT_CONFIG, name)) != lookup(path)
    }
    assert drift == {}
    assert all(getattr(DEFAULT_CONFIG, k) == v for k, v in NOT_IN_SNAPSHOT.items())


def _fmt(value: Any) -> str:
    if isinstance(value, dict):
        return " / ".join(f"{value[k]:_}" for k in ("send_sir", "send_not_sir", "execution"))
    if isinstance(value, list):
        return "/".join(str(v) for v in value)
    return f"{int(value):_}"


def readme_rows() -> dict[str, tuple[str, str, str]]:
    rows: dict[str, tuple[str, str, str]] = {}
    for line in README.read_text().splitlines():
        m = re.match(r"^\| `([a-z0-9_]+)` \| ([^|]+) \| ([^|]+) \| ([^|]+) \|$", line)
        if m:
            rows[m.group(1)] = (m.group(2).strip(), m.group(3).strip(), m.group(4).strip())
    return rows


def render_rows() -> list[str]:
    """The README's fee table rows (used to write it; the test below keeps it honest)."""
    out = []
    for name, path in PATHS.items():
        if path.startswith(_LIM):
            continue
        ours = _fmt(as_nearcore(getattr(DEFAULT_CONFIG, name)))
        out.append(f"| `{name}` | {_fmt(lookup(path))} | {ours} | `{path}` |")
    return out


def test_readme_fee_table_matches_nearcore_and_the_code() -> None:
    rows = readme_rows()
    fees = {name: path for name, path in PATHS.items() if not path.startswith(_LIM)}
    assert set(rows) == set(fees), "devnet/README.md's fee table must list every fee"
    for name, path in fees.items():
        theirs, ours, where = rows[name]
        assert theirs == _fmt(lookup(path)), name
        assert ours == _fmt(as_nearcore(getattr(DEFAULT_CONFIG, name))), name
        assert where == f"`{path}`", name
    assert SOURCE in README.read_text()
