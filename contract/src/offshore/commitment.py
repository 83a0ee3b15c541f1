# The result commitment (MicroPython): what the operator claims about a result, checked where the chain
# can check it and stored with the request, so anyone can re-run it (`offshore verify`, issue 15).
#
# resolve_execution(request_id, response) takes an optional response.commitment:
#   {version: 1, wasm_sha256, builder_id, engine_id, input_sha256, output_sha256, randomness_proof,
#    io_sha256 ("" = no recorded I/O), http_calls, http_bytes}
# Checked on chain: shapes; input_sha256 against the input stored at request time; the randomness
# proof with ed25519_verify against the published randomness key (when one is configured).
# Computed on chain: delivered_sha256 = sha256 of response.output as received.
#
# The line form (what settle sends in a compact resolve_executions item, and how resolve parks every
# commitment for the callback): one string of space-separated fields,
#   1 <wasm_sha256 input_sha256 output_sha256 randomness_proof io_sha256, concatenated> <builder_id>
#     <engine_id> <http_calls> <http_bytes>
# (io_sha256 absent = ""), checked with a few C-level operations (one split, one hex round trip, a
# min/max) instead of a dict of ten fields; parked with " <randomness_checked 1|0> <delivered_sha256>"
# appended and expanded into the object form only by the callback and the views (gas: contract/
# README.md, Batch settlement). No field of a valid commitment contains a space, so the split is exact.
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


_MEMO = {}  # per call (a call runs in a fresh instance): the message prefix and the key's bytes
_IDS = {}  # per call: builder_id -> engine_id of a pair that passed _ids_ok


def message(request_id, data_id):
    # The randomness key signs this (executor/randomness.py builds the same bytes). data_id: hex,
    # str or bytes. The prefix is built once per call (a batch signs many ids under one account).
    prefix = _MEMO.get("prefix")
    if prefix is None:
        prefix = _MEMO["prefix"] = (PREFIX + near.current_account_id() + ":").encode()
    if isinstance(data_id, str):
        data_id = data_id.encode()
    rid = request_id if isinstance(request_id, str) else str(request_id)
    return b"".join((prefix, rid.encode(), b":", data_id))


def _key_bytes(key):
    raw = _MEMO.get(key)
    if raw is None:
        raw = _MEMO[key] = bytes.fromhex(key)
    return raw


def _verify(cfg, request_id, data_id, proof, bad):
    # -> b"1" when the proof was checked against the published key, b"0" without a key.
    key = cfg.get("randomness_public_key")
    if key is None:
        return b"0"
    raw = _MEMO.get(key)  # _key_bytes, inline when known (a call per item otherwise)
    if raw is None:
        raw = _key_bytes(key)
    # nearc's binding declares 4 arguments and reads 3 (sig, msg, key): the 4th is ignored.
    if not near.ed25519_verify(proof, message(request_id, data_id), raw, b""):
        bad("commitment.randomness_proof is not the randomness key's signature of this request")
    return b"1"


def _delivered(raw_output):
    return near.sha256(raw_output).hex().encode() if raw_output else b""


def checked(cfg, request_id, data_id, input_sha256, c, raw_output, bad):
    # The parked line of a valid commitment as its three parts (bytes: the line form, randomness
    # checked 1|0, delivered_sha256; state.parked joins them with spaces), or bad(reason) for the
    # first bad field (the per-item resolve raises Invalid: resolve_execution panics,
    # resolve_executions skips the item). None if absent. `c`: the object form, or a line.
    # data_id and input_sha256 ("" for a request older than the field) are hex bytes of the ticket.
    if c is None:
        return None
    if isinstance(c, str):
        parked = _checked_line(cfg, request_id, data_id, input_sha256, c, raw_output, bad)
        if parked is not None:
            return parked
        # Not in the fast path's shape: decoded into the object form and checked field by field
        # below, so a refusal names the field and a valid commitment written unusually (all-digit
        # hashes, a version "01") is accepted as the object form would accept it. Not a nested
        # call: a Python exception raised a few frames deeper trapped MicroPython
        # (memory_out_of_bounds, like _error_text's).
        p = c.encode().split(b" ")
        if len(p) != 6:
            bad("a commitment line is '1 <hashes and proof in hex> <builder_id> <engine_id> <http_calls> <http_bytes>'")
        c = _fields(p)
    if not isinstance(c, dict):
        bad("response.commitment must be an object")
    for k in c:
        if k not in FIELDS:
            bad("unknown commitment field " + str(k))
    if c.get("version") != VERSION:
        bad("commitment.version must be " + str(VERSION))
    wasm = _hash(c, "wasm_sha256", False, bad)
    builder = _ident(c, "builder_id", bad)
    engine = _ident(c, "engine_id", bad)
    inp = _hash(c, "input_sha256", False, bad)
    out = _hash(c, "output_sha256", False, bad)
    io = _hash(c, "io_sha256", True, bad) if c.get("io_sha256") is not None else ""
    calls = _count(c, "http_calls", bad)
    nbytes = _count(c, "http_bytes", bad)
    # input_sha256: what the request stored at request time ("" for a request older than the field)
    if input_sha256 and input_sha256 != inp.encode():
        bad("commitment.input_sha256 does not match the request's input")
    proof = c.get("randomness_proof")
    if not is_hex(proof, 128):
        bad("commitment.randomness_proof must be a 64-byte ed25519 signature in lowercase hex")
    checked_flag = _verify(cfg, request_id, data_id, bytes.fromhex(proof), bad)
    line = " ".join(("1", wasm + inp + out + proof + io, builder, engine, str(calls), str(nbytes)))
    return (line.encode(), checked_flag, _delivered(raw_output))


