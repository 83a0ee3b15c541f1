"""Request secrets: client-side ECIES (X25519 + HKDF-SHA256 + ChaCha20-Poly1305), with rotation and policies.

Each (repo, owner) pair has its own recipient key, derived from a master key only the keystore
process holds. Master keys rotate: each has an id, the newest seals, every older one still opens
what was sealed with it (so rotating never strands a ciphertext a client already put on chain).

Envelope v3 (`base64( 0x03 | u16 header length | header | ephemeral X25519 key (32) | AEAD )`)
carries a plaintext header - master key id, repo, owner and the owner's *policy* (which commit,
which senders, an expiry height) - and the header's exact bytes are the AEAD associated data: the
keystore reads the policy before it opens anything, and a policy edited by anyone fails the tag.
The plaintext is a JSON object of strings (the env map); it never appears in logs or errors.

Envelope v2 (`0x02 | scope | ephemeral key | AEAD`, associated data (repo, owner, commit or "*"))
was sealed before rotation with the single master key, which is key id "0": it still opens, for
its original rule (the sender is the owner, the commit is the sealed one unless scope says any).
Envelope v1 (not bound to a commit) is refused: re-encrypt.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from common.errors import OffshoreError

VERSION = 3
LEGACY_VERSION = 2
LEGACY_KEY_ID = "0"  # the pre-rotation single master key; v2 envelopes were sealed with it
SCOPE_COMMIT, SCOPE_ANY_COMMIT = 0, 1
ANY_COMMIT = "*"
_NONCE = b"\x00" * 12  # every message has a fresh ephemeral key, hence a fresh AEAD key
_AAD_V3 = b"near-offshore/secrets/v3\x00"
_KEY_ID = re.compile(r"^[A-Za-z0-9._-]{1,32}$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_MAX_HEADER = 2048


class SecretsError(OffshoreError, ValueError):
    """Secrets could not be sealed or opened; the message never contains plaintext."""


@dataclass(frozen=True, kw_only=True)
class Policy:
    """Who may open a ciphertext, chosen by its owner when sealing (docs: keystore/README.md).

    `commit`: one 40-hex commit, or "*" for any commit of the repo. `senders`: accounts whose
    requests may open it; empty means the owner only. `expires_at_height`: no request is granted
    once the chain's final height is past it (None: never expires).
    """

    commit: str
    senders: tuple[str, ...] = ()
    expires_at_height: int | None = None

    def __post_init__(self) -> None:
        if self.commit != ANY_COMMIT and not _COMMIT.match(self.commit):
            raise SecretsError("the policy's commit is a full 40-hex sha, or * for any commit of the repo")
        if self.expires_at_height is not None and self.expires_at_height < 0:
            raise SecretsError("the policy's expiry height is a block height (>= 0)")
        if any(not s or s != s.strip() for s in self.senders):
            raise SecretsError("the policy's senders are account ids")


@dataclass(frozen=True, kw_only=True)
class Header:
    """The authenticated, readable part of an envelope: what the keystore checks before opening."""

    version: int
    key_id: str
    repo: str
    owner: str
    policy: Policy
    raw: bytes = field(default=b"", repr=False, compare=False)  # v3: the exact bytes the tag covers

    def allowed_senders(self) -> tuple[str, ...]:
        return self.policy.senders or (self.owner,)


@dataclass(frozen=True)
class Envelope:
    header: Header
    ephemeral: bytes
    sealed: bytes


def _context(repo: str, owner: str) -> bytes:
    return json.dumps([repo, owner]).encode()


def _hkdf(secret: bytes, info: bytes, salt: bytes | None = None) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(secret)


def _raw(public: X25519PublicKey) -> bytes:
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


def fingerprint(key_id: str, repo: str, owner: str, public_key: bytes) -> str:
    """What a developer compares out of band: binds the key to its id, repo and owner."""
    text = json.dumps(["near-offshore/keystore/fingerprint/v1", key_id, repo, owner, public_key.hex()])
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _header_bytes(key_id: str, repo: str, owner: str, policy: Policy) -> bytes:
    body = {
        "kid": key_id,
        "repo": repo,
        "owner": owner,
        "commit": policy.commit,
        "senders": list(policy.senders),
        "expires": policy.expires_at_height,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def encrypt_secrets(
    public_key: bytes,
    repo: str,
    owner: str,
    secrets: dict[str, str],
    *,
    key_id: str,
    policy: Policy,
) -> str:
    """Client side: seal an env map for one (repo, owner) recipient key under the owner's policy."""
    if not _KEY_ID.match(key_id):
        raise SecretsError("the keystore's key id is 1-32 characters of [A-Za-z0-9._-]")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in secrets.items()):
        raise SecretsError("secrets are NAME=VALUE strings")
    header = _header_bytes(key_id, repo, owner, policy)
    if len(header) > _MAX_HEADER:
        raise SecretsError(f"the policy is too long ({len(header)} bytes of header, at most {_MAX_HEADER})")
    ephemeral = X25519PrivateKey.generate()
    eph_pub = _raw(ephemeral.public_key())
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(public_key))
    key = _hkdf(shared, b"near-offshore/secrets/v3", salt=eph_pub + public_key)
    sealed = ChaCha20Poly1305(key).encrypt(_NONCE, json.dumps(secrets).encode(), _AAD_V3 + header)
    raw = bytes([VERSION]) + len(header).to_bytes(2, "big") + header + eph_pub + sealed
    return base64.b64encode(raw).decode()


