"""`offshore demo`: the whole platform on this machine, 27 requests across the example guests.

Starts broker, Postgres, the devnet with the contract, the indexer, every stage and the projector;
sends requests from two client accounts (successes, fuel exhaustion, a compile error, a trap, a
memory bomb, a request with an encrypted secret, a price oracle over guest HTTP, ...); waits until
each is settled on chain; prints what the contract's events say, then the billing view from
Postgres; verifies every settled request from the chain alone (`offshore verify`: rebuild, re-run
with the recorded seed, compare); stops everything. Exits non-zero if a request does not verify.
"""

from __future__ import annotations

import asyncio
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from executor.testing_http import MockWeb
from offshore.client import PYTHON_DEFAULT_LIMITS
from offshore.errors import OffshoreError
from offshore.local import CLIENTS, LocalPlatform, PlatformInfo
from offshore.settings import Settings
from schemas import ExecutionCompleted, ExecutionFinished
from streams.topics import CHAIN, EXECUTED

Out = Callable[[str], None]
FAST = {"max_instructions": 2_000_000_000, "max_memory_mb": 64, "max_execution_seconds": 5}
PYTHON_LIMITS = PYTHON_DEFAULT_LIMITS  # the interpreter and numpy need more than C (executor/README.md)


@dataclass(frozen=True)
class Case:
    label: str
    guest: str
    input: str = ""
    fmt: str = "Text"
    limits: dict[str, Any] = field(default_factory=lambda: dict(FAST))
    secret: dict[str, str] | None = None


CASES: tuple[Case, ...] = (
    Case("echo json", "json_echo", '{"hello": "near"}', "Json"),
    Case("echo list", "json_echo", "[1, 2, 3]", "Json"),
    Case("echo text", "json_echo", '"offshore"', "Json"),
    Case("dice", "dice", "3", "Json"),
    Case("lottery", "random_range", '{"min": 1, "max": 49}', "Json"),
    Case("sha256 abc", "sha256", "abc"),
    Case("sha256 empty", "sha256", ""),
    Case("sha256 text", "sha256", "the quick brown fox"),
    Case("hash chain", "cpu_bound", "hash 20000"),
    Case("primes", "cpu_bound", "sieve 200000"),
    Case("secret env", "secret_env", "", secret={"API_KEY": "demo-" + "s3cr3t"}),
    Case("fuel exhausted", "infinite_loop", limits={**FAST, "max_instructions": 5_000_000}),
    Case(
        "wall clock", "infinite_loop", limits={**FAST, "max_instructions": 90_000_000_000, "max_execution_seconds": 1}
    ),
    Case("trap", "trap"),
    Case("memory bomb", "memory_bomb", limits={**FAST, "max_memory_mb": 16}),
    Case("deep recursion", "deep_recursion"),
    Case("exit code", "exit_code"),
    Case("output flood", "output_flood"),
    Case("virtual sleep", "sleeper"),
    Case("compile error", "<broken>"),
    Case("bytes echo", "json_echo", '{"b": 1}', "Bytes"),
    Case("sha256 again", "sha256", "abc"),
    Case("echo cached", "json_echo", '{"cached": true}', "Json"),
    Case("dice again", "random_range", '{"min": 10, "max": 20}', "Json"),
    Case("serde_json stats", "serde_stats", '{"values": [2, 4, 4, 5.5], "label": "rust+crates"}', "Json"),
    Case("numpy stats", "py_stats", '{"values": [2, 4, 4, 4, 5, 5, 7, 9]}', "Json", limits=dict(PYTHON_LIMITS)),
    Case(
        "price oracle",
        "oracle_median",
        "{api}/price/alpha\n{api}/price/beta\n{api}/price/gamma",  # the demo's mock price API (loopback)
        "Json",
        limits={**FAST, "max_http_calls": 3, "max_http_kb": 16, "http_hosts": ["127.0.0.1"]},
    ),
)


_PREBUILT = Path(".offshore/demo")  # guests too slow to build inside a request's yield window, built once


