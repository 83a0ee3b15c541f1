"""`offshore verify` re-runs a request whose guest called the web by replaying its recording (issue 16).

The whole platform (devnet, broker, every stage as a process, guest HTTP in dev mode so loopback is
allowed) settles the price oracle against a loopback mock API. Then the API is stopped - nothing
listens on its port - and a verifier with only the RPC, the block API, the repos and the execute
stage's artifact store (a directory, or a copy published by a loopback static web server) reproduces
output, fuel, HTTP metering and charge by replay. A copy with an altered response or a transcript of
other calls fails verify with a clear `recorded I/O` mismatch; without a store it says what it needs.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import executor
from executor import examples
from executor.testing_http import mock_web, published_store
from offshore.settings import Settings, load_settings
from offshore.verify import MATCH, MISMATCH, NEEDS_IO, Report, verify_requests

from .conftest import LIMITS, Harness, _harness


@dataclass(frozen=True)
class Oracle:
    harness: Harness
    request_id: str
    record: dict[str, object]
    api_port: int  # the stopped mock API's port

    @property
    def state(self) -> Path:
        return self.harness.info.state_dir

    @property
    def io_sha256(self) -> str:
        commitment = self.record["commitment"]
        assert isinstance(commitment, dict)
        return str(commitment["io_sha256"])

    def settings(self) -> Settings:
        info = self.harness.info
        return load_settings(
            near_rpc_url=info.rpc_url,
            block_api_url=info.block_api_url,
            contract_id=info.contract_id,
            allow_file_urls=True,
            file_url_roots=str(self.state / "repos"),
            state_dir=self.state / "verifier",  # no artifacts/ of its own: no default --io-store
        )

    def verify(self, io_store: str | None) -> Report:
        (report,) = asyncio.run(verify_requests(self.settings(), [self.request_id], io_store=io_store))
        return report

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        s = self.settings()
        env = {
            **os.environ,
            "OFFSHORE_NEAR_RPC_URL": s.near_rpc_url,
            "OFFSHORE_BLOCK_API_URL": s.block_api_url,
            "OFFSHORE_CONTRACT_ID": s.contract_id,
            "OFFSHORE_ALLOW_FILE_URLS": "true",
            "OFFSHORE_FILE_URL_ROOTS": s.file_url_roots,
            "OFFSHORE_STATE_DIR": str(s.state_dir),
        }
        return subprocess.run(
            [sys.executable, "-m", "offshore.cli", "verify", self.request_id, *args],
            env=env, capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip


@pytest.fixture(scope="module")
def oracle() -> Iterator[Oracle]:
    platform = _harness("offshore-e2e-verify-io-", block_interval_s=0.1, yield_timeout_blocks=600,
                        extra_env={"OFFSHORE_HTTP_DEV_MODE": "true"})  # fmt: skip
    harness = next(platform)
    try:
        url, commit = examples.publish("oracle_median", harness.info.state_dir / "repos")
        limits = {**LIMITS, "max_http_calls": 3, "max_http_kb": 16, "http_hosts": ["127.0.0.1"]}

        async def send(prices: str) -> str:
            async with harness.client("alice.test.near") as client:
                sub = await client.request(repo=url, commit=commit, input_data=prices, limits=limits,
                                           response_format="Json")  # fmt: skip
                return sub.request_id

        with mock_web() as web:
            rid = asyncio.run(send("\n".join(web.url(f"/price/{n}") for n in ("alpha", "beta", "gamma"))))
            record = asyncio.run(harness.finals([rid], timeout_s=180))[rid]
            port = web.port
        # the API is stopped from here on: a verify that needed the network could not reproduce anything
        assert record["status"] == "completed", record
        assert record["resources_used"]["http_calls"] == 3, record
        yield Oracle(harness, rid, record, port)
    finally:
        platform.close()  # stops the platform (the generator's finally)


def _verdicts(report: Report) -> dict[str, tuple[str, str]]:
    return {c.name: (c.verdict, c.local) for c in report.checks}


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def test_the_oracle_is_verified_by_replay_with_the_api_stopped(oracle: Oracle) -> None:
    assert _refused(oracle.api_port)  # the network the guest used is really gone
    store = str(oracle.state / "artifacts")  # where the execute stage recorded the responses
    done = oracle.cli("--io-store", store)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "replayed 3 calls offline" in done.stdout
    (result,) = [line for line in done.stdout.splitlines() if "=> result" in line]
    assert result.split()[-1] == "verified", done.stdout

    report = oracle.verify(store)
    found = _verdicts(report)
    assert report.verdict == "verified", report.checks
    for name in ("recorded I/O", "http calls", "http bytes", "output sha256", "instructions", "delivered sha256",
                 "charge (yocto)"):  # fmt: skip
        assert found[name][0] == MATCH, (name, report.checks)
    assert found["http calls"][1] == "3"


def test_without_a_transcript_verify_says_what_it_needs(oracle: Oracle, tmp_path: Path) -> None:
    done = oracle.cli()  # the verifier's state dir has no artifact store: nothing to replay from
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"verified (not re-run: {NEEDS_IO})" in done.stdout
    assert NEEDS_IO == "needs I/O transcript (--io-store)"
    empty = oracle.verify(str(tmp_path))
    assert _verdicts(empty)["recorded I/O"] == (NEEDS_IO, f"not in {tmp_path}")
    assert _verdicts(empty)["output sha256"][0] == NEEDS_IO


@pytest.fixture
def published(oracle: Oracle, tmp_path: Path) -> Iterator[tuple[Path, str]]:
    root = tmp_path / "published"
    with published_store(oracle.state / "artifacts", root) as url:
        yield root, url


def _transcript(root: Path, head: str) -> tuple[Path, list[tuple[str, str]]]:
    ref = json.loads((root / executor.ref_relpath(executor.transcript_key(head))).read_text())
    path = root / executor.blob_relpath(ref["sha256"])
    return path, executor.parse_transcript(path.read_bytes(), head)


def test_a_published_store_verifies_over_http(oracle: Oracle, published: tuple[Path, str]) -> None:
    _root, url = published
    report = oracle.verify(url)
    assert report.verdict == "verified", report.checks
    assert _verdicts(report)["recorded I/O"] == (MATCH, "replayed 3 calls offline")


def test_an_altered_response_fails_verify(oracle: Oracle, published: tuple[Path, str]) -> None:
    root, url = published
    _path, calls = _transcript(root, oracle.io_sha256)
    response = root / executor.blob_relpath(calls[1][1])
    doc = json.loads(response.read_bytes())
    doc["body"] = "eyJwcmljZSI6IDEwMDB9"  # {"price": 1000}: a lie about what the API said
    response.write_text(json.dumps(doc))
    report = oracle.verify(url)
    assert report.verdict == f"FAILED: recorded I/O ({MISMATCH})", report.checks
    verdict, why = _verdicts(report)["recorded I/O"]
    assert verdict == MISMATCH and "does not match its hash" in why
    done = oracle.cli("--io-store", url)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "recorded I/O" in done.stdout and MISMATCH in done.stdout


def test_a_transcript_of_other_calls_fails_verify(oracle: Oracle, published: tuple[Path, str]) -> None:
    """A ref that points at a different (well-formed) transcript: it cannot chain to the committed io_sha256."""
    root, url = published
    _path, calls = _transcript(root, oracle.io_sha256)
    other = json.dumps({"v": 1, "calls": [list(c) for c in reversed(calls)]}).encode()
    store = executor.ArtifactStore(executor.StoreConfig(root=root))
    store.put_ref(executor.transcript_key(oracle.io_sha256), store.put(other))
    report = oracle.verify(url)
    assert report.verdict == f"FAILED: recorded I/O ({MISMATCH})", report.checks
    assert _verdicts(report)["recorded I/O"][1] == "the recording does not hash to its io_sha256"
