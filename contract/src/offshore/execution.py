# Request lifecycle (MicroPython): request -> resolve (operator) -> callback (charge/refund) | cancel.
import json

import near

import commitment
import events
import pricing
import state
from state import fail

BUILD_TARGETS = ("wasm32-wasip1", "wasm", "python")
RESPONSE_FORMATS = ("Text", "Json", "Bytes")
HEX = "0123456789abcdef"
MAX_RESUME_PAYLOAD = 1024  # nearcore's limit on promise_yield_resume payloads
STALE_AFTER_NS = 600 * 1000000000  # cancel_stale_execution: 10 minutes
MAX_REPO_LEN = 512
MAX_PATH_LEN = 256
MAX_ERROR_BYTES = 1024


def _utf8_len(value):
    # Sizes are UTF-8 bytes, never characters: 8192 x U+20AC is 24 KB.
    return len(value.encode())


def _has_surrogate(raw):
    # A UTF-16 surrogate (U+D800-DFFF) encoded as UTF-8: what MicroPython's json makes of a \ud83d
    # escape. Such text is not valid UTF-8 (log_utf8 would trap, a caller would get garbage), so it is
    # refused. ED A0-BF only ever starts a surrogate; `in` is a C scan, so this costs ~nothing.
    if b"\xed" not in raw:
        return False
    for second in range(0xA0, 0xC0):
        if bytes((0xED, second)) in raw:
            return True
    return False


def _check_text(value, name, limit):
    raw = value.encode()
    if len(raw) > limit:
        fail(name + " exceeds " + str(limit) + " bytes (UTF-8)")
    if _has_surrogate(raw):
        fail(name + " contains UTF-16 surrogates: send the arguments as UTF-8 JSON (no \\ud800 escapes)")


def _printable(s):
    for ch in s:
        o = ord(ch)
        if o <= 32 or o == 127:
            return False
    return True


def validate_code_source(src):
    if not isinstance(src, dict):
        fail("code_source must be an object {repo, commit, build_target}")
    for k in src:
        if k not in ("repo", "commit", "build_target", "path"):
            fail("unknown code_source field " + str(k))
    repo = src.get("repo")
    if not isinstance(repo, str) or len(repo) == 0 or len(repo) > MAX_REPO_LEN or not _printable(repo):
        fail("code_source.repo must be a non-empty URL without spaces")
    commit = src.get("commit")
    if not isinstance(commit, str) or len(commit) != 40:
        fail("code_source.commit must be a full 40-hex commit sha")
    for ch in commit:
        if ch not in HEX:
            fail("code_source.commit must be a full 40-hex commit sha (lowercase)")
    target = src.get("build_target")
    if target not in BUILD_TARGETS:
        fail("code_source.build_target must be one of wasm32-wasip1, wasm, python")
    path = src.get("path")
    out = {"repo": repo, "commit": commit, "build_target": target, "path": None}
    if target == "wasm":
        if not isinstance(path, str) or len(path) == 0 or len(path) > MAX_PATH_LEN:
            fail("code_source.path (the .wasm file in the repo) is required for build_target wasm")
        if path.startswith("/") or ".." in path.split("/") or not _printable(path):
            fail("code_source.path must be a relative path inside the repo")
        if not path.endswith(".wasm"):
            fail("code_source.path must name a .wasm file")
        out["path"] = path
    elif path is not None:
        fail("code_source.path is only allowed with build_target wasm")
    return out