def encrypt_secrets_v2(public_key: bytes, repo: str, owner: str, secrets: dict[str, str], *, commit: str | None) -> str:
    """The pre-rotation format, kept only so tests can prove old ciphertexts still open."""
    scope = SCOPE_ANY_COMMIT if commit is None else SCOPE_COMMIT
    bound = ANY_COMMIT if commit is None else commit
    ephemeral = X25519PrivateKey.generate()
    eph_pub = _raw(ephemeral.public_key())
    key = _hkdf(
        ephemeral.exchange(X25519PublicKey.from_public_bytes(public_key)),
        b"near-offshore/secrets/v2",
        salt=eph_pub + public_key,
    )
    aad = json.dumps([repo, owner, bound]).encode()
    sealed = ChaCha20Poly1305(key).encrypt(_NONCE, json.dumps(secrets).encode(), aad)
    return base64.b64encode(bytes([LEGACY_VERSION, scope]) + eph_pub + sealed).decode()


def parse_envelope(envelope: str, *, repo: str, sender: str, commit: str) -> Envelope:
    """Reads an envelope's header without opening it. A v2 envelope has no header: its implied
    policy is the one it was sealed under (recipient = the request's repo and sender; commit = the
    request's unless the scope byte says any): the tag checks both, so a wrong guess only fails to open."""
    try:
        raw = base64.b64decode(envelope, validate=True)
    except (binascii.Error, ValueError):
        raise SecretsError("the secrets envelope is not base64") from None
    if raw[:1] == b"\x01":
        raise SecretsError("secrets envelope v1 is not bound to a commit: re-encrypt them")
    if raw[:1] == bytes([LEGACY_VERSION]):
        if len(raw) < 2 + 32 + 16 or raw[1] not in (SCOPE_COMMIT, SCOPE_ANY_COMMIT):
            raise SecretsError("malformed secrets envelope v2")
        policy = Policy(commit=ANY_COMMIT if raw[1] == SCOPE_ANY_COMMIT else commit.strip().lower())
        head = Header(version=LEGACY_VERSION, key_id=LEGACY_KEY_ID, repo=repo, owner=sender, policy=policy)
        return Envelope(head, raw[2:34], raw[34:])
    if raw[:1] != bytes([VERSION]) or len(raw) < 3:
        raise SecretsError("unsupported secrets envelope version")
    size = int.from_bytes(raw[1:3], "big")
    if size > _MAX_HEADER or len(raw) < 3 + size + 32 + 16:
        raise SecretsError("malformed secrets envelope v3")
    header = raw[3 : 3 + size]
    try:
        body = json.loads(header)
        expires = body["expires"]
        head = Header(
            version=VERSION,
            key_id=str(body["kid"]),
            repo=str(body["repo"]),
            owner=str(body["owner"]),
            policy=Policy(
                commit=str(body["commit"]),
                senders=tuple(str(s) for s in body["senders"]),
                expires_at_height=None if expires is None else int(expires),
            ),
            raw=header,
        )
    except (ValueError, KeyError, TypeError):
        raise SecretsError("malformed secrets envelope v3 header") from None
    return Envelope(head, raw[3 + size : 3 + size + 32], raw[3 + size + 32 :])


