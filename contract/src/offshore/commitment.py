# The result commitment (MicroPython): what the operator claims about a result, checked where the chain
# can check it and stored with the request, so anyone can re-run it (`offshore verify`, issue 15).
#
# resolve_execution(request_id, response) takes an optional response.commitment:
#   {version: 1, wasm_sha256, builder_id, engine_id, input_sha256, output_sha256, randomness_proof,
#    io_sha256 ("" = no recorded I/O), http_calls, http_bytes}
# Checked on chain: shapes; input_sha256 against the input stored at request time; the randomness
# proof with ed25519_verify against the published randomness key (when one is configured).
# Computed on chain: delivered_sha256 = sha256 of response.output as received.
import near

from state import fail

VERSION = 1
PREFIX = "near-offshore:randomness:v1:"
HEX = "0123456789abcdef"
FIELDS = (
    "version",
    "wasm_sha256",
    "builder_id",
    "engine_id",
    "input_sha256",
    "output_sha256",
    "randomness_proof",
    "io_sha256",
    "http_calls",
    "http_bytes",
)
MAX_ID_LEN = 128


def is_hex(value, length):
    # Lowercase hex of exactly `length` characters. A round trip through bytes runs in C: a loop over
    # the characters cost ~0.1 TGas per 64 (five hashes and a proof per resolved item).
    if not isinstance(value, str) or len(value) != length:
        return False
    try:
        return bytes.fromhex(value).hex() == value
    except ValueError:
        return False


def check_key(value):
    # The randomness public key: 32 bytes, lowercase hex.
    if not is_hex(value, 64):
        fail("randomness_public_key must be 64 lowercase hex characters (an ed25519 public key)")
    return value


def _hash(c, name, empty_ok, bad):
    value = c.get(name)
    if empty_ok and value == "":
        return value
    if not is_hex(value, 64):
        bad("commitment." + name + " must be a sha256 in lowercase hex")
    return value


def _ident(c, name, bad):
    value = c.get(name)
    if not isinstance(value, str) or len(value) == 0 or len(value) > MAX_ID_LEN:
        bad("commitment." + name + " must be a non-empty string of at most " + str(MAX_ID_LEN) + " characters")
    raw = value.encode()
    # printable ASCII without spaces: every byte in 33..126 (min/max run in C; a multi-byte
    # character has bytes >= 128)
    if min(raw) <= 32 or max(raw) >= 127:
        bad("commitment." + name + " must be printable ASCII without spaces")
    return value


def _count(c, name, bad):
    value = c.get(name)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        bad("commitment." + name + " must be a non-negative integer")
    return value


def message(request_id, data_id):
    # The randomness key signs this (executor/randomness.py builds the same bytes).
    return (PREFIX + near.current_account_id() + ":" + str(request_id) + ":" + data_id).encode()


def checked(cfg, request_id, data_id, input_sha256, c, raw_output, bad):
    # The stored form of a valid commitment, or bad(reason) for the first bad field (the per-item
    # resolve raises Invalid: resolve_execution panics, resolve_executions skips the item). None if absent.
    if c is None:
        return None
    if not isinstance(c, dict):
        bad("response.commitment must be an object")
    for k in c:
        if k not in FIELDS:
            bad("unknown commitment field " + str(k))
    if c.get("version") != VERSION:
        bad("commitment.version must be " + str(VERSION))
    out = {
        "version": VERSION,
        "wasm_sha256": _hash(c, "wasm_sha256", False, bad),
        "builder_id": _ident(c, "builder_id", bad),
        "engine_id": _ident(c, "engine_id", bad),
        "input_sha256": _hash(c, "input_sha256", False, bad),
        "output_sha256": _hash(c, "output_sha256", False, bad),
        "io_sha256": _hash(c, "io_sha256", True, bad) if c.get("io_sha256") is not None else "",
        "http_calls": _count(c, "http_calls", bad),
        "http_bytes": _count(c, "http_bytes", bad),
    }
    # input_sha256: what the request stored at request time ("" for a request older than the field)
    if input_sha256 and input_sha256 != out["input_sha256"]:
        bad("commitment.input_sha256 does not match the request's input")
    proof = c.get("randomness_proof")
    if not is_hex(proof, 128):
        bad("commitment.randomness_proof must be a 64-byte ed25519 signature in lowercase hex")
    out["randomness_proof"] = proof
    key = cfg.get("randomness_public_key")
    out["randomness_checked"] = False
    if key is not None:
        # nearc's binding declares 4 arguments and reads 3 (sig, msg, key): the 4th is ignored.
        if not near.ed25519_verify(
            bytes.fromhex(proof), message(request_id, data_id), bytes.fromhex(key), b""
        ):
            bad("commitment.randomness_proof is not the randomness key's signature of this request")
        out["randomness_checked"] = True
    out["delivered_sha256"] = near.sha256(raw_output).hex() if raw_output else ""
    return out

