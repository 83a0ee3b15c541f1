# Read-only views (MicroPython).
import near

import events
import execution
import pricing
import state
from state import fail

MAX_PAGE = 100


def get_request(request_id):
    req = state.get_request_with_input(state.parse_request_id(request_id))
    if req is not None and req["status"] == "pending" and not req["resolved"]:
        # resolved, callback not run yet: the resolve parked the response (and the commitment)
        # instead of rewriting the record (gas); the callback moves the commitment into the record
        parked, _ = execution.read_parked(req["request_id"])
        if parked is not None:
            req["resolved"] = True
            req["commitment"] = parked.get("commitment")
    return req


def _page_limit(limit):
    if limit is None:
        limit = 50
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        fail("limit must be a positive integer")
    return MAX_PAGE if limit > MAX_PAGE else limit


RESOLVED_NO = b'"resolved": false'


def _with_input(rid, record):
    # the stored record and its input object spliced into one object, without parsing either.
    # `"resolved": false` appears once, as the key itself (quotes inside strings are escaped); a
    # parked response means resolved (state.is_resolved).
    if RESOLVED_NO in record and near.storage_has_key(state.output_key(rid)):
        record = record.replace(RESOLVED_NO, b'"resolved": true')
    inp = near.storage_read(state.input_key(rid))
    return record if inp is None else record[:-1] + b", " + inp[1:]


def list_pending(from_id, limit):
    # Returns the JSON text itself: each stored record and its input object are spliced into one
    # object and joined without being parsed and dumped again (MicroPython's json costs ~2 TGas per
    # KB). Same shape as get_request.
    start = 0 if from_id is None else state.parse_request_id(from_id)
    limit = _page_limit(limit)
    out = []
    for rid in state.pending_ids():
        if rid < start:
            continue
        out.append(_with_input(rid, near.storage_read(state.request_key(rid))))
        if len(out) >= limit:
            break
    return b"[" + b",".join(out) + b"]"


def _created_height(record):
    # Read without parsing the record (gas): every string inside it is JSON-escaped, so the only
    # unescaped `"created_height":` is the key itself.
    key = b'"created_height":'
    i = record.find(key)
    if i < 0:
        return 0  # a record older than the field: created before any height asked for
    i += len(key)
    while record[i] == 32:
        i += 1
    j = i
    while 48 <= record[j] <= 57:
        j += 1
    return int(record[i:j])


def list_pending_before(height, from_id, limit):
    # Pending requests created before block `height`, ascending id, same shape as get_request. Ids
    # grow with the height they were created at, so the scan stops at the first younger request:
    # the records read are the page plus one, whatever the number of younger pending requests.
    if isinstance(height, bool) or not isinstance(height, int) or height < 0:
        fail("height must be a non-negative integer")
    start = 0 if from_id is None else state.parse_request_id(from_id)
    limit = _page_limit(limit)
    out = []
    for rid in state.pending_ids():
        if rid < start:
            continue
        record = near.storage_read(state.request_key(rid))
        if _created_height(record) >= height:
            break
        out.append(_with_input(rid, record))
        if len(out) >= limit:
            break
    return b"[" + b",".join(out) + b"]"


def get_config():
    cfg = state.config()
    return {
        "owner_id": cfg["owner_id"],
        "operator_id": cfg["operator_id"],
        "paused": cfg["paused"],
        "default_limits": cfg["default_limits"],
        "max_limits": get_max_limits(),
        "callback_gas": cfg["callback_gas"],
        "yield_timeout_blocks": cfg["yield_timeout_blocks"],
        "stale_after_ns": execution.STALE_AFTER_NS,
        "max_input_bytes": cfg["max_input_bytes"],
        "max_secrets_bytes": cfg["max_secrets_bytes"],
        "max_output_bytes": cfg["max_output_bytes"],
        "max_resume_payload_bytes": execution.MAX_RESUME_PAYLOAD,
        "event_standard": events.STANDARD,
        "event_version": events.VERSION,
        "max_error_bytes": execution.MAX_ERROR_BYTES,
        "resolve_gas": cfg.get("resolve_gas"),
        "randomness_public_key": cfg.get("randomness_public_key"),
    }


def get_max_limits():
    return {
        "max_instructions": pricing.MAX_INSTRUCTIONS,
        "max_memory_mb": pricing.MAX_MEMORY_MB,
        "max_execution_seconds": pricing.MAX_EXECUTION_SECONDS,
    }


def estimate(resource_limits):
    cfg = state.config()
    limits = pricing.resolve_limits(resource_limits, cfg["default_limits"], fail)
    return str(pricing.estimate(cfg["pricing"], limits))