def request_execution(code_source, resource_limits, input_data, encrypted_secrets, response_format):
    cfg = state.config()
    if cfg["paused"]:
        fail("contract is paused")
    src = validate_code_source(code_source)
    limits = pricing.resolve_limits(resource_limits, cfg["default_limits"], fail)
    if input_data is None:
        input_data = ""
    if not isinstance(input_data, str):
        fail("input_data must be a string")
    _check_text(input_data, "input_data", cfg["max_input_bytes"])
    if encrypted_secrets is not None:
        if not isinstance(encrypted_secrets, str):
            fail("encrypted_secrets must be a string")
        _check_text(encrypted_secrets, "encrypted_secrets", cfg["max_secrets_bytes"])
    if response_format is None:
        response_format = "Text"
    if response_format not in RESPONSE_FORMATS:
        fail("response_format must be one of Text, Json, Bytes")
    deposit = near.attached_deposit()
    needed = pricing.estimate(cfg["pricing"], limits)
    if deposit < needed:
        fail("attached deposit " + str(deposit) + " is below the estimated cost " + str(needed))

    st = state.stats()
    rid = st["next_request_id"]
    st["next_request_id"] = rid + 1
    st["total_requests"] += 1
    st["pending"] += 1
    state.add_amount(st, "total_payment", deposit)
    args = json.dumps({"request_id": str(rid)})
    promise, data_id = near.promise_yield_create("on_execution_response", args, cfg["callback_gas"], 0)
    height = near.block_height()
    req = {
        "request_id": rid,
        "sender_id": near.predecessor_account_id(),
        "code_source": src,
        "resource_limits": limits,
        "response_format": response_format,
        "payment": str(deposit),
        "data_id": data_id.hex(),
        "status": "pending",
        "resolved": False,
        "created_at_ns": near.block_timestamp(),
        "created_height": height,
        "yield_deadline_height": height + cfg["yield_timeout_blocks"],
        "completed_at_ns": None,
        "success": None,
        "error": None,
        "resources_used": None,
        "payment_charged": None,
        "payment_refunded": None,
        # the charge never exceeds what the sender agreed to: the estimate at request time, and
        # compile time at most the allowance it reserved (pricing may change before settlement)
        "max_charge": str(needed),
        "compile_allowance_ms": int(cfg["pricing"]["compile_allowance_ms"]),
        # what a result commitment's input_sha256 must equal (issue 15)
        "input_sha256": near.sha256(input_data.encode()).hex(),
    }
    state.save_request(req)
    state.write_json(state.input_key(rid), {"input_data": input_data, "encrypted_secrets": encrypted_secrets})
    near.storage_write(state.ticket_key(rid), state.ticket(req, cfg))
    state.add_pending(rid)
    state.save_stats(st)
    events.execution_requested(req, input_data, encrypted_secrets)
    near.promise_return(promise)


class Invalid(Exception):
    # A resolve item the contract refuses (bad request id, unknown request, malformed response):
    # resolve_execution panics with the message, resolve_executions skips the item and reports it.
    pass


def _invalid(msg):
    raise Invalid(msg)


# Skip reasons of resolve_item: the request can no longer be resolved (a retry, a race with a
# cancel or the yield timeout); nothing is written for it.
NOT_PENDING = "not_pending"
ALREADY_RESOLVED = "already_resolved"
YIELD_EXPIRED = "yield_expired"
INVALID = "invalid"


def _uint(value, name):
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        _invalid(name + " must be a non-negative integer")
    return value


def _capped_usage(t, used):
    # Each charged quantity is capped at what the request allowed (`t`: its split resolve ticket, as
    # bytes): the operator cannot bill beyond the limits the sender paid for (the estimate is the
    # ceiling). `used`: the object, or a compact item's list (values in USAGE_FIELDS order, 3 or 5).
    if isinstance(used, list):
        instructions, time_ms, compile_ms = used[0], used[1], used[2]
        calls, nbytes = (used[3], used[4]) if len(used) == 5 else (None, None)
    else:
        instructions, time_ms, compile_ms = used.get("instructions"), used.get("time_ms"), used.get("compile_time_ms")
        calls, nbytes = used.get("http_calls"), used.get("http_bytes")
    caps = t[1]
    # the usual values (ints, not bools) are taken as they are: _uint and min() are calls per value
    if type(instructions) is not int or instructions < 0:
        instructions = _uint(instructions, "instructions")
    if type(time_ms) is not int or time_ms < 0:
        time_ms = _uint(time_ms, "time_ms")
    if type(compile_ms) is not int or compile_ms < 0:
        compile_ms = _uint(compile_ms, "compile_time_ms")
    out = {
        "instructions": instructions if instructions < caps[1] else caps[1],
        "time_ms": time_ms if time_ms < caps[2] else caps[2],
        "compile_time_ms": compile_ms if compile_ms < caps[3] else caps[3],
    }
    if caps[4] != 0:
        # guest HTTP: calls and bytes, capped at the budget the request declared and paid for
        out["http_calls"] = min(_uint(calls, "http_calls"), caps[4])
        out["http_bytes"] = min(_uint(nbytes, "http_bytes"), caps[5])
    return out


