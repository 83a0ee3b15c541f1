"""Fixtures for the contract tests: the offshore and client WASM, built once per session by nearc
(cached on disk by contract.build, so a warm run costs a file copy), and the VM harness."""

from __future__ import annotations

import pytest

from contract import CLIENT_SOURCE, OFFSHORE_SOURCE, build_contract
from contract.testing import Offshore
from devnet.vm import CompiledContract, load_contract


@pytest.fixture(scope="session")
def offshore_wasm(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return build_contract(OFFSHORE_SOURCE, tmp_path_factory.mktemp("offshore") / "offshore.wasm").read_bytes()


@pytest.fixture(scope="session")
def client_wasm(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return build_contract(CLIENT_SOURCE, tmp_path_factory.mktemp("client") / "client.wasm").read_bytes()


@pytest.fixture(scope="session")
def offshore_code(offshore_wasm: bytes) -> CompiledContract:
    return load_contract(offshore_wasm)


@pytest.fixture
def offshore(offshore_code: CompiledContract) -> Offshore:
    """A freshly deployed and initialised offshore contract."""
    harness = Offshore(offshore_code)
    harness.init()
    return harness
