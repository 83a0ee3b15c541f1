# Request lifecycle (MicroPython): request -> resolve (operator) -> callback (charge/refund) | cancel.
import json

import near

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
MAX_ERROR_LEN = 1024


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
    if len(input_data) > cfg["max_input_bytes"]:
        fail("input_data exceeds " + str(cfg["max_input_bytes"]) + " bytes")
    if encrypted_secrets is not None:
        if not isinstance(encrypted_secrets, str):
            fail("encrypted_secrets must be a string")
        if len(encrypted_secrets) > cfg["max_secrets_bytes"]:
            fail("encrypted_secrets exceeds " + str(cfg["max_secrets_bytes"]) + " bytes")
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
    }
    state.save_request(req)
    state.write_json(state.input_key(rid), {"input_data": input_data, "encrypted_secrets": encrypted_secrets})
    state.add_pending(rid)
    state.save_stats(st)
    events.execution_requested(req, input_data, encrypted_secrets)
    near.promise_return(promise)


def _uint(value, name):
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        fail(name + " must be a non-negative integer")
    return value


def resolve_execution(request_id, response):
    cfg = state.config()
    if near.predecessor_account_id() != cfg["operator_id"]:
        fail("only the operator can resolve executions")
    req = state.load_request(request_id)
    if req["status"] != "pending":
        fail("request " + str(req["request_id"]) + " is not pending (" + req["status"] + ")")
    if req["resolved"]:
        fail("request " + str(req["request_id"]) + " is already resolved")
    if not isinstance(response, dict):
        fail("response must be an object {success, output?, error?, resources_used}")
    success = response.get("success")
    if not isinstance(success, bool):
        fail("response.success must be a boolean")
    output = response.get("output")
    if output is not None and not isinstance(output, str):
        fail("response.output must be a string (base64 for Bytes)")
    if output is not None and len(output) > cfg["max_output_bytes"]:
        fail("response.output exceeds " + str(cfg["max_output_bytes"]) + " bytes")
    error = response.get("error")
    if error is not None:
        if not isinstance(error, str):
            fail("response.error must be a string")
        error = error[:MAX_ERROR_LEN]
    used = response.get("resources_used")
    if used is None:
        used = {}
    if not isinstance(used, dict):
        fail("response.resources_used must be an object")
    resp = {
        "success": success,
        "output": output if success else None,
        "error": error,
        "resources_used": {
            "instructions": _uint(used.get("instructions"), "instructions"),
            "time_ms": _uint(used.get("time_ms"), "time_ms"),
            "compile_time_ms": _uint(used.get("compile_time_ms"), "compile_time_ms"),
        },
    }
    payload = json.dumps(resp)
    if len(payload) > MAX_RESUME_PAYLOAD:
        # Too big for the yield payload: park it in state, the callback reads and deletes it.
        near.storage_write(state.output_key(req["request_id"]), payload)
        payload = json.dumps({"stored": True})
    if not near.promise_yield_resume(bytes.fromhex(req["data_id"]), payload):
        fail("the yield of request " + str(req["request_id"]) + " has expired")
    req["resolved"] = True
    state.save_request(req)


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


def on_execution_response(request_id):
    if near.predecessor_account_id() != near.current_account_id():
        fail("on_execution_response is private")
    req = state.load_request(request_id)
    rid = req["request_id"]
    status, data = near.promise_result(0)
    if req["status"] != "pending":
        # cancelled (already refunded in full) while the yield was outstanding
        near.storage_remove(state.output_key(rid))
        _return(None)
        return
    now = near.block_timestamp()
    payment = int(req["payment"])
    cfg = state.config()
    if status != 1:
        # yield timed out (nobody resumed it within the yield window): full refund
        resp = {
            "success": False,
            "output": None,
            "error": "timeout",
            "resources_used": {"instructions": 0, "time_ms": 0, "compile_time_ms": 0},
        }
        req["status"] = "timed_out"
        charged = 0
    else:
        resp = json.loads(data)
        if resp.get("stored"):
            key = state.output_key(rid)
            resp = state.read_json(key)
            near.storage_remove(key)
        used = resp["resources_used"]
        charged = pricing.cost(cfg["pricing"], used["instructions"], used["time_ms"], used["compile_time_ms"])
        if charged > payment:
            charged = payment
        req["status"] = "completed" if resp["success"] else "failed"
    refunded = payment - charged
    value = None
    if req["status"] == "completed":
        out = resp["output"]
        fmt = req["response_format"]
        if fmt == "Json":
            try:
                value = json.loads(out if out is not None else "null")
            except ValueError:
                req["status"] = "failed"
                resp["error"] = "output is not valid JSON"
        else:
            value = out if out is not None else ""
    req["success"] = req["status"] == "completed"
    req["error"] = resp["error"] if not req["success"] else None
    req["resources_used"] = resp["resources_used"]
    req["payment_charged"] = str(charged)
    req["payment_refunded"] = str(refunded)
    req["completed_at_ns"] = now
    state.save_request(req)
    state.remove_pending(rid)
    near.storage_remove(state.input_key(rid))
    _finish_stats(state.stats(), req, charged, refunded)
    _refund(req["sender_id"], refunded)
    events.execution_completed(req, now)
    _return(value if req["success"] else None)


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
    _finish_stats(state.stats(), req, 0, payment)
    _refund(req["sender_id"], payment)
    events.execution_cancelled(req["request_id"], reason, payment)


def cancel_stale_execution(request_id):
    req = state.load_request(request_id)
    if near.predecessor_account_id() != req["sender_id"]:
        fail("only the sender can cancel a request")
    if req["status"] != "pending":
        fail("request " + str(req["request_id"]) + " is not pending (" + req["status"] + ")")
    if req["resolved"]:
        fail("request " + str(req["request_id"]) + " is resolved; its callback settles it")
    age = near.block_timestamp() - req["created_at_ns"]
    if age < STALE_AFTER_NS:
        fail("request is not stale yet: pending for " + str(age // 1000000000) + " s of 600 s")
    _cancel(req, "stale")


def emergency_cancel(request_id, reason):
    req = state.load_request(request_id)
    if req["status"] != "pending":
        fail("request " + str(req["request_id"]) + " is not pending (" + req["status"] + ")")
    if reason is None:
        reason = "emergency"
    if not isinstance(reason, str) or len(reason) == 0 or len(reason) > 256:
        fail("reason must be a non-empty string of at most 256 characters")
    _cancel(req, reason)
