# NEP-297 events of the offshore contract (MicroPython).
import json

import near

from state import fail

STANDARD = "near-offshore"
VERSION = "1.1.0"  # 1.1.0: execution_completed carries `commitment` (issue 15)


MAX_LOG_BYTES = 16384  # nearcore's max_total_log_length: one event is the only log of a call


def _line(event, data):
    return "EVENT_JSON:" + json.dumps({"standard": STANDARD, "version": VERSION, "event": event, "data": data})


def emit(event, data):
    line = _line(event, [data])
    size = len(line.encode())
    if size > MAX_LOG_BYTES:
        # a clear panic instead of the host's TotalLogLengthExceeded (JSON escapes inflate text)
        fail("event " + event + " is " + str(size) + " bytes once JSON-escaped; NEAR logs take at most " + str(MAX_LOG_BYTES))
    near.log_utf8(line)


def execution_requested(req, input_data, encrypted_secrets):
    emit(
        "execution_requested",
        {
            "request_id": str(req["request_id"]),
            "sender_id": req["sender_id"],
            "code_source": req["code_source"],
            "resource_limits": req["resource_limits"],
            "input_data": input_data,
            "encrypted_secrets": encrypted_secrets,
            "response_format": req["response_format"],
            "payment": req["payment"],
            "data_id": req["data_id"],
            "timestamp": req["created_at_ns"],
        },
    )


def execution_completed(req, now_ns):
    emit(
        "execution_completed",
        {
            "request_id": str(req["request_id"]),
            "sender_id": req["sender_id"],
            "success": req["status"] == "completed",
            "error": req["error"],
            "resources_used": req["resources_used"],
            "payment_charged": req["payment_charged"],
            "payment_refunded": req["payment_refunded"],
            "timestamp": now_ns,
            "commitment": req.get("commitment"),
        },
    )


def execution_cancelled(request_id, reason, refunded):
    emit(
        "execution_cancelled",
        {"request_id": str(request_id), "reason": reason, "refunded": str(refunded)},
    )


def resolve_skipped(skipped):
    # skipped: [{request_id, reason}] of one resolve_executions call. The call's return value has them
    # all; the event keeps as many as fit NEAR's log limit and counts the rest in `omitted`.
    omitted = 0
    while True:
        line = _line("resolve_skipped", [{"skipped": skipped, "omitted": omitted}])
        if len(line.encode()) <= MAX_LOG_BYTES:
            break
        keep = len(skipped) // 2
        omitted += len(skipped) - keep
        skipped = skipped[:keep]
    near.log_utf8(line)
