"""Borsh codec for NEAR's `SignedTransaction` and its actions.

Only what a transaction can carry is decoded: actions the devnet does not run (Stake, Delegate, global
contracts) decode to `Unsupported` so the node can reject them with NEAR's error instead of a parse
failure. The encoder exists so tests and in-process callers can build transactions without py-near.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from devnet.errors import BorshError
from devnet.vm.types import (
    AccessKeyPermission,
    Action,
    AddKey,
    CreateAccount,
    DeleteAccount,
    DeleteKey,
    DeployContract,
    FullAccess,
    FunctionCall,
    FunctionCallPermission,
    Transfer,
)

ED25519 = 0
SECP256K1 = 1
_KEY_LEN = {ED25519: 32, SECP256K1: 64}
_SIG_LEN = {ED25519: 64, SECP256K1: 65}
_ACTION_NAMES = {
    4: "Stake",
    8: "Delegate",
    9: "DeployGlobalContract",
    10: "UseGlobalContract",
    11: "DeterministicStateInit",
}


@dataclass(frozen=True)
class Unsupported:
    """An action the devnet decodes only far enough to name it."""

    name: str


@dataclass(frozen=True)
class Transaction:
    signer_id: str
    public_key: bytes  # borsh PublicKey (type byte + key)
    nonce: int
    receiver_id: str
    block_hash: bytes
    actions: tuple[Action | Unsupported, ...]
    priority_fee: int | None = None  # set for TransactionV1


@dataclass(frozen=True)
class SignedTransaction:
    transaction: Transaction
    signature: bytes  # borsh Signature (type byte + signature)
    hash: bytes  # sha256 of the borsh Transaction: what the signer signed and the tx id
    raw: bytes


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise BorshError(f"unexpected end of data at byte {self.pos} (wanted {n})")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u32(self) -> int:
        return int(struct.unpack("<I", self.take(4))[0])

    def u64(self) -> int:
        return int(struct.unpack("<Q", self.take(8))[0])

    def u128(self) -> int:
        return int.from_bytes(self.take(16), "little")

    def bytes_(self) -> bytes:
        return self.take(self.u32())

    def string(self) -> str:
        raw = self.bytes_()
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BorshError("string is not valid UTF-8") from exc

    def public_key(self) -> bytes:
        kind = self.u8()
        if kind not in _KEY_LEN:
            raise BorshError(f"unknown key type {kind}")
        return bytes([kind]) + self.take(_KEY_LEN[kind])

    def signature(self) -> bytes:
        kind = self.u8()
        if kind not in _SIG_LEN:
            raise BorshError(f"unknown signature type {kind}")
        return bytes([kind]) + self.take(_SIG_LEN[kind])


def _read_permission(r: _Reader) -> AccessKeyPermission:
    tag = r.u8()
    if tag == 1:
        return FullAccess()
    if tag != 0:
        raise BorshError(f"unknown access key permission {tag}")
    allowance = r.u128() if r.u8() else None
    receiver_id = r.string()
    methods = tuple(r.string() for _ in range(r.u32()))
    return FunctionCallPermission(receiver_id=receiver_id, method_names=methods, allowance=allowance)


def _read_action(r: _Reader) -> Action | Unsupported:
    tag = r.u8()
    if tag == 0:
        return CreateAccount()
    if tag == 1:
        return DeployContract(code=r.bytes_())
    if tag == 2:
        return FunctionCall(method_name=r.string(), args=r.bytes_(), gas=r.u64(), deposit=r.u128())
    if tag == 3:
        return Transfer(deposit=r.u128())
    if tag == 5:
        pk = r.public_key()
        nonce = r.u64()
        return AddKey(public_key=pk, nonce=nonce, permission=_read_permission(r))
    if tag == 6:
        return DeleteKey(public_key=r.public_key())
    if tag == 7:
        return DeleteAccount(beneficiary_id=r.string())
    if tag in _ACTION_NAMES:
        # The payload layout of these is not needed: the transaction is rejected as a whole.
        return Unsupported(_ACTION_NAMES[tag])
    raise BorshError(f"unknown action tag {tag}")


def _read_tx_body(r: _Reader, v1: bool) -> Transaction:
    signer_id = r.string()
    public_key = r.public_key()
    nonce = r.u64()
    receiver_id = r.string()
    block_hash = r.take(32)
    actions: list[Action | Unsupported] = []
    for _ in range(r.u32()):
        action = _read_action(r)
        actions.append(action)
        if isinstance(action, Unsupported):
            break
    priority_fee = r.u64() if v1 else None
    return Transaction(signer_id, public_key, nonce, receiver_id, block_hash, tuple(actions), priority_fee)


def decode_signed_transaction(raw: bytes) -> SignedTransaction:
    """Decode a borsh `SignedTransaction` (V0, or V1 with its leading version byte)."""
    # V1 is prefixed by the byte 1; V0 starts with the u32 length of signer_id, whose first byte is 1
    # only for a 1- or 257-byte id, neither of which is a valid account id.
    v1 = len(raw) > 0 and raw[0] == 1
    r = _Reader(raw)
    if v1:
        r.u8()
    tx = _read_tx_body(r, v1)
    if any(isinstance(a, Unsupported) for a in tx.actions):
        return SignedTransaction(tx, b"", hashlib.sha256(raw).digest(), raw)
    tx_end = r.pos
    signature = r.signature()
    if r.pos != len(raw):
        raise BorshError(f"{len(raw) - r.pos} trailing bytes after the signed transaction")
    return SignedTransaction(tx, signature, hashlib.sha256(raw[:tx_end]).digest(), raw)


# ---- encoding ----


def _u32(n: int) -> bytes:
    return struct.pack("<I", n)


def _u64(n: int) -> bytes:
    return struct.pack("<Q", n)


def _u128(n: int) -> bytes:
    return n.to_bytes(16, "little")


def _bytes(b: bytes) -> bytes:
    return _u32(len(b)) + b


def _string(s: str) -> bytes:
    return _bytes(s.encode("utf-8"))


def encode_permission(p: AccessKeyPermission) -> bytes:
    if isinstance(p, FullAccess):
        return b"\x01"
    allowance = b"\x00" if p.allowance is None else b"\x01" + _u128(p.allowance)
    methods = _u32(len(p.method_names)) + b"".join(_string(m) for m in p.method_names)
    return b"\x00" + allowance + _string(p.receiver_id) + methods


def encode_action(a: Action) -> bytes:
    if isinstance(a, CreateAccount):
        return b"\x00"
    if isinstance(a, DeployContract):
        return b"\x01" + _bytes(a.code)
    if isinstance(a, FunctionCall):
        return b"\x02" + _string(a.method_name) + _bytes(a.args) + _u64(a.gas) + _u128(a.deposit)
    if isinstance(a, Transfer):
        return b"\x03" + _u128(a.deposit)
    if isinstance(a, AddKey):
        return b"\x05" + a.public_key + _u64(a.nonce) + encode_permission(a.permission)
    if isinstance(a, DeleteKey):
        return b"\x06" + a.public_key
    return b"\x07" + _string(a.beneficiary_id)


def encode_transaction(tx: Transaction) -> bytes:
    body = (
        _string(tx.signer_id)
        + tx.public_key
        + _u64(tx.nonce)
        + _string(tx.receiver_id)
        + tx.block_hash
        + _u32(len(tx.actions))
    )
    for a in tx.actions:
        if isinstance(a, Unsupported):
            raise BorshError(f"cannot encode unsupported action {a.name}")
        body += encode_action(a)
    if tx.priority_fee is not None:
        return b"\x01" + body + _u64(tx.priority_fee)
    return body


def encode_signed_transaction(tx: Transaction, signature: bytes) -> bytes:
    return encode_transaction(tx) + signature
