"""Capacity of the embedded platform (issue 14): the highest offered rate it sustains with settle latency
p99 < 2 s (final block of the request -> resolve sent), cache-hit tiny guest.

Open loop: requests are offered at a fixed rate for a step, the rate doubles-ish each step, and the
first step that misses (p99 >= 2 s, a request not completed, or the offered rate not reached) ends
the search. The limiting component is named with its evidence (`capacity_limiting_evidence`): a
platform process at >= 0.9 cores is saturated (each is one Python event loop: one core at most); else,
if the machine's CPUs were >= 90 % busy over the step (/proc/stat, every process on the host, ours
and others'), the machine is; else the process with the largest CPU share, marked unproven. The load
generator is named if it could not offer the rate. Every step is reported, passing or not, with the
machine's busy cores and load average.

CPU is read from /proc over the offer window (the steady state), after an idle baseline of every
process with nothing offered. Above that baseline, each process's CPU milliseconds per request give the
ceiling it allows (`cpu_ceiling_rps`): one Python event loop holds (1 core - its idle) / its cost per
request, the machine (its cores - all idle) / the whole platform's cost, the load generator included
(it shares the machine). That is the proof of what bounds the capacity, whatever step failed first.
Steps: `BENCH_CAPACITY_RATES` (requests/s, comma-separated), `BENCH_CAPACITY_STEP_S` seconds each.
"""

from __future__ import annotations

import asyncio
import functools
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

RATES = tuple(float(r) for r in os.environ.get("BENCH_CAPACITY_RATES", "10,20,30,40,50,60,80,100,150").split(","))
STEP_S = float(os.environ.get("BENCH_CAPACITY_STEP_S", "10"))
P99_TARGET_MS = 2000.0
LAST_CAPACITY_RPS: float | None = None  # set by measure(): chaos offers 70 % of it in the same run
_TICK = os.sysconf("SC_CLK_TCK")


IDLE_S = 5.0  # the idle baseline's window: what each process spends with nothing offered


