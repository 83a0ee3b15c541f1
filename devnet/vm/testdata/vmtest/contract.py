# devnet VM test contract (MicroPython, built by nearc with the patched modnear.c). One method per
# host-function group, driven by tests/devnet/vm/test_contract.py. Talks to the raw `near` module so
# each host call is explicit. Inputs and outputs are JSON.
import binascii
import json

import near

TGAS = 1000000000000


def _args():
    raw = near.input()
    return json.loads(raw.decode()) if raw else {}


def _ret(value):
    near.value_return(json.dumps(value))


def _hex(data):
    return binascii.hexlify(data).decode() if data is not None else None


def _unhex(text):
    return binascii.unhexlify(text)


# ---- registers


@near.export
def registers():
    near.write_register(5, b"abc")
    _ret(
        {
            "len_set": near.register_len(5),
            "len_unused": near.register_len(77),
            "read": near.read_register(5).decode(),
        }
    )


# ---- context and balances


@near.export
def context():
    _ret(
        {
            "current": near.current_account_id(),
            "signer": near.signer_account_id(),
            "signer_pk": _hex(near.signer_account_pk()),
            "predecessor": near.predecessor_account_id(),
            "input": near.input().decode(),
            "block_height": near.block_height(),
            "block_timestamp": near.block_timestamp(),
            "epoch_height": near.epoch_height(),
            "storage_usage": near.storage_usage(),
            "balance": near.account_balance(),
            "locked_balance": near.account_locked_balance(),
            "attached_deposit": near.attached_deposit(),
            "prepaid_gas": near.prepaid_gas(),
            "used_gas": near.used_gas(),
            "random_seed": _hex(near.random_seed()),
        }
    )


@near.export
def view_context():
    _ret(
        {
            "current": near.current_account_id(),
            "block_height": near.block_height(),
            "input": near.input().decode(),
            "balance": near.account_balance(),
        }
    )


@near.export
def try_op():
    # One host call chosen by name: lets the tests probe the view-call restrictions one by one.
    op = _args()["op"]
    if op == "signer":
        near.signer_account_id()
    elif op == "signer_pk":
        near.signer_account_pk()
    elif op == "predecessor":
        near.predecessor_account_id()
    elif op == "prepaid_gas":
        near.prepaid_gas()
    elif op == "used_gas":
        near.used_gas()
    elif op == "write":
        near.storage_write("k", "v")
    elif op == "remove":
        near.storage_remove("k")
    elif op == "promise":
        near.promise_batch_create("other.test")
    elif op == "yield":
        near.promise_yield_create("cb", "{}", 5 * TGAS, 0)
    elif op == "results":
        near.promise_results_count()
    elif op == "read":
        near.storage_read("k")
    _ret("ok")


# ---- storage


@near.export
def storage_set():
    a = _args()
    evicted = near.storage_write(a["key"], a["value"])
    _ret({"evicted": evicted.decode() if evicted is not None else None})


@near.export
def storage_get():
    a = _args()
    value = near.storage_read(a["key"])
    _ret({"value": value.decode() if value is not None else None, "has": near.storage_has_key(a["key"])})


@near.export
def storage_del():
    a = _args()
    removed = near.storage_remove(a["key"])
    _ret({"removed": removed.decode() if removed is not None else None})


@near.export
def write_then_panic():
    near.storage_write("doomed", "value")
    near.log("about to panic")
    near.panic_utf8("boom: " + _args().get("why", ""))


@near.export
def write_then_raise():
    near.storage_write("doomed", "value")
    raise ValueError("uncaught in contract")


@near.export
def write_then_burn():
    near.storage_write("doomed", "value")
    near.promise_batch_create("other.test")
    n = 0
    while True:
        n += 1


# ---- logs


@near.export
def logs():
    a = _args()
    for i in range(a.get("n", 1)):
        near.log_utf8("x" * a.get("size", 1))
    if a.get("utf16"):
        near.log_utf16(a["utf16"].encode("utf-16-le") if hasattr(a["utf16"], "encode") else b"")
    _ret(a.get("n", 1))