class MasterKeys:
    """The keystore's master keys by id; the last one given is the newest (the one that seals).

    Text form (a file or one env var, never argv): entries separated by newlines or commas, each
    `ID:HEX` or a bare `HEX` (= id "0", the pre-rotation key). Each key is at least 32 bytes.
    """

    def __init__(self, keys: Iterable[tuple[str, bytes]]) -> None:
        self._keys: dict[str, bytes] = {}
        for key_id, key in keys:
            if not _KEY_ID.match(key_id):
                raise SecretsError("a master key id is 1-32 characters of [A-Za-z0-9._-]")
            if len(key) < 32:
                raise SecretsError(f"master key {key_id!r} must be at least 32 bytes")
            if key_id in self._keys:
                raise SecretsError(f"master key id {key_id!r} appears twice")
            self._keys[key_id] = key
        if not self._keys:
            raise SecretsError("no keystore master key configured")
        self.newest = list(self._keys)[-1]

    @classmethod
    def parse(cls, text: str) -> MasterKeys:
        entries = [e.strip() for e in re.split(r"[,\n]", text) if e.strip() and not e.strip().startswith("#")]
        keys: list[tuple[str, bytes]] = []
        for entry in entries:
            key_id, _, hexkey = entry.rpartition(":")
            try:
                keys.append((key_id or LEGACY_KEY_ID, bytes.fromhex(hexkey)))
            except ValueError:
                raise SecretsError(f"master key {key_id or LEGACY_KEY_ID!r} is not hex") from None
        return cls(keys)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(self._keys)

    def _private(self, key_id: str, repo: str, owner: str) -> X25519PrivateKey:
        master = self._keys.get(key_id)
        if master is None:
            raise SecretsError(f"sealed with master key {key_id!r}, which this keystore does not hold")
        return X25519PrivateKey.from_private_bytes(_hkdf(master, b"recipient:" + _context(repo, owner)))

    def public_key(self, repo: str, owner: str, *, key_id: str | None = None) -> bytes:
        return _raw(self._private(key_id or self.newest, repo, owner).public_key())

    def open(self, env: Envelope) -> dict[str, str]:
        """Opens an envelope whose policy the caller already enforced; raises SecretsError (never
        quoting plaintext) when the tag fails: tampered, or sealed for another repo/owner/commit."""
        head = env.header
        private = self._private(head.key_id, head.repo, head.owner)
        recipient = _raw(private.public_key())
        shared = private.exchange(X25519PublicKey.from_public_bytes(env.ephemeral))
        if head.version == VERSION:
            info, aad = b"near-offshore/secrets/v3", _AAD_V3 + head.raw
        else:
            bound = head.policy.commit
            info, aad = b"near-offshore/secrets/v2", json.dumps([head.repo, head.owner, bound]).encode()
        try:
            key = _hkdf(shared, info, salt=env.ephemeral + recipient)
            data = json.loads(ChaCha20Poly1305(key).decrypt(_NONCE, env.sealed, aad))
        except (InvalidTag, ValueError):
            raise SecretsError("secrets do not open: tampered, or sealed for another repo, owner or commit") from None
        if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
            raise SecretsError("secrets must be a JSON object of strings")
        return data


def generate_master_key() -> str:
    return os.urandom(32).hex()
