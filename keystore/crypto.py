"""Request secrets: client-side ECIES (X25519 + HKDF-SHA256 + ChaCha20-Poly1305).

Each (repo, owner) pair has its own recipient key, derived from a master key only the keystore holds.
The ciphertext is bound, as associated data, to (repo, owner, commit): by default to the one commit
the owner chose at encryption time, so a new commit of the same repo (anyone who can push to it)
cannot read secrets sealed for an old one; the owner may instead choose "any commit of this repo"
(scope byte 1, associated data commit "*"). The scope byte is covered by the associated data, so it
cannot be flipped. A ciphertext copied into another request (another repo, sender or commit) does
not open. Plaintext is returned only to the execute stage, as the env map of one request that it has
confirmed on chain; it is never logged, and errors never quote it. Every access is audited.
(The predecessor XOR-ed secrets with a hash of the public key, which anyone could undo; envelope v1
was not bound to a commit and is refused: re-encrypt.)

Envelope: base64( 0x02 | scope (0 = this commit, 1 = any commit) | ephemeral X25519 public key (32)
| ChaCha20-Poly1305 ciphertext+tag ).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from prometheus_client import Counter

from schemas import ExecutionRequested

VERSION = 2
SCOPE_COMMIT, SCOPE_ANY_COMMIT = 0, 1
ANY_COMMIT = "*"
_NONCE = b"\x00" * 12  # every message has a fresh ephemeral key, hence a fresh AEAD key
_audit = logging.getLogger("offshore.audit.secrets")
ACCESSES = Counter("offshore_secret_access_total", "Secret decryptions by outcome.", ["outcome"])


class SecretsError(ValueError):
    """Secrets could not be opened; the message never contains plaintext."""


def _context(repo: str, owner: str) -> bytes:
    return json.dumps([repo, owner]).encode()


def _aad(repo: str, owner: str, commit: str) -> bytes:
    return json.dumps([repo, owner, commit]).encode()


def _hkdf(secret: bytes, info: bytes, salt: bytes | None = None) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(secret)


def encrypt_secrets(
    public_key: bytes,
    repo: str,
    owner: str,
    secrets: dict[str, str],
    *,
    commit: str | None = None,
    any_commit: bool = False,
) -> str:
    """Client side: seal an env map for one (repo, owner) recipient and one commit (or, explicitly, any)."""
    if any_commit == (commit is not None):
        raise SecretsError("choose the commit the secrets are for, or any_commit=True (not both)")
    scope = SCOPE_ANY_COMMIT if any_commit else SCOPE_COMMIT
    bound = ANY_COMMIT if commit is None else commit.strip().lower()
    ephemeral = X25519PrivateKey.generate()
    eph_pub = ephemeral.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(public_key))
    key = _hkdf(shared, b"near-offshore/secrets/v2", salt=eph_pub + public_key)
    sealed = ChaCha20Poly1305(key).encrypt(_NONCE, json.dumps(secrets).encode(), _aad(repo, owner, bound))
    return base64.b64encode(bytes([VERSION, scope]) + eph_pub + sealed).decode()


class Keystore:
    def __init__(self, master_key: bytes) -> None:
        if len(master_key) < 32:
            raise SecretsError("keystore master key must be at least 32 bytes")
        self._master = master_key

    @classmethod
    def from_hex(cls, master_key_hex: str) -> Keystore:
        try:
            return cls(bytes.fromhex(master_key_hex))
        except ValueError:
            raise SecretsError("keystore master key is not hex") from None

    def _private(self, repo: str, owner: str) -> X25519PrivateKey:
        return X25519PrivateKey.from_private_bytes(_hkdf(self._master, b"recipient:" + _context(repo, owner)))

    def public_key(self, repo: str, owner: str) -> bytes:
        return self._private(repo, owner).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    def decrypt(self, envelope: str, repo: str, owner: str, commit: str, *, request_id: str) -> dict[str, str]:
        try:
            raw = base64.b64decode(envelope, validate=True)
            if len(raw) >= 1 and raw[0] == 1:
                raise SecretsError("secrets envelope v1 is not bound to a commit: re-encrypt them")
            if len(raw) < 2 + 32 + 16 or raw[0] != VERSION or raw[1] not in (SCOPE_COMMIT, SCOPE_ANY_COMMIT):
                raise SecretsError("unsupported secrets envelope")
            bound = ANY_COMMIT if raw[1] == SCOPE_ANY_COMMIT else commit.strip().lower()
            eph_pub, sealed = raw[2:34], raw[34:]
            private = self._private(repo, owner)
            recipient = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
            key = _hkdf(
                private.exchange(X25519PublicKey.from_public_bytes(eph_pub)),
                b"near-offshore/secrets/v2",
                salt=eph_pub + recipient,
            )
            data = json.loads(ChaCha20Poly1305(key).decrypt(_NONCE, sealed, _aad(repo, owner, bound)))
            if not isinstance(data, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in data.items()
            ):
                raise SecretsError("secrets must be a JSON object of strings")
        except (InvalidTag, binascii.Error, ValueError) as exc:
            ACCESSES.labels("denied").inc()
            _audit.warning("secrets denied request=%s repo=%s owner=%s", request_id, repo, owner)
            reason = (
                str(exc) if isinstance(exc, SecretsError) else "secrets do not open for this repo, sender and commit"
            )
            raise SecretsError(reason) from None
        ACCESSES.labels("granted").inc()
        _audit.info("secrets opened request=%s repo=%s owner=%s names=%s", request_id, repo, owner, sorted(data))
        return data

    def open(self, req: ExecutionRequested) -> dict[str, str]:
        """The execute stage's view: the env map of this request (empty when it has none)."""
        if not req.encrypted_secrets:
            return {}
        return self.decrypt(
            req.encrypted_secrets,
            req.code_source.repo,
            req.sender_id,
            req.code_source.commit,
            request_id=req.request_id,
        )


def generate_master_key() -> str:
    return os.urandom(32).hex()
