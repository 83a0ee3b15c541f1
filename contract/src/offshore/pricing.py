# Pricing and hard caps (MicroPython). All money is integer yoctoNEAR; JSON carries decimal strings.
# Mirrored in CPython by contract/pricing.py, which the property tests compare against.

MAX_INSTRUCTIONS = 100000000000  # 100 billion
MAX_EXECUTION_SECONDS = 60
MAX_MEMORY_MB = 512

FEE_FIELDS = ("base_fee", "per_million_instructions_fee", "per_ms_fee", "per_compile_ms_fee")
LIMIT_FIELDS = ("max_instructions", "max_memory_mb", "max_execution_seconds")
CAPS = {
    "max_instructions": MAX_INSTRUCTIONS,
    "max_memory_mb": MAX_MEMORY_MB,
    "max_execution_seconds": MAX_EXECUTION_SECONDS,
}
MAX_COMPILE_ALLOWANCE_MS = 600000


def default_pricing():
    return {
        "base_fee": "1000000000000000000000",  # 0.001 NEAR
        "per_million_instructions_fee": "1000000000000000",  # 1e15 per 1M instructions
        "per_ms_fee": "100000000000000000",  # 1e17 per ms of execution
        "per_compile_ms_fee": "10000000000000000",  # 1e16 per ms of compilation
        "compile_allowance_ms": 60000,  # compile time the estimate reserves (1 min)
    }


def default_limits():
    return {"max_instructions": 10000000000, "max_memory_mb": 128, "max_execution_seconds": 10}


def _uint(value, name, fail):
    if isinstance(value, bool):
        fail(name + " must be a non-negative integer")
    if isinstance(value, str):
        if len(value) == 0 or len(value) > 40 or not value.isdigit():
            fail(name + " must be a non-negative integer")
        value = int(value)
    if not isinstance(value, int) or value < 0:
        fail(name + " must be a non-negative integer")
    return value


def validate_pricing(update, current, fail):
    # Returns a new pricing dict: `current` with the fields of `update` applied and checked.
    if not isinstance(update, dict):
        fail("pricing must be an object")
    out = {}
    for k in current:
        out[k] = current[k]
    for k in update:
        if k in FEE_FIELDS:
            out[k] = str(_uint(update[k], k, fail))
        elif k == "compile_allowance_ms":
            ms = _uint(update[k], k, fail)
            if ms > MAX_COMPILE_ALLOWANCE_MS:
                fail("compile_allowance_ms over the cap of " + str(MAX_COMPILE_ALLOWANCE_MS))
            out[k] = ms
        else:
            fail("unknown pricing field " + str(k))
    return out


def resolve_limits(limits, defaults, fail):
    # Fills missing limits from the defaults and enforces the hard caps.
    if limits is None:
        limits = {}
    if not isinstance(limits, dict):
        fail("resource_limits must be an object")
    out = {}
    for k in limits:
        if k not in CAPS:
            fail("unknown resource limit " + str(k))
    for k in LIMIT_FIELDS:
        v = limits.get(k)
        if v is None:
            v = defaults[k]
        if isinstance(v, bool) or not isinstance(v, int):
            fail(k + " must be an integer")
        if v < 1:
            fail(k + " must be at least 1")
        if v > CAPS[k]:
            fail(k + " " + str(v) + " exceeds the hard cap of " + str(CAPS[k]))
        out[k] = v
    return out


def cost(pricing, instructions, time_ms, compile_time_ms):
    millions = -(-instructions // 1000000)
    return (
        int(pricing["base_fee"])
        + millions * int(pricing["per_million_instructions_fee"])
        + time_ms * int(pricing["per_ms_fee"])
        + compile_time_ms * int(pricing["per_compile_ms_fee"])
    )


def estimate(pricing, limits):
    # Worst case of `cost` for these limits, compile allowance included.
    return cost(
        pricing,
        limits["max_instructions"],
        limits["max_execution_seconds"] * 1000,
        int(pricing["compile_allowance_ms"]),
    )
