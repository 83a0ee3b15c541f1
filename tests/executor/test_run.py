"""Happy paths with real guests: stdin/stdout, WASI random, env secrets, fuel accounting."""

from __future__ import annotations

import asyncio
import hashlib
import json

import pytest

from executor import ErrorKind, Executor, Limits, default_executor, execute, run_async


def test_rust_json_echo_round_trips_stdin_to_stdout(executor: Executor, guests: dict[str, bytes]) -> None:
    doc = b'{"hello": "world", "n": [1, 2, 3]}'
    result = executor.execute(guests["json_echo"], doc)
    assert result.success, result.error
    assert result.stdout == doc
    assert result.exit_code == 0 and result.error_kind is None
    assert result.instructions > 0
    assert result.time_ms >= 1
    assert result.module_sha256 == hashlib.sha256(guests["json_echo"]).hexdigest()


def test_empty_input_is_an_empty_stdin(executor: Executor, guests: dict[str, bytes]) -> None:
    result = executor.execute(guests["json_echo"], b"")
    assert result.error_kind is ErrorKind.NONZERO_EXIT
    assert result.exit_code == 2
    assert b"empty input" in result.stderr


def test_sha256_guest_matches_hashlib_on_large_input(executor: Executor, guests: dict[str, bytes]) -> None:
    data = bytes(range(256)) * 4096  # 1 MiB through stdin
    result = executor.execute(guests["sha256"], data)
    assert result.success, result.error
    assert result.stdout.decode() == hashlib.sha256(data).hexdigest()


def test_random_range_stays_in_bounds_and_varies(executor: Executor, guests: dict[str, bytes]) -> None:
    values = set()
    for _ in range(40):
        result = executor.execute(guests["random_range"], b'{"min": 10, "max": 14}')
        assert result.success, result.error
        value = json.loads(result.stdout)["value"]
        assert 10 <= value <= 14
        values.add(value)
    assert len(values) > 1  # WASI random_get is wired to real entropy


def test_secrets_become_env_and_reserved_names_are_stripped(executor: Executor, guests: dict[str, bytes]) -> None:
    secret = "s3cr3t-value"
    result = executor.execute(
        guests["secret_env"],
        secrets={"API_KEY": secret, "PATH": "/evil", "OFFSHORE_TOKEN": "x", "BAD-NAME": "y", "LD_PRELOAD": "z"},
    )
    assert result.success, result.error
    report = json.loads(result.stdout)
    fnv = 0xCBF29CE484222325
    for byte in secret.encode():
        fnv = ((fnv ^ byte) * 0x100000001B3) % 2**64
    assert report == {
        "present": True,
        "length": len(secret),
        "fnv1a64": f"{fnv:016x}",
        "env_count": 1,  # only API_KEY made it through
        "can_open_files": False,  # no preopened directories
    }
    assert secret not in repr(result)


def test_no_secrets_means_empty_env(executor: Executor, guests: dict[str, bytes]) -> None:
    report = json.loads(executor.execute(guests["secret_env"]).stdout)
    assert report == {"present": False, "env_count": 0, "can_open_files": False}


def test_prebuilt_wat_module_runs(executor: Executor, guests: dict[str, bytes]) -> None:
    result = executor.execute(guests["hello_wat"])
    assert result.success and result.stdout == b"hello from a prebuilt module\n"


def test_fuel_is_deterministic_and_grows_with_work(executor: Executor, guests: dict[str, bytes]) -> None:
    small = [executor.execute(guests["cpu_bound"], b"hash 1000").instructions for _ in range(3)]
    large = executor.execute(guests["cpu_bound"], b"hash 2000").instructions
    assert len(set(small)) == 1  # same input, same fuel: `offshore verify` relies on it
    assert 1.8 * small[0] < large < 2.2 * small[0]


def test_cpu_bound_sieve_counts_primes(executor: Executor, guests: dict[str, bytes]) -> None:
    result = executor.execute(guests["cpu_bound"], b"sieve 100000")
    assert result.success, result.error
    assert json.loads(result.stdout)["result"] == 9592


async def test_run_async_keeps_the_loop_free(executor: Executor, guests: dict[str, bytes]) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.005)  # poll: the ticker proves the loop stays responsive

    task = asyncio.create_task(ticker())
    result = await executor.run_async(
        guests["infinite_loop"], limits=Limits(max_instructions=10**15, max_execution_seconds=0.5)
    )
    task.cancel()
    assert result.error_kind is ErrorKind.TIMEOUT
    assert ticks > 20  # the loop kept running while the guest spun for half a second


async def test_parallel_runs_are_isolated(executor: Executor, guests: dict[str, bytes]) -> None:
    """A guest hitting a limit does not disturb the others running at the same time."""
    spin = Limits(max_instructions=10**15, max_execution_seconds=0.4)
    results = await asyncio.gather(
        executor.run_async(guests["infinite_loop"], limits=spin),
        executor.run_async(guests["output_flood"]),
        *(executor.run_async(guests["sha256"], b"abc") for _ in range(8)),
    )
    assert results[0].error_kind is ErrorKind.TIMEOUT
    assert results[1].error_kind is ErrorKind.OUTPUT_TOO_LARGE
    digest = hashlib.sha256(b"abc").hexdigest().encode()
    assert all(r.success and r.stdout == digest for r in results[2:])


async def test_module_level_helpers_use_the_default_executor(guests: dict[str, bytes]) -> None:
    assert execute(guests["json_echo"], b"[1]").stdout == b"[1]"
    assert (await run_async(guests["json_echo"], b"[2]")).stdout == b"[2]"
    assert default_executor() is default_executor()


def test_limits_from_request_mapping() -> None:
    defaults = Limits(max_instructions=5, max_memory_mb=6, max_execution_seconds=7)
    limits = Limits.from_mapping({"max_memory_mb": 32}, defaults=defaults)
    assert limits == Limits(max_instructions=5, max_memory_mb=32, max_execution_seconds=7)
    with pytest.raises(ValueError):
        Limits(max_instructions=0)
