"""Property: whatever the prices and the resources used, charged + refunded == payment, charged <=
payment and <= the estimate, the charge is the published formula over the usage capped at the
request's limits, and the refund receipt carries exactly the refund."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contract import MAX_EXECUTION_SECONDS, MAX_INSTRUCTIONS, Pricing, charge, estimate
from contract.testing import CLIENT, Offshore, events_of, transfers, used
from devnet.vm import CompiledContract

fees = st.integers(min_value=0, max_value=10**22)
pricings = st.builds(
    Pricing,
    base_fee=fees,
    per_million_instructions_fee=fees,
    per_ms_fee=fees,
    per_compile_ms_fee=fees,
    compile_allowance_ms=st.integers(min_value=0, max_value=600_000),
)
limits = st.fixed_dictionaries(
    {
        "max_instructions": st.integers(min_value=1, max_value=MAX_INSTRUCTIONS),
        "max_memory_mb": st.integers(min_value=1, max_value=512),
        "max_execution_seconds": st.integers(min_value=1, max_value=MAX_EXECUTION_SECONDS),
    }
)
usage = st.fixed_dictionaries(
    {
        "instructions": st.integers(min_value=0, max_value=2 * MAX_INSTRUCTIONS),
        "time_ms": st.integers(min_value=0, max_value=200_000),
        "compile_time_ms": st.integers(min_value=0, max_value=2_000_000),
    }
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    pricing=pricings,
    lim=limits,
    res=usage,
    extra=st.integers(min_value=0, max_value=10**24),
    success=st.booleans(),
)
def test_charged_plus_refunded_is_the_payment(
    offshore_code: CompiledContract,
    pricing: Pricing,
    lim: dict[str, int],
    res: dict[str, int],
    extra: int,
    success: bool,
) -> None:
    chain = Offshore(offshore_code)
    chain.init(pricing=pricing.to_json())
    need = estimate(
        pricing, max_instructions=lim["max_instructions"], max_execution_seconds=lim["max_execution_seconds"]
    )
    assert chain.estimate(lim) == need
    pay = need + extra
    rid = chain.request(deposit=pay, resource_limits=lim)
    out = chain.settle(rid, {"success": success, "output": "ok", "resources_used": used(**res)})
    data = events_of(out)[0]["data"][0]
    charged, refunded = int(data["payment_charged"]), int(data["payment_refunded"])
    assert charged + refunded == pay
    assert 0 <= charged <= min(pay, need)  # the estimate is the ceiling of the charge
    caps = {"max_instructions": lim["max_instructions"], "max_execution_seconds": lim["max_execution_seconds"]}
    assert charged == charge(pricing, pay, **res, **caps)  # each quantity capped at the request's limits
    assert transfers(out) == ([(CLIENT, refunded)] if refunded else [])
    stats = chain.view("get_stats")
    assert int(stats["total_charged"]) + int(stats["total_refunded"]) == int(stats["total_payment"]) == pay