_CAPS = {}  # per call: a ticket's middle fields -> (format, caps); a batch's requests mostly share them


def split_ticket(ticket):
    # -> (data_id hex, (response format, max instructions, max ms, compile allowance ms, max http
    # calls, max http bytes), input sha256 hex or b""), from the ticket's bytes (state.ticket):
    # data_id is 64 hex characters, the input hash the last field. Three slices and a lookup instead
    # of eight pieces and five int() per item (each object allocated costs gas).
    end = ticket.rfind(b"|")
    mid = ticket[65:end]
    caps = _CAPS.get(mid)
    if caps is None:
        f = mid.split(b"|")
        caps = _CAPS[mid] = (f[0], int(f[1]), int(f[2]), int(f[3]), int(f[4]), int(f[5]))
    return ticket[:64], caps, ticket[end + 1 :]


def _error_text(error):
    # At most MAX_ERROR_BYTES of UTF-8, cut on a character boundary.
    raw = error.encode()
    if _has_surrogate(raw):
        _invalid("response.error contains UTF-16 surrogates: send the arguments as UTF-8 JSON")
    if len(raw) <= MAX_ERROR_BYTES:
        return error
    # Back off over UTF-8 continuation bytes (10xxxxxx): raw[cut] is the first byte left out, so the
    # cut never splits a character. No exception handling: catching decode's UnicodeError here
    # trapped MicroPython (memory_out_of_bounds) after the resolve-ticket change (cause not isolated;
    # test_attack_corpus.py "5000 euro signs").
    cut = MAX_ERROR_BYTES
    while cut > 0 and (raw[cut] & 0xC0) == 0x80:
        cut -= 1
    return raw[:cut].decode()


def _assert_operator(cfg):
    if near.predecessor_account_id() != cfg["operator_id"]:
        fail("only the operator can resolve executions")


def validate_response(cfg, t, response):
    # -> (parked response, output bytes or None). Raises Invalid. Never parses the output: it is
    # checked for size and UTF-8 and parked as bytes; the callback returns it as is (Json: validated
    # off chain) or as one JSON string (Text, Bytes). So every output within max_output_bytes costs a
    # bounded amount of gas and cannot make the callback trap.
    if not isinstance(response, dict):
        _invalid("response must be an object {success, output?, error?, resources_used}")
    used = response.get("resources_used")
    if isinstance(used, list):
        _invalid("response.resources_used must be an object")
    return _validate(cfg, t, response.get("success"), response.get("output"), response.get("error"), used)


def _validate(cfg, t, success, output, error, used):
    # validate_response on the fields themselves (a compact item has no dict to build).
    if not isinstance(success, bool):
        _invalid("response.success must be a boolean")
    raw = None
    if output is not None:
        if not isinstance(output, str):
            _invalid("response.output must be a string (base64 for Bytes)")
        raw = output.encode()
        if len(raw) > cfg["max_output_bytes"]:
            _invalid("response.output exceeds " + str(cfg["max_output_bytes"]) + " bytes (UTF-8)")
        if b"\xed" in raw and _has_surrogate(raw):  # the test inline first: one call less per item
            _invalid("response.output contains UTF-16 surrogates: send the arguments as UTF-8 JSON")
    if error is not None:
        if not isinstance(error, str):
            _invalid("response.error must be a string")
        error = _error_text(error)
    if used is None:
        used = {}
    if not isinstance(used, dict) and not isinstance(used, list):
        _invalid("response.resources_used must be an object")
    if success and t[1][0] == b"Json" and (raw is None or len(raw.strip()) == 0):
        success = False
        error = "invalid_output: empty output is not valid JSON"
    return {"success": success, "error": error, "resources_used": _capped_usage(t, used)}, raw


