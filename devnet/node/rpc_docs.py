"""The configuration documents nearcore serves over JSON-RPC, filled with what the devnet actually models.

`EXPERIMENTAL_protocol_config` (near-api-js 7 reads `runtime_config.storage_amount_per_byte` from it
for `Account.getState/getBalance`), `genesis_config`, `client_config`, `network_info`, `validators`.
Field names follow nearcore's views (checked against near-jsonrpc-client's models in the tests); a
value the devnet does not model (staking, epochs, peers) is the neutral one for a single producer
that never changes epoch, never a made-up measurement.
"""

from __future__ import annotations

import datetime
from typing import Any

from devnet.node.chain import Node
from devnet.node.model import STORAGE_BYTE_COST, Block

EPOCH_LENGTH = 43_200  # mainnet's; the devnet never changes epoch (one producer, no staking)
GAS_LIMIT = 1_000_000_000_000_000  # per chunk, as in nearcore's genesis


def iso_time(ns: int) -> str:
    dt = datetime.datetime.fromtimestamp(ns / 1e9, tz=datetime.UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%f") + f"{ns % 1000:03d}Z"


def _common(node: Node, protocol_version: int) -> dict[str, Any]:
    cfg = node.config
    genesis = node.blocks[node.genesis_height]
    return {
        "chain_id": cfg.chain_id,
        "genesis_height": node.genesis_height,
        "genesis_time": iso_time(genesis.timestamp_ns),
        "protocol_version": protocol_version,
        "epoch_length": EPOCH_LENGTH,
        "gas_limit": GAS_LIMIT,
        "min_gas_price": str(cfg.gas_price),
        "max_gas_price": str(cfg.gas_price),  # constant gas price: the devnet has no congestion pricing
        "gas_price_adjustment_rate": [0, 1],
        "transaction_validity_period": cfg.tx_validity_blocks,
        "block_producer_kickout_threshold": 0,
        "chunk_producer_kickout_threshold": 0,
        "chunk_validator_only_kickout_threshold": 0,
        "dynamic_resharding": False,
        "fishermen_threshold": "0",
        "max_inflation_rate": [0, 1],
        "protocol_reward_rate": [0, 1],
        "protocol_treasury_account": cfg.root_account_id,
        "num_block_producer_seats": 1,
        "num_blocks_per_year": 31_536_000,
        "online_max_threshold": [99, 100],
        "online_min_threshold": [9, 10],
        "protocol_upgrade_stake_threshold": [4, 5],
        "minimum_stake_divisor": 10,
        "minimum_stake_ratio": [1, 6250],
        "minimum_validators_per_shard": 1,
        "max_kickout_stake_perc": 0,
        "shuffle_shard_assignment_for_chunk_producers": False,
        "target_validator_mandates_per_shard": 1,
        "shard_layout": {
            "V2": {
                "boundary_accounts": [],
                "id_to_index_map": {"0": 0},
                "index_to_id_map": {"0": 0},
                "shard_ids": [0],
                "version": 0,
            }
        },
    }


def protocol_config(node: Node, protocol_version: int) -> dict[str, Any]:
    """RpcProtocolConfigResponse: genesis parameters plus the runtime config the devnet enforces."""
    cfg = node.config
    return {
        **_common(node, protocol_version),
        "runtime_config": {
            "storage_amount_per_byte": str(STORAGE_BYTE_COST),
            "account_creation_config": {
                # only the registrar creates top-level accounts (no length-based exception)
                "min_allowed_top_level_account_length": 65,
                "registrar_account_id": cfg.root_account_id,
            },
            "wasm_config": {
                "limit_config": {
                    "max_gas_burnt": cfg.max_prepaid_gas,
                    "max_total_prepaid_gas": cfg.max_prepaid_gas,
                    "max_yield_payload_size": 1024,
                    "yield_timeout_length_in_blocks": cfg.yield_timeout_blocks,
                }
            },
        },
    }


def genesis_config(node: Node, protocol_version: int, validator_key: str) -> dict[str, Any]:
    genesis: Block = node.blocks[node.genesis_height]
    return {
        **_common(node, protocol_version),
        "total_supply": str(genesis.total_supply),
        "validators": [{"account_id": node.config.root_account_id, "public_key": validator_key, "amount": "0"}],
        "num_chunk_producer_seats": 1,
        "num_chunk_validator_seats": 1,
        "chunk_producer_assignment_changes_limit": 0,
        "use_production_config": False,
    }


def client_config(node: Node, rpc_addr: str, version: dict[str, str]) -> dict[str, Any]:
    """RpcClientConfigResponse: the knobs of this node that a client can observe."""
    cfg = node.config
    return {
        "chain_id": cfg.chain_id,
        "version": version,
        "rpc_addr": rpc_addr,
        "archive": False,
        "epoch_length": EPOCH_LENGTH,
        "num_block_producer_seats": 1,
        "produce_empty_blocks": True,
        "max_gas_burnt_view": 300 * 10**12,
        "save_state_changes": True,
        "save_tx_outcomes": True,
        "tracked_shards_config": "AllShards",
    }


def network_info() -> dict[str, Any]:
    """A single node: no peers."""
    return {
        "active_peers": [],
        "num_active_peers": 0,
        "peer_max_count": 0,
        "sent_bytes_per_sec": 0,
        "received_bytes_per_sec": 0,
        "known_producers": [],
    }


def validators(node: Node, validator_key: str) -> dict[str, Any]:
    """RpcValidatorResponse: the one producer, credited with every block since genesis."""
    assert node.head is not None
    produced = len(node.blocks)
    root = node.config.root_account_id
    return {
        "current_validators": [
            {
                "account_id": root,
                "public_key": validator_key,
                "is_slashed": False,
                "stake": "0",
                "shards": [0],
                "num_produced_blocks": produced,
                "num_expected_blocks": produced,
                "num_produced_chunks": produced,
                "num_expected_chunks": produced,
            }
        ],
        "next_validators": [{"account_id": root, "public_key": validator_key, "stake": "0", "shards": [0]}],
        "current_fishermen": [],
        "next_fishermen": [],
        "current_proposals": [],
        "prev_epoch_kickout": [],
        "epoch_start_height": node.genesis_height,
        "epoch_height": 1,
    }


def validators_ordered(node: Node, validator_key: str) -> list[dict[str, Any]]:
    """EXPERIMENTAL_validators_ordered: ValidatorStakeView list (V1 shape, untagged as nearcore)."""
    return [
        {
            "validator_stake_struct_version": "V1",
            "account_id": node.config.root_account_id,
            "public_key": validator_key,
            "stake": "0",
        }
    ]
