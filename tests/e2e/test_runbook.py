"""docs/runbook.md, executed: its `sh` blocks take an empty devnet to a working platform, through an
upgrade with requests pending, a key rotation while settle runs, pause, drain and an emergency
cancel. Every command is the runbook's own text run by bash; a line ending in `# cluster` is replaced
by its local equivalent (CLUSTER below); the test adds only load and checks around the sections.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

import executor.examples as examples
from contract.pricing import Pricing, charge
from offshore.audit import resolve_counts
from offshore.client import Submitted
from offshore.errors import OffshoreError
from offshore.keys import SECRET_NAME, parse_keys
from offshore.local import CLIENTS, OPERATOR, LocalPlatform, PlatformInfo
from offshore.testing import scrape, total, wait_until

from .conftest import LIMITS

ROOT = Path(__file__).parents[2]
RUNBOOK = ROOT / "docs" / "runbook.md"
STAGES = ("indexer", "compile", "execute", "settle", "project")


@dataclass
class Block:
    section: str  # "1", "2", ... from "## 1. First deploy"
    lines: list[str]  # continuation lines joined


def runbook_blocks(text: str) -> list[Block]:
    blocks: list[Block] = []
    section = ""
    lines = iter(text.splitlines())
    for line in lines:
        heading = re.match(r"## (\d+)\. ", line)
        if heading:
            section = heading.group(1)
        if line.strip() == "```sh":
            body: list[str] = []
            for inner in lines:
                if inner.strip() == "```":
                    break
                if body and body[-1].endswith("\\"):
                    body[-1] = body[-1][:-1].rstrip() + " " + inner.strip()
                else:
                    body.append(inner)
            blocks.append(Block(section, [b for b in body if b.strip()]))
    return blocks


CLUSTER: dict[str, str] = {  # a `# cluster` line (regex) -> the Runbook method doing the same locally
    r"^kubectl apply -f operator-keys\.secret\.yaml$": "apply_secret",
    r"^kubectl apply -k deploy/k8s/overlays/prod$": "start_cluster",
    r"^kubectl -n offshore rollout restart deployment/offshore-settle$": "restart_settle",
    r"^kubectl -n offshore rollout status deployment/offshore-settle$": "settle_ready",
}


def cluster_action(line: str) -> str:
    command = line.rsplit("# cluster", 1)[0].strip()
    for pattern, action in CLUSTER.items():
        if re.match(pattern, command):
            return action
    raise AssertionError(f"runbook line with no local equivalent in the test: {line!r}")


def test_every_cluster_line_of_the_runbook_has_a_local_equivalent() -> None:
    blocks = runbook_blocks(RUNBOOK.read_text())
    assert [b.section for b in blocks] == ["1", "2", "3", "4", "5", "6", "7", "8", "9"]
    cluster = [line for b in blocks for line in b.lines if line.rstrip().endswith("# cluster")]
    assert len(cluster) == 6
    assert {cluster_action(line) for line in cluster} == set(CLUSTER.values())
    assert not any("kubectl" in line for b in blocks for line in b.lines if not line.rstrip().endswith("# cluster"))


@dataclass
class Runbook:
    platform: LocalPlatform
    info: PlatformInfo
    env: dict[str, str]
    work: Path
    outputs: list[str] = field(default_factory=list)

    def run(self, block: Block) -> str:
        """Runs the block's lines in order: shell lines through bash, `# cluster` lines locally."""
        out: list[str] = []
        shell: list[str] = []
        for line in [*block.lines, ""]:
            if line.rstrip().endswith("# cluster") or line == "":
                if shell:
                    out.append(self.bash("\n".join(shell)))
                    shell = []
                if line:
                    getattr(self, cluster_action(line))()
            else:
                shell.append(line)
        self.outputs.append("".join(out))
        return "".join(out)

    def bash(self, script: str) -> str:
        proc = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=self.work,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert proc.returncode == 0, f"runbook commands failed:\n{script}\n{proc.stdout}\n{proc.stderr}"
        return proc.stdout

    # ---- the local equivalents of the `# cluster` lines

    def apply_secret(self) -> None:
        secret = yaml.safe_load((self.work / "operator-keys.secret.yaml").read_text())
        assert (secret["kind"], secret["metadata"]["name"]) == ("Secret", SECRET_NAME)
        assert parse_keys(secret["stringData"]["keys"]) == parse_keys(
            Path(self.env["OFFSHORE_OPERATOR_KEYS_FILE"]).read_text()
        )

    def start_cluster(self) -> None:
        self.bash("offshore topics create && offshore db migrate")
        for stage in STAGES:
            env = {"OFFSHORE_OPERATOR_KEYS_FILE": self.env["OFFSHORE_OPERATOR_KEYS_FILE"]} if stage == "settle" else {}
            self.platform.add_process(stage, stage, env=env)  # returns once it serves /metrics

    def restart_settle(self) -> None:
        self.platform.restart("settle")  # SIGTERM, then a new process reading the key file afresh

    def settle_ready(self) -> None:
        url = self.info.metrics["settle"]
        wait_until(lambda: _serves(url), timeout_s=90, what="settle to serve /metrics")


