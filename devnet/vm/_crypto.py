"""Hashes and signature checks behind the math host functions.

secp256k1 public-key recovery is done here in plain integer arithmetic: no library on this machine
offers recovery (`cryptography` only verifies), and a call costs ~300 Tgas on NEAR, so contracts use it
rarely and a few milliseconds are fine.
"""

from __future__ import annotations

import hashlib

import nacl.exceptions
import nacl.signing
from Crypto.Hash import RIPEMD160, keccak

# secp256k1 domain parameters (SEC 2).
_P = 2**256 - 2**32 - 977
_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_GX = 0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798
_GY = 0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8
_HALF_N = _N // 2

_Point = tuple[int, int] | None  # None is the point at infinity


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def keccak256(data: bytes) -> bytes:
    return keccak.new(digest_bits=256, data=data).digest()


def keccak512(data: bytes) -> bytes:
    return keccak.new(digest_bits=512, data=data).digest()


def ripemd160(data: bytes) -> bytes:
    return RIPEMD160.new(data).digest()


def ed25519_verify(signature: bytes, message: bytes, public_key: bytes) -> bool:
    """Lengths are checked by the caller (nearcore fails the call on a wrong length)."""
    try:
        nacl.signing.VerifyKey(public_key).verify(message, signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError):
        return False
    return True


def _add(a: _Point, b: _Point) -> _Point:
    if a is None:
        return b
    if b is None:
        return a
    (x1, y1), (x2, y2) = a, b
    if x1 == x2:
        if (y1 + y2) % _P == 0:
            return None
        lam = 3 * x1 * x1 * pow(2 * y1, -1, _P) % _P
    else:
        lam = (y2 - y1) * pow(x2 - x1, -1, _P) % _P
    x3 = (lam * lam - x1 - x2) % _P
    return x3, (lam * (x1 - x3) - y1) % _P


def _mul(k: int, point: _Point) -> _Point:
    result: _Point = None
    addend = point
    while k:
        if k & 1:
            result = _add(result, addend)
        addend = _add(addend, addend)
        k >>= 1
    return result


def secp256k1_signature_ok(signature: bytes, reject_upper_s: bool) -> bool:
    """nearcore's `check_signature_values`: r and s in [1, n), and s in the lower half if asked."""
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:64], "big")
    if not (0 < r < _N and 0 < s < _N):
        return False
    return not (reject_upper_s and s > _HALF_N)


def ecrecover(msg_hash: bytes, signature: bytes, v: int) -> bytes | None:
    """The signer's 64-byte uncompressed public key (x || y), or None if nothing can be recovered."""
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:64], "big")
    x = r + (v >> 1) * _N
    if x >= _P:
        return None
    alpha = (pow(x, 3, _P) + 7) % _P
    y = pow(alpha, (_P + 1) // 4, _P)
    if y * y % _P != alpha:
        return None
    if (y & 1) != (v & 1):
        y = _P - y
    e = int.from_bytes(msg_hash, "big") % _N
    r_inv = pow(r, -1, _N)
    q = _add(_mul(s * r_inv % _N, (x, y)), _mul((-e * r_inv) % _N, (_GX, _GY)))
    if q is None:
        return None
    return q[0].to_bytes(32, "big") + q[1].to_bytes(32, "big")
