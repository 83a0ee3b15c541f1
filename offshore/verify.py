"""`offshore verify REQUEST_ID`: re-derive a settled result from public data and compare it with the chain.

For a third party with a NEAR RPC URL, a block API URL and access to the git host - no Kafka, no
Postgres, no operator keys (issue 15, README "Verifying a result"):

1. reads the request record and its result commitment (`get_request`), the request's input from its
   `execution_requested` event (block `created_height`), the block of its `execution_completed` event,
   the pricing in force at that block and the published randomness key (`get_config`);
2. checks the randomness proof (ed25519, the published key, this request's id and data_id);
3. rebuilds the code source in the same sandbox (executor.compile_source): same sha256 as committed, or
   "build not reproducible" with both hashes;
4. re-runs it with the recorded seed (sha256 of the proof) and start time (the request's block time),
   and compares the stdout hash, the delivered output's hash and the fuel exactly; a request with
   recorded guest HTTP (`io_sha256`) re-runs by replay (`Executor.replay`: no network, the recorded
   responses in order) from `--io-store` (the operator's artifact store, a directory or its published
   copy at an http(s) URL), else it is reported "needs I/O transcript (--io-store)";
5. recomputes the charge from the recorded quantities (fuel verified; run time and compile time
   reported as operator-attested: they cannot be reproduced) and checks the contract charged that.

Requests with secrets re-run only with `--secrets-file` (their owner's); otherwise "needs secrets".
Exit 0 when every verifiable field matches, 1 on a mismatch, 2 on a usage error.
Decisions are pure functions (`checks`, `expected_charge`, `verdict`); I/O is the thin `_Chain` shell.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from offshore.errors import ConfigError, OffshoreError
from offshore.settings import Settings

MATCH = "match"
MISMATCH = "MISMATCH"
NOT_REPRODUCIBLE = "BUILD NOT REPRODUCIBLE"
ATTESTED = "operator-attested"
NEEDS_SECRETS = "needs secrets"
NEEDS_IO = "needs I/O transcript (--io-store)"
INFO = "info"
FAILING = frozenset({MISMATCH, NOT_REPRODUCIBLE})
RERUN_TIME_FACTOR = 10
"""The re-run's wall clock is the request's limit times this (at least 60 s): fuel is the exact bound,
and a slower verifier must not turn a result into a timeout."""


class VerifyError(OffshoreError):
    """A request that cannot be verified for a reason the user can fix (unknown id, unreachable RPC)."""


@dataclass(frozen=True)
class Check:
    """One compared field: what the chain says, what we re-derived, and the verdict."""

    name: str
    chain: str
    local: str
    verdict: str


@dataclass(frozen=True)
class OnChain:
    """Everything verify reads from the chain for one request."""

    contract_id: str
    request_id: str
    record: Mapping[str, Any]
    input_data: str | None
    has_secrets: bool
    completed_height: int | None
    pricing: Mapping[str, Any]
    randomness_key: str | None
    pricing_note: str = "at the settlement block"
    """Which pricing the charge is recomputed with (a non-archival RPC may have dropped that block's state)."""

    @property
    def commitment(self) -> Mapping[str, Any] | None:
        c = self.record.get("commitment")
        return c if isinstance(c, Mapping) else None


@dataclass(frozen=True)
class Rederived:
    """What verify computed itself: the rebuild and (when possible) the re-run."""

    wasm_sha256: str | None
    build_error: str | None
    builder_id: str
    engine_id: str
    second_build: str | None = None  # sha256 of a fresh second build, made when the first differs
    run: Any | None = None  # executor.ExecutionResult
    not_run: str | None = None  # why there is no re-run (verdict text)
    delivered_sha256: str | None = None  # of the output settle would send for the re-run's stdout
    delivered_error: str | None = None
    io_note: str | None = None  # recorded guest HTTP: why it is not here, or how many calls were replayed
    io_error: str | None = None  # the recording is not this request's (corrupt, or the guest asks otherwise)


@dataclass
class Report:
    request_id: str
    checks: list[Check] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return verdict(self.checks)


# ---- pure decisions -----------------------------------------------------------------------------


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def verdict(checks: list[Check]) -> str:
    """`verified` when nothing failed; otherwise the first failing check."""
    for c in checks:
        if c.verdict in FAILING:
            return f"FAILED: {c.name} ({c.verdict})"
    if any(c.verdict in (NEEDS_SECRETS, NEEDS_IO) for c in checks):
        return (
            "verified (not re-run: " + next(c.verdict for c in checks if c.verdict in (NEEDS_SECRETS, NEEDS_IO)) + ")"
        )
    return "verified"


def expected_charge(record: Mapping[str, Any], pricing: Mapping[str, Any]) -> int:
    """What the contract must have charged: cost of the recorded (capped) usage at the pricing of the
    settlement block, at most the payment and the estimate at request time (contract/README.md)."""
    from contract.pricing import Pricing, cost, http_kb

    used = record.get("resources_used") or {}
    charged = cost(
        Pricing.from_json(dict(pricing)),
        instructions=int(used.get("instructions", 0)),
        time_ms=int(used.get("time_ms", 0)),
        compile_time_ms=int(used.get("compile_time_ms", 0)),
        http_calls=int(used.get("http_calls", 0)),  # guest HTTP: capped at the grant by the contract
        http_kb=http_kb(int(used.get("http_bytes", 0))),
    )
    cap = int(record["payment"])
    if record.get("max_charge") is not None:
        cap = min(cap, int(record["max_charge"]))
    return min(charged, cap)


def _short(value: str, full: bool) -> str:
    return value if full or len(value) <= 20 else value[:16] + "..."


def _same(name: str, chain: str, local: str, *, fail: str = MISMATCH) -> Check:
    ok = chain == local
    return Check(name, _short(chain, not ok), _short(local, not ok), MATCH if ok else fail)


def checks(on: OnChain, re: Rederived) -> list[Check]:
    """Every comparison for one request (pure: the inputs are what was read and what was re-derived)."""
    from executor import randomness

    rec = on.record
    status = str(rec.get("status"))
    out: list[Check] = []
    if status in ("timed_out", "cancelled"):
        charged = str(rec.get("payment_charged") or "0")
        return [Check("status", status, "refund in full", MATCH if charged == "0" else MISMATCH)]
    error = str(rec.get("error") or "")
    c = on.commitment
    if c is None:
        if wall_clock_outcome(error):
            out.append(Check("build", error.split(":", 1)[0], "-", ATTESTED))
        elif error.startswith("compile_"):
            built = re.wasm_sha256 is None
            out.append(
                Check("build", "failed", "failed" if built else f"built {re.wasm_sha256}", MATCH if built else MISMATCH)
            )
        else:
            out.append(Check("commitment", "none", "-", MISMATCH))
        out.extend(_charge_checks(on))
        return out
    # randomness: the published key's signature of exactly this request
    proof = str(c.get("randomness_proof", ""))
    key = on.randomness_key
    if key:
        good = randomness.check(key, proof, on.contract_id, on.request_id, str(rec.get("data_id", "")))
        shown = "checked on chain" if c.get("randomness_checked") else "not checked on chain"
        out.append(Check("randomness proof", shown, "valid" if good else "invalid for the published key",
                         MATCH if good else MISMATCH))  # fmt: skip
    else:
        out.append(Check("randomness proof", "no published key", "-", INFO))
    if on.input_data is not None:
        out.append(_same("input sha256", str(c.get("input_sha256", "")), sha256_hex(on.input_data.encode())))
    out.append(_wasm_check(str(c.get("wasm_sha256", "")), re))
    out.append(Check("builder id", str(c.get("builder_id", "")), re.builder_id,
                     MATCH if c.get("builder_id") == re.builder_id else INFO))  # fmt: skip
    out.append(Check("engine id", str(c.get("engine_id", "")), re.engine_id,
                     MATCH if c.get("engine_id") == re.engine_id else INFO))  # fmt: skip
    used = rec.get("resources_used") or {}
    if re.run is None:
        reason = re.not_run or "not re-run"
        out.append(Check("output sha256", str(c.get("output_sha256", "")), "-", reason))
        out.append(Check("instructions", str(used.get("instructions", "")), "-", reason))
    else:
        run = re.run
        out.append(_same("output sha256", str(c.get("output_sha256", "")), sha256_hex(run.stdout)))
        fuel = min(int(run.instructions), int(rec["resource_limits"]["max_instructions"]))
        out.append(_same("instructions", str(used.get("instructions", "")), str(fuel)))
        chain_kind = "success" if status == "completed" else error.split(":", 1)[0]
        local_kind = "success" if run.success else str(run.error_kind)
        if re.delivered_error is not None:
            local_kind = re.delivered_error.split(":", 1)[0]
        out.append(_same("outcome", chain_kind, local_kind))
        if status == "completed" and re.delivered_sha256 is not None:
            out.append(_same("delivered sha256", str(c.get("delivered_sha256", "")), re.delivered_sha256))
    out.extend(_io_checks(str(c.get("io_sha256", "")), used, re))
    out.extend(_charge_checks(on))
    return out


def _io_checks(io: str, used: Mapping[str, Any], re: Rederived) -> list[Check]:
    """Recorded guest HTTP: replayed (the re-run above saw only the recorded responses, which chain to
    `io_sha256`) with the metered calls and bytes the charge used; a recording that is not this
    request's is a mismatch; no recording here is "needs I/O transcript" (not a failure)."""
    if not io:
        return [Check("recorded I/O", "none", "-", MATCH)]
    shown = _short(io, False)
    if re.io_error is not None:
        return [Check("recorded I/O", shown, re.io_error, MISMATCH)]
    if re.run is None:
        reason = re.not_run if re.not_run in (ATTESTED, NEEDS_SECRETS) else NEEDS_IO
        return [Check("recorded I/O", shown, re.io_note or "-", reason)]
    return [
        Check("recorded I/O", shown, re.io_note or "replayed", MATCH),
        _same("http calls", str(used.get("http_calls", 0)), str(re.run.http_calls)),
        _same("http bytes", str(used.get("http_bytes", 0)), str(re.run.http_bytes)),
    ]


def _wasm_check(committed: str, re: Rederived) -> Check:
    """Same sha256 as committed; else a second fresh build tells a lying operator (both local builds
    agree: the committed wasm is not the source's) from a non-reproducible build (they differ)."""
    if re.wasm_sha256 is None:
        return Check("wasm sha256", committed, f"build failed: {re.build_error}", MISMATCH)
    if committed == re.wasm_sha256:
        return _same("wasm sha256", committed, re.wasm_sha256)
    if re.second_build is not None and re.second_build != re.wasm_sha256:
        return Check("wasm sha256", committed, f"{re.wasm_sha256} then {re.second_build}", NOT_REPRODUCIBLE)
    return Check("wasm sha256", committed, f"{re.wasm_sha256} (built twice)", MISMATCH)


def wall_clock_outcome(error: str) -> bool:
    """A failure decided by a clock (run, build or module compile over its time), not by the program:
    it cannot be reproduced, so it is operator-attested rather than compared."""
    kind = error.split(":", 1)[0]
    if kind in ("timeout", "compile_build_timeout"):
        return True
    return kind in ("invalid_module", "compile_invalid_artifact") and ("took over" in error or "of CPU" in error)


def _charge_checks(on: OnChain) -> list[Check]:
    rec = on.record
    used = rec.get("resources_used") or {}
    charged = str(rec.get("payment_charged") or "0")
    refunded = str(rec.get("payment_refunded") or "0")
    expected = str(expected_charge(rec, on.pricing))
    total_ok = int(charged) + int(refunded) == int(rec["payment"])
    return [
        Check("pricing", on.pricing_note, "-", MATCH if on.pricing_note == "at the settlement block" else INFO),
        Check("time_ms", str(used.get("time_ms", 0)), "-", ATTESTED),
        Check("compile_time_ms", str(used.get("compile_time_ms", 0)), "-", ATTESTED),
        _same("charge (yocto)", charged, expected),
        Check("charged + refunded", f"{charged} + {refunded}", str(rec["payment"]), MATCH if total_ok else MISMATCH),
    ]


def render(reports: list[Report], *, detail: bool) -> str:
    """One table: every check of each request (`detail`), or one row per request plus its failures."""
    rows = [("request", "check", "on chain", "re-derived", "verdict")]
    for r in reports:
        shown = r.checks if detail else [c for c in r.checks if c.verdict in FAILING]
        for c in shown:
            rows.append((r.request_id, c.name, c.chain, c.local, c.verdict))
        rows.append((r.request_id, "=> result", "", "", r.verdict))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def read_secrets_file(path: Path) -> dict[str, str]:
    """A JSON object {NAME: value} or NAME=VALUE lines (what `offshore secrets encrypt` takes)."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read --secrets-file {path}: {exc.strerror}") from None
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except ValueError:
            raise ConfigError(f"--secrets-file {path} is not valid JSON") from None
        if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
            raise ConfigError(f"--secrets-file {path} must map names to strings")
        return dict(data)
    out: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"--secrets-file {path} line {number}: expected NAME=VALUE")  # no value echoed
        out[name.strip()] = value
    return out


@dataclass(frozen=True)
class Transcript:
    """A request's recorded guest HTTP, copied into a private store and checked against `io_sha256`;
    or why there is none here (`missing`: not re-run) or why it cannot be the recording (`invalid`)."""

    store: Any | None = None  # executor.ArtifactStore holding the transcript and every response
    calls: int = 0
    missing: str | None = None
    invalid: str | None = None


class IoStore:
    """Where recorded guest HTTP is read from: an artifact store directory (the execute stage's) or a
    published copy of it at an http(s) URL (the same layout, served as static files). Every blob read
    is checked against its name and the transcript against the chain's `io_sha256`, so the place it
    comes from needs no trust."""

    def __init__(self, location: str, http: Any) -> None:
        self.location = location
        self._http = http
        self._url = location.startswith(("http://", "https://"))

    def shown(self) -> str:
        """The location without credentials or query (rule 4: never print a secret of a URL)."""
        if not self._url:
            return self.location
        from urllib.parse import urlsplit

        parts = urlsplit(self.location)
        return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}{parts.path}"

    async def read(self, relpath: str) -> bytes | None:
        """The file at `relpath` under the store, None when it is not there; VerifyError when unreadable."""
        if not self._url:
            try:
                return (Path(self.location) / relpath).read_bytes()
            except FileNotFoundError:
                return None
            except OSError as exc:
                raise VerifyError(f"{self.shown()}: {exc.strerror}") from None
        import aiohttp

        url = self.location.rstrip("/") + "/" + relpath
        try:
            async with self._http.get(url) as resp:
                if resp.status == 404:
                    return None
                resp.raise_for_status()
                data: bytes = await resp.read()
                return data
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise VerifyError(f"{self.shown()}: {type(exc).__name__}") from None


async def load_io_transcript(source: IoStore | None, head: str, into: Path) -> Transcript:
    """The recording whose chain ends in `head` (a commitment's non-empty `io_sha256`), copied from
    `source` into a fresh store at `into` for `Executor.replay`: the transcript must chain to `head`
    and every response blob must hash to its name, else the recording is `invalid` (a failed check)."""
    import executor

    if source is None:
        return Transcript(missing="no --io-store given")
    try:
        ref = await source.read(executor.ref_relpath(executor.transcript_key(head)))
        if ref is None:
            return Transcript(missing=f"not in {source.shown()}")
        try:
            sha = str(json.loads(ref)["sha256"])
            rel = executor.blob_relpath(sha)
        except (ValueError, KeyError, TypeError, executor.ArtifactStoreError):
            return Transcript(invalid="the transcript's ref is malformed")
        store = executor.ArtifactStore(executor.StoreConfig(root=into))
        blobs: dict[str, bytes] = {}
        data = await source.read(rel)
        if data is None:
            return Transcript(missing=f"transcript {sha[:16]}... not in {source.shown()}")
        try:
            calls = executor.parse_transcript(data, head)
        except executor.ReplayMismatch as exc:
            return Transcript(invalid=str(exc))
        for _request, response in calls:
            blob = await source.read(executor.blob_relpath(response))
            if blob is None:
                return Transcript(missing=f"response {response[:16]}... not in {source.shown()}")
            if sha256_hex(blob) != response:
                return Transcript(invalid=f"recorded response {response[:16]}... does not match its hash")
            blobs[response] = blob
    except VerifyError as exc:
        return Transcript(missing=str(exc))
    store.put_ref(executor.transcript_key(head), store.put(data))
    for blob in blobs.values():
        store.put(blob)
    return Transcript(store=store, calls=len(calls))


def local_io_store(settings: Settings) -> str | None:
    """The local platform's artifact store (`<state_dir>/artifacts`, where its execute stage records
    guest HTTP), when it exists: the default of `--io-store`."""
    path = Path(settings.state_dir) / "artifacts"
    return str(path.resolve()) if path.is_dir() else None


# ---- I/O shell ------------------------------------------------------------------------------------


class _Chain:
    """NEAR JSON-RPC views (optionally at a block) and the neardata-style block API."""

    def __init__(self, http: Any, rpc_url: str, block_api_url: str, contract_id: str, api_key: str | None) -> None:
        self._http = http
        self._rpc = rpc_url
        self._blocks = block_api_url.rstrip("/")
        self._key = api_key
        self.contract_id = contract_id

    async def _rpc_call(self, method: str, params: Any) -> Any:
        import aiohttp

        body = {"jsonrpc": "2.0", "id": "verify", "method": method, "params": params}
        try:
            async with self._http.post(self._rpc, json=body) as resp:
                answer = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise VerifyError(f"NEAR RPC {self._rpc}: {type(exc).__name__}") from None
        if "error" in answer:
            err = answer["error"]
            cause = err.get("cause", {}).get("name") if isinstance(err, dict) else None
            raise VerifyError(f"NEAR RPC {method}: {cause or err.get('message', err)}")
        return answer["result"]

    async def view(self, method: str, args: Mapping[str, Any], *, block_id: int | None = None) -> Any:
        params: dict[str, Any] = {
            "request_type": "call_function",
            "account_id": self.contract_id,
            "method_name": method,
            "args_base64": base64.b64encode(json.dumps(dict(args)).encode()).decode(),
        }
        if block_id is None:
            params["finality"] = "final"
        else:
            params["block_id"] = block_id
        result = await self._rpc_call("query", params)
        if "error" in result:
            raise VerifyError(f"{self.contract_id}.{method}: {str(result['error'])[:300]}")
        return json.loads(bytes(result["result"]).decode())

    async def final_height(self) -> int:
        block = await self._rpc_call("block", {"finality": "final"})
        return int(block["header"]["height"])

    async def block(self, height: int) -> dict[str, Any] | None:
        import aiohttp

        url = f"{self._blocks}/block/{height}"
        params = {"apiKey": self._key} if self._key else None
        for attempt in range(5):  # poll: the API may briefly lag the RPC's final head
            try:
                async with self._http.get(url, params=params) as resp:
                    if resp.status == 404:
                        await asyncio.sleep(0.2 * (attempt + 1))  # poll
                        continue
                    resp.raise_for_status()
                    data: dict[str, Any] | None = json.loads(await resp.read())
                    return data
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                last = type(exc).__name__
                await asyncio.sleep(0.2 * (attempt + 1))  # poll
        else:
            last = "404"
        raise VerifyError(f"block API: block {height} unavailable ({last})")


async def _events(chain: _Chain, height: int) -> list[Any]:
    from indexer.core import events_in_block

    block = await chain.block(height)
    return [] if block is None else events_in_block(block, chain.contract_id)


async def _completes(chain: _Chain, height: int, request_id: str) -> bool:
    from schemas import ExecutionCompleted

    return any(isinstance(e, ExecutionCompleted) and e.request_id == request_id for e in await _events(chain, height))


async def _block_with_time(chain: _Chain, lo: int, hi: int, timestamp_ns: Any) -> int | None:
    """The height whose block timestamp is `timestamp_ns` (the callback's block: the contract records
    `completed_at_ns` from it), by bisection over lo..hi: ~10 block reads instead of a scan."""
    from indexer.core import block_info

    if not isinstance(timestamp_ns, int):
        return None
    while lo <= hi:
        mid = (lo + hi) // 2
        block = await chain.block(mid)
        if block is None:  # a skipped height: the scan fallback handles what bisection misses
            lo = mid + 1
            continue
        ts = block_info(block).timestamp_ns
        if ts == timestamp_ns:
            return mid
        if ts < timestamp_ns:
            lo = mid + 1
        else:
            hi = mid - 1
    return None


async def read_on_chain(chain: _Chain, request_id: str) -> OnChain:
    """The request, its input (execution_requested), its completion block, pricing and randomness key."""
    from schemas import ExecutionRequested

    record = await chain.view("get_request", {"request_id": request_id})
    if not isinstance(record, dict):
        raise VerifyError(f"request {request_id}: unexpected get_request answer")
    if record.get("status") == "pending":
        raise VerifyError(f"request {request_id} is not settled yet (pending at the final block)")
    config = await chain.view("get_config", {})
    created = int(record["created_height"])
    input_data: str | None = None
    has_secrets = False
    for ev in await _events(chain, created):
        if isinstance(ev, ExecutionRequested) and ev.request_id == request_id:
            input_data, has_secrets = ev.input_data, bool(ev.encrypted_secrets)
    final = await chain.final_height()
    last = min(final, int(record.get("yield_deadline_height") or created + 200) + 5)
    completed = await _block_with_time(chain, created, last, record.get("completed_at_ns"))
    if completed is not None and not await _completes(chain, completed, request_id):
        completed = None
    if completed is None:  # not found by time (skipped blocks, a recovered callback): scan the window
        for height in range(created, last + 1):
            if await _completes(chain, height, request_id):
                completed = height
                break
    pricing, pricing_note = None, "at the settlement block"
    if completed:
        try:
            pricing = await chain.view("get_pricing", {}, block_id=completed)
        except VerifyError as exc:  # e.g. GARBAGE_COLLECTED_BLOCK on a non-archival RPC
            pricing_note = f"current (block {completed}: {exc})"
    if pricing is None:
        pricing = await chain.view("get_pricing", {})
        pricing_note = pricing_note if completed else "current (settlement block not found)"
    return OnChain(
        contract_id=chain.contract_id,
        request_id=request_id,
        record=record,
        input_data=input_data,
        has_secrets=has_secrets,
        completed_height=completed,
        pricing=pricing,
        randomness_key=config.get("randomness_public_key"),
        pricing_note=pricing_note,
    )


@dataclass
class Verifier:
    """Rebuilds and re-runs with this machine's toolchain; one per process (caches are reused)."""

    settings: Settings
    secrets: dict[str, str] | None = None
    _executor: Any = None

    def _dirs(self) -> Path:
        return (Path(self.settings.state_dir) / "verify").resolve()

    def compile_config(self) -> Any:
        import executor

        roots = tuple(Path(r.strip()).resolve() for r in self.settings.file_url_roots.split(",") if r.strip())
        return executor.CompileConfig(
            allow_file_urls=self.settings.allow_file_urls,
            allowed_file_roots=roots or ((Path(self.settings.state_dir) / "repos").resolve(),),
            max_checkout_bytes=self.settings.max_checkout_bytes,
            # no yield window to fit in here: a slow verifier must not fail a cold build
            build_limits=executor.BuildLimits(cpu_seconds=900, wall_seconds=1800),
        )

    def executor(self) -> Any:
        import executor

        if self._executor is None:
            self._executor = executor.Executor(
                executor.ExecutorConfig(
                    module_cache_dir=self._dirs() / "modules",
                    max_stdout_bytes=self.settings.max_output_bytes,
                    python_cache_dir=self.settings.python_cache_dir.resolve(),
                    max_workers=1,
                )
            )
        return self._executor

    def close(self) -> None:
        if self._executor is not None:
            self._executor.close()

    def rederive(self, on: OnChain, io: Transcript | None = None) -> Rederived:
        """Rebuilds and re-runs one request; a request with recorded guest HTTP re-runs only from `io`
        (`Executor.replay`: no network, the recorded responses in order)."""
        import executor
        from executor import randomness

        rec = on.record
        cfg = self.compile_config()
        builder = executor.builder_id(cfg)
        src = rec["code_source"]
        store = executor.ArtifactStore(executor.StoreConfig(root=self._dirs() / "artifacts"))
        try:
            built = executor.compile_source(
                executor.CodeSource(
                    repo=src["repo"], commit=src["commit"], build_target=src["build_target"], path=src.get("path")
                ),
                store=store,
                config=cfg,
            )
        except executor.ExecutorError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            return Rederived(None, first[:200], builder, "-")
        wasm = store.get(built.sha256)
        assert wasm is not None
        runner = self.executor()
        engine = runner.engine_id(wasm)
        c = on.commitment
        second = None
        if c is not None and c.get("wasm_sha256") != built.sha256:
            second = self._fresh_build(src, cfg)
        base = Rederived(built.sha256, None, builder, engine, second_build=second)
        if c is None or rec.get("status") not in ("completed", "failed"):
            return base
        if wall_clock_outcome(str(rec.get("error") or "")):
            return _replace(base, not_run=ATTESTED)  # a wall-clock outcome: cannot be reproduced
        if on.has_secrets and self.secrets is None:
            return _replace(base, not_run=NEEDS_SECRETS)
        io_sha256 = str(c.get("io_sha256") or "")
        if io_sha256 and (io is None or io.store is None):
            if io is not None and io.invalid is not None:
                return _replace(base, not_run="recorded I/O invalid", io_error=io.invalid)
            return _replace(base, not_run=NEEDS_IO, io_note=io.missing if io is not None else None)
        if on.input_data is None:
            return _replace(base, not_run="input not found in execution_requested")
        limits = rec["resource_limits"]
        seconds = float(limits["max_execution_seconds"])
        kwargs: dict[str, Any] = {
            "limits": executor.Limits(
                max_instructions=int(limits["max_instructions"]),
                max_memory_mb=int(limits["max_memory_mb"]),
                max_execution_seconds=max(60.0, seconds * RERUN_TIME_FACTOR),
            ),
            "secrets": self.secrets if on.has_secrets else None,
            "determinism": executor.Determinism(
                seed=randomness.seed(str(c["randomness_proof"])), time_ns=int(rec["created_at_ns"])
            ),
        }
        if io_sha256:
            assert io is not None and io.store is not None
            try:
                run = runner.replay(wasm, on.input_data.encode(), io_sha256=io_sha256, io_store=io.store, **kwargs)
            except executor.ReplayMismatch as exc:  # the rebuilt guest asks for something else
                return _replace(base, not_run="recorded I/O differs", io_error=f"replay: {exc}")
            base = _replace(base, io_note=f"replayed {io.calls} calls offline")
        else:
            run = runner.execute(wasm, on.input_data.encode(), sha256=built.sha256, **kwargs)
        delivered, delivered_error = _delivered(str(rec.get("response_format") or "Text"), run)
        return _replace(base, run=run, delivered_sha256=delivered, delivered_error=delivered_error)

    def _fresh_build(self, src: Mapping[str, Any], cfg: Any) -> str | None:
        """A second build of the source into an empty store (no cache): its sha256, None if it failed."""
        import tempfile

        import executor

        with tempfile.TemporaryDirectory(prefix="offshore-verify-") as tmp:
            store = executor.ArtifactStore(executor.StoreConfig(root=Path(tmp)))
            try:
                return executor.compile_source(
                    executor.CodeSource(
                        repo=src["repo"], commit=src["commit"], build_target=src["build_target"], path=src.get("path")
                    ),
                    store=store,
                    config=cfg,
                ).sha256
            except executor.ExecutorError:
                return None


def _replace(base: Rederived, **changes: Any) -> Rederived:
    import dataclasses

    return dataclasses.replace(base, **changes)


def _delivered(response_format: str, run: Any) -> tuple[str | None, str | None]:
    """The sha256 of what settle sends as response.output for this stdout (streams.settle.output)."""
    from streams.settle.output import OutputRejected, shape_output

    if not run.success:
        return None, None
    try:
        return sha256_hex(shape_output(response_format, run.stdout).encode()), None
    except OutputRejected as exc:
        return None, exc.error


async def verify_requests(
    settings: Settings,
    request_ids: list[str] | None,
    *,
    since: int | None = None,
    secrets: dict[str, str] | None = None,
    rpc_url: str | None = None,
    block_api_url: str | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    io_store: str | None = None,
) -> list[Report]:
    """Verifies the given requests, or every request settled in blocks `since`..final.

    `io_store`: where recorded guest HTTP is read from (a store directory or an http(s) URL of a
    published one); None = the local platform's store under the state dir, if there is one."""
    import tempfile

    import aiohttp

    from schemas import ExecutionCompleted

    verifier = Verifier(settings, secrets)
    reports: list[Report] = []
    timeout = aiohttp.ClientTimeout(total=60)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as http:
            chain = _Chain(
                http,
                rpc_url or settings.near_rpc_url,
                block_api_url or settings.block_api_url,
                settings.contract_id,
                settings.block_api_key.get_secret_value() or None,
            )
            location = io_store if io_store is not None else local_io_store(settings)
            source = IoStore(location, http) if location else None
            ids = list(request_ids or [])
            if since is not None:
                final = await chain.final_height()
                for height in range(since, final + 1):
                    if progress is not None:
                        progress(height - since + 1, final - since + 1, "scanning blocks")
                    for ev in await _events(chain, height):
                        if isinstance(ev, ExecutionCompleted) and ev.request_id not in ids:
                            ids.append(ev.request_id)
            for i, rid in enumerate(ids):
                if progress is not None:
                    progress(i + 1, len(ids), f"verifying request {rid}")
                try:
                    on = await read_on_chain(chain, rid)
                except VerifyError as exc:
                    if len(ids) == 1:
                        raise  # the one request asked for: a usage error (exit 2)
                    reports.append(Report(rid, [Check("chain", str(exc)[:80], "-", MISMATCH)]))
                    continue
                head = str((on.commitment or {}).get("io_sha256") or "")
                with tempfile.TemporaryDirectory(prefix="offshore-verify-io-") as tmp:
                    io = await load_io_transcript(source, head, Path(tmp)) if head else None
                    re = await asyncio.to_thread(verifier.rederive, on, io)
                reports.append(Report(rid, checks(on, re)))
    finally:
        verifier.close()
    return reports


def _progress_bar() -> Callable[[int, int, str], None]:
    started = time.monotonic()

    def show(done: int, total: int, what: str) -> None:
        width = 30
        filled = int(width * min(done / max(total, 1), 1))
        rate = done / max(time.monotonic() - started, 1e-6)
        line = f"\rverify [{'#' * filled}{'-' * (width - filled)}] {done}/{total} {rate:,.1f}/s {what}"
        print(line[:120].ljust(120), end="", file=sys.stderr, flush=True)

    return show


def _run_verify(args: argparse.Namespace, settings: Settings) -> int:
    ids = [args.request_id] if args.request_id is not None else []
    for rid in ids:
        if not rid.isdigit():
            raise ConfigError(f"REQUEST_ID must be a decimal request id, not {rid!r}")
    if not ids and args.since is None:
        raise ConfigError("give a REQUEST_ID or --since HEIGHT")
    if args.since is not None and args.since < 0:
        raise ConfigError("--since must be a block height (>= 0)")
    secrets = read_secrets_file(args.secrets_file) if args.secrets_file else None
    progress = _progress_bar() if args.since is not None else None
    reports = asyncio.run(
        verify_requests(
            settings,
            ids,
            since=args.since,
            secrets=secrets,
            rpc_url=args.rpc,
            block_api_url=args.block_api,
            progress=progress,
            io_store=args.io_store,
        )
    )
    if progress is not None:
        print(file=sys.stderr)
    print(render(reports, detail=args.since is None or args.detail))
    failed = [r for r in reports if r.verdict.startswith("FAILED")]
    print(f"{len(reports) - len(failed)} of {len(reports)} requests verified")
    return 1 if failed else 0


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`offshore verify` (registered by offshore/cli.py)."""
    p = commands.add_parser(
        "verify",
        help="rebuild and re-run a settled request from public data; compare output, fuel and charge",
        description="Exit 0: every verifiable field matches; 1: a mismatch; 2: usage error.",
    )
    p.add_argument("request_id", nargs="?", metavar="REQUEST_ID")
    p.add_argument("--since", type=int, metavar="HEIGHT", help="verify every request settled from this block on")
    p.add_argument("--secrets-file", type=Path, metavar="FILE", help="your request's secrets (JSON or NAME=VALUE)")
    p.add_argument("--rpc", metavar="URL", help="NEAR JSON-RPC (default OFFSHORE_NEAR_RPC_URL)")
    p.add_argument("--block-api", metavar="URL", help="neardata-style block API (default OFFSHORE_BLOCK_API_URL)")
    p.add_argument("--detail", action="store_true", help="with --since: every check, not only failures")
    p.add_argument(
        "--io-store",
        metavar="PATH|URL",
        help="recorded guest HTTP: an artifact store dir or the http(s) URL of a published one "
        "(default: <OFFSHORE_STATE_DIR>/artifacts if it exists)",
    )
    p.set_defaults(handler=_run_verify)
