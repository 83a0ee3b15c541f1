"""CPython mirror of the contract's pricing (`contract/src/offshore/pricing.py`).

Clients size their deposit with `estimate`; tests compare the contract's charges against `cost`.
Money is integer yoctoNEAR everywhere; the contract's JSON carries decimal strings.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "MAX_EXECUTION_SECONDS",
    "MAX_INSTRUCTIONS",
    "MAX_MEMORY_MB",
    "Pricing",
    "charge",
    "cost",
    "estimate",
    "http_kb",
]

MAX_INSTRUCTIONS = 100_000_000_000
MAX_EXECUTION_SECONDS = 60
MAX_MEMORY_MB = 512


@dataclass(frozen=True, kw_only=True)
class Pricing:
    """Fees in yoctoNEAR; defaults equal the contract's defaults at `new`."""

    base_fee: int = 10**21
    per_million_instructions_fee: int = 10**15
    per_ms_fee: int = 10**17
    per_compile_ms_fee: int = 10**16
    compile_allowance_ms: int = 60_000
    per_http_call_fee: int = 10**20
    per_http_kb_fee: int = 10**18

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Pricing:
        """Parses `get_pricing`'s answer (fees as decimal strings)."""
        return cls(
            base_fee=int(str(data["base_fee"])),
            per_million_instructions_fee=int(str(data["per_million_instructions_fee"])),
            per_ms_fee=int(str(data["per_ms_fee"])),
            per_compile_ms_fee=int(str(data["per_compile_ms_fee"])),
            compile_allowance_ms=int(str(data["compile_allowance_ms"])),
            per_http_call_fee=int(str(data.get("per_http_call_fee", cls.per_http_call_fee))),
            per_http_kb_fee=int(str(data.get("per_http_kb_fee", cls.per_http_kb_fee))),
        )

    def to_json(self) -> dict[str, object]:
        """The shape `set_pricing` and `new(pricing=...)` accept."""
        return {
            "base_fee": str(self.base_fee),
            "per_million_instructions_fee": str(self.per_million_instructions_fee),
            "per_ms_fee": str(self.per_ms_fee),
            "per_compile_ms_fee": str(self.per_compile_ms_fee),
            "compile_allowance_ms": self.compile_allowance_ms,
            "per_http_call_fee": str(self.per_http_call_fee),
            "per_http_kb_fee": str(self.per_http_kb_fee),
        }


def cost(
    pricing: Pricing, *, instructions: int, time_ms: int, compile_time_ms: int, http_calls: int = 0, http_kb: int = 0
) -> int:
    """base + ceil(instructions / 1e6) * per_million + time_ms * per_ms + compile_ms * per_compile_ms
    + http_calls * per_http_call + http_kb * per_http_kb (KB = started 1024 bytes sent or received)."""
    millions = -(-instructions // 1_000_000)
    return (
        pricing.base_fee
        + millions * pricing.per_million_instructions_fee
        + time_ms * pricing.per_ms_fee
        + compile_time_ms * pricing.per_compile_ms_fee
        + http_calls * pricing.per_http_call_fee
        + http_kb * pricing.per_http_kb_fee
    )


def estimate(
    pricing: Pricing,
    *,
    max_instructions: int,
    max_execution_seconds: int,
    max_http_calls: int = 0,
    max_http_kb: int = 0,
) -> int:
    """The deposit `request_execution` requires: `cost` at the limits (HTTP budget included) + compile allowance."""
    return cost(
        pricing,
        instructions=max_instructions,
        time_ms=max_execution_seconds * 1000,
        compile_time_ms=pricing.compile_allowance_ms,
        http_calls=max_http_calls,
        http_kb=max_http_kb,
    )


def http_kb(http_bytes: int) -> int:
    """Started kilobytes: what the contract bills for `http_bytes` sent and received."""
    return -(-http_bytes // 1024)


def charge(
    pricing: Pricing,
    payment: int,
    *,
    instructions: int,
    time_ms: int,
    compile_time_ms: int,
    max_instructions: int = MAX_INSTRUCTIONS,
    max_execution_seconds: int = MAX_EXECUTION_SECONDS,
    http_calls: int = 0,
    http_bytes: int = 0,
    max_http_calls: int = 0,
    max_http_kb: int = 0,
) -> int:
    """What the callback keeps of `payment` (the rest is refunded).

    Each quantity is capped at what the request allowed (its limits; compile time at the allowance),
    so the operator cannot bill beyond them and the charge never exceeds the estimate; and never more
    than the payment. The limits default to the hard caps; HTTP usage is capped at the request's
    HTTP budget (none by default).
    """
    return min(
        payment,
        cost(
            pricing,
            instructions=min(instructions, max_instructions),
            time_ms=min(time_ms, max_execution_seconds * 1000),
            compile_time_ms=min(compile_time_ms, pricing.compile_allowance_ms),
            http_calls=min(http_calls, max_http_calls),
            http_kb=http_kb(min(http_bytes, max_http_kb * 1024)),
        ),
    )
