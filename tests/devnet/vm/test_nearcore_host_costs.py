"""Host functions and charges added to match nearcore (protocol 85): yields with a chosen id, the host
functions the devnet names as not modelled, validator stake, trie-node and per-byte charges. Real
wasm from WAT, run by devnet.vm."""

from __future__ import annotations

import dataclasses

import pytest
import wasmtime

from devnet.vm import DEFAULT_CONFIG, CompiledContract, execute, load_contract
from devnet.vm.testing import MemoryChainState, call_context
from devnet.vm.types import FunctionCall, Outcome

U64_MAX = 2**64 - 1
IMPORTS = """
 (import "env" "value_return" (func $value_return (param i64 i64)))
 (import "env" "storage_read" (func $storage_read (param i64 i64 i64) (result i64)))
 (import "env" "storage_write" (func $storage_write (param i64 i64 i64 i64 i64) (result i64)))
 (import "env" "validator_stake" (func $validator_stake (param i64 i64 i64)))
 (import "env" "validator_total_stake" (func $validator_total_stake (param i64)))
 (import "env" "promise_yield_create_with_id"
   (func $yield_with_id (param i64 i64 i64 i64 i64 i64 i64 i64 i64) (result i64)))
 (import "env" "promise_yield_resume_with_yield_id" (func $resume_with_id (param i64 i64 i64 i64) (result i32)))
"""


def _contract(body: str, extra: str = "") -> CompiledContract:
    src = f'(module {IMPORTS} {extra} (memory 1) (data (i32.const 0) "cb") (data (i32.const 8) "{{}}") {body})'
    return load_contract(bytes(wasmtime.wat2wasm(src)))


def _run(contract: CompiledContract, chain: MemoryChainState | None = None, **ctx: object) -> Outcome:
    return execute(contract, "run", call_context(**ctx), chain or MemoryChainState())


# yield id: 32 bytes at 64 (zeros), deposit: u128 at 32 (5), payload "hi" at 128
YIELD = "(call $yield_with_id (i64.const 2) (i64.const 0) (i64.const 2) (i64.const 8) (i64.const 32)"
YIELD += " (i64.const 10000000000000) (i64.const 0) (i64.const {n}) (i64.const 64))"
RESUME = "(call $resume_with_id (i64.const 32) (i64.const 64) (i64.const 2) (i64.const 128))"
DATA = '(data (i32.const 32) "\\05") (data (i32.const 128) "hi")'


def test_yield_with_a_chosen_id_resumes_by_that_id() -> None:
    create = _contract(
        f"""(func (export "run")
          (i64.store (i32.const 256) {YIELD.format(n=32)})
          (i64.store (i32.const 264) {YIELD.format(n=32)})
          (call $value_return (i64.const 16) (i64.const 256)))""",
        DATA,
    )
    chain = MemoryChainState()
    out = _run(create, chain)
    assert out.error is None and out.return_value is not None
    first, second = int.from_bytes(out.return_value[:8], "little"), int.from_bytes(out.return_value[8:], "little")
    assert (first, second) == (0, U64_MAX)  # the same id again while pending: u64::MAX, nothing created
    (receipt,) = out.receipts
    assert receipt.yield_data_id is not None
    assert receipt.actions == (FunctionCall(method_name="cb", args=b"{}", gas=10 * 10**12, deposit=5),)
    chain.apply(out)
    resume = _contract(
        f"""(func (export "run") (i32.store (i32.const 256) {RESUME})
             (call $value_return (i64.const 4) (i64.const 256)))""",
        DATA,
    )
    out = _run(resume, chain)
    assert out.error is None and out.return_value == (1).to_bytes(4, "little")
    assert [r.data_id for r in out.yield_resumes] == [receipt.yield_data_id]
    assert [r.payload for r in out.yield_resumes] == [b"hi"]


def test_a_yield_id_must_be_32_bytes() -> None:
    c = _contract(f'(func (export "run") (drop {YIELD.format(n=31)}))', DATA)
    out = _run(c)
    assert out.error is not None and out.error.kind == "YieldIdMalformed"


