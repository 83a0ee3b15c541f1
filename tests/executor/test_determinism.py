"""Deterministic execution (issue 15): what a guest observes is a function of recorded data.

Real guests built from executor/guests (dice, clock, random_range) on the real wasmtime engine; the
seed comes from a real ed25519 randomness proof as on the platform.
"""

from __future__ import annotations

import json

import wasmtime
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from executor import Determinism, ErrorKind, Executor, Limits
from executor import randomness as rnd
from executor._determinism import keystream

CONTRACT = "offshore.test.near"
KEY = rnd.private_key("11" * 32)
BLOCK_TIME_NS = 1_764_400_000_123_456_789
DATA_ID = "ab" * 32


def _det(request_id: str, data_id: str = DATA_ID, time_ns: int = BLOCK_TIME_NS) -> Determinism:
    proof = rnd.sign(KEY, CONTRACT, request_id, data_id)
    return Determinism(seed=rnd.seed(proof), time_ns=time_ns)


def _dice(rolls: list[int]) -> bytes:
    return ("{" + '"dice": [' + ", ".join(map(str, rolls)) + "]}").encode()


def test_same_request_rolls_the_same_dice_and_spends_the_same_fuel(
    executor: Executor, guests: dict[str, bytes]
) -> None:
    a = executor.execute(guests["dice"], b"20", determinism=_det("7"))
    b = executor.execute(guests["dice"], b"20", determinism=_det("7"))
    assert a.success, a.error
    assert a.stdout == b.stdout and a.instructions == b.instructions
    assert a.engine_id == b.engine_id and a.engine_id.startswith("wasmtime-")


def test_random_get_is_the_chacha20_stream_of_the_seed(executor: Executor, guests: dict[str, bytes]) -> None:
    """A third party can recompute every random byte from the proof alone."""
    det = _det("8")
    expected, stream = [], iter(keystream(det.seed, 4096))
    while len(expected) < 20:
        byte = next(stream)
        if byte < 252:
            expected.append(1 + byte % 6)
    result = executor.execute(guests["dice"], b"20", determinism=det)
    assert result.stdout == _dice(expected)


def test_two_requests_roll_independent_dice(executor: Executor, guests: dict[str, bytes]) -> None:
    rolls = {executor.execute(guests["dice"], b"20", determinism=_det(str(rid))).stdout for rid in range(1, 6)}
    assert len(rolls) == 5  # 20 dice: equal by chance with probability 6**-20
    other_data = executor.execute(guests["dice"], b"20", determinism=_det("1", data_id="cd" * 32)).stdout
    assert other_data not in rolls


def test_clocks_start_at_the_block_time_and_sleeps_advance_them_without_blocking(
    executor: Executor, guests: dict[str, bytes]
) -> None:
    det = _det("9")
    limits = Limits(max_execution_seconds=5)  # a real hour-long sleep would time out
    first = executor.execute(guests["clock"], determinism=det, limits=limits)
    second = executor.execute(guests["clock"], determinism=det, limits=limits)
    assert first.success, first.error
    out = json.loads(first.stdout)
    assert out["start_s"] == BLOCK_TIME_NS // 10**9 and out["start_ns"] == BLOCK_TIME_NS % 10**9
    assert out["rc"] == 0 and out["slept_ns"] >= 3600 * 10**9
    assert out["end_s"] >= out["start_s"] + 3600
    assert first.stdout == second.stdout and first.instructions == second.instructions
    later = executor.execute(guests["clock"], determinism=_det("9", time_ns=BLOCK_TIME_NS + 10**12))
    assert json.loads(later.stdout)["start_s"] == out["start_s"] + 1000


def test_unseeded_runs_still_draw_fresh_randomness(executor: Executor, guests: dict[str, bytes]) -> None:
    """Library use without a recorded seed: a random seed per run (nothing claims reproducibility)."""
    values = {executor.execute(guests["dice"], b"20").stdout for _ in range(3)}
    assert len(values) == 3


def test_nan_bits_are_canonical(executor: Executor) -> None:
    """0/0 is 0xFFC00000 on x86 without canonicalisation; the engine must produce the canonical NaN."""
    wat = """
    (module
      (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (func (export "_start")
        (i32.store (i32.const 0) (i32.reinterpret_f32 (f32.div (f32.const 0) (f32.const 0))))
        (i64.store (i32.const 8) (i64.reinterpret_f64 (f64.div (f64.const 0) (f64.const 0))))
        (i32.store (i32.const 16) (i32.const 0))
        (i32.store (i32.const 20) (i32.const 16))
        (drop (call $w (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 24)))))
    """
    result = executor.execute(bytes(wasmtime.wat2wasm(wat)))
    assert result.success, result.error
    assert result.stdout[:4] == b"\x00\x00\xc0\x7f"
    assert result.stdout[8:16] == b"\x00\x00\x00\x00\x00\x00\xf8\x7f"


def test_bad_pointers_get_efault_not_a_host_crash(executor: Executor) -> None:
    wat = """
    (module
      (import "wasi_snapshot_preview1" "random_get" (func $r (param i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
      (memory (export "memory") 1)
      (func (export "_start") (call $exit (call $r (i32.const 65530) (i32.const 100)))))
    """
    result = executor.execute(bytes(wasmtime.wat2wasm(wat)))
    assert result.error_kind is ErrorKind.NONZERO_EXIT and result.exit_code == 21  # EFAULT


def test_the_seed_proof_fails_for_any_other_key() -> None:
    proof = rnd.sign(KEY, CONTRACT, "7", DATA_ID)
    public = rnd.public_key_hex(KEY)
    assert rnd.check(public, proof, CONTRACT, "7", DATA_ID)
    other = Ed25519PrivateKey.generate()
    other_public = rnd.public_key_hex(other)
    assert not rnd.check(other_public, proof, CONTRACT, "7", DATA_ID)
    forged = rnd.sign(other, CONTRACT, "7", DATA_ID)
    assert not rnd.check(public, forged, CONTRACT, "7", DATA_ID)
    assert not rnd.check(public, proof, CONTRACT, "8", DATA_ID)  # bound to the request
    assert not rnd.check(public, proof, CONTRACT, "7", "cd" * 32)  # and to its yield
    assert rnd.sign(KEY, CONTRACT, "7", DATA_ID) == proof  # ed25519 is deterministic: no re-roll


def test_an_output_flood_stops_at_the_same_instruction_every_time(executor: Executor, guests: dict[str, bytes]) -> None:
    """The overflowing write traps at once: the fuel does not depend on when an epoch tick comes."""
    runs = [executor.execute(guests["output_flood"], determinism=_det("10")) for _ in range(3)]
    assert {r.error_kind for r in runs} == {ErrorKind.OUTPUT_TOO_LARGE}
    assert len({r.instructions for r in runs}) == 1 and runs[0].instructions > 0
    assert len({r.stdout for r in runs}) == 1


def test_writes_to_other_fds_fail_cleanly(executor: Executor) -> None:
    wat = """
    (module
      (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
      (memory (export "memory") 1)
      (func (export "_start")
        (i32.store (i32.const 0) (i32.const 16))
        (i32.store (i32.const 4) (i32.const 4))
        (call $exit (call $w (i32.const 7) (i32.const 0) (i32.const 1) (i32.const 8)))))
    """
    result = executor.execute(bytes(wasmtime.wat2wasm(wat)))
    assert result.error_kind is ErrorKind.NONZERO_EXIT and result.exit_code == 8  # EBADF
