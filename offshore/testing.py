"""Helpers for tests and benchmarks of the running platform (like `devnet/testing.py` for the chain):
scraping a process's Prometheus metrics and waiting for a condition. Production code never imports it.
"""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable


def scrape(url: str) -> dict[str, float]:
    """Prometheus text format -> {'name{labels}': value} (summing nothing; exact series)."""
    with urllib.request.urlopen(url, timeout=5) as resp:
        text = resp.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def total(metrics: dict[str, float], prefix: str) -> float:
    """The sum of every series whose `name{labels}` starts with `prefix`."""
    return sum(v for k, v in metrics.items() if k.startswith(prefix))


def wait_until(predicate: Callable[[], bool], *, timeout_s: float, what: str) -> None:
    """Polls `predicate` until true; AssertionError naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not predicate():  # poll
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)  # poll