def _serves(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


@pytest.fixture
def runbook() -> Iterator[Runbook]:
    state = Path(tempfile.mkdtemp(prefix="offshore-runbook-", dir="/tmp"))
    # An empty chain: accounts with near-cli key files, no contract, no keys, no pipeline process.
    platform = LocalPlatform(
        state,
        deploy_contract=False,
        operator_keys=0,
        processes=(),
        block_interval_s=0.25,  # 600 blocks of yield = 150 s; fewer blocks for the final audit
        yield_timeout_blocks=600,
        reconcile_after_blocks=80,
    )
    try:
        info = platform.start()
        url, commit = examples.publish("json_echo", state / "repos")
        work = state / "work"
        work.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith("OFFSHORE_")}
        env.update(
            PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            OFFSHORE_STATE_DIR=str(state),
            OFFSHORE_NETWORK="localnet",
            OFFSHORE_NEAR_RPC_URL=info.rpc_url,
            OFFSHORE_BLOCK_API_URL=info.block_api_url,
            OFFSHORE_CONTRACT_ID=info.contract_id,
            OFFSHORE_OPERATOR_ID=OPERATOR,
            OFFSHORE_OPERATOR_KEYS_FILE=str(work / "operator-keys"),
            OFFSHORE_KAFKA_BOOTSTRAP=info.endpoints.kafka_bootstrap,
            OFFSHORE_POSTGRES_DSN=info.endpoints.postgres_dsn,
            CREDS=str(info.credentials_dir),
            CANARY_ACCOUNT=CLIENTS[0],
            CANARY_REPO=url,
            CANARY_COMMIT=commit,
        )
        if "OFFSHORE_CONTRACT_CACHE" in os.environ:
            env["OFFSHORE_CONTRACT_CACHE"] = os.environ["OFFSHORE_CONTRACT_CACHE"]
        yield Runbook(platform, info, env, work)
    finally:
        platform.stop()
        if not os.environ.get("OFFSHORE_KEEP_E2E_STATE"):
            shutil.rmtree(state, ignore_errors=True)


def _send(rb: Runbook, n: int) -> list[Submitted]:
    """n paid requests of the canary guest from the client accounts (2 in flight per account)."""
    repo, commit = rb.env["CANARY_REPO"], rb.env["CANARY_COMMIT"]
    return asyncio.run(rb.info.send_many(n, repo=repo, commit=commit, concurrency=2, limits=LIMITS))


def _settle_keys_listed(out: str) -> int:
    """Lines of `offshore operator keys list` marking a key as one settle uses."""
    return sum(1 for line in out.splitlines() if line.startswith("ed25519:") and " settle " in line)


def _settled_with_refunds(info: PlatformInfo, sent: list[Submitted]) -> list[Submitted]:
    """Each request completed, charged by the price list and refunded the rest (exactly-once is
    checked at the end, in one pass over the chain)."""
    views = asyncio.run(info.wait_settled([s.request_id for s in sent], timeout_s=240))
    pricing = Pricing()
    for s in sent:
        view = views[s.request_id]
        assert view["status"] == "completed", view
        used = {k: int(view["resources_used"][k]) for k in ("instructions", "time_ms", "compile_time_ms")}
        assert int(view["payment_charged"]) == charge(pricing, s.deposit, **used)
        assert int(view["payment_charged"]) + int(view["payment_refunded"]) == s.deposit
    return sent