def _resolve(cfg, rid, t, response, compact):
    # One resolvable request (`rid`: its id as a decimal str, `t`: its split ticket, bytes): None once resumed and parked,
    # YIELD_EXPIRED, or raises Invalid. `response`: the object form, or a compact item (a list).
    # The record is neither parsed nor rewritten (gas: it is the largest value of a request):
    # "resolved" is the parked response's existence (state.is_resolved), and the callback moves the
    # commitment into the record.
    if compact:  # a compact item (_compact_response)
        resp, raw = _validate(cfg, t, response[1], response[2], response[3], response[4])
        c = response[5]
    else:
        resp, raw = validate_response(cfg, t, response)
        c = response.get("commitment")
        if isinstance(c, str):
            _invalid("response.commitment must be an object")  # the line form is for compact items
    # The result commitment (issue 15): checked here, so the batch method carries it too; parked
    # as one line (commitment.py), expanded by the callback.
    line = commitment.checked(cfg, rid, t[0], t[2], c, raw, _invalid)
    # Resumed before anything is written, so an expired yield leaves nothing behind; the callback
    # runs in a later receipt and sees what this call writes below.
    if not near.promise_yield_resume(bytes.fromhex(t[0]), b'{"stored": true}'):
        return YIELD_EXPIRED, "the yield of request " + rid + " has expired"
    # Parked in state (never in the 1024-byte yield payload): the callback reads it, and if the
    # callback fails, cancel_stale_execution settles the request from it. One write: response,
    # commitment line and output bytes (state.parked).
    value = raw if resp["success"] and raw is not None else b""
    near.storage_write("o:" + rid, state.parked(resp, line, value))  # state.output_key, inline
    return None


def resolve_item(cfg, request_id, response, compact=False):
    # Resolves one request: returns None, or (reason, message) when it can no longer be resolved
    # (NOT_PENDING, ALREADY_RESOLVED, YIELD_EXPIRED; nothing written). Raises Invalid for a bad item.
    # The ticket is taken (removed) first: one host call reads what resolve needs and marks the
    # request as being resolved; it is put back when the item is skipped, so a skip writes nothing.
    rid = state.parse_request_id(request_id, _invalid)
    srid = str(rid)  # once: the keys and the proof's message take it
    key = "y:" + srid  # state.ticket_key, inline (one call less per item)
    ticket = near.storage_remove(key)
    if ticket is None:
        req = state.load_request(rid, _invalid)
        if req["status"] != "pending":
            return NOT_PENDING, "request " + str(rid) + " is not pending (" + req["status"] + ")"
        if state.is_resolved(req):
            return ALREADY_RESOLVED, "request " + str(rid) + " is already resolved"
        ticket = state.ticket(req, cfg)  # a request created before tickets existed
        return _resolve(cfg, srid, split_ticket(ticket.encode()), response, compact)
    try:
        skipped = _resolve(cfg, srid, split_ticket(ticket), response, compact)
    except Invalid:
        near.storage_write(key, ticket)
        raise
    if skipped is not None:
        near.storage_write(key, ticket)
    return skipped


def resolve_execution(request_id, response):
    cfg = state.config()
    _assert_operator(cfg)
    try:
        skipped = resolve_item(cfg, request_id, response)
    except Invalid as e:
        fail(str(e))
    if skipped is not None:
        fail(skipped[1])


USAGE_FIELDS = ("instructions", "time_ms", "compile_time_ms", "http_calls", "http_bytes")


def _compact_response(item):
    # The compact item: [request_id, success, output, error, usage, commitment] with usage
    # [instructions, time_ms, compile_time_ms(, http_calls, http_bytes)] and commitment the line form
    # (commitment.py: what settle sends), the values of commitment.FIELDS in order, or null. The same
    # response as the object form without its ~260 bytes of keys per item (JSON parsing costs gas
    # per byte); checked by the same code. Returned as the item (no dict to build).
    if len(item) != 6:
        _invalid("a compact item is [request_id, success, output, error, usage, commitment]")
    usage = item[4]
    if isinstance(usage, list):
        if len(usage) != 3 and len(usage) != 5:
            _invalid("usage must be [instructions, time_ms, compile_time_ms(, http_calls, http_bytes)]")
    c = item[5]
    if isinstance(c, list):
        if len(c) != len(commitment.FIELDS):
            _invalid("a compact commitment has the " + str(len(commitment.FIELDS)) + " values of commitment.FIELDS")
        item[5] = dict(zip(commitment.FIELDS, c))
    return item


