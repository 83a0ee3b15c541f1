"""`offshore run`: a local dry run with production limits and the exact cost, no chain, broker or database.

Why: a guest author needs a fast edit-run loop that tells the truth about production. So the build
goes through the same sandbox and caps as the compile stage (`processes.compile_config`), the run
through the same engine, limits and guest-HTTP policy as the execute stage
(`processes.executor_config`), the limits are filled and capped as the contract does, and the cost
is the contract's formula (`contract.pricing.charge`) over the measured usage, with the pricing of a
given RPC's contract or the defaults. `--repo .` snapshots the working tree (uncommitted changes
included) into a throwaway commit: fast, but labelled not reproducible, since no one else can fetch it.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import subprocess
import sys
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import executor
from contract.pricing import MAX_EXECUTION_SECONDS, MAX_INSTRUCTIONS, MAX_MEMORY_MB, Pricing, charge, estimate
from executor._types import BUILD_TARGETS
from offshore.errors import OffshoreError
from offshore.settings import Settings

DEFAULT_LIMITS = {"max_instructions": 10_000_000_000, "max_memory_mb": 128, "max_execution_seconds": 10}
"""The contract's `default_limits()` (contract/src/offshore/pricing.py), used without --rpc."""
CAPS = {
    "max_instructions": MAX_INSTRUCTIONS,
    "max_memory_mb": MAX_MEMORY_MB,
    "max_execution_seconds": MAX_EXECUTION_SECONDS,
}
DEFAULT_HTTP_KB = 1024


class RunError(OffshoreError):
    """The run could not start (bad arguments, build failure, unreachable RPC): one line, exit 2."""


@dataclass(frozen=True, kw_only=True)
class RunReport:
    """What `offshore run` prints: the guest's result and the charge the contract would make."""

    reproducible: bool
    repo: str
    commit: str
    wasm_sha256: str
    success: bool
    output: str
    stderr: str
    error: str | None
    instructions: int
    time_ms: int
    compile_time_ms: int
    memory_bytes: int
    http_calls: int
    http_bytes: int
    io_sha256: str
    limits: dict[str, Any]
    deposit: int
    cost: int


# ---- pure decisions ----


def request_limits(given: dict[str, Any], defaults: dict[str, int]) -> dict[str, Any]:
    """`resource_limits` as the contract stores them: defaults filled in, caps and the HTTP grant checked."""
    out: dict[str, Any] = {}
    for name, cap in CAPS.items():
        value = given.get(name)
        value = defaults[name] if value is None else value
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise RunError(f"{name} must be a positive integer")
        if value > cap:
            raise RunError(f"{name} {value} exceeds the hard cap of {cap}")
        out[name] = value
    calls = given.get("max_http_calls") or 0
    hosts = given.get("http_hosts") or []
    if calls:
        if not hosts:
            raise RunError("max_http_calls needs at least one --allow-host")
        kb = given.get("max_http_kb")
        grant = {"max_http_calls": calls, "max_http_kb": DEFAULT_HTTP_KB if kb is None else kb, "http_hosts": hosts}
        try:
            executor.HttpGrant.from_mapping(grant)
        except ValueError as exc:
            raise RunError(str(exc)) from None
        out.update(grant)
    elif hosts:
        raise RunError("--allow-host needs --max-http-calls")
    return out


def contract_cost(pricing: Pricing, limits: dict[str, Any], result: executor.ExecutionResult, compile_ms: int) -> int:
    """What the contract's callback charges for this usage, paid with exactly the estimate."""
    deposit = deposit_for(pricing, limits)
    http = {}
    if limits.get("max_http_calls"):
        http = {
            "http_calls": result.http_calls,
            "http_bytes": result.http_bytes,
            "max_http_calls": limits["max_http_calls"],
            "max_http_kb": limits["max_http_kb"],
        }
    return charge(
        pricing,
        deposit,
        instructions=result.instructions,
        time_ms=result.time_ms,
        compile_time_ms=compile_ms,
        max_instructions=limits["max_instructions"],
        max_execution_seconds=limits["max_execution_seconds"],
        **http,
    )


def deposit_for(pricing: Pricing, limits: dict[str, Any]) -> int:
    return estimate(
        pricing,
        max_instructions=limits["max_instructions"],
        max_execution_seconds=limits["max_execution_seconds"],
        max_http_calls=limits.get("max_http_calls", 0),
        max_http_kb=limits.get("max_http_kb", 0),
    )


