# NEAR Offshore contract, nearc entry file (MicroPython): every exported method is declared here and
# delegates to execution.py (request lifecycle), admin.py (owner), views.py and state.py.
# Arguments arrive as JSON keyword arguments (near_sdk_py decorators); results return as JSON.
import json

import near
from near_sdk_py import call, init, view

import admin
import execution
import state
import upgrade
import views


def _json(value):
    # Explicit JSON return: near_sdk_py would return a bare str unquoted.
    near.value_return(json.dumps(value))


@init
def new(owner_id, operator_id, pricing=None, default_limits=None, randomness_public_key=None):
    admin.init(owner_id, operator_id, pricing, default_limits, randomness_public_key)
    upgrade.stamp()


@call
def request_execution(
    code_source, resource_limits=None, input_data="", encrypted_secrets=None, response_format=None
):
    execution.request_execution(code_source, resource_limits, input_data, encrypted_secrets, response_format)


@call
def resolve_execution(request_id, response):
    execution.resolve_execution(request_id, response)


@near.export
def resolve_executions():
    # `{items: [...]}`. Exported without near_sdk_py's @call: its wrapper decodes the whole input to
    # a str before json.loads parses it, one more pass over every byte (~0.025 TGas per batched item
    # with a commitment); json.loads reads the bytes and checks each string's UTF-8 as it builds it.
    # Errors end as the wrapper ends them: a panic with the message.
    try:
        args = json.loads(near.input())
    except Exception:
        args = None
    if not isinstance(args, dict) or len(args) != 1 or "items" not in args:
        state.fail("resolve_executions takes one JSON argument: {items: [...]}")
    try:
        result = execution.resolve_executions(args["items"])
    except Exception as e:
        near.panic_utf8("Unexpected error: " + str(e))
    # the resolved ids are decimal digits (state.parse_request_id accepted each): written as they
    # are instead of through json.dumps's printer (per character; the list has one id per item)
    ids = result["resolved"]
    listed = '"' + '", "'.join(ids) + '"' if ids else ""
    near.value_return('{"resolved": [' + listed + '], "skipped": ' + json.dumps(result["skipped"]) + "}")


@call
def on_execution_response(request_id):
    execution.on_execution_response(request_id)


@call
def cancel_stale_execution(request_id):
    execution.cancel_stale_execution(request_id)


@call
def set_owner(owner_id):
    admin.set_owner(owner_id)


@call
def set_operator(operator_id):
    admin.set_operator(operator_id)


@call
def set_paused(paused):
    admin.set_paused(paused)


@call
def set_pricing(pricing):
    admin.set_pricing(pricing)


@call
def emergency_cancel_execution(request_id, reason=None):
    admin.assert_owner()
    execution.emergency_cancel(request_id, reason)


@view
def get_request(request_id):
    _json(views.get_request(request_id))


@view
def list_pending_requests(**kwargs):
    # `from` is a Python keyword, hence **kwargs
    near.value_return(views.list_pending(kwargs.get("from"), kwargs.get("limit")))


@view
def get_stats():
    _json(state.stats())


@view
def get_pricing():
    _json(state.config()["pricing"])


@view
def get_config():
    _json(views.get_config())


@view
def is_paused():
    _json(state.config()["paused"])


@view
def estimate_execution_cost(resource_limits=None):
    _json(views.estimate(resource_limits))


@view
def get_max_limits():
    _json(views.get_max_limits())


@call
def migrate():
    _json(upgrade.migrate())


@view
def get_state_version():
    _json(upgrade.versions())


@view
def list_pending_before(height, **kwargs):
    # pending requests created before block `height` (the reconciler's candidates), paged by `from`
    near.value_return(views.list_pending_before(height, kwargs.get("from"), kwargs.get("limit")))


@call
def set_randomness_key(public_key=None):
    admin.set_randomness_key(public_key)