def measure(platform: Any, info: Any, url: str, commit: str) -> dict[str, Any]:
    """Runs the steps on a started platform; returns capacity_rps, the limiting component, the CPU each
    process spends idle and per request, the ceiling that CPU implies, and every step."""
    pids = {**_pids(platform), LOAD_GENERATOR: os.getpid()}
    idle = _window(pids, functools.partial(time.sleep, IDLE_S))[1]  # the baseline, not a readiness wait
    steps: list[dict[str, Any]] = []
    capacity = 0.0
    limiting = "none (every step passed: raise BENCH_CAPACITY_RATES)"
    evidence = ""
    for rate in RATES:
        pids = {**_pids(platform), LOAD_GENERATOR: os.getpid()}  # a process may have been restarted
        offer = functools.partial(asyncio.run, paced(info, url, commit, rate, STEP_S))
        (ids, offered), busy, machine_busy = _window(pids, offer)
        from bench.pipeline import _events, _final_at, _hops

        # the topics first: every resolve sent (or 120 s), then the chain's verdicts; reading each
        # request's record (two views, ~4 ms of contract each) while the tail still settles would
        # load the devnet with the measurement's own work
        in_block, resolved, heights = _events(info, set(ids))
        views = asyncio.run(info.wait_settled(ids, timeout_s=120 + STEP_S))
        requested = _final_at(info.block_api_url, in_block, heights)
        hops = _hops(info, requested, resolved, ids)
        lat = sorted((resolved[r] - requested[r]) * 1000 for r in ids if r in resolved and r in requested)
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else float("inf")
        completed = sum(1 for v in views.values() if v["status"] == "completed")
        step = {
            "offered_rps": rate,
            "achieved_offer_rps": round(offered, 1),
            "requests": len(ids),
            "completed": completed,
            "p50_ms": round(lat[len(lat) // 2], 1) if lat else None,
            "p99_ms": round(p99, 1),
            "latency_hops_ms": hops,  # where a failing step queues
            "cpu_cores_by_process": busy,  # while offering: the steady state, not the drain after it
            "cpu_ms_per_request": per_request(busy, idle, offered),
            "machine_busy_cores": machine_busy,
            "machine_cores": os.cpu_count(),
            "others_busy_cores": round(max(0.0, machine_busy - sum(busy.values())), 2),
            "load_average_1m": round(os.getloadavg()[0], 1),
        }
        steps.append(step)
        if offered < 0.9 * rate:
            limiting = "load generator (could not offer the rate)"
            break
        if p99 >= P99_TARGET_MS or completed < len(ids):
            cores = os.cpu_count() or 1
            # the ceiling from the last step that passed: in a failing step work is deferred, not done
            ceiling = ceilings(steps[-2]["cpu_ms_per_request"], idle, cores) if len(steps) > 1 else None
            limiting, evidence = limiting_component(busy, machine_busy, cores, rate=rate, ceiling=ceiling)
            break
        capacity = rate
    global LAST_CAPACITY_RPS
    LAST_CAPACITY_RPS = capacity or None
    # the per-request cost from the busiest step that passed (the most work, the least idle share)
    passed = [s for s in steps if s["offered_rps"] <= capacity] or steps[:1]
    cost = passed[-1]["cpu_ms_per_request"]
    return {
        "capacity_rps": capacity,
        "capacity_limiting_component": limiting,
        "capacity_limiting_evidence": evidence,
        "idle_cpu_cores_by_process": idle,
        "cpu_ms_per_request_by_process": cost,
        "cpu_ceiling_rps": ceilings(cost, idle, os.cpu_count() or 1),
        # the same machine with the chain elsewhere (as on NEAR, where validators run the contract):
        # what the off-chain processes alone would allow, an extrapolation from their measured CPU
        "cpu_ceiling_rps_without_chain": ceilings(
            {k: v for k, v in cost.items() if k not in CHAIN_SIDE}, idle, os.cpu_count() or 1
        ),
        "capacity_steps": steps,
        "capacity_target": ">= 150 requests/s with settle p99 < 2 s (issue 14)",
    }


LOAD_GENERATOR = "load generator"  # this process: it signs and sends the requests
MULTI_THREADED = ("kafka", "postgres")  # Tansu (Rust) and Postgres: not bound to one core
CHAIN_SIDE = ("devnet", LOAD_GENERATOR)  # the simulated chain and its clients: not ours on NEAR


def per_request(busy: dict[str, float], idle: dict[str, float], rate: float) -> dict[str, float]:
    """Each process's CPU milliseconds per request above its idle baseline (pure)."""
    return {name: round(max(0.0, cores - idle.get(name, 0.0)) * 1000 / rate, 2) for name, cores in busy.items()}


def ceilings(cost_ms: dict[str, float], idle: dict[str, float], cores: int) -> dict[str, Any]:
    """The request rates the measured CPU allows (pure): each process is one Python event loop (one
    core at most, the GIL), so it holds (1 core - its idle) / its cost per request; the machine
    holds (its cores - all idle) / the platform's whole cost per request. The lowest bounds."""
    out: dict[str, Any] = {}
    for name, ms in cost_ms.items():
        if ms > 0 and name != LOAD_GENERATOR and name not in MULTI_THREADED:
            out[name] = round((1.0 - idle.get(name, 0.0)) * 1000 / ms, 1)
    total = sum(cost_ms.values())
    if total > 0:
        out["machine"] = round((cores - sum(idle.get(k, 0.0) for k in cost_ms)) * 1000 / total, 1)
    out["bound_by"] = min(out, key=lambda k: out[k]) if out else "none"
    return out


async def paced(info: Any, url: str, commit: str, rate: float, seconds: float) -> tuple[list[str], float]:
    """Requests offered at `rate` per second for `seconds` over the platform's client accounts;
    returns their ids and the rate actually offered (sends that started on time)."""
    from bench.pipeline import LIMITS
    from offshore.local import CLIENTS

    clients = [info.client(a) for a in CLIENTS]
    for c in clients:
        await c.__aenter__()
    try:
        # one estimate for the run (the pricing does not change during it): a view per request would
        # make the load generator's own contract runs part of what the devnet spends per request
        deposit = await clients[0].estimate(LIMITS)
        n = max(1, int(rate * seconds))
        start = time.monotonic()
        last = start

        async def one(i: int) -> str | None:
            nonlocal last
            await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))  # the schedule, open loop
            last = max(last, time.monotonic())
            for _ in range(3):  # a transaction the node dropped (a nonce race between in-flight sends): resend
                try:
                    sub = await clients[i % len(clients)].request(
                        repo=url,
                        commit=commit,
                        input_data=f"cap {i}",
                        limits=LIMITS,
                        response_format="Text",
                        deposit=deposit,
                    )
                    return str(sub.request_id)
                except Exception:
                    await asyncio.sleep(0.1)  # backoff before resending
            return None  # not offered: counted against the achieved offer rate

        got = await asyncio.gather(*(one(i) for i in range(n)))
        ids = [r for r in got if r is not None]
        return ids, len(ids) / (last - start + 1 / rate)
    finally:
        for c in clients:
            await c.__aexit__(None, None, None)


