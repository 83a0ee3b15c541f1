"""The billing view as a plain-text table, for `offshore demo` and terminals."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from projector import _postgres

_YOCTO_PER_NEAR = 10**24
_COLUMNS: tuple[tuple[str, str], ...] = (
    ("day", "day"),
    ("payer", "payer"),
    ("requests", "requests"),
    ("succeeded", "ok"),
    ("failed", "failed"),
    ("cancelled", "cancelled"),
    ("instructions", "instructions"),
    ("time_ms", "time ms"),
    ("compile_time_ms", "compile ms"),
    ("charged_yocto", "charged NEAR"),
    ("refunded_yocto", "refunded NEAR"),
)
_SUMMED = ("requests", "succeeded", "failed", "cancelled", "instructions", "time_ms", "compile_time_ms",
           "charged_yocto", "refunded_yocto")  # fmt: skip


def format_near(yocto: int | Decimal) -> str:
    """Exact NEAR amount from yoctoNEAR (no float rounding): 1850000000000000000000 -> '0.00185'."""
    whole, frac = divmod(int(yocto), _YOCTO_PER_NEAR)
    return f"{whole}.{frac:024d}".rstrip("0").rstrip(".") if frac else str(whole)


def format_billing(rows: Sequence[Mapping[str, Any]]) -> str:
    """Rows of analytics.billing_daily (as `billing_rows` returns them) plus a total line."""
    if not rows:
        return "billing: no settled requests yet"
    total: dict[str, Any] = {key: sum(row[key] or 0 for row in rows) for key in _SUMMED}
    total.update(day="total", payer="")
    table = [[title for _, title in _COLUMNS]]
    for row in [*rows, total]:
        table.append([_cell(key, row[key]) for key, _ in _COLUMNS])
    widths = [max(len(line[i]) for line in table) for i in range(len(_COLUMNS))]
    left = {0, 1}  # day and payer read better left-aligned; numbers align right

    def render(line: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths, strict=True))
        )

    rule = "  ".join("-" * w for w in widths)
    body = [render(line) for line in table[1:-1]]
    return "\n".join([render(table[0]), rule, *body, rule, render(table[-1])])


def render_billing(dsn: str, *, limit: int = 100, refresh: bool = False) -> str:
    """The newest `limit` (day, payer) rows of analytics.billing_daily; `refresh` first brings the views
    up to date with every event stored so far (the demo's last step)."""
    if refresh:
        _postgres.refresh_views(dsn)
    return format_billing(_postgres.billing_rows(dsn, limit=limit))


def _cell(key: str, value: Any) -> str:
    if value is None:
        return ""
    if key.endswith("_yocto"):
        return format_near(value)
    return str(value)