def run_demo(settings: Settings, out: Out = print) -> None:
    started = time.monotonic()
    state = Path(tempfile.mkdtemp(prefix="offshore-demo-", dir="/tmp"))
    # file:// repos: this run's own, and the prebuilt cargo guest's (see _prebuild_slow_guests)
    roots = f"{state / 'repos'},{_PREBUILT.resolve() / 'repos'}"
    # guest HTTP: the oracle fetches from a mock price API on loopback, which only dev mode allows
    env = {"OFFSHORE_FILE_URL_ROOTS": roots, "OFFSHORE_HTTP_DEV_MODE": "true"}
    platform = LocalPlatform(
        state, block_interval_s=0.1, yield_timeout_blocks=600, extra_env=env
    )  # 60 s window: the stages' budgets are its shares
    out(f"demo: state in {state}")
    api = MockWeb()
    try:
        info = platform.start(progress=True)
        out(
            f"demo: up in {time.monotonic() - started:.1f}s  rpc={info.rpc_url}  kafka={info.endpoints.kafka_bootstrap}"
        )
        out(f"demo: mock price API at {api.url('')} (sources alpha, beta, gamma)")
        results = asyncio.run(_send_all(info, state, out, api=api.url("")))
        out("")
        out(_table(results, *_read_events(info, {r.request_id for r in results})))
        out(_http_lines(results))
        out("")
        out("billing (Postgres view billing_daily):")
        out(_billing(info))
        out("")
        verified = _verify_all(info, state, roots, results, out)
    finally:
        platform.stop()
        api.close()
        out(f"demo: everything stopped; {time.monotonic() - started:.1f}s in all")
    if not verified:
        raise OffshoreError("demo: a settled request did not verify (see the table above)")


def _verify_all(info: PlatformInfo, state: Path, roots: str, results: list[_Sent], out: Out) -> bool:
    """`offshore verify` of every settled request, from the chain alone (issue 15): rebuilds (the
    cargo guest from the demo's prebuilt cache), re-runs with the recorded seed and time (the oracle
    by replay of its recorded HTTP), compares output, fuel and charge. The demo knows the secret of
    its secret case, as its owner would."""
    import shutil

    from offshore.settings import load_settings
    from offshore.verify import render, verify_requests

    settings = load_settings(
        near_rpc_url=info.rpc_url,
        block_api_url=info.block_api_url,
        contract_id=info.contract_id,
        allow_file_urls=True,
        file_url_roots=roots,
        state_dir=state / "verifier",
    )
    cache = state / "verifier" / "verify" / "artifacts"
    for sub in ("blobs", "refs"):
        shutil.copytree(_PREBUILT.resolve() / "artifacts" / sub, cache / sub, dirs_exist_ok=True)
    ids = [r.request_id for r in results if r.status != "pending"]
    secret = next((c.secret for c in CASES if c.secret), None)
    started = time.monotonic()
    out(f"demo: verifying {len(ids)} settled requests from the chain (offshore verify) ...")
    # the oracle's guest HTTP re-runs by replay from the transcript its execute stage recorded (the
    # platform's artifact store; the mock API is still up, but replay opens no socket)
    reports = asyncio.run(verify_requests(settings, ids, secrets=secret, io_store=str(state / "artifacts")))
    out(render(reports, detail=False))
    for r in reports:  # guest HTTP (the oracle): re-run from its recording, not from the live API
        for c in r.checks:
            if c.name == "recorded I/O" and c.chain != "none":
                out(f"demo: request {r.request_id} recorded I/O {c.chain}: {c.local} ({c.verdict}) -> {r.verdict}")
    ok = [r for r in reports if not r.verdict.startswith("FAILED")]
    seconds = time.monotonic() - started
    out(f"{len(ok)} of {len(reports)} requests verified in {seconds:.1f}s ({seconds / max(len(reports), 1):.2f}s each)")
    return len(ok) == len(reports)


@dataclass(frozen=True)
class _Sent:
    case: Case
    request_id: str
    status: str
    used: dict[str, Any] = field(default_factory=dict)
    """resources_used as the contract recorded it."""


