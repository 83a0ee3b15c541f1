"""`offshore verify` against the devnet (issue 15): honest results verify, tampering is caught.

The test plays the operator: it builds and runs each request exactly as the execute stage does (the
platform's randomness key, the request's block time) and resolves it through a real transaction from
the operator account, honestly or with one field tampered. Then a verifier with only the RPC URL, the
block API URL and the git repos re-derives everything (the `offshore verify` CLI as a subprocess for
the exit codes, `verify_requests` for the verdicts).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from py_near.account import Account

import executor
import executor.examples as examples
from executor import randomness
from executor.testing import git_repo
from executor.testing_http import mock_web
from offshore.local import CLIENTS, OPERATOR, LocalPlatform, PlatformInfo
from offshore.settings import Settings, load_settings
from offshore.verify import MATCH, MISMATCH, NEEDS_IO, NEEDS_SECRETS, NOT_REPRODUCIBLE, Report, verify_requests
from schemas.commitment import build_commitment
from streams.settle.output import shape_output

LIMITS = {"max_instructions": 1_000_000_000, "max_memory_mb": 32, "max_execution_seconds": 5}
TGAS = 10**12
# A Rust guest that embeds a fresh UUID at every build (the sandbox's /proc): never reproducible.
UNREPRODUCIBLE = {
    "Cargo.toml": '[package]\nname = "stamp"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\n',
    "src/main.rs": 'static STAMP: &[u8] = include_bytes!("/proc/sys/kernel/random/uuid");\n'
    'fn main() { println!("{}", String::from_utf8_lossy(STAMP)); }\n',
}

Tamper = Callable[[dict[str, Any]], None]


@dataclass
class Operator:
    """The devnet with the contract (no stages) and a test operator holding the platform's keys."""

    platform: LocalPlatform
    info: PlatformInfo
    state: Path
    repos: dict[str, tuple[str, str]]
    runner: executor.Executor
    store: executor.ArtifactStore
    compile_config: executor.CompileConfig

    def settings(self) -> Settings:
        return load_settings(
            near_rpc_url=self.info.rpc_url,
            block_api_url=self.info.block_api_url,
            contract_id=self.info.contract_id,
            allow_file_urls=True,
            file_url_roots=str(self.state / "repos"),
            state_dir=self.state / "verifier",
        )

    def env(self) -> dict[str, str]:
        s = self.settings()
        return {
            **os.environ,
            "OFFSHORE_NEAR_RPC_URL": s.near_rpc_url,
            "OFFSHORE_BLOCK_API_URL": s.block_api_url,
            "OFFSHORE_CONTRACT_ID": s.contract_id,
            "OFFSHORE_ALLOW_FILE_URLS": "true",
            "OFFSHORE_FILE_URL_ROOTS": s.file_url_roots,
            "OFFSHORE_STATE_DIR": str(s.state_dir),
        }

    async def request(
        self, guest: str, input_data: str = "", *, secrets: bool = False, fmt: str = "Text", limits: Any = LIMITS
    ) -> str:
        url, commit = self.repos[guest]
        async with self.info.client(CLIENTS[0]) as client:
            sub = await client.request(
                repo=url, commit=commit, input_data=input_data, limits=limits, response_format=fmt,
                encrypted_secrets="c2VhbGVk" if secrets else None,
            )  # fmt: skip
            return sub.request_id

    async def resolve(
        self,
        rid: str,
        *,
        tamper: Tamper | None = None,
        secrets: dict[str, str] | None = None,
        http: executor.HttpGrant | None = None,
        run_input: str | None = None,
    ) -> None:
        """Builds and runs `rid` as the execute stage does, resolves it (tampered), waits for the callback.

        `http`: the request's guest-HTTP grant (responses recorded in the operator's store); `run_input`:
        what a lying operator ran instead of the request's input (the commitment still names the input)."""
        async with self.info.client(CLIENTS[0]) as client:
            record = await client.view("get_request", {"request_id": rid})
            src = record["code_source"]
            built = executor.compile_source(
                executor.CodeSource(repo=src["repo"], commit=src["commit"], build_target=src["build_target"]),
                store=self.store,
                config=self.compile_config,
            )
            wasm = self.store.get(built.sha256)
            assert wasm is not None
            key = randomness.private_key((self.state / "randomness.key").read_text())
            proof = randomness.sign(key, self.info.contract_id, rid, record["data_id"])
            input_data = await self._input(rid, record)
            result = self.runner.execute(
                wasm,
                (input_data if run_input is None else run_input).encode(),
                limits=executor.Limits(max_instructions=LIMITS["max_instructions"], max_memory_mb=32),
                secrets=secrets,
                determinism=executor.Determinism(seed=randomness.seed(proof), time_ns=record["created_at_ns"]),
                http=http,
                io_store=self.store if http is not None else None,
            )
            assert result.success, result.error
            response: dict[str, Any] = {
                "success": True,
                "output": shape_output(record["response_format"], result.stdout),
                "resources_used": {
                    "instructions": result.instructions,
                    "time_ms": result.time_ms,
                    "compile_time_ms": built.compile_time_ms,
                },
                "commitment": build_commitment(
                    wasm_sha256=built.sha256,
                    builder_id=executor.builder_id(self.compile_config),
                    engine_id=result.engine_id,
                    input_data=input_data,
                    stdout=result.stdout,
                    randomness_proof=proof,
                    io_sha256=result.io_sha256,
                    http_calls=result.http_calls,
                    http_bytes=result.http_bytes,
                ),
            }
            if result.http_calls:
                response["resources_used"].update({"http_calls": result.http_calls, "http_bytes": result.http_bytes})
            if tamper is not None:
                tamper(response)
            operator = Account(OPERATOR, self.info.client_key(OPERATOR), rpc_addr=self.info.rpc_url)
            await operator.startup()
            try:
                outcome = await operator.function_call(
                    self.info.contract_id, "resolve_execution", {"request_id": rid, "response": response}, 100 * TGAS
                )
            finally:
                await operator.shutdown()
            assert "SuccessValue" in outcome.status, outcome.status  # a real transaction the contract accepted
            final = await client.wait(rid, timeout_s=60)
            assert final["status"] == "completed"
        await self._final(rid)

    async def _final(self, rid: str) -> None:
        """Waits until the settlement is final (the verifier reads final state only)."""
        import aiohttp

        from offshore.verify import _Chain

        async with aiohttp.ClientSession() as http:
            chain = _Chain(http, self.info.rpc_url, self.info.block_api_url, self.info.contract_id, None)
            for _ in range(600):  # poll
                if (await chain.view("get_request", {"request_id": rid}))["status"] != "pending":
                    return
                await asyncio.sleep(0.05)  # poll
        raise AssertionError(f"request {rid} not final")

    async def _input(self, rid: str, record: dict[str, Any]) -> str:
        """The request's input, from its execution_requested event (the contract drops it at settlement)."""
        import aiohttp

        from offshore.verify import _Chain, _events
        from schemas import ExecutionRequested

        async with aiohttp.ClientSession() as http:
            chain = _Chain(http, self.info.rpc_url, self.info.block_api_url, self.info.contract_id, None)
            for ev in await _events(chain, int(record["created_height"])):
                if isinstance(ev, ExecutionRequested) and ev.request_id == rid:
                    return ev.input_data
        raise AssertionError(f"no execution_requested for {rid}")

    def verify(self, rid: str, secrets: dict[str, str] | None = None, io_store: str | None = None) -> Report:
        (report,) = asyncio.run(verify_requests(self.settings(), [rid], secrets=secrets, io_store=io_store))
        return report

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "offshore.cli", "verify", *args],
            env=self.env(), capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip


@pytest.fixture(scope="module")
def op() -> Iterator[Operator]:
    state = Path(tempfile.mkdtemp(prefix="offshore-verify-", dir="/tmp"))
    platform = LocalPlatform(state, block_interval_s=0.1, yield_timeout_blocks=600, processes=(), operator_keys=0)
    runner = executor.Executor(
        executor.ExecutorConfig(
            module_cache_dir=state / "modules",
            max_stdout_bytes=12288,
            http=executor.HttpConfig(dev_mode=True),  # the oracle's mock API is on loopback
        )
    )
    try:
        info = platform.start()
        repos = {g: examples.publish(g, state / "repos") for g in ("dice", "sha256", "secret_env", "oracle_median")}
        repos["unreproducible"] = git_repo(state / "repos" / "unreproducible", UNREPRODUCIBLE)
        config = executor.CompileConfig(allow_file_urls=True, allowed_file_roots=(state / "repos",))
        store = executor.ArtifactStore(executor.StoreConfig(root=state / "operator-artifacts"))
        yield Operator(platform, info, state, repos, runner, store, config)
    finally:
        runner.close()
        platform.stop()
        shutil.rmtree(state, ignore_errors=True)


def _verdicts(report: Report) -> dict[str, str]:
    return {c.name: c.verdict for c in report.checks}


def test_an_honest_result_verifies_and_the_cli_exits_0(op: Operator) -> None:
    rid = asyncio.run(op.request("dice", "12", fmt="Json"))
    asyncio.run(op.resolve(rid))
    report = op.verify(rid)
    verdicts = _verdicts(report)
    assert report.verdict == "verified", report.checks
    for name in ("randomness proof", "input sha256", "wasm sha256", "output sha256", "instructions",
                 "delivered sha256", "charge (yocto)", "charged + refunded"):  # fmt: skip
        assert verdicts[name] == MATCH, (name, report.checks)
    assert verdicts["time_ms"] == verdicts["compile_time_ms"] == "operator-attested"
    done = op.cli(rid)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "verified" in done.stdout and "randomness proof" in done.stdout


def test_a_wrong_output_is_caught(op: Operator) -> None:
    def lie(response: dict[str, Any]) -> None:
        fake = b'{"dice": [6, 6, 6]}'
        response["output"] = fake.decode()
        response["commitment"]["output_sha256"] = hashlib.sha256(fake).hexdigest()

    rid = asyncio.run(op.request("dice", "3", fmt="Json"))
    asyncio.run(op.resolve(rid, tamper=lie))
    report = op.verify(rid)
    assert report.verdict == "FAILED: output sha256 (MISMATCH)"
    assert _verdicts(report)["delivered sha256"] == MISMATCH
    done = op.cli(rid)
    assert done.returncode == 1 and "MISMATCH" in done.stdout