# ---- math


@near.export
def hashes():
    data = _unhex(_args()["data"])
    _ret(
        {
            "sha256": _hex(near.sha256(data)),
            "keccak256": _hex(near.keccak256(data)),
            "keccak512": _hex(near.keccak512(data)),
            "ripemd160": _hex(near.ripemd160(data)),
        }
    )


@near.export
def ed25519():
    a = _args()
    # nearc 0.8.8 declares ed25519_verify with 4 arguments but reads 3: pass a dummy 4th
    _ret(near.ed25519_verify(_unhex(a["sig"]), _unhex(a["msg"]), _unhex(a["pk"]), None))


@near.export
def recover_signer():
    a = _args()
    _ret(_hex(near.ecrecover(_unhex(a["hash"]), _unhex(a["sig"]), a["v"], a["flag"])))


@near.export
def alt_bn128():
    near.alt_bn128_g1_sum(b"")


@near.export
def validator():
    _ret(near.validator_total_stake())


# ---- promises


@near.export
def promise_chain():
    p = near.promise_create("other.test", "do_it", '{"a":1}', 5, 10 * TGAS)
    q = near.promise_then(p, near.current_account_id(), "callback", "{}", 0, 5 * TGAS)
    near.promise_return(q)


@near.export
def promise_join():
    p1 = near.promise_create("a.test", "one", "{}", 0, 5 * TGAS)
    p2 = near.promise_create("b.test", "two", "{}", 0, 5 * TGAS)
    j = near.promise_and([p1, p2])
    t = near.promise_then(j, near.current_account_id(), "callback", "{}", 0, 5 * TGAS)
    near.promise_return(t)


@near.export
def batch():
    a = _args()
    pk = _unhex(a["pk"])
    p = near.promise_batch_create("sub.c.test")
    near.promise_batch_action_create_account(p)
    near.promise_batch_action_transfer(p, 1000)
    near.promise_batch_action_deploy_contract(p, b"\0asm\x01\0\0\0")
    near.promise_batch_action_add_key_with_full_access(p, pk, 7)
    near.promise_batch_action_add_key_with_function_call(p, pk, 8, 250, "c.test", "one,two")
    near.promise_batch_action_delete_key(p, pk)
    near.promise_batch_action_function_call(p, "init", '{"x":2}', 3, 7 * TGAS)
    near.promise_batch_action_function_call_weight(p, "rest", "{}", 0, TGAS, 1)
    q = near.promise_batch_then(p, "sub.c.test")
    near.promise_batch_action_delete_account(q, "c.test")
    _ret([p, q])


@near.export
def overspend():
    near.promise_create("other.test", "do_it", "{}", near.account_balance() + 1, TGAS)


@near.export
def callback():
    out = []
    for i in range(near.promise_results_count()):
        status, data = near.promise_result(i)
        out.append([status, data.decode() if data is not None else None])
    _ret(out)


# ---- yield / resume


@near.export
def yield_create():
    a = _args()
    promise, data_id = near.promise_yield_create("on_resume", json.dumps({"tag": a.get("tag", "")}), 5 * TGAS, 0)
    near.storage_write("data_id", data_id)
    near.log_utf8("data_id:" + _hex(data_id))
    if a.get("return_promise"):
        near.promise_return(promise)
    else:
        _ret(_hex(data_id))


@near.export
def yield_resume():
    a = _args()
    data_id = _unhex(a["data_id"]) if "data_id" in a else near.storage_read("data_id")
    _ret(near.promise_yield_resume(data_id, a.get("payload", "")))


@near.export
def on_resume():
    tag = _args().get("tag")
    count = near.promise_results_count()
    status, data = near.promise_result(0)
    _ret({"tag": tag, "count": count, "status": status, "payload": data.decode() if data is not None else None})


# ---- gas


@near.export
def burn():
    n = 0
    while True:
        n += 1


@near.export
def spin():
    n = _args()["n"]
    i = 0
    while i < n:
        i += 1
    _ret(i)
