# NEP-297 events of the offshore contract (MicroPython).
import json

import near

STANDARD = "near-offshore"
VERSION = "1.0.0"


def emit(event, data):
    near.log_utf8(
        "EVENT_JSON:"
        + json.dumps({"standard": STANDARD, "version": VERSION, "event": event, "data": [data]})
    )


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
        },
    )


def execution_cancelled(request_id, reason, refunded):
    emit(
        "execution_cancelled",
        {"request_id": str(request_id), "reason": reason, "refunded": str(refunded)},
    )