def read_input(value: str | None) -> bytes:
    """`--input TEXT` or `--input @file`."""
    if value is None:
        return b""
    if value.startswith("@"):
        try:
            return Path(value[1:]).read_bytes()
        except OSError as exc:
            raise RunError(f"cannot read input file {value[1:]}: {exc.strerror}") from None
    return value.encode()


def read_secrets(path: str | None) -> dict[str, str] | None:
    """NAME=VALUE lines (the plaintext `offshore secrets encrypt` seals); never printed."""
    if path is None:
        return None
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise RunError(f"cannot read secrets file {path}: {exc.strerror}") from None
    out = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            raise RunError(f"secrets file line {number}: expected NAME=VALUE")
        out[name.strip()] = value
    return out


# ---- I/O shells ----


def chain_view(rpc_url: str, contract_id: str, method: str, args: dict[str, Any] | None = None) -> Any:
    """One view call over NEAR JSON-RPC (`query` / `call_function`)."""
    body = {
        "jsonrpc": "2.0",
        "id": "offshore-run",
        "method": "query",
        "params": {
            "request_type": "call_function",
            "finality": "final",
            "account_id": contract_id,
            "method_name": method,
            "args_base64": base64.b64encode(json.dumps(args or {}).encode()).decode(),
        },
    }
    request = urllib.request.Request(
        rpc_url, data=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=15) as resp:
            answer = json.loads(resp.read())
    except (OSError, ValueError) as exc:
        raise RunError(f"cannot reach the RPC at {rpc_url}: {exc}") from None
    if "error" in answer or "error" in answer.get("result", {}):
        raise RunError(f"view {method} on {contract_id} failed: {answer.get('error') or answer['result']['error']}")
    return json.loads(bytes(answer["result"]["result"]))


def snapshot_worktree(path: Path, root: Path) -> tuple[str, str]:
    """Commits the working tree at `path` (tracked + untracked, not ignored) into a throwaway repo."""
    from executor.testing import RepoFiles, git_repo

    def git(*args: str) -> bytes:
        proc = subprocess.run(["git", "-C", str(path), *args], capture_output=True, check=False, timeout=60)
        if proc.returncode != 0:
            raise RunError(f"{path} is not a git working tree: {proc.stderr.decode(errors='replace').strip()}")
        return proc.stdout

    top = Path(git("rev-parse", "--show-toplevel").decode().strip())
    names = [n for n in git("ls-files", "-z", "--cached", "--others", "--exclude-standard").decode().split("\0") if n]
    files: RepoFiles = {}
    digest = hashlib.sha256()
    for name in sorted(names):
        full = top / name
        if full.is_symlink():
            link = Path(os.readlink(full))
            files[name] = link
            digest.update(f"{name}\0link\0{link}\0".encode())
        elif full.is_file():
            data = full.read_bytes()
            files[name] = data
            digest.update(f"{name}\0{len(data)}\0".encode() + data)
    target = root / digest.hexdigest()[:24]
    if (target / ".git").is_dir():
        head = subprocess.run(["git", "-C", str(target), "rev-parse", "HEAD"], capture_output=True, text=True)
        return f"file://{target}", head.stdout.strip()
    return git_repo(target, files)


