# Owner-only administration (MicroPython). Every entry point starts with assert_owner().
import near

import commitment
import pricing
import state
from state import fail

YIELD_TIMEOUT_BLOCKS = 200  # nearcore's yield timeout; recorded so clients can see the deadline
DEFAULT_CALLBACK_GAS = 50 * 10**12
MAX_CALLBACK_GAS = 100 * 10**12
# Gas the operator attaches to resolve_execution: covers the worst output within max_output_bytes
# (measured in tests/contract/test_contract_gas.py, numbers in contract/README.md).
RESOLVE_GAS = 100 * 10**12


def _account(value, name):
    if not isinstance(value, str) or len(value) < 2 or len(value) > 64:
        fail(name + " must be a NEAR account id")
    for ch in value:
        if not (("a" <= ch <= "z") or ("0" <= ch <= "9") or ch in "-_."):
            fail(name + " must be a NEAR account id")
    return value


def init(owner_id, operator_id, pricing_update, default_limits, randomness_public_key=None):
    if near.storage_read(state.CFG) is not None:
        fail("contract is already initialized")
    if near.predecessor_account_id() != near.current_account_id():
        fail("only the contract account can initialize it")
    defaults = pricing.resolve_limits(default_limits, pricing.default_limits(), fail)
    cfg = {
        "owner_id": _account(owner_id, "owner_id"),
        "operator_id": _account(operator_id, "operator_id"),
        "paused": False,
        "pricing": pricing.validate_pricing(
            pricing_update if pricing_update is not None else {}, pricing.default_pricing(), fail
        ),
        "default_limits": defaults,
        "callback_gas": DEFAULT_CALLBACK_GAS,
        "yield_timeout_blocks": YIELD_TIMEOUT_BLOCKS,
        "max_input_bytes": 8192,
        "max_secrets_bytes": 4096,
        "max_output_bytes": 16384,
        "resolve_gas": RESOLVE_GAS,
        "randomness_public_key": (
            commitment.check_key(randomness_public_key) if randomness_public_key is not None else None
        ),
    }
    state.save_config(cfg)
    state.save_stats(state.new_stats())


def assert_owner():
    cfg = state.config()
    if near.predecessor_account_id() != cfg["owner_id"]:
        fail("only the owner can call this method")
    return cfg


def set_owner(owner_id):
    cfg = assert_owner()
    cfg["owner_id"] = _account(owner_id, "owner_id")
    state.save_config(cfg)


def set_operator(operator_id):
    cfg = assert_owner()
    cfg["operator_id"] = _account(operator_id, "operator_id")
    state.save_config(cfg)


def set_paused(paused):
    cfg = assert_owner()
    if not isinstance(paused, bool):
        fail("paused must be a boolean")
    cfg["paused"] = paused
    state.save_config(cfg)


def set_pricing(update):
    cfg = assert_owner()
    cfg["pricing"] = pricing.validate_pricing(update, cfg["pricing"], fail)
    state.save_config(cfg)


def set_randomness_key(public_key):
    # The platform's randomness key (issue 15): resolves must then carry its signature of the request.
    # None turns the on-chain check off (proofs are still stored and checked by `offshore verify`).
    cfg = assert_owner()
    cfg["randomness_public_key"] = commitment.check_key(public_key) if public_key is not None else None
    state.save_config(cfg)