def limiting_component(
    busy: dict[str, float],
    machine_busy: float,
    cores: int,
    *,
    rate: float | None = None,
    ceiling: dict[str, Any] | None = None,
) -> tuple[str, str]:
    """The limiting component of a failing step and why (pure): a saturated process, else a saturated
    machine, else the CPU ceiling (`ceilings`) when the failing rate is within 10 % of it, else the
    largest CPU share (unproven)."""
    loops = {k: v for k, v in busy.items() if k not in MULTI_THREADED}
    top = max(loops, key=lambda k: loops[k]) if loops else "none"
    if loops and loops[top] >= 0.9:
        return top, f"{top} used {busy[top]} cores: one event loop, saturated"
    if machine_busy >= 0.9 * cores:
        ours = round(sum(busy.values()), 2)
        return "machine CPU", (
            f"all {cores} cores busy ({machine_busy}): the platform used {ours}, other processes on the host "
            f"{round(machine_busy - ours, 2)}; largest platform share {top} ({busy.get(top)})"
        )
    if ceiling is not None and rate is not None and ceiling.get("bound_by") in ceiling:
        name = str(ceiling["bound_by"])
        if rate >= 0.9 * float(ceiling[name]):
            others = ", ".join(f"{k} {v}" for k, v in ceiling.items() if k not in (name, "bound_by"))
            return ("machine CPU" if name == "machine" else name), (
                f"offered {rate} req/s, within 10 % of the CPU ceiling ({name} {ceiling[name]} req/s at the last "
                f"passing step's CPU per request; {others}); largest share {top} ({busy.get(top)} cores)"
            )
    return top, f"unproven: largest CPU share ({busy.get(top)} cores), no process or CPU saturated"


def _machine() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole host so far (/proc/stat: every process, not only ours)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / _TICK, sum(fields[:8]) / _TICK


def _window(pids: dict[str, int], work: Callable[[], T]) -> tuple[T, dict[str, float], float]:
    """Runs `work`; returns its result, each process's CPU cores over it and the machine's busy cores."""
    before, machine_before, started = _cpu(pids), _machine(), time.monotonic()
    result = work()
    spent, machine_after, wall = _cpu(pids), _machine(), time.monotonic() - started
    busy = {name: round((spent[name] - before.get(name, 0.0)) / wall, 3) for name in spent}
    return result, busy, round((machine_after[0] - machine_before[0]) / wall, 2)


def _pids(platform: Any) -> dict[str, int]:
    out = {name: child.proc.pid for name, child in platform._children.items() if child.proc is not None}
    for svc in platform._stack._read_state().values():
        out[svc.name] = svc.pid
    return out


def _cpu(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds (user + system, with waited-for children) of each process so far."""
    out = {}
    for name, pid in pids.items():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[name] = sum(int(x) for x in fields[11:15]) / _TICK
    return out
