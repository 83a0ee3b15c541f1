# Pricing and hard caps (MicroPython). All money is integer yoctoNEAR; JSON carries decimal strings.
# Mirrored in CPython by contract/pricing.py, which the property tests compare against.

MAX_INSTRUCTIONS = 100000000000  # 100 billion
MAX_EXECUTION_SECONDS = 60
MAX_MEMORY_MB = 512

FEE_FIELDS = (
    "base_fee",
    "per_million_instructions_fee",
    "per_ms_fee",
    "per_compile_ms_fee",
    "per_http_call_fee",
    "per_http_kb_fee",
)
LIMIT_FIELDS = ("max_instructions", "max_memory_mb", "max_execution_seconds")
CAPS = {
    "max_instructions": MAX_INSTRUCTIONS,
    "max_memory_mb": MAX_MEMORY_MB,
    "max_execution_seconds": MAX_EXECUTION_SECONDS,
}
MAX_COMPILE_ALLOWANCE_MS = 600000
# Guest HTTP (executor/_http.py): optional in resource_limits; a request without max_http_calls has
# no network and its limits, estimate and events are exactly as before.
MAX_HTTP_CALLS = 16
MAX_HTTP_KB = 8192
MAX_HTTP_HOSTS = 8
DEFAULT_HTTP_KB = 1024
HTTP_FIELDS = ("max_http_calls", "max_http_kb", "http_hosts")
_HOST_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789.-:"


def default_pricing():
    return {
        "base_fee": "1000000000000000000000",  # 0.001 NEAR
        "per_million_instructions_fee": "1000000000000000",  # 1e15 per 1M instructions
        "per_ms_fee": "100000000000000000",  # 1e17 per ms of execution
        "per_compile_ms_fee": "10000000000000000",  # 1e16 per ms of compilation
        "compile_allowance_ms": 60000,  # compile time the estimate reserves (1 min)
        "per_http_call_fee": "100000000000000000000",  # 1e20 per guest HTTP call
        "per_http_kb_fee": "1000000000000000000",  # 1e18 per started KB sent or received
    }


def fee(pricing, name):
    # Pricing stored before guest HTTP existed lacks the HTTP fees: they read as the defaults.
    value = pricing.get(name)
    if value is None:
        value = default_pricing()[name]
    return int(value)


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
        if k not in CAPS and k not in HTTP_FIELDS:
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
    _resolve_http(limits, out, fail)
    return out


def _http_int(limits, name, default, cap, fail):
    v = limits.get(name)
    if v is None:
        return default
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        fail(name + " must be a non-negative integer")
    if v > cap:
        fail(name + " " + str(v) + " exceeds the hard cap of " + str(cap))
    return v


def _check_host(host, fail):
    if not isinstance(host, str) or len(host) == 0 or len(host) > 253:
        fail("http_hosts entries must be host names of 1 to 253 characters")
    for ch in host:
        if ch not in _HOST_CHARS:
            fail("http_hosts entries must be lowercase host names or IP addresses (no scheme, port or path)")
    if host.count(":") == 1:
        fail("http_hosts entries carry no port")
    return host


def _resolve_http(limits, out, fail):
    # The guest's network grant: hosts it may call, calls and KB it may use (and pays for up front).
    calls = _http_int(limits, "max_http_calls", 0, MAX_HTTP_CALLS, fail)
    hosts = limits.get("http_hosts")
    if calls == 0:
        if hosts or limits.get("max_http_kb"):
            fail("http_hosts and max_http_kb need max_http_calls")
        return
    if not isinstance(hosts, list) or len(hosts) == 0 or len(hosts) > MAX_HTTP_HOSTS:
        fail("max_http_calls needs http_hosts: a list of 1 to " + str(MAX_HTTP_HOSTS) + " host names")
    checked = []
    for h in hosts:
        h = _check_host(h, fail)
        if h not in checked:
            checked.append(h)
    out["max_http_calls"] = calls
    out["max_http_kb"] = _http_int(limits, "max_http_kb", DEFAULT_HTTP_KB, MAX_HTTP_KB, fail)
    out["http_hosts"] = checked


def cost(pricing, instructions, time_ms, compile_time_ms, http_calls=0, http_kb=0):
    millions = -(-instructions // 1000000)
    total = (
        int(pricing["base_fee"])
        + millions * int(pricing["per_million_instructions_fee"])
        + time_ms * int(pricing["per_ms_fee"])
        + compile_time_ms * int(pricing["per_compile_ms_fee"])
    )
    if http_calls or http_kb:
        total += http_calls * fee(pricing, "per_http_call_fee") + http_kb * fee(pricing, "per_http_kb_fee")
    return total


def estimate(pricing, limits):
    # Worst case of `cost` for these limits, compile allowance included.
    return cost(
        pricing,
        limits["max_instructions"],
        limits["max_execution_seconds"] * 1000,
        int(pricing["compile_allowance_ms"]),
        limits.get("max_http_calls", 0),
        limits.get("max_http_kb", 0),
    )
