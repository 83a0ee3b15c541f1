# State versions and code upgrades (MicroPython).
#
# The stored state carries its layout version under "v". A new contract version is deployed by a
# transaction the contract account signs (the owner holds its full-access key) with two actions:
# DeployContract, then FunctionCall `migrate`. If `migrate` panics the whole transaction is rolled
# back, so the old code keeps running on the old state: an upgrade is all or nothing.
#
# Versions:
#   0  the layout before versioning ("cfg", "st", "p", "r:<id>", "i:<id>", "o:<id>"; no "v" key)
#   1  the same layout, stamped with "v" = 1
#      (later additive keys need no step: "y:<id>" resolve tickets; a request without one resolves from
#      its record, state.py)
# A new layout adds its number to STATE_VERSION and a step to _STEPS that rewrites version n-1.
import near

import state
from state import fail

VERSION_KEY = "v"
STATE_VERSION = 1


def _from_0():
    # Version 1 only stamps the version: the records themselves are unchanged.
    pass


# _STEPS[n] turns version n into version n + 1.
_STEPS = [_from_0]


def stored_version():
    raw = near.storage_read(VERSION_KEY)
    if raw is None:
        if near.storage_read(state.CFG) is None:
            fail("contract is not initialized")
        return 0
    return state.read_json(VERSION_KEY)


def stamp():
    # Called by `new`: a fresh state is already at the newest version.
    state.write_json(VERSION_KEY, STATE_VERSION)


def migrate():
    # Only the contract account itself: the DeployContract + migrate transaction it signs.
    if near.predecessor_account_id() != near.current_account_id():
        fail("only the contract account can migrate (deploy and migrate in one transaction)")
    version = stored_version()
    if isinstance(version, bool) or not isinstance(version, int) or version < 0 or version > STATE_VERSION:
        fail(
            "unknown state version "
            + str(version)
            + ": this code migrates versions 0 to "
            + str(STATE_VERSION)
            + " (deploy a newer release)"
        )
    start = version
    while version < STATE_VERSION:
        _STEPS[version]()
        version += 1
    stamp()
    return {"from_version": start, "to_version": STATE_VERSION}


def versions():
    return {"state_version": stored_version(), "code_version": STATE_VERSION}
