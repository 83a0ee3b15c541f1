"""Settings of a devnet. Keyword-only and frozen: the CLI and `OFFSHORE_DEVNET_*` settings map onto it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

NEAR = 10**24
TGAS = 10**12


@dataclass(frozen=True, kw_only=True)
class GenesisAccount:
    """An account present from block 1. Without `secret_key` a key is loaded from the credentials
    directory if one is there, otherwise generated (and written there)."""

    account_id: str
    balance: int = 1_000 * NEAR
    secret_key: str | None = None  # "ed25519:<base58>" (32-byte seed or near-cli's 64 bytes)


@dataclass(frozen=True, kw_only=True)
class ContractDeployment:
    """A contract deployed at genesis: `wasm_path` goes to `account_id` (created under the root
    account if missing). With `init_method`, a real transaction signed by the account calls it
    once the chain runs (skipped when the chain is restored from its state file)."""

    account_id: str
    wasm_path: Path
    init_method: str | None = None
    init_args: bytes = b"{}"
    init_gas: int = 300 * TGAS
    balance: int = 100 * NEAR


@dataclass(frozen=True, kw_only=True)
class DevnetConfig:
    host: str = "127.0.0.1"
    port: int = 3030  # NEAR localnet's RPC port; 0 = any free port
    chain_id: str = "localnet"
    block_interval_s: float = 1.0  # 0 = no timer: blocks only via `Devnet.produce_block()`
    yield_timeout_blocks: int = 200  # nearcore's yield timeout
    tx_validity_blocks: int = 86_400  # how old a transaction's block_hash may be (mainnet's value)
    tx_wait_timeout_s: float = 10.0  # broadcast_tx_commit / send_tx give up with TIMEOUT_ERROR after this
    gas_price: int = 100_000_000  # yoctoNEAR per gas (NEAR's minimum gas price)
    max_prepaid_gas: int = 1_000 * TGAS  # total over a transaction's actions (nearcore since protocol 83)
    root_account_id: str = "test.near"  # registrar: may create top-level accounts
    root_balance: int = 1_000_000_000 * NEAR
    genesis_accounts: tuple[GenesisAccount, ...] = ()
    deploy: tuple[ContractDeployment, ...] = ()
    credentials_dir: Path | None = None  # near-cli layout: <dir>/<chain_id>/<account>.json
    state_file: Path | None = None  # SQLite file; when set the chain survives restarts
    genesis_time_ns: int | None = None  # None = wall clock at genesis
    # Fault injection (tests). Each RPC request independently:
    rpc_error_rate: float = 0.0  # answered with INTERNAL_ERROR before it is processed
    rpc_lost_response_rate: float = 0.0  # processed, then answered with INTERNAL_ERROR (response lost)
    rpc_latency_s: float = 0.0  # added before answering
    block_api_error_rate: float = 0.0  # /v0/ answers HTTP 500
    block_api_latency_s: float = 0.0
    skip_heights: frozenset[int] = field(default_factory=frozenset)  # heights with no block
    fault_seed: int | None = None  # seed for the fault dice (None = random)
    # Finality and history (devnet-rpc). NEAR's final block lags the head by 2 (doomslug finality):
    final_lag_blocks: int = 2  # `finality: final`, neardata's /v0/block and /last_block/final lag by this
    history_blocks: int = 256  # queries answer from older blocks' state this far back (then GC error)
