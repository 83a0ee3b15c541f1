# Contract state: JSON values under short keys (MicroPython; runs inside the contract WASM).
#   "cfg"      config: owner, operator, paused, pricing, defaults, limits of sizes, gas
#   "st"       stats: counters and yoctoNEAR totals (decimal strings)
#   "p"        ids of pending requests, ascending (list_pending_requests pages over it)
#   "r:<id>"   one request
#   "i:<id>"   its input_data and encrypted_secrets, while pending (kept apart so the callback never
#              parses them: gas)
#   "o:<id>"   the resolved response until the callback settles it: JSON (success, error, capped
#              usage), a newline, the commitment's parked line (commitment.py; "" without one), a
#              newline, the output bytes (at most max_output_bytes). One write per resolve (gas).
#              Older releases parked JSON only (commitment inside) and the output under "v:<id>".
#   "v:<id>"   (older releases) the resolved output as bytes, until the callback returns it
#   "y:<id>"   the resolve ticket: what resolve needs of a pending, unresolved request, as one short
#              `|`-separated line (never JSON: gas). Written by request_execution, taken (removed) by the
#              resolve that resumes the yield, removed by the callback or a cancel. Requests created
#              before tickets existed have none: resolve builds it from their record.
import json

import near

CFG = "cfg"
STATS = "st"
PENDING = "p"


def fail(msg):
    # Aborts the call: the host rolls back every write, log and promise of this call.
    near.panic_utf8(msg)


def read_json(key):
    raw = near.storage_read(key)
    if raw is None:
        return None
    return json.loads(raw)


def write_json(key, value):
    near.storage_write(key, json.dumps(value))


def config():
    cfg = read_json(CFG)
    if cfg is None:
        fail("contract is not initialized")
    return cfg


def save_config(cfg):
    write_json(CFG, cfg)


def stats():
    return read_json(STATS)


def save_stats(st):
    write_json(STATS, st)


def new_stats():
    return {
        "next_request_id": 1,
        "total_requests": 0,
        "pending": 0,
        "completed": 0,
        "failed": 0,
        "timed_out": 0,
        "cancelled": 0,
        "total_payment": "0",
        "total_charged": "0",
        "total_refunded": "0",
    }


def add_amount(st, field, amount):
    st[field] = str(int(st[field]) + amount)


def request_key(request_id):
    return "r:" + str(request_id)


def output_key(request_id):
    return "o:" + str(request_id)


def value_key(request_id):
    return "v:" + str(request_id)


def input_key(request_id):
    return "i:" + str(request_id)


def ticket_key(request_id):
    return "y:" + str(request_id)


def ticket(req, cfg):
    # data_id | response_format | max instructions | max time ms | compile allowance ms |
    # max http calls | max http bytes | input sha256 ("" for a request older than the field)
    limits = req["resource_limits"]
    allowance = req.get("compile_allowance_ms")
    if allowance is None:
        allowance = int(cfg["pricing"]["compile_allowance_ms"])
    calls = limits.get("max_http_calls") or 0
    http_bytes = (limits.get("max_http_kb") or 0) * 1024 if calls else 0
    return "|".join(
        (
            req["data_id"],
            req["response_format"],
            str(limits["max_instructions"]),
            str(limits["max_execution_seconds"] * 1000),
            str(allowance),
            str(calls),
            str(http_bytes),
            req.get("input_sha256") or "",
        )
    )


_PARKED_HEAD = b'{"success": %s, "error": null, "resources_used": {"instructions": %d, "time_ms": %d, "compile_time_ms": %d}}'


def _response_json(resp):
    # json.dumps(resp) for the parked response; the usual one (no error, no guest HTTP) is one
    # format (json.dumps walks it through the printer: ~0.03 TGas per item; each object costs gas).
    u = resp["resources_used"]
    if resp["error"] is not None or len(u) != 3:
        return json.dumps(resp).encode()
    ok = b"true" if resp["success"] else b"false"
    return _PARKED_HEAD % (ok, u["instructions"], u["time_ms"], u["compile_time_ms"])


def parked(resp, line, output):
    # The value of "o:<id>": JSON never contains a raw newline (json.dumps escapes it) and the
    # commitment line has none (its fields are hex, digits and printable ASCII without spaces), so
    # the first two newlines split it exactly; the output bytes follow as they are. `line`: the
    # parked line's parts (commitment.checked) or None. One join: each concatenation copies it all.
    if line is None:
        return b"".join((_response_json(resp), b"\n\n", output))
    return b"".join((_response_json(resp), b"\n", line[0], b" ", line[1], b" ", line[2], b"\n", output))


def read_parked(request_id):
    # -> (response dict, commitment line bytes or None, output bytes or None); (None, None, None)
    # when nothing is parked. Reads both layouts (older releases: JSON with the commitment inside,
    # output under "v:<id>").
    raw = near.storage_read(output_key(request_id))
    if raw is None:
        return None, None, None
    i = raw.find(b"\n")
    if i < 0:
        return json.loads(raw), None, near.storage_read(value_key(request_id))
    j = raw.find(b"\n", i + 1)
    return json.loads(raw[:i]), raw[i + 1 : j], raw[j + 1 :]


def is_resolved(req):
    # Resolved = resumed with a response parked for the callback. The resolve that resumes a yield
    # writes "o:<id>" and leaves the record alone (gas); records of older releases carry the flag.
    return req["resolved"] or near.storage_has_key(output_key(req["request_id"]))


def get_request(request_id):
    return read_json(request_key(request_id))


def get_request_with_input(request_id):
    req = get_request(request_id)
    if req is not None:
        inp = read_json(input_key(request_id))
        req["input_data"] = inp["input_data"] if inp is not None else None
        req["encrypted_secrets"] = inp["encrypted_secrets"] if inp is not None else None
    return req


def save_request(req):
    write_json(request_key(req["request_id"]), req)


def pending_ids():
    ids = read_json(PENDING)
    return ids if ids is not None else []


def add_pending(request_id):
    ids = pending_ids()
    ids.append(request_id)
    write_json(PENDING, ids)


def remove_pending(request_id):
    ids = pending_ids()
    if request_id in ids:
        ids.remove(request_id)
        write_json(PENDING, ids)


def parse_request_id(value, reject=fail):
    # request ids travel as decimal strings (JSON numbers are accepted too). `reject` is fail (panic)
    # everywhere but in resolve_executions, where a bad item is skipped instead of aborting the batch.
    if isinstance(value, bool):
        reject("request_id must be a decimal string")
    if isinstance(value, int):
        rid = value
    elif isinstance(value, str) and len(value) > 0 and len(value) <= 20 and value.isdigit():
        rid = int(value)
    else:
        reject("request_id must be a decimal string")
    if rid < 1:
        reject("request_id must be positive")
    return rid


def load_request(request_id, reject=fail):
    rid = parse_request_id(request_id, reject)
    req = get_request(rid)
    if req is None:
        reject("unknown request " + str(rid))
    return req
