"""The offshore NEAR contract: build tooling, the paths of its sources and WASM, and pricing mirrors.

`build_contract(source, out)` builds any near-sdk-py contract with nearc 0.8.8 (patched for
yield/resume); `build_offshore()` builds ours into `OFFSHORE_WASM` (what `make contract` does).
"""

from pathlib import Path as _Path

from contract.build import build_contract, toolchain_hash
from contract.errors import ContractBuildError, ContractPackageError
from contract.pricing import (
    MAX_EXECUTION_SECONDS,
    MAX_INSTRUCTIONS,
    MAX_MEMORY_MB,
    Pricing,
    charge,
    cost,
    estimate,
    http_kb,
)

_HERE = _Path(__file__).resolve().parent
OFFSHORE_SOURCE = _HERE / "src" / "offshore" / "contract.py"
OFFSHORE_WASM = _HERE / "res" / "offshore.wasm"
CLIENT_SOURCE = _HERE / "src" / "client" / "client.py"
EVENT_STANDARD = "near-offshore"
EVENT_VERSION = "1.1.0"


def build_offshore(out: _Path = OFFSHORE_WASM) -> _Path:
    """Builds (or takes from the cache) the offshore contract WASM."""
    return build_contract(OFFSHORE_SOURCE, out)


__all__ = [
    "CLIENT_SOURCE",
    "EVENT_STANDARD",
    "EVENT_VERSION",
    "MAX_EXECUTION_SECONDS",
    "MAX_INSTRUCTIONS",
    "MAX_MEMORY_MB",
    "OFFSHORE_SOURCE",
    "OFFSHORE_WASM",
    "ContractBuildError",
    "ContractPackageError",
    "Pricing",
    "build_contract",
    "build_offshore",
    "charge",
    "cost",
    "estimate",
    "http_kb",
    "toolchain_hash",
]
