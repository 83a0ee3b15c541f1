"""The randomness proof: a seed nobody can predict before a request and nobody can choose after it.

The platform holds a dedicated ed25519 key (`OFFSHORE_RANDOMNESS_KEY`) whose public key the contract
publishes (`get_config().randomness_public_key`). For each request it signs

    near-offshore:randomness:v1:<contract id>:<request id>:<data_id hex>

(the data_id is the chain's yield id, unknown before the request lands). ed25519 signatures are
deterministic (RFC 8032), so the operator has exactly one signature, hence one seed, per request: it
cannot re-roll. The seed is sha256(signature). The signature goes on chain with the result; the
contract checks it with NEAR's `ed25519_verify`, and `offshore verify` checks it again.

The same message is built by the contract (contract/src/offshore/execution.py `_randomness_message`).
"""

from __future__ import annotations

import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

PREFIX = "near-offshore:randomness:v1"


def message(contract_id: str, request_id: str, data_id: str) -> bytes:
    """What the randomness key signs for one request (data_id as the contract's lowercase hex)."""
    return f"{PREFIX}:{contract_id}:{request_id}:{data_id.lower()}".encode()


def private_key(secret_hex: str) -> Ed25519PrivateKey:
    """The randomness key from its 32-byte seed in hex (the setting's format)."""
    raw = bytes.fromhex(secret_hex.strip())
    if len(raw) != 32:
        raise ValueError("the randomness key is 32 bytes of hex (an ed25519 seed)")
    return Ed25519PrivateKey.from_private_bytes(raw)


def public_key_hex(key: Ed25519PrivateKey) -> str:
    """The 32-byte public key in hex: what the contract publishes and checks against."""
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def sign(key: Ed25519PrivateKey, contract_id: str, request_id: str, data_id: str) -> str:
    """The proof (64-byte signature, hex) for one request."""
    return key.sign(message(contract_id, request_id, data_id)).hex()


def seed(proof_hex: str) -> bytes:
    """The 32-byte seed of WASI random_get: sha256 of the signature."""
    return hashlib.sha256(bytes.fromhex(proof_hex)).digest()


def check(public_hex: str, proof_hex: str, contract_id: str, request_id: str, data_id: str) -> bool:
    """True when `proof_hex` is the randomness key's signature of this request."""
    try:
        public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_hex))
        public.verify(bytes.fromhex(proof_hex), message(contract_id, request_id, data_id))
    except (ValueError, InvalidSignature):
        return False
    return True
