"""A second real client: near-api-js 7 runs its ordinary Account flows against the devnet.

`tests/devnet/js/flows.mjs` (installed by `make setup`: `npm ci` in tests/devnet/js, lock file
committed) does getState, getBalance, createAccount, transfer, add/delete key, callFunction and a
function-call key with near-api-js's own defaults, and prints what it saw; this test starts the
devnet, runs it with node and checks the results against the chain.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path

import pytest

from devnet import NEAR, Devnet

pytestmark = pytest.mark.asyncio(loop_scope="session")
JS = Path(__file__).parents[1] / "js"
CONTRACT = "contract.test.near"


async def test_near_api_js_account_flows(devnet: Devnet) -> None:
    node = shutil.which("node")
    assert node is not None, "node (20+) is needed: it is part of the machine image"
    assert (JS / "node_modules" / "near-api-js").is_dir(), "run `make setup` (npm ci in tests/devnet/js)"
    root = devnet.config.root_account_id
    env = {
        **os.environ,
        "RPC_URL": devnet.rpc_url,
        "ROOT_ID": root,
        "ROOT_KEY": devnet.key(root).secret_key_str,
        "CONTRACT_ID": CONTRACT,
    }
    proc = await asyncio.create_subprocess_exec(
        node, str(JS / "flows.mjs"), env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode == 0, stderr.decode()[-4000:]
    out = json.loads(stdout.decode().strip().splitlines()[-1])

    # getState / getBalance: the root's balance as the chain has it, storage priced per nearcore's config
    assert int(out["rootState"]["total"]) <= devnet.config.root_balance
    assert int(out["rootBalance"]) == int(out["rootState"]["total"]) - out["rootState"]["storageUsage"] * 10**19
    # createAccount with 5 NEAR, then a 1 NEAR transfer (balances are what's left after storage staking)
    created, after = int(out["createdBalance"]), int(out["afterTransferBalance"])
    assert 4 * NEAR < created < 5 * NEAR and after - created == NEAR
    assert (out["keysAfterAdd"], out["keysAfterDelete"]) == (2, 1)
    assert out["view"]["by"].endswith(f".{root}") and out["viewAfterFcKey"] == {"by": "fc-key"}
    # the function-call key: only `set` on the contract; near-api-js maps nearcore's errors to its classes
    assert out["fcKeyWrongMethod"].startswith("AccessKeyMethodNameMismatchActionError")
    assert out["fcKeyTransfer"].startswith("AccessKeyRequiresFullAccessActionError")
    perm = out["fcKeyPermission"]["FunctionCall"]
    assert perm["receiver_id"] == CONTRACT and perm["method_names"] == ["set"]
    assert int(perm["allowance"]) < NEAR // 4  # near-api-js's default 0.25 NEAR, less the gas it paid
    # a failed view carries nearcore's text, which near-api-js recognises
    assert out["missingMethod"].startswith("ContractMethodNotFoundError")
