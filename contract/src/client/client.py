# Test client of the offshore contract (MicroPython, nearc entry file): asks for an execution in a
# cross-contract call and receives the output in its own callback, as a real consumer would.
import json

import near
from near_sdk_py import call, view

REQUEST_GAS = 150 * 10**12
CALLBACK_GAS = 20 * 10**12


@call
def run(offshore_id, code_source, resource_limits=None, input_data="", response_format="Text"):
    # Forwards the attached deposit as the payment; the unused part is refunded to this contract.
    args = json.dumps(
        {
            "code_source": code_source,
            "resource_limits": resource_limits,
            "input_data": input_data,
            "response_format": response_format,
        }
    )
    p = near.promise_create(offshore_id, "request_execution", args, near.attached_deposit(), REQUEST_GAS)
    p2 = near.promise_then(p, near.current_account_id(), "on_result", "{}", 0, CALLBACK_GAS)
    near.promise_return(p2)


@call
def on_result():
    if near.predecessor_account_id() != near.current_account_id():
        near.panic_utf8("on_result is private")
    status, data = near.promise_result(0)
    text = data.decode() if data is not None else None
    result = {"status": status, "value": json.loads(text) if status == 1 else None}
    near.storage_write("last", json.dumps(result))
    near.storage_write("count", str(int(near.storage_read("count") or b"0") + 1))
    near.log_utf8("client got " + json.dumps(result))
    near.value_return(json.dumps(result))


@view
def get_last():
    raw = near.storage_read("last")
    near.value_return(raw if raw is not None else "null")


@view
def get_count():
    near.value_return(near.storage_read("count") or b"0")
