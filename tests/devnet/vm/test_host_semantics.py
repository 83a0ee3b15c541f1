"""nearcore's exact host-function semantics, checked with hand-written WAT contracts (real wasm, real
wasmtime): one module per behaviour, so each test shows the guest's side of the ABI."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable

import pytest
import wasmtime

from devnet.vm import DEFAULT_CONFIG, CompiledContract, ContractLoadError, execute, load_contract
from devnet.vm.testing import MemoryChainState, call_context
from devnet.vm.types import Outcome

Wat = Callable[..., CompiledContract]
Run = Callable[..., Outcome]
U64_MAX = 2**64 - 1

IMPORTS = """
 (import "env" "register_len" (func $register_len (param i64) (result i64)))
 (import "env" "read_register" (func $read_register (param i64 i64)))
 (import "env" "write_register" (func $write_register (param i64 i64 i64)))
 (import "env" "storage_write" (func $storage_write (param i64 i64 i64 i64 i64) (result i64)))
 (import "env" "value_return" (func $value_return (param i64 i64)))
 (import "env" "account_balance" (func $account_balance (param i64)))
 (import "env" "log_utf8" (func $log_utf8 (param i64 i64)))
 (import "env" "log_utf16" (func $log_utf16 (param i64 i64)))
 (import "env" "block_index" (func $block_index (result i64)))
 (import "env" "promise_batch_create" (func $promise_batch_create (param i64 i64) (result i64)))
 (import "env" "promise_and" (func $promise_and (param i64 i64) (result i64)))
 (import "env" "promise_return" (func $promise_return (param i64)))
 (import "env" "promise_batch_action_transfer" (func $transfer (param i64 i64)))
 (import "env" "promise_result" (func $promise_result (param i64 i64) (result i64)))
 (import "env" "abort" (func $abort (param i32 i32 i32 i32)))
 (import "env" "storage_usage" (func $storage_usage (result i64)))
 (import "env" "storage_remove" (func $storage_remove (param i64 i64 i64) (result i64)))
