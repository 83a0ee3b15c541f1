"""Network presets: one setting (`OFFSHORE_NETWORK`) picks the RPC, block API, yield timeout and block time.

A preset only fills what is not set explicitly, so `OFFSHORE_NETWORK=mainnet` plus
`OFFSHORE_NEAR_RPC_URL=https://my-provider` uses the provider and mainnet's other values. The
production URLs are documented here and in docs/runbook.md; no test ever contacts them.

Sources: the yield timeout is nearcore's `yield_timeout_length_in_blocks` (200 on every network);
the block times are NEAR's published ~0.6 s since the 2025 block-time reduction (measure your own:
`offshore network status` prints the current height); `rpc.*.near.org` is rate-limited and
deprecated for production, hence FastNear's RPC; the block API is FastNear's neardata.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Network:
    name: str
    rpc_url: str
    block_api_url: str
    yield_timeout_blocks: int
    block_time_s: float

    def settings(self) -> dict[str, Any]:
        """The Settings fields this preset provides."""
        return {
            "near_rpc_url": self.rpc_url,
            "block_api_url": self.block_api_url,
            "yield_timeout_blocks": self.yield_timeout_blocks,
            "block_time_s": self.block_time_s,
        }


NETWORKS: dict[str, Network] = {
    "mainnet": Network("mainnet", "https://rpc.mainnet.fastnear.com", "https://mainnet.neardata.xyz/v0", 200, 0.6),
    "testnet": Network("testnet", "https://rpc.testnet.fastnear.com", "https://testnet.neardata.xyz/v0", 200, 0.6),
    # `offshore devnet` / `offshore up` on this machine (the devnet's defaults: port 3030, 1 s blocks)
    "localnet": Network("localnet", "http://127.0.0.1:3030", "http://127.0.0.1:3030/v0", 200, 1.0),
}


def preset_values(data: dict[str, Any]) -> dict[str, Any]:
    """Settings input with the chosen network's values filled in where the caller set none.

    Pure: used by Settings before validation. An unknown name is left for the field's own
    validation to reject with the variable's name.
    """
    network = NETWORKS.get(str(data.get("network", "localnet")))
    if network is None:
        return data
    return {**network.settings(), **data}