def _checked_line(cfg, request_id, data_id, input_sha256, line, raw_output, bad):
    # The line form: the same checks as the object form with a slice of the hex block (320
    # characters, 384 with io_sha256) and a split of the four fields after it, a hex decode of the
    # five hashes and the proof at once, a lowercase test and a min/max over both identifiers (each
    # one C pass). None when anything is off (the caller re-checks it as the object form).
    b = line.encode()
    n = 320 if len(b) > 322 and b[322] == 32 else 384
    if len(b) <= n + 3 or b[0] != 49 or b[1] != 32 or b[n + 2] != 32:  # "1 " <hex> " "
        return None
    h = b[2 : n + 2]
    p = b[n + 3 :].split(b" ")
    if len(p) != 4:
        return None
    ok = _IDS.get(p[0]) == p[1] or _ids_ok(p[0], p[1])
    # hex: fromhex refuses a non-hex character but skips whitespace (hence the length); lowercase:
    # islower() is true when no letter is uppercase and at least one is a letter (an all-digit block
    # takes the object-form path, which accepts it)
    ok = ok and p[2].isdigit() and p[3].isdigit() and h.islower()
    hb = None
    if ok:
        try:
            hb = bytes.fromhex(h)
        except ValueError:
            pass
    if hb is None or 2 * len(hb) != len(h):
        return None
    if input_sha256 and not h.startswith(input_sha256, 64):  # h[64:128], without the copy
        bad("commitment.input_sha256 does not match the request's input")
    delivered = near.sha256(raw_output).hex().encode() if raw_output else b""  # _delivered, inline
    return (b, _verify(cfg, request_id, data_id, hb[96:160], bad), delivered)


def _ids_ok(builder, engine):
    # Both identifiers non-empty, at most MAX_ID_LEN, printable ASCII without spaces (every byte in
    # 33..126: min/max run in C). A batch's items share them, so a pair is checked once per call
    # (remembered as builder -> engine: a lookup, no new object).
    if _IDS.get(builder) == engine:
        return True
    if not (0 < len(builder) <= MAX_ID_LEN and 0 < len(engine) <= MAX_ID_LEN):
        return False
    if min(builder) <= 32 or max(builder) >= 127 or min(engine) <= 32 or max(engine) >= 127:
        return False
    _IDS[builder] = engine
    return True


def _fields(p):
    # The object form of a split line, as the operator meant it (for the precise refusal).
    h = p[1].decode()
    try:
        version = int(p[0])
    except ValueError:
        version = None
    try:
        calls, nbytes = int(p[4]), int(p[5])
    except ValueError:
        calls, nbytes = -1, -1
    return {
        "version": version,
        "wasm_sha256": h[0:64],
        "builder_id": p[2].decode(),
        "engine_id": p[3].decode(),
        "input_sha256": h[64:128],
        "output_sha256": h[128:192],
        "randomness_proof": h[192:320] if len(h) >= 320 else h[192:],
        "io_sha256": h[320:],
        "http_calls": calls,
        "http_bytes": nbytes,
    }


def expand(parked):
    # The stored (object) form of a parked line: what the record, the views and execution_completed
    # carry (the same fields and order as before the line form existed).
    p = parked.decode().split(" ")
    h = p[1]
    return {
        "version": int(p[0]),
        "wasm_sha256": h[0:64],
        "builder_id": p[2],
        "engine_id": p[3],
        "input_sha256": h[64:128],
        "output_sha256": h[128:192],
        "io_sha256": h[320:],
        "http_calls": int(p[4]),
        "http_bytes": int(p[5]),
        "randomness_proof": h[192:320],
        "randomness_checked": p[6] == "1",
        "delivered_sha256": p[7],
    }
