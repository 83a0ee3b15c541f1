"""The whole platform commits to its results and `offshore verify` re-derives them (issue 15).

Stages as processes (compile, execute with the platform's randomness key, settle) settle real
requests; a verifier with only the RPC, the block API and the repos verifies each one, and the
contract checked every randomness proof on chain. `--since` verifies the range with a progress bar.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import executor.examples as examples
from offshore.settings import load_settings
from offshore.verify import verify_requests

from .conftest import LIMITS, Harness


def test_every_settled_request_verifies_and_proofs_were_checked_on_chain(harness: Harness) -> None:
    state = harness.info.state_dir
    url, commit = examples.publish("dice", state / "repos")
    sha_url, sha_commit = harness.repos["sha256"]
    fuel_url, fuel_commit = harness.repos["infinite_loop"]

    async def send() -> list[str]:
        async with harness.client("alice.test.near") as client:
            ids = []
            for repo, sha, data, limits in (
                (url, commit, "6", LIMITS),
                (url, commit, "6", LIMITS),
                (sha_url, sha_commit, "abc", LIMITS),
                (fuel_url, fuel_commit, "", {**LIMITS, "max_instructions": 3_000_000}),
            ):
                sub = await client.request(
                    repo=repo, commit=sha, input_data=data, limits=limits, response_format="Text"
                )
                ids.append(sub.request_id)
            return ids

    ids = asyncio.run(send())
    finals = asyncio.run(harness.finals(ids, timeout_s=180))
    assert [finals[i]["status"] for i in ids] == ["completed", "completed", "completed", "failed"]
    for rid in ids:
        c = finals[rid]["commitment"]
        assert c is not None and c["randomness_checked"] is True, finals[rid]
    settings = load_settings(
        near_rpc_url=harness.info.rpc_url,
        block_api_url=harness.info.block_api_url,
        contract_id=harness.info.contract_id,
        allow_file_urls=True,
        file_url_roots=str(state / "repos"),
        state_dir=state / "verifier",
    )
    for _ in range(600):  # poll: the verifier reads final state
        reports = asyncio.run(verify_requests(settings, ids))
        if all(r.verdict == "verified" for r in reports):
            break
    assert [r.verdict for r in reports] == ["verified"] * 4, [r.checks for r in reports]
    dice = [next(c for c in r.checks if c.name == "output sha256") for r in reports[:2]]
    assert dice[0].chain != dice[1].chain  # two requests roll independent dice
    created = min(int(finals[i]["created_height"]) for i in ids)
    env = {
        **os.environ,
        "OFFSHORE_NEAR_RPC_URL": harness.info.rpc_url,
        "OFFSHORE_BLOCK_API_URL": harness.info.block_api_url,
        "OFFSHORE_CONTRACT_ID": harness.info.contract_id,
        "OFFSHORE_ALLOW_FILE_URLS": "true",
        "OFFSHORE_FILE_URL_ROOTS": str(state / "repos"),
        "OFFSHORE_STATE_DIR": str(Path(state) / "verifier"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "offshore.cli", "verify", "--since", str(created)],
        env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "verify [" in done.stderr  # the progress bar
    rows = [line.split() for line in done.stdout.splitlines() if "=> result" in line]
    assert {row[0] for row in rows} >= set(ids) and all(row[-1] == "verified" for row in rows)
