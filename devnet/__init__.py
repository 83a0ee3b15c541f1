"""A local NEAR-compatible chain: JSON-RPC for py-near and a neardata-style block API (see README.md)."""

from devnet.config import NEAR, TGAS, ContractDeployment, DevnetConfig, GenesisAccount
from devnet.errors import BorshError, DevnetError, InvalidTxError, QueryError, StateFileError, VmUnavailableError
from devnet.node.keys import KeyPair
from devnet.service import Devnet, serve

__all__ = [
    "NEAR",
    "TGAS",
    "BorshError",
    "ContractDeployment",
    "Devnet",
    "DevnetConfig",
    "DevnetError",
    "GenesisAccount",
    "InvalidTxError",
    "KeyPair",
    "QueryError",
    "StateFileError",
    "VmUnavailableError",
    "serve",
]