async def _send_all(info: PlatformInfo, state: Path, out: Out, *, api: str) -> list[_Sent]:
    import executor.examples as examples
    from keystore import fetch_public_key

    repos: dict[str, tuple[str, str, str, str | None]] = {}
    for guest in sorted({c.guest for c in CASES} - {"<broken>"}):
        url, commit = examples.publish(guest, state / "repos")
        ex = examples.describe(guest)
        repos[guest] = (url, commit, ex.build_target, ex.path)
    repos["<broken>"] = (*_broken_repo(state / "repos"), "wasm32-wasip1", None)
    _prebuild_slow_guests(state, repos, out)
    out(f"demo: sending {len(CASES)} requests from {', '.join(CLIENTS)} ...")
    clients = [info.client(a) for a in CLIENTS]
    for client in clients:
        await client.__aenter__()
    try:
        submitted = []
        for i, case in enumerate(CASES):
            client = clients[i % len(clients)]
            url, commit, target, path = repos[case.guest]
            sealed = None
            if case.secret:
                # as a dApp developer would: the key from the keystore's public API, fingerprint checked
                key = await fetch_public_key(info.keystore_url, url, client.account_id, commit=commit)
                sealed = key.seal(case.secret)
            sub = await client.request(
                repo=url, commit=commit, build_target=target, path=path, input_data=case.input.replace("{api}", api),
                limits=case.limits, response_format=case.fmt, encrypted_secrets=sealed,
            )  # fmt: skip
            submitted.append((client, case, sub.request_id))
        out("demo: waiting for every request to settle on chain ...")
        finals = await asyncio.gather(*(c.wait(rid, timeout_s=180) for c, _, rid in submitted))
    finally:
        for client in clients:
            await client.__aexit__()
    return [
        _Sent(case, rid, str(view["status"]), dict(view.get("resources_used") or {}))
        for (_, case, rid), view in zip(submitted, finals, strict=True)
    ]


def _http_lines(results: list[_Sent]) -> str:
    """Guest HTTP usage as the contract billed it (capped at each request's grant), default pricing."""
    from contract.pricing import Pricing, http_kb

    p = Pricing()
    lines = []
    for r in results:
        calls, sent = int(r.used.get("http_calls", 0)), int(r.used.get("http_bytes", 0))
        if calls or sent:
            fee = calls * p.per_http_call_fee + http_kb(sent) * p.per_http_kb_fee
            lines.append(
                f"guest HTTP: request {r.request_id} ({r.case.label}) made {calls} calls, {sent} bytes; "
                f"{_near(str(fee))} NEAR of its charge is for them"
            )
    return "\n".join(lines) or "guest HTTP: no request made calls"


def _prebuild_slow_guests(state: Path, repos: dict[str, tuple[str, str, str, str | None]], out: Out) -> None:
    """Puts the cargo guest's build into the platform's artifact store before its request is sent.

    A cargo build with crates takes a minute or more of CPU, longer than this demo chain's yield
    window (200 blocks of 0.1 s). It is built once into `.offshore/demo` (from a repo published there,
    so its URL and build key are the same every run) and copied into the platform's store, where the
    compile stage finds it as it would any program requested before. The Python interpreter is
    compiled by `make setup`.
    """
    import shutil

    import executor
    import executor.examples as examples

    cache = _PREBUILT.resolve()
    store = executor.ArtifactStore(executor.StoreConfig(root=cache / "artifacts"))
    slow = executor.BuildLimits(cpu_seconds=900, wall_seconds=3600)  # once per machine, on any load
    for guest in ("serde_stats",):
        if guest not in repos:
            continue
        url, commit = examples.publish(guest, cache / "repos")
        target, path = repos[guest][2], repos[guest][3]
        started = time.monotonic()
        result = executor.compile_source(
            executor.CodeSource(repo=url, commit=commit, build_target=target, path=path),  # type: ignore[arg-type]
            store=store,
            config=executor.CompileConfig(
                allow_file_urls=True, allowed_file_roots=(cache / "repos",), build_limits=slow
            ),
        )
        repos[guest] = (url, commit, target, path)
        how = "cached" if result.cached else f"built in {time.monotonic() - started:.0f}s"
        out(f"demo: {guest} (Rust, crates, cargo offline) {how}")
    for sub in ("blobs", "refs"):
        shutil.copytree(cache / "artifacts" / sub, state / "artifacts" / sub, dirs_exist_ok=True)