"""


def _contract(wat: Wat, body: str) -> CompiledContract:
    return wat(body, IMPORTS)


def test_register_len_of_an_unused_register_is_u64_max(wat: Wat, run: Run) -> None:
    c = _contract(
        wat,
        """(func (export "run")
             (i64.store (i32.const 0) (call $register_len (i64.const 9)))
             (call $value_return (i64.const 8) (i64.const 0)))""",
    )
    out = run(c)
    assert int.from_bytes(out.return_value or b"", "little") == U64_MAX


def test_read_register_copies_and_unset_register_fails(wat: Wat, run: Run) -> None:
    c = _contract(
        wat,
        """(data (i32.const 100) "hello")
           (func (export "run")
             (call $write_register (i64.const 4) (i64.const 5) (i64.const 100))
             (call $read_register (i64.const 4) (i64.const 200))
             (call $value_return (i64.const 5) (i64.const 200)))
           (func (export "unset") (call $read_register (i64.const 5) (i64.const 0)))""",
    )
    assert run(c).return_value == b"hello"
    out = run(c, "unset")
    assert out.error is not None and out.error.kind == "InvalidRegisterId"


def test_length_u64_max_reads_from_the_register_named_by_ptr(wat: Wat, run: Run) -> None:
    c = _contract(
        wat,
        """(data (i32.const 100) "from-register")
           (func (export "run")
             (call $write_register (i64.const 1) (i64.const 13) (i64.const 100))
             (call $value_return (i64.const -1) (i64.const 1)))""",
    )
    assert run(c).return_value == b"from-register"


def test_storage_write_returns_1_and_the_evicted_value_in_the_register(
    wat: Wat, run: Run, chain: MemoryChainState
) -> None:
    c = _contract(
        wat,
        """(data (i32.const 100) "knew")
           (func (export "run")
             (i64.store (i32.const 0)
               (call $storage_write (i64.const 1) (i64.const 100) (i64.const 3) (i64.const 101) (i64.const 3)))
             (i64.store (i32.const 8) (call $register_len (i64.const 3)))
             (call $value_return (i64.const 16) (i64.const 0)))
           (func (export "evicted")
             (call $read_register (i64.const 3) (i64.const 0))
             (call $value_return (i64.const 3) (i64.const 0)))""",
    )
    first = run(c)
    raw = first.return_value or b""
    assert int.from_bytes(raw[:8], "little") == 0  # new key
    assert int.from_bytes(raw[8:], "little") == U64_MAX  # register untouched
    assert chain.data == {b"k": b"new"}
    chain.data[b"k"] = b"old"
    second = run(c)
    raw = second.return_value or b""
    assert int.from_bytes(raw[:8], "little") == 1
    assert int.from_bytes(raw[8:], "little") == 3
    both = _contract(
        wat,
        """(data (i32.const 100) "knew")
           (func (export "run")
             (drop (call $storage_write (i64.const 1) (i64.const 100) (i64.const 3) (i64.const 101) (i64.const 3)))
             (call $read_register (i64.const 3) (i64.const 0))
             (call $value_return (i64.const 3) (i64.const 0)))""",
    )
    chain.data[b"k"] = b"old"
    assert run(both).return_value == b"old"


def test_storage_usage_follows_writes_and_removes(wat: Wat, run: Run, chain: MemoryChainState) -> None:
    c = _contract(
        wat,
        """(data (i32.const 100) "keyvalue")
           (func (export "run")
             (i64.store (i32.const 0) (call $storage_usage))
             (drop (call $storage_write (i64.const 3) (i64.const 100) (i64.const 5) (i64.const 103) (i64.const 0)))
             (i64.store (i32.const 8) (call $storage_usage))
             (drop (call $storage_remove (i64.const 3) (i64.const 100) (i64.const 0)))
             (i64.store (i32.const 16) (call $storage_usage))
             (call $value_return (i64.const 24) (i64.const 0)))""",
    )
    raw = run(c, storage_usage=1_000).return_value or b""
    usage = [int.from_bytes(raw[i : i + 8], "little") for i in (0, 8, 16)]
    assert usage == [1_000, 1_000 + 3 + 5 + 40, 1_000]  # key + value + 40 bytes per record, as nearcore
    assert chain.data == {}


def test_balances_are_u128_little_endian(wat: Wat, run: Run) -> None:
    c = _contract(
        wat,
        """(func (export "run")
             (call $account_balance (i64.const 32))
             (call $value_return (i64.const 16) (i64.const 32)))""",
    )
    balance = 2**100 + 12345
    assert run(c, account_balance=balance).return_value == balance.to_bytes(16, "little")


def test_memory_outside_the_guest_is_a_memory_access_violation(wat: Wat, run: Run) -> None:
    c = _contract(wat, """(func (export "run") (call $value_return (i64.const 10) (i64.const 67108860)))""")
    out = run(c)
    assert out.error is not None and out.error.kind == "MemoryAccessViolation"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("unreachable", "unreachable"),
        ("(drop (i32.load (i32.const -1)))", "memory_out_of_bounds"),
        ("(drop (i32.div_u (i32.const 1) (i32.const 0)))", "integer_division_by_zero"),
        ("(call $rec)", "stack_overflow"),
    ],
)
def test_wasm_traps_fail_the_call_and_roll_back(
    wat: Wat, run: Run, chain: MemoryChainState, body: str, code: str
) -> None:
    c = _contract(
        wat,
        f"""(data (i32.const 100) "kv")
            (data (i32.const 110) "a.test")
            (func $rec (call $rec))
            (func (export "run")
              (drop (call $storage_write (i64.const 1) (i64.const 100) (i64.const 1) (i64.const 101) (i64.const 0)))
              (drop (call $promise_batch_create (i64.const 6) (i64.const 110)))
              {body})""",
    )
    out = run(c)
    assert out.error is not None and out.error.kind == "WasmTrap"
    assert out.error.message.startswith(code)
    assert out.storage_writes == {} and out.receipts == ()
    assert chain.data == {}


def test_logs_nul_terminated_utf8_and_utf16(wat: Wat, run: Run) -> None:
    c = _contract(
        wat,
        """(data (i32.const 100) "hi\\00")
           (data (i32.const 120) "o\\00k\\00")
           (data (i32.const 140) "\\ff")
           (func (export "run")
             (call $log_utf8 (i64.const -1) (i64.const 100))
             (call $log_utf16 (i64.const 4) (i64.const 120)))
           (func (export "bad") (call $log_utf8 (i64.const 1) (i64.const 140)))""",
    )
    assert run(c).logs == ("hi", "ok")
    out = run(c, "bad")
    assert out.error is not None and out.error.kind == "BadUTF8"


def test_abort_logs_and_panics(wat: Wat, run: Run) -> None:
    # AssemblyScript strings: a u32 byte length right before the UTF-16 data
    c = _contract(
        wat,
        """(data (i32.const 100) "\\04\\00\\00\\00n\\00o\\00")
           (data (i32.const 200) "\\02\\00\\00\\00f\\00")
           (func (export "run") (call $abort (i32.const 104) (i32.const 204) (i32.const 3) (i32.const 9)))""",
    )
    out = run(c)
    assert out.error is not None and out.error.kind == "GuestPanic"
    assert out.error.message == 'no, filename: "f" line: 3 col: 9'
    assert out.logs == ('ABORT: no, filename: "f" line: 3 col: 9',)


def test_joint_promises_cannot_take_actions_or_be_returned(wat: Wat, run: Run) -> None:
    c = _contract(
        wat,
        """(data (i32.const 100) "a.test")
           (func $join (result i64)
             (i64.store (i32.const 0) (call $promise_batch_create (i64.const 6) (i64.const 100)))
             (i64.store (i32.const 8) (call $promise_batch_create (i64.const 6) (i64.const 100)))
             (call $promise_and (i64.const 0) (i64.const 2)))
           (func (export "act") (call $transfer (call $join) (i64.const 200)))
           (func (export "ret") (call $promise_return (call $join)))
           (func (export "bad_index") (call $promise_return (i64.const 5)))""",
    )
    assert (run(c, "act").error or pytest.fail()).kind == "CannotAppendActionToJointPromise"
    assert (run(c, "ret").error or pytest.fail()).kind == "CannotReturnJointPromise"
    assert (run(c, "bad_index").error or pytest.fail()).kind == "InvalidPromiseIndex"


def test_invalid_account_id_and_promise_result_index(wat: Wat, run: Run) -> None:
    c = _contract(
        wat,
        """(data (i32.const 100) "Not Valid!")
           (func (export "account") (drop (call $promise_batch_create (i64.const 10) (i64.const 100))))
           (func (export "result") (drop (call $promise_result (i64.const 0) (i64.const 0))))""",
    )
    assert (run(c, "account").error or pytest.fail()).kind == "InvalidAccountId"
    assert (run(c, "result").error or pytest.fail()).kind == "InvalidPromiseResultIndex"


def test_limits_from_config(wat: Wat) -> None:
    c = _contract(
        wat,
        """(data (i32.const 100) "a.test")
           (func (export "ret") (call $value_return (i64.const 100) (i64.const 0)))
           (func (export "promises")
             (drop (call $promise_batch_create (i64.const 6) (i64.const 100)))
             (drop (call $promise_batch_create (i64.const 6) (i64.const 100))))""",
    )
    config = dataclasses.replace(DEFAULT_CONFIG, max_length_returned_data=99, max_promises_per_function_call_action=1)
    ret = execute(c, "ret", call_context(), MemoryChainState(), config=config)
    assert (ret.error or pytest.fail()).kind == "ReturnedValueLengthExceeded"
    promises = execute(c, "promises", call_context(), MemoryChainState(), config=config)
    assert (promises.error or pytest.fail()).kind == "NumberPromisesExceeded"


def test_every_host_call_costs_gas(wat: Wat, run: Run) -> None:
    c = _contract(
        wat,
        """(func (export "empty"))
           (func (export "run") (local $i i32)
             (loop $l
               (drop (call $block_index))
               (local.set $i (i32.add (local.get $i) (i32.const 1)))
               (br_if $l (i32.lt_u (local.get $i) (i32.const 1000)))))""",
    )
    empty, busy = run(c, "empty"), run(c)
    loading = DEFAULT_CONFIG.contract_loading_base + DEFAULT_CONFIG.contract_loading_byte * c.code_size
    assert loading < empty.gas_burnt < loading + 10 * DEFAULT_CONFIG.regular_op_cost
    assert (empty.gas_burnt - loading) % DEFAULT_CONFIG.regular_op_cost == 0  # fuel x regular_op_cost
    assert busy.gas_burnt - empty.gas_burnt > 1000 * DEFAULT_CONFIG.base


def test_unknown_and_empty_method_names(wat: Wat, run: Run) -> None:
    c = _contract(wat, """(func (export "run"))""")
    assert (run(c, "nope").error or pytest.fail()).kind == "MethodNotFound"
    assert (run(c, "").error or pytest.fail()).kind == "MethodEmptyName"


def test_load_contract_is_cached_by_code_hash(wat: Wat) -> None:
    a = _contract(wat, """(func (export "run"))""")
    b = _contract(wat, """(func (export "run"))""")
    assert a is b
    assert a.methods == frozenset({"run"})


@pytest.mark.parametrize(
    ("module", "problem"),
    [
        ('(module (import "env" "no_such_fn" (func)) (memory (export "memory") 1))', "env.no_such_fn"),
        ('(module (import "wasi" "fd_write" (func)) (memory (export "memory") 1))', "wasi.fd_write"),
        (
            '(module (import "env" "block_index" (func (result i32))) (memory (export "memory") 1))',
            "wrong type",
        ),
        ('(module (import "env" "memory" (memory 1)) (func (export "run")))', "Memory"),
    ],
)
def test_load_contract_rejects_what_the_near_host_cannot_run(module: str, problem: str) -> None:
    with pytest.raises(ContractLoadError, match=problem):
        load_contract(wasmtime.wat2wasm(module))


def test_load_contract_rejects_bytes_that_are_not_wasm() -> None:
    with pytest.raises(ContractLoadError, match="Deserialization"):
        load_contract(b"definitely not wasm")


def test_concurrent_calls_from_threads_keep_their_own_state(wat: Wat) -> None:
    echo = wat(
        """(func (export "run") (call $input (i64.const 0)) (call $value_return (i64.const -1) (i64.const 0)))""",
        '(import "env" "input" (func $input (param i64)))'
        ' (import "env" "value_return" (func $value_return (param i64 i64)))',
    )
    results: dict[int, list[bytes | None]] = {}

    def worker(n: int) -> None:
        results[n] = [
            execute(echo, "run", call_context(input=f"{n}-{i}".encode()), MemoryChainState()).return_value
            for i in range(25)
        ]

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert results == {n: [f"{n}-{i}".encode() for i in range(25)] for n in range(4)}
