"""Go-live tooling: the pure decisions, the presets, and the commands against a devnet process
(real JSON-RPC, real transactions signed by py-near, near-cli credential files)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from contract import Pricing, charge
from devnet.node.keys import KeyPair, write_credentials
from devnet.testing import DevnetProcess
from offshore import ConfigError, load_settings
from offshore.client import OffshoreClient, Submitted
from offshore.golive import AccessKey, code_hash, failure_reason, keys_to_revoke, wasm_refusal
from offshore.keys import account_key, keys_file_text, operator_keys, parse_keys, secret_manifest, signer_key
from offshore.networks import NETWORKS
from streams.chain import NearChain

ROOT = Path(__file__).parents[2]
V0_WASM = ROOT / "tests" / "contract" / "fixtures" / "offshore-v0.wasm"  # the release before versioning
CONTRACT = "offshore.test.near"
OPERATOR = "operator.test.near"
ALICE = "alice.test.near"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


# ---- pure parts


def test_a_preset_fills_only_what_is_not_set(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NEAR_RPC_URL", "BLOCK_API_URL", "YIELD_TIMEOUT_BLOCKS", "BLOCK_TIME_S", "NETWORK"):
        monkeypatch.delenv(f"OFFSHORE_{name}", raising=False)
    local = load_settings()
    assert (local.network, local.near_rpc_url, local.block_api_url) == (
        "localnet",
        "http://127.0.0.1:3030",
        "http://127.0.0.1:3030/v0",
    )
    monkeypatch.setenv("OFFSHORE_NETWORK", "mainnet")
    monkeypatch.setenv("OFFSHORE_NEAR_RPC_URL", "https://rpc.example.org")
    main = load_settings()
    assert main.near_rpc_url == "https://rpc.example.org"  # explicit wins
    assert main.block_api_url == NETWORKS["mainnet"].block_api_url == "https://mainnet.neardata.xyz/v0"
    assert (main.yield_timeout_blocks, main.block_time_s) == (200, 0.6)
    assert load_settings(network="testnet").block_api_url == "https://testnet.neardata.xyz/v0"
    monkeypatch.setenv("OFFSHORE_NETWORK", "betanet")
    with pytest.raises(ConfigError, match=r"^invalid setting OFFSHORE_NETWORK"):
        load_settings()


def test_key_sets_parse_from_the_env_var_and_the_file() -> None:
    assert parse_keys("ed25519:a, ed25519:b,") == ("ed25519:a", "ed25519:b")
    assert parse_keys("# comment, not a key\ned25519:a\n\n ed25519:b \n") == ("ed25519:a", "ed25519:b")


def test_settle_reads_its_keys_from_the_file_when_one_is_set(tmp_path: Path) -> None:
    keys = [KeyPair.generate().secret_key_str for _ in range(2)]
    path = tmp_path / "operator-keys"
    path.write_text(keys_file_text(keys))
    assert operator_keys(load_settings(operator_keys_file=path, operator_keys="ed25519:env")) == tuple(keys)
    assert operator_keys(load_settings(operator_keys="ed25519:a,ed25519:b")) == ("ed25519:a", "ed25519:b")
    with pytest.raises(ConfigError, match=r"^cannot read OFFSHORE_OPERATOR_KEYS_FILE"):
        operator_keys(load_settings(operator_keys_file=tmp_path / "missing"))


def test_the_signer_key_comes_from_the_env_var_or_the_credentials_file(tmp_path: Path) -> None:
    key = KeyPair.generate()
    assert signer_key(load_settings(signer_key=key.secret_key_str), CONTRACT, tmp_path) == key
    with pytest.raises(ConfigError, match=r"^OFFSHORE_SIGNER_KEY is not an ed25519 secret key$"):
        signer_key(load_settings(signer_key="ed25519:nope"), CONTRACT, tmp_path)
    with pytest.raises(ConfigError, match=r"^no key for offshore\.test\.near: .*/testnet/offshore\.test\.near\.json"):
        signer_key(load_settings(network="testnet"), CONTRACT, tmp_path)
    write_credentials(tmp_path, "testnet", CONTRACT, key)  # near-cli's layout
    assert signer_key(load_settings(network="testnet"), CONTRACT, tmp_path) == key


def test_the_secret_manifest_is_what_settle_mounts() -> None:
    keys = [KeyPair.generate().secret_key_str for _ in range(3)]
    secret = yaml.safe_load(secret_manifest(keys, namespace="offshore"))
    docs = yaml.safe_load_all((ROOT / "deploy" / "k8s" / "base" / "settle.yaml").read_text())
    settle = next(d for d in docs if d and d["kind"] == "Deployment")
    (container,) = settle["spec"]["template"]["spec"]["containers"]
    ref = next(e for e in container["env"] if e["name"] == "OFFSHORE_OPERATOR_KEYS")["valueFrom"]["secretKeyRef"]
    assert (secret["kind"], secret["metadata"]["name"], secret["metadata"]["namespace"]) == (
        "Secret",
        ref["name"],
        "offshore",
    )
    assert parse_keys(secret["stringData"][ref["key"]]) == tuple(keys)


def _key(pk: str, receiver: str | None, methods: tuple[str, ...] = ("resolve_execution",)) -> AccessKey:
    return AccessKey(pk, receiver, methods if receiver else (), None, 0)


def test_revoke_only_ever_deletes_settle_keys_of_this_contract() -> None:
    chain = [
        _key("full", None),
        _key("old", CONTRACT),
        _key("new", CONTRACT),
        _key("other-contract", "other.near"),
        _key("all-methods", CONTRACT, ()),
        _key("wider", CONTRACT, ("resolve_execution", "set_paused")),
    ]
    assert [k.public_key for k in keys_to_revoke(chain, CONTRACT, {"new"}, [])] == ["old"]
    assert [k.public_key for k in keys_to_revoke(chain, CONTRACT, set(), ["new"])] == ["new"]
    with pytest.raises(ConfigError, match="not a settle key"):
        keys_to_revoke(chain, CONTRACT, set(), ["full"])


def test_only_a_fresh_build_deploys_unless_forced() -> None:
    assert wasm_refusal(Path("x.wasm"), "aa", "aa", force=False) is None
    assert wasm_refusal(Path("x.wasm"), "aa", "bb", force=True) is None
    assert "--force" in (wasm_refusal(Path("x.wasm"), "aa", "bb", force=False) or "")
    assert code_hash(b"") == "GKot5hBsd81kMupNCXHaqbhv3huEbxAFMLnpcX2hniwn"  # NEAR's hash of empty code


def test_failure_reason_prefers_the_contract_panic() -> None:
    panic = {"Failure": {"ActionError": {"index": 1, "kind": {"FunctionCallError": {"ExecutionError": "boom"}}}}}
    assert failure_reason(panic) == "boom"
    assert failure_reason({"SuccessValue": ""}) is None
    assert "MethodNotFound" in (
        failure_reason(
            {"Failure": {"ActionError": {"kind": {"FunctionCallError": {"MethodResolveError": "MethodNotFound"}}}}}
        )
        or ""
    )


# ---- against a devnet process


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevnetProcess]:
    state = tmp_path_factory.mktemp("golive-devnet")
    accounts = [arg for a in (CONTRACT, OPERATOR, ALICE) for arg in ("--account", a)]
    # A 300 s yield window: each CLI call takes seconds on a busy machine, and the requests must stay
    # pending from before the upgrade until they are resolved or cancelled after it.
    with DevnetProcess(
        state_dir=state, block_interval_s=0.1, extra_args=(*accounts, "--yield-timeout-blocks", "3000")
    ) as d:
        yield d


def offshore(
    devnet: DevnetProcess, tmp: Path, *args: str, network: str = "localnet"
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFFSHORE_")}
    env.update(
        OFFSHORE_NETWORK=network,
        OFFSHORE_NEAR_RPC_URL=devnet.rpc_url,
        OFFSHORE_STATE_DIR=str(tmp),
        OFFSHORE_CONTRACT_CACHE=os.environ.get("OFFSHORE_CONTRACT_CACHE", str(ROOT / ".offshore" / "nearc")),
    )
    cmd = [sys.executable, "-m", "offshore.cli", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, check=False, timeout=600)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_another_network_s_rpc_is_refused(devnet: DevnetProcess, tmp_path: Path) -> None:
    out = offshore(devnet, tmp_path, "contract", "status", network="testnet")
    assert out.returncode == 2
    assert out.stderr.strip() == (
        f"offshore: error: {devnet.rpc_url} serves chain 'localnet' but OFFSHORE_NETWORK is 'testnet'"
    )


def test_upgrade_from_the_unversioned_release_with_requests_pending(devnet: DevnetProcess, tmp_path: Path) -> None:
    creds = ("--credentials-dir", str(devnet.credentials_dir))
    keys_file = tmp_path / "operator-keys"
    # The previous release is live (not this checkout's build: deploying it needs --force).
    refused = offshore(devnet, tmp_path, "contract", "deploy", "--wasm", str(V0_WASM), *creds)
    assert refused.returncode == 2 and "--force" in refused.stderr
    out = ok(offshore(devnet, tmp_path, "contract", "deploy", "--wasm", str(V0_WASM), "--force", *creds))
    assert "state_version=0 (before versioning)" in out and f"operator={OPERATOR}" in out
    ok(offshore(devnet, tmp_path, "operator", "keys", "add", "2", "--keys-file", str(keys_file), *creds))
    assert len(parse_keys(keys_file.read_text())) == 2 and keys_file.stat().st_mode & 0o777 == 0o600

    def alice() -> OffshoreClient:  # one per event loop: py-near's session dies with its loop
        key = account_key(devnet.credentials_dir, "localnet", ALICE).secret_key_str
        return OffshoreClient(rpc_url=devnet.rpc_url, account_id=ALICE, secret_key=key, contract_id=CONTRACT)

    async def send(n: int) -> list[Submitted]:
        async with alice() as client:
            return [await client.request(repo="https://example.org/r.git", commit=COMMIT) for _ in range(n)]

    async def wait_settled(ids: list[str]) -> list[dict[str, Any]]:
        async with alice() as client:
            return [await client.wait(i, timeout_s=60) for i in ids]

    sent = asyncio.run(send(3))

    out = ok(offshore(devnet, tmp_path, "contract", "upgrade", *creds))
    assert "3 requests pending" in out and "migrated  state version 0 -> 1" in out and "state_version=1" in out
    # A downgrade to code without `migrate` is one failed transaction: the new code stays.
    down = offshore(devnet, tmp_path, "contract", "upgrade", "--wasm", str(V0_WASM), "--force", *creds)
    assert down.returncode == 2 and "MethodNotFound" in down.stderr and "(unchanged)" in down.stdout

    # After the upgrade the pending requests settle with settle's own chain client and key file...
    res = {"instructions": 4_000_000, "time_ms": 2, "compile_time_ms": 700}
    done, failed, cancelled = sent

    async def resolve() -> None:
        chain = NearChain(
            rpc_url=devnet.rpc_url,
            contract_id=CONTRACT,
            operator_id=OPERATOR,
            operator_keys=parse_keys(keys_file.read_text()),
        )
        try:
            await chain.resolve(done.request_id, {"success": True, "output": "hi", "resources_used": res})
            await chain.resolve(failed.request_id, {"success": False, "error": "fuel_exhausted", "resources_used": res})
        finally:
            await chain.close()

    asyncio.run(resolve())
    # ... and the owner (the contract account here) can still cancel one: refunded in full.
    ok(offshore(devnet, tmp_path, "contract", "cancel", cancelled.request_id, "--reason", "upgrade drill", *creds))
    views = asyncio.run(wait_settled([s.request_id for s in sent]))
    pricing = Pricing()
    for view, s, status in zip(views, sent, ("completed", "failed", "cancelled"), strict=True):
        assert view["status"] == status
        expected = 0 if status == "cancelled" else charge(pricing, s.deposit, **res)
        assert (int(view["payment_charged"]), int(view["payment_refunded"])) == (expected, s.deposit - expected)
    status = ok(offshore(devnet, tmp_path, "contract", "status"))
    assert "state     version 1" in status and "pending=0" in status
    again = offshore(devnet, tmp_path, "contract", "deploy", *creds)
    assert again.returncode == 2 and "use `offshore contract upgrade`" in again.stderr