def resolve_executions(items):
    # Batch settlement (operator): each item {request_id, response} resumes its own yield. An item
    # that is no longer resolvable or is invalid is skipped and reported (return value and a
    # resolve_skipped event); the others are resolved. Only a malformed call panics.
    cfg = state.config()
    _assert_operator(cfg)
    if not isinstance(items, list):
        fail("items must be a list of {request_id, response}")
    resolved = []
    skipped = []
    for item in items:
        rid = None
        try:
            compact = isinstance(item, list)
            if compact:
                rid = item[0] if len(item) > 0 else None
                response = item
                if len(item) != 6 or isinstance(item[4], list) and len(item[4]) != 3 and len(item[4]) != 5 or isinstance(item[5], list):
                    _compact_response(item)  # refuses a bad shape, or turns the commitment's values into its object form
            elif isinstance(item, dict):
                rid = item.get("request_id")
                response = item.get("response")
            else:
                _invalid("an item must be an object {request_id, response} or a compact array")
            why = resolve_item(cfg, rid, response, compact)
        except Invalid as e:
            why = (INVALID, str(e))
        if why is None:
            resolved.append(str(rid))
        else:
            skipped.append({"request_id": str(rid), "reason": why[0], "message": why[1]})
    if skipped:
        events.resolve_skipped([{"request_id": s["request_id"], "reason": s["reason"]} for s in skipped])
    return {"resolved": resolved, "skipped": skipped}


def _refund(account_id, amount):
    if amount > 0:
        p = near.promise_batch_create(account_id)
        near.promise_batch_action_transfer(p, amount)


def _finish_stats(st, req, charged, refunded):
    st["pending"] -= 1
    st[req["status"]] += 1
    state.add_amount(st, "total_charged", charged)
    state.add_amount(st, "total_refunded", refunded)
    state.save_stats(st)


def _return(value):
    near.value_return(json.dumps(value))


def _drop_parked(rid):
    near.storage_remove(state.output_key(rid))
    near.storage_remove(state.value_key(rid))  # parked by an older release


def read_parked(rid):
    # -> (response with its commitment in the object form, output bytes), or (None, None).
    resp, line, raw = state.read_parked(rid)
    if resp is not None and line:
        resp["commitment"] = commitment.expand(line)
    return resp, raw