def _broken_repo(root: Path) -> tuple[str, str]:
    """A repo whose C does not compile: the failure is settled on chain with the build log."""
    repo = root / "broken"
    repo.mkdir(parents=True, exist_ok=True)
    (repo / "main.c").write_text("int main(void) { return undefined_symbol + ; }\n")
    env = {
        "GIT_AUTHOR_NAME": "demo",
        "GIT_AUTHOR_EMAIL": "d@x",
        "GIT_COMMITTER_NAME": "demo",
        "GIT_COMMITTER_EMAIL": "d@x",
    }
    git = ["git", "-C", str(repo)]
    subprocess.run([*git, "init", "-q"], check=True, env={**env, "PATH": "/usr/bin:/bin"})
    subprocess.run([*git, "add", "main.c"], check=True)
    subprocess.run([*git, "commit", "-qm", "broken"], check=True, env={**env, "PATH": "/usr/bin:/bin"})
    commit = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    return f"file://{repo.resolve()}", commit


def _read_events(
    info: PlatformInfo, ids: set[str]
) -> tuple[dict[str, ExecutionCompleted], dict[str, ExecutionFinished]]:
    """The contract's execution_completed events (via the indexer) and the pipeline's outputs."""
    from streams.kafka import read_events

    completed: dict[str, ExecutionCompleted] = {}
    finished: dict[str, ExecutionFinished] = {}
    topics = (CHAIN.name, EXECUTED.name)
    for event in read_events(
        info.endpoints.kafka_bootstrap, topics, until=lambda: ids <= completed.keys() and ids <= finished.keys()
    ):
        if isinstance(event, ExecutionCompleted):
            completed[event.request_id] = event
        elif isinstance(event, ExecutionFinished):
            finished[event.request_id] = event
    return completed, finished


def _near(yocto: str | None) -> str:
    return "-" if yocto is None else f"{Decimal(yocto) / Decimal(10**24):.6f}"


def _table(
    results: list[_Sent], completed: dict[str, ExecutionCompleted], finished: dict[str, ExecutionFinished]
) -> str:
    header = (
        f"{'req':>4}  {'case':<15} {'status':<10} {'output / error':<44} "
        f"{'instructions':>13} {'charged NEAR':>13} {'refunded NEAR':>13}"
    )
    lines = [header, "-" * len(header)]
    for r in results:
        done, fin = completed.get(r.request_id), finished.get(r.request_id)
        if done is not None and done.error:
            shown = done.error
        elif fin is not None:
            shown = fin.output.decode("utf-8", errors="replace") if fin.success else f"{fin.error_kind}: {fin.error}"
        else:
            shown = ""
        shown = " ".join(shown.split())
        shown = shown if len(shown) <= 44 else shown[:41] + "..."
        instructions = f"{done.resources_used.instructions:,}" if done is not None else "-"
        lines.append(
            f"{r.request_id:>4}  {r.case.label:<15} {r.status:<10} {shown:<44} {instructions:>13} "
            f"{_near(done.payment_charged if done else None):>13} {_near(done.payment_refunded if done else None):>13}"
        )
    settled = sum(1 for r in results if r.status != "pending")
    lines.append(
        f"{settled} of {len(results)} requests settled on chain; {len(completed)} execution_completed events indexed"
    )
    return "\n".join(lines)


def _billing(info: PlatformInfo) -> str:
    from projector import refresh_views, render_billing

    refresh_views(info.endpoints.postgres_dsn)
    return render_billing(info.endpoints.postgres_dsn)
