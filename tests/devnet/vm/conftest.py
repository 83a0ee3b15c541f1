"""Fixtures for the VM tests: the nearc-built test contract (built once per session, cached on disk by
contract.build), a fresh in-memory chain state per test, and helpers for hand-written WAT contracts."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import wasmtime

from contract.build import build_contract
from devnet.vm import CompiledContract, execute, load_contract
from devnet.vm.testing import MemoryChainState, call_context
from devnet.vm.types import Outcome

TEST_CONTRACT = Path(__file__).resolve().parents[3] / "devnet" / "vm" / "testdata" / "vmtest" / "contract.py"


@pytest.fixture(scope="session")
def vmtest_wasm(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The test contract built by nearc with the patched modnear.c (cached by contract.build)."""
    out = build_contract(TEST_CONTRACT, tmp_path_factory.mktemp("vmtest") / "vmtest.wasm")
    return out.read_bytes()


@pytest.fixture(scope="session")
def vmtest(vmtest_wasm: bytes) -> CompiledContract:
    return load_contract(vmtest_wasm)


@pytest.fixture
def chain() -> MemoryChainState:
    return MemoryChainState()


@pytest.fixture
def call(vmtest: CompiledContract, chain: MemoryChainState) -> Callable[..., Outcome]:
    """call(method, args=None, **ctx_overrides) runs the test contract and commits a successful outcome."""

    def _call(method: str, args: Any = None, **overrides: Any) -> Outcome:
        payload = b"" if args is None else args if isinstance(args, bytes) else json.dumps(args).encode()
        outcome = execute(vmtest, method, call_context(input=payload, **overrides), chain)
        chain.apply(outcome)
        return outcome

    return _call


def _result(outcome: Outcome) -> Any:
    assert outcome.error is None, outcome.error
    assert outcome.return_value is not None
    return json.loads(outcome.return_value)


@pytest.fixture
def result() -> Callable[[Outcome], Any]:
    """result(outcome): the JSON return value of a successful call (fails the test otherwise)."""
    return _result


def _wat(body: str, imports: str = "") -> CompiledContract:
    source = f'(module {imports}\n (memory (export "memory") 1)\n {body})'
    return load_contract(wasmtime.wat2wasm(source))


@pytest.fixture
def wat() -> Callable[..., CompiledContract]:
    """wat(body, imports=""): a hand-written contract with one page of exported memory."""
    return _wat


@pytest.fixture
def run(chain: MemoryChainState) -> Callable[..., Outcome]:
    """run(contract, method="run", **ctx_overrides) executes against `chain` and commits on success."""

    def _run(contract: CompiledContract, method: str = "run", **overrides: Any) -> Outcome:
        outcome = execute(contract, method, call_context(**overrides), chain)
        chain.apply(outcome)
        return outcome

    return _run