def run(args: argparse.Namespace, settings: Settings) -> RunReport:
    from offshore.processes import compile_config, executor_config

    pricing, defaults = Pricing(), dict(DEFAULT_LIMITS)
    if args.rpc:
        pricing = Pricing.from_json(chain_view(args.rpc, settings.contract_id, "get_pricing"))
        defaults = chain_view(args.rpc, settings.contract_id, "get_config")["default_limits"]
    given = {
        "max_instructions": args.max_instructions,
        "max_memory_mb": args.max_memory_mb,
        "max_execution_seconds": args.max_execution_seconds,
        "max_http_calls": args.max_http_calls,
        "max_http_kb": args.max_http_kb,
        "http_hosts": sorted(set(args.allow_host or [])),
    }
    limits = request_limits(given, defaults)
    state = settings.state_dir.resolve()
    reproducible = args.repo != "."
    extra_roots: tuple[Path, ...] = ()
    repo, commit = args.repo, args.commit
    if not reproducible:
        snapshots = state / "run" / "worktrees"
        repo, commit = snapshot_worktree(Path.cwd(), snapshots)
        extra_roots = (snapshots,)
    elif not commit:
        raise RunError("--commit is required unless --repo is . (the working tree)")
    store = executor.ArtifactStore(executor.StoreConfig(root=state / "artifacts"))
    source = {"repo": repo, "commit": commit, "build_target": args.target, "path": args.path}
    try:
        built = executor.compile_source(
            source, store=store, config=compile_config(settings, extra_file_roots=extra_roots)
        )
    except executor.BuildError as exc:
        raise RunError(f"build failed: {exc}\n{exc.log[-3000:]}") from None
    except executor.ExecutorError as exc:
        raise RunError(f"cannot build {repo}@{commit}: {exc}") from None
    wasm = store.get(built.sha256)
    if wasm is None:
        raise RunError(f"artifact {built.sha256} vanished from the store")
    grant = executor.HttpGrant.from_mapping(limits)
    run_limits = executor.Limits(
        max_instructions=limits["max_instructions"],
        max_memory_mb=limits["max_memory_mb"],
        max_execution_seconds=limits["max_execution_seconds"],
    )
    with executor.Executor(executor_config(settings, warm_python=False)) as ex:
        result = ex.execute(
            wasm,
            read_input(args.input),
            limits=run_limits,
            secrets=read_secrets(args.secrets_file),
            sha256=built.sha256,
            http=grant,
            io_store=store,
        )
    return RunReport(
        reproducible=reproducible,
        repo=repo,
        commit=commit,
        wasm_sha256=built.sha256,
        success=result.success,
        output=result.stdout.decode("utf-8", errors="replace"),
        stderr=result.stderr.decode("utf-8", errors="replace"),
        error=result.error,
        instructions=result.instructions,
        time_ms=result.time_ms,
        compile_time_ms=built.compile_time_ms,
        memory_bytes=result.memory_bytes,
        http_calls=result.http_calls,
        http_bytes=result.http_bytes,
        io_sha256=result.io_sha256,
        limits=limits,
        deposit=deposit_for(pricing, limits),
        cost=contract_cost(pricing, limits, result, built.compile_time_ms),
    )


def format_report(report: RunReport) -> str:
    near = 10**24
    lines = [
        f"source        {report.repo} @ {report.commit}"
        + ("" if report.reproducible else "  (working tree: NOT reproducible, nobody else can fetch this commit)"),
        f"wasm          {report.wasm_sha256}",
        f"result        {'success' if report.success else 'FAILED: ' + (report.error or '')}",
        f"instructions  {report.instructions:,} of {report.limits['max_instructions']:,}",
        f"time          {report.time_ms} ms of {report.limits['max_execution_seconds'] * 1000} ms"
        f" (+ compile {report.compile_time_ms} ms)",
        f"memory peak   {report.memory_bytes / 1024 / 1024:.1f} MiB of {report.limits['max_memory_mb']} MiB",
        f"http          {report.http_calls} calls, {report.http_bytes} bytes"
        + (f" (recording {report.io_sha256})" if report.io_sha256 else ""),
        f"cost          {report.cost} yoctoNEAR ({report.cost / near:.6f} NEAR) of a deposit of {report.deposit}",
        "output:",
        report.output,
    ]
    if report.stderr:
        lines += ["stderr:", report.stderr]
    return "\n".join(lines)


def _handle(args: argparse.Namespace, settings: Settings) -> int:
    report = run(args, settings)
    if args.json:
        print(json.dumps(asdict(report), sort_keys=True))
    else:
        print(format_report(report))
    sys.stdout.flush()
    return 0 if report.success else 1


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`offshore run ...` (registered by offshore/cli.py)."""
    p = commands.add_parser("run", help="build and run a guest locally with production limits and the exact cost")
    p.add_argument("--repo", required=True, help="git URL, or . for the working tree (not reproducible)")
    p.add_argument("--commit", help="40-hex commit (not with --repo .)")
    p.add_argument("--target", default="wasm32-wasip1", choices=sorted(BUILD_TARGETS))
    p.add_argument("--path", help="prebuilt .wasm in the repo (--target wasm)")
    p.add_argument("--input", help="input text, or @file")
    p.add_argument("--max-instructions", type=int)
    p.add_argument("--max-memory-mb", type=int)
    p.add_argument("--max-execution-seconds", type=int)
    p.add_argument("--max-http-calls", type=int, help="guest HTTP calls allowed (needs --allow-host)")
    p.add_argument("--max-http-kb", type=int, help=f"guest HTTP kilobytes (default {DEFAULT_HTTP_KB} with calls)")
    p.add_argument("--allow-host", action="append", metavar="HOST", help="a host the guest may call (repeatable)")
    p.add_argument("--secrets-file", help="NAME=VALUE lines given to the guest as env vars (never printed)")
    p.add_argument("--rpc", help="take pricing and default limits from this NEAR RPC's contract (OFFSHORE_CONTRACT_ID)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the report")
    p.set_defaults(handler=_handle)