def test_wrong_fuel_is_caught(op: Operator) -> None:
    def overbill(response: dict[str, Any]) -> None:
        response["resources_used"]["instructions"] += 50_000_000

    rid = asyncio.run(op.request("sha256", "abc"))
    asyncio.run(op.resolve(rid, tamper=overbill))
    report = op.verify(rid)
    assert report.verdict == "FAILED: instructions (MISMATCH)", report.checks
    assert _verdicts(report)["output sha256"] == MATCH
    assert _verdicts(report)["charge (yocto)"] == MATCH  # the contract charged what was claimed: the claim is wrong


def test_a_different_wasm_is_caught(op: Operator) -> None:
    other = hashlib.sha256(b"some other module").hexdigest()

    def swap(response: dict[str, Any]) -> None:
        response["commitment"]["wasm_sha256"] = other

    rid = asyncio.run(op.request("sha256", "abc"))
    asyncio.run(op.resolve(rid, tamper=swap))
    report = op.verify(rid)
    (check,) = [c for c in report.checks if c.name == "wasm sha256"]
    assert check.verdict == MISMATCH and check.chain == other and "built twice" in check.local


def test_a_commit_that_builds_differently_is_not_reproducible(op: Operator) -> None:
    rid = asyncio.run(op.request("unreproducible"))
    asyncio.run(op.resolve(rid))
    report = op.verify(rid)
    (check,) = [c for c in report.checks if c.name == "wasm sha256"]
    assert check.verdict == NOT_REPRODUCIBLE, report.checks
    first, _, second = check.local.partition(" then ")
    assert len(first) == len(second) == 64 and first != second != check.chain  # both hashes shown
    assert report.verdict == f"FAILED: wasm sha256 ({NOT_REPRODUCIBLE})"


def test_secrets_are_needed_to_re_run_and_the_owner_can(op: Operator, tmp_path: Path) -> None:
    secrets = {"API_KEY": "owner-only-" + "value"}
    rid = asyncio.run(op.request("secret_env", secrets=True))
    asyncio.run(op.resolve(rid, secrets=secrets))
    without = op.verify(rid)
    assert _verdicts(without)["output sha256"] == NEEDS_SECRETS
    assert without.verdict == f"verified (not re-run: {NEEDS_SECRETS})"
    assert op.verify(rid, secrets=secrets).verdict == "verified"
    path = tmp_path / "secrets.env"
    path.write_text("API_KEY=" + secrets["API_KEY"] + "\n")
    done = op.cli(rid, "--secrets-file", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert secrets["API_KEY"] not in done.stdout + done.stderr


def test_usage_errors_exit_2(op: Operator) -> None:
    assert op.cli("abc").returncode == 2
    unknown = op.cli("999999")
    assert unknown.returncode == 2 and "offshore: error:" in unknown.stderr
    assert op.cli().returncode == 2


def test_a_guest_whose_calls_differ_from_the_recording_fails_verify(op: Operator) -> None:
    """The operator fetched the oracle's sources in another order than the request's input says: the
    median (output, fuel, charge) is the same, only the replay of the recording catches it - offline."""
    limits = {**LIMITS, "max_http_calls": 3, "max_http_kb": 16, "http_hosts": ["127.0.0.1"]}
    grant = executor.HttpGrant.from_mapping(limits)
    with mock_web() as web:
        urls = [web.url(f"/price/{n}") for n in ("alpha", "beta", "gamma")]
        honest = asyncio.run(op.request("oracle_median", "\n".join(urls), fmt="Json", limits=limits))
        asyncio.run(op.resolve(honest, http=grant))
        lying = asyncio.run(op.request("oracle_median", "\n".join(urls), fmt="Json", limits=limits))
        asyncio.run(op.resolve(lying, http=grant, run_input="\n".join([urls[0], urls[2], urls[1]])))
    store = str(op.store.root)  # the mock API is stopped: replay is the only way to re-run them
    good = op.verify(honest, io_store=store)
    assert good.verdict == "verified", good.checks
    assert _verdicts(good)["recorded I/O"] == _verdicts(good)["output sha256"] == MATCH
    bad = op.verify(lying, io_store=store)
    assert bad.verdict == f"FAILED: recorded I/O ({MISMATCH})", bad.checks
    (check,) = [c for c in bad.checks if c.name == "recorded I/O"]
    assert check.local == "replay: call 2: the request differs from the recorded one"
    assert _verdicts(bad)["wasm sha256"] == _verdicts(bad)["input sha256"] == MATCH
    assert op.verify(lying).verdict == f"verified (not re-run: {NEEDS_IO})"  # no store: says what it needs
    done = op.cli(lying, "--io-store", store)
    assert done.returncode == 1 and "the request differs" in done.stdout, done.stdout + done.stderr