def _in_background(fn: Callable[[], Any]) -> concurrent.futures.Future[Any]:
    return concurrent.futures.ThreadPoolExecutor(max_workers=1).submit(fn)


@pytest.mark.integration
@pytest.mark.timeout(1800)
def test_the_runbook_takes_an_empty_devnet_to_a_working_platform_and_through_an_upgrade(runbook: Runbook) -> None:
    info, platform = runbook.info, runbook.platform
    blocks = {b.section: b for b in runbook_blocks(RUNBOOK.read_text())}

    out = runbook.run(blocks["1"])  # first deploy
    assert "verified  offshore.test.near" in out and "state_version=1" in out

    out = runbook.run(blocks["2"])  # operator keys
    first_keys = parse_keys(Path(runbook.env["OFFSHORE_OPERATOR_KEYS_FILE"]).read_text())
    assert len(first_keys) == 4 and _settle_keys_listed(out) == 4

    runbook.run(blocks["3"])  # cluster
    assert all(platform.alive().values()) and set(platform.alive()) == {"devnet", *STAGES}

    out = runbook.run(blocks["4"])  # canary
    assert "state     version 1" in out and "status    completed" in out and 'output    {"canary": 1}' in out

    # 5. Upgrade with requests pending: settle is down, so none can settle before the new code runs.
    platform.kill("settle", signal.SIGTERM)
    pending = _send(runbook, 6)
    out = runbook.run(blocks["5"])
    assert "6 requests pending" in out and "migrated  state version 1 -> 1" in out
    platform.restart("settle")
    settled = _settled_with_refunds(info, pending)

    # 6. Rotation while settle runs and requests keep coming.
    sending = _in_background(lambda: _send(runbook, 40))
    out = runbook.run(blocks["6"])
    new_keys = parse_keys(Path(runbook.env["OFFSHORE_OPERATOR_KEYS_FILE"]).read_text())
    assert len(new_keys) == 4 and not set(new_keys) & set(first_keys)
    assert out.count("revoked   ") == 4 and _settle_keys_listed(out) == 4  # the list shows the new four only
    settled += _settled_with_refunds(info, sending.result(timeout=300))

    # 7. Pause, with requests in flight that 8. drain waits for.
    in_flight = _send(runbook, 4)
    out = runbook.run(blocks["7"])
    assert "paused=True" in out
    with pytest.raises(OffshoreError, match="contract is paused"):
        _send(runbook, 1)
    runbook.run(blocks["8"])
    views = asyncio.run(info.wait_settled([s.request_id for s in in_flight], timeout_s=5))
    assert {v["status"] for v in views.values()} == {"completed"}  # drain returned only once all settled
    settled += _settled_with_refunds(info, [*in_flight, *_send(runbook, 1)])  # 1: resumed

    # 9. Emergency cancel of a request that would otherwise settle.
    platform.kill("settle", signal.SIGTERM)
    (stuck,) = _send(runbook, 1)
    runbook.env["REQUEST_ID"] = stuck.request_id
    runbook.run(blocks["9"])
    view = asyncio.run(info.wait_settled([stuck.request_id], timeout_s=30))[stuck.request_id]
    assert (view["status"], int(view["payment_charged"]), int(view["payment_refunded"])) == (
        "cancelled",
        0,
        stuck.deposit,
    )
    platform.restart("settle")  # it finds the request cancelled and skips it
    runbook.settle_ready()
    skipped = 'offshore_settlement_outcomes_total{outcome="skipped_cancelled"}'
    wait_until(lambda: total(scrape(info.metrics["settle"]), skipped) >= 1, timeout_s=180, what="settle to skip it")
    # Exactly once, read from every block: one resolve_execution per settled request, none for the cancelled.
    counts = resolve_counts(info.block_api_url, info.contract_id)
    assert {s.request_id: counts[s.request_id] for s in settled} == {s.request_id: 1 for s in settled}
    assert counts[stuck.request_id] == 0
