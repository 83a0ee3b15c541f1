"""ed25519 keys in NEAR's text forms (`ed25519:<base58>`) and near-cli credential files."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import base58
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from devnet.errors import DevnetError

_PREFIX = "ed25519:"


@dataclass(frozen=True)
class KeyPair:
    """An ed25519 key. `secret` is the 32-byte seed; near-cli stores seed + public key (64 bytes)."""

    secret: bytes

    @classmethod
    def generate(cls) -> KeyPair:
        return cls(bytes(SigningKey.generate()))

    @classmethod
    def from_string(cls, text: str) -> KeyPair:
        raw = base58.b58decode(text.removeprefix(_PREFIX))
        if len(raw) not in (32, 64):
            raise DevnetError("an ed25519 secret key is 32 or 64 bytes")
        return cls(raw[:32])

    @property
    def public_key(self) -> bytes:
        """Raw 32-byte public key."""
        return bytes(SigningKey(self.secret).verify_key)

    @property
    def borsh_public_key(self) -> bytes:
        return b"\x00" + self.public_key

    @property
    def public_key_str(self) -> str:
        return _PREFIX + base58.b58encode(self.public_key).decode()

    @property
    def secret_key_str(self) -> str:
        """near-cli's form: seed followed by the public key, base58."""
        return _PREFIX + base58.b58encode(self.secret + self.public_key).decode()

    def sign(self, message: bytes) -> bytes:
        return bytes(SigningKey(self.secret).sign(message).signature)

    def __repr__(self) -> str:  # never print the secret
        return f"KeyPair({self.public_key_str})"


def public_key_to_str(borsh_pk: bytes) -> str:
    """borsh PublicKey (type byte + key) to `ed25519:...` / `secp256k1:...`."""
    prefix = "ed25519:" if borsh_pk[0] == 0 else "secp256k1:"
    return prefix + base58.b58encode(borsh_pk[1:]).decode()


def public_key_from_str(text: str) -> bytes:
    """`ed25519:...` (or bare base58) to a borsh PublicKey."""
    if text.startswith("secp256k1:"):
        raw = base58.b58decode(text.removeprefix("secp256k1:"))
        if len(raw) != 64:
            raise DevnetError("a secp256k1 public key is 64 bytes")
        return b"\x01" + raw
    raw = base58.b58decode(text.removeprefix(_PREFIX))
    if len(raw) != 32:
        raise DevnetError("an ed25519 public key is 32 bytes")
    return b"\x00" + raw


def verify(borsh_pk: bytes, message: bytes, borsh_signature: bytes) -> bool:
    """True if `borsh_signature` is a valid ed25519 signature of `message` (secp256k1 is not supported)."""
    if borsh_pk[:1] != b"\x00" or borsh_signature[:1] != b"\x00" or len(borsh_signature) != 65:
        return False
    try:
        VerifyKey(borsh_pk[1:]).verify(message, borsh_signature[1:])
    except (BadSignatureError, ValueError):
        return False
    return True


def credentials_path(credentials_dir: Path, chain_id: str, account_id: str) -> Path:
    return credentials_dir / chain_id / f"{account_id}.json"


def write_credentials(credentials_dir: Path, chain_id: str, account_id: str, key: KeyPair) -> Path:
    """Write near-cli's `<dir>/<chain_id>/<account>.json` (mode 0600, atomically)."""
    path = credentials_path(credentials_dir, chain_id, account_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"account_id": account_id, "public_key": key.public_key_str, "private_key": key.secret_key_str}
    tmp = path.with_suffix(".json.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(body, f, indent=2)
    tmp.replace(path)
    return path


def read_credentials(credentials_dir: Path, chain_id: str, account_id: str) -> KeyPair | None:
    path = credentials_path(credentials_dir, chain_id, account_id)
    if not path.exists():
        return None
    try:
        body = json.loads(path.read_text())
        return KeyPair.from_string(str(body.get("private_key") or body["secret_key"]))
    except (OSError, ValueError, KeyError) as exc:
        raise DevnetError(f"unreadable credentials file {path}") from exc