def _charge(cfg, req, used):
    http_kb = -(-used.get("http_bytes", 0) // 1024)
    charged = pricing.cost(
        cfg["pricing"],
        used["instructions"],
        used["time_ms"],
        used["compile_time_ms"],
        used.get("http_calls", 0),
        http_kb,
    )
    cap = int(req["payment"])
    if req.get("max_charge") is not None and int(req["max_charge"]) < cap:
        cap = int(req["max_charge"])
    return charged if charged < cap else cap


def _return_value(req, raw):
    # The bytes the caller receives: Json as validated off chain, Text and Bytes as a JSON string
    # (json.dumps of a str is one non-recursive pass). Nothing here can trap on any output.
    if raw is None:
        raw = b""
    if req["response_format"] == "Json":
        return raw
    return json.dumps(raw.decode())


def _complete(req, resp, charged, value):
    # Final accounting, shared by the callback and the sender's recovery of a failed callback.
    now = near.block_timestamp()
    rid = req["request_id"]
    payment = int(req["payment"])
    refunded = payment - charged
    req["success"] = req["status"] == "completed"
    req["error"] = resp["error"] if not req["success"] else None
    req["resources_used"] = resp["resources_used"]
    req["payment_charged"] = str(charged)
    req["payment_refunded"] = str(refunded)
    req["completed_at_ns"] = now
    if "commitment" in resp:
        req["commitment"] = resp["commitment"]  # parked by the resolve (older releases: in the record)
    state.save_request(req)
    state.remove_pending(rid)
    near.storage_remove(state.input_key(rid))
    near.storage_remove(state.ticket_key(rid))
    _finish_stats(state.stats(), req, charged, refunded)
    _refund(req["sender_id"], refunded)
    events.execution_completed(req, now)
    near.value_return(value if req["success"] else b"null")


def on_execution_response(request_id):
    if near.predecessor_account_id() != near.current_account_id():
        fail("on_execution_response is private")
    req = state.load_request(request_id)
    rid = req["request_id"]
    status, data = near.promise_result(0)
    if req["status"] != "pending":
        # cancelled (already refunded in full) while the yield was outstanding
        _drop_parked(rid)
        _return(None)
        return
    cfg = state.config()
    resp, raw = read_parked(rid) if status == 1 else (None, None)
    if resp is None:
        # yield timed out (nobody resumed it within the yield window): full refund
        resp = {
            "success": False,
            "error": "timeout",
            "resources_used": {"instructions": 0, "time_ms": 0, "compile_time_ms": 0},
        }
        req["status"] = "timed_out"
        charged = 0
    else:
        charged = _charge(cfg, req, resp["resources_used"])
        req["status"] = "completed" if resp["success"] else "failed"
        req["resolved"] = True
    value = _return_value(req, raw) if req["status"] == "completed" else None
    _drop_parked(rid)
    _complete(req, resp, charged, value)


def _cancel(req, reason):
    payment = int(req["payment"])
    req["status"] = "cancelled"
    req["success"] = False
    req["error"] = reason
    req["payment_charged"] = "0"
    req["payment_refunded"] = str(payment)
    req["completed_at_ns"] = near.block_timestamp()
    state.save_request(req)
    state.remove_pending(req["request_id"])
    near.storage_remove(state.input_key(req["request_id"]))
    near.storage_remove(state.ticket_key(req["request_id"]))
    _drop_parked(req["request_id"])
    _finish_stats(state.stats(), req, 0, payment)
    _refund(req["sender_id"], payment)
    events.execution_cancelled(req["request_id"], reason, payment)


def cancel_stale_execution(request_id):
    req = state.load_request(request_id)
    if near.predecessor_account_id() != req["sender_id"]:
        fail("only the sender can cancel a request")
    if req["status"] != "pending":
        fail("request " + str(req["request_id"]) + " is not pending (" + req["status"] + ")")
    age = near.block_timestamp() - req["created_at_ns"]
    if age < STALE_AFTER_NS:
        fail("request is not stale yet: pending for " + str(age // 1000000000) + " s of 600 s")
    if state.is_resolved(req):
        req["resolved"] = True
        _recover(req)
        return
    _cancel(req, "stale")


def _recover(req):
    # Resolved but still pending: its callback failed (it runs a block after the resume). Once the
    # yield window is over no callback can come any more; the sender then settles the request from
    # the parked response: charged for the compute reported (capped), the rest refunded, no output.
    if near.block_height() <= req["yield_deadline_height"]:
        fail(
            "request "
            + str(req["request_id"])
            + " is resolved; its callback settles it (recoverable after block "
            + str(req["yield_deadline_height"])
            + ")"
        )
    rid = req["request_id"]
    resp, _ = read_parked(rid)
    if resp is None:
        _cancel(req, "stale")
        return
    cfg = state.config()
    req["status"] = "failed"
    resp["error"] = "callback_failed: settled by the sender (cancel_stale_execution)"
    charged = _charge(cfg, req, resp["resources_used"])
    _drop_parked(rid)
    _complete(req, resp, charged, None)


def emergency_cancel(request_id, reason):
    req = state.load_request(request_id)
    if req["status"] != "pending":
        fail("request " + str(req["request_id"]) + " is not pending (" + req["status"] + ")")
    if reason is None:
        reason = "emergency"
    if not isinstance(reason, str) or len(reason) == 0 or len(reason) > 256:
        fail("reason must be a non-empty string of at most 256 characters")
    _cancel(req, reason)