@pytest.mark.parametrize(
    ("name", "signature", "args"),
    [
        ("bls12381_p1_sum", "(param i64 i64 i64) (result i64)", 3),
        ("bls12381_pairing_check", "(param i64 i64) (result i64)", 2),
        ("p256_verify", "(param i64 i64 i64 i64 i64 i64) (result i64)", 6),
        ("alt_bn128_g1_sum", "(param i64 i64 i64)", 3),
        ("promise_batch_action_use_global_contract", "(param i64 i64 i64)", 3),
    ],
)
def test_host_functions_not_modelled_fail_with_a_named_error(name: str, signature: str, args: int) -> None:
    zeros = " ".join(["(i64.const 0)"] * args)
    call = f"(call $f {zeros})" if "result" not in signature else f"(drop (call $f {zeros}))"
    c = _contract(f'(func (export "run") {call})', f'(import "env" "{name}" (func $f {signature}))')
    out = _run(c)
    assert out.error is not None and out.error.kind == "UnsupportedHostFunction"
    assert name in out.error.message and "not modelled" in out.error.message


def test_validator_stake_is_zero_on_a_chain_without_validators() -> None:
    c = _contract(
        """(data (i32.const 300) "bob.test")
        (func (export "run")
          (i64.store (i32.const 400) (i64.const -1)) (i64.store (i32.const 416) (i64.const -1))
          (call $validator_stake (i64.const 8) (i64.const 300) (i64.const 400))
          (call $validator_total_stake (i64.const 416))
          (call $value_return (i64.const 32) (i64.const 400)))"""
    )
    out = _run(c)
    assert out.error is None and out.return_value == bytes(32)


def test_reading_a_stored_value_touches_one_trie_node() -> None:
    c = _contract(
        """(data (i32.const 300) "k")
        (func (export "run") (drop (call $storage_read (i64.const 1) (i64.const 300) (i64.const 0))))"""
    )
    chain = MemoryChainState()
    chain.data[b"k"] = b"value"
    free = dataclasses.replace(DEFAULT_CONFIG, touching_trie_node=0)
    with_ttn = execute(c, "run", call_context(), chain)
    without = execute(c, "run", call_context(), chain, config=free)
    assert with_ttn.gas_burnt - without.gas_burnt == DEFAULT_CONFIG.touching_trie_node == 2_280_000_000


def test_a_value_written_by_the_call_itself_costs_no_trie_node() -> None:
    c = _contract(
        """(data (i32.const 300) "k")
        (func (export "run")
          (drop (call $storage_write (i64.const 1) (i64.const 300) (i64.const 1) (i64.const 300) (i64.const 0)))
          (drop (call $storage_read (i64.const 1) (i64.const 300) (i64.const 0))))"""
    )
    free = dataclasses.replace(DEFAULT_CONFIG, touching_trie_node=0)
    assert _run(c).gas_burnt == execute(c, "run", call_context(), MemoryChainState(), config=free).gas_burnt


def test_returned_data_pays_nearcores_data_receipt_byte_fee_per_receiver() -> None:
    c = _contract('(func (export "run") (call $value_return (i64.const 100) (i64.const 0)))')
    alone = _run(c)
    sent = _run(c, output_data_receivers=("other.test", "c.test"))
    per_byte = (47_683_715 + 17_212_011) + (17_212_011 + 17_212_011)  # to another account, to itself
    assert sent.gas_burnt - alone.gas_burnt == 100 * per_byte


def test_contract_loading_is_charged_per_byte_of_code() -> None:
    c = _contract('(func (export "run"))')
    free = dataclasses.replace(DEFAULT_CONFIG, contract_loading_byte=0)
    diff = _run(c).gas_burnt - execute(c, "run", call_context(), MemoryChainState(), config=free).gas_burnt
    assert diff == 1_089_295 * c.code_size
