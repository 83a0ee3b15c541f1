"""Go-live commands: `offshore contract ...` (deploy, upgrade, status, pause, drain, cancel) and
`offshore operator keys ...` (add, list, revoke) against any NEAR JSON-RPC (the devnet in tests).

Trust model (docs/runbook.md): the contract account signs its own code changes. Whoever holds a
full-access key of the contract account (the owner: usually the contract account is the owner
itself) deploys and upgrades; an upgrade is ONE transaction DeployContract + FunctionCall `migrate`,
so a refused migration (unknown state version) rolls the new code back with it. Keys come from
near-cli credential files or OFFSHORE_SIGNER_KEY, never from argv, and are never printed.

The decisions (is this wasm the build of our source, which keys to revoke, what a failed transaction
says) are pure functions; the rest is a thin py-near shell.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import base58
from py_near import transactions
from py_near.account import Account
from py_near.exceptions.provider import JsonProviderError

from devnet.node.keys import KeyPair
from offshore.errors import ConfigError, OffshoreError
from offshore.keys import keys_file_text, parse_keys, secret_manifest, signer_key, write_private
from offshore.settings import Settings

TGAS = 10**12
NEAR = 10**24
INIT_GAS = 200 * TGAS  # `new` and `migrate` run in the same transaction as the (large) deploy action
RESOLVE_METHODS = (
    "resolve_execution",
    "resolve_executions",
)  # all settle calls with an operator key (streams/chain.py)
DEFAULT_ALLOWANCE_NEAR = 10  # each resolve takes 100 TGas x gas price (0.01 NEAR at 1e8) from the allowance
EMPTY_CODE_HASH = "11111111111111111111111111111111"


class GoLiveError(OffshoreError):
    """A chain operation was refused; the message is the chain's or the contract's reason."""


# ---- pure decisions ----


def code_hash(code: bytes) -> str:
    """NEAR's code_hash: base58 of the sha256 of the WASM."""
    return base58.b58encode(hashlib.sha256(code).digest()).decode()


def wasm_refusal(path: Path, sha: str, fresh_sha: str, *, force: bool) -> str | None:
    """Why a wasm must not be deployed (None: deploy it). Only a build of this checkout's source goes
    out unless forced, so what runs on chain can always be rebuilt from a commit."""
    if sha == fresh_sha or force:
        return None
    return (
        f"{path} has sha256 {sha} but a fresh build of contract/src/offshore gives {fresh_sha}: "
        "run `make contract` (or deploy that build), or pass --force to deploy this file anyway"
    )


def failure_reason(status: dict[str, Any]) -> str | None:
    """The reason of a failed transaction outcome (the contract's panic text when there is one)."""
    failure = status.get("Failure")
    if failure is None:
        return None
    kind = failure.get("ActionError", {}).get("kind", failure) if isinstance(failure, dict) else failure
    call_error = kind.get("FunctionCallError") if isinstance(kind, dict) else None
    if isinstance(call_error, dict) and "ExecutionError" in call_error:
        return str(call_error["ExecutionError"])
    return json.dumps(kind, sort_keys=True)


def success_value(status: dict[str, Any]) -> Any:
    raw = status.get("SuccessValue")
    return json.loads(base64.b64decode(raw)) if raw else None


@dataclass(frozen=True)
class AccessKey:
    public_key: str
    receiver_id: str | None  # None: a full-access key
    method_names: tuple[str, ...]
    allowance: int | None
    nonce: int

    @classmethod
    def from_view(cls, item: dict[str, Any]) -> AccessKey:
        key = item["access_key"]
        permission = key["permission"]
        call = permission.get("FunctionCall") if isinstance(permission, dict) else None
        return cls(
            public_key=item["public_key"],
            receiver_id=call["receiver_id"] if call else None,
            method_names=tuple(call["method_names"]) if call else (),
            allowance=int(call["allowance"]) if call and call.get("allowance") is not None else None,
            nonce=int(key["nonce"]),
        )

    def is_resolve_key(self, contract_id: str) -> bool:
        """A settle key: function-call only, on our contract, resolve methods only."""
        return (
            self.receiver_id == contract_id
            and bool(self.method_names)
            and set(self.method_names) <= set(RESOLVE_METHODS)
        )


def keys_to_revoke(
    on_chain: Sequence[AccessKey], contract_id: str, keep: set[str], named: Sequence[str]
) -> list[AccessKey]:
    """The settle keys to delete: the `named` ones, or (none named) every one not in `keep`.

    Never a full-access key or a key for anything else: revoke cannot lock anyone out.
    """
    candidates = [k for k in on_chain if k.is_resolve_key(contract_id)]
    if named:
        by_key = {k.public_key: k for k in candidates}
        unknown = [n for n in named if n not in by_key]
        if unknown:
            raise ConfigError(f"not a settle key of this contract on the account: {', '.join(unknown)}")
        return [by_key[n] for n in named]
    return [k for k in candidates if k.public_key not in keep]


def public_of(secret_key: str) -> str:
    return KeyPair.from_string(secret_key).public_key_str


# ---- the chain shell ----


@asynccontextmanager
async def _account(settings: Settings, rpc: str, account_id: str, key: KeyPair | None) -> AsyncIterator[Account]:
    """A started py-near Account on `rpc`, refusing an RPC of another network than OFFSHORE_NETWORK."""
    acc = Account(account_id, key.secret_key_str if key else None, rpc_addr=rpc)
    try:
        await acc.startup()
    except Exception as exc:  # py-near raises aiohttp's and OS errors here
        await acc.shutdown()
        raise GoLiveError(f"cannot reach the NEAR RPC {rpc}: {exc.__class__.__name__}") from None
    try:
        if acc.chain_id != settings.network:
            raise ConfigError(f"{rpc} serves chain {acc.chain_id!r} but OFFSHORE_NETWORK is {settings.network!r}")
        yield acc
    finally:
        await acc.shutdown()


async def _submit(acc: Account, receiver: str, actions: list[Any], what: str) -> Any:
    """Sends one transaction and waits for its outcome; the result value, or GoLiveError with the reason."""
    try:
        result = await acc.sign_and_submit_tx(receiver, actions)
    except (JsonProviderError, ValueError) as exc:
        raise GoLiveError(f"{what} refused: {exc}") from None
    reason = failure_reason(result.status)
    if reason is not None:
        raise GoLiveError(f"{what} failed on chain: {reason}")
    return success_value(result.status)


async def _view(acc: Account, contract_id: str, method: str, args: dict[str, Any] | None = None) -> Any:
    try:
        return (await acc.view_function(contract_id, method, args or {})).result
    except Exception as exc:  # py-near raises a bare Exception-derived error for a contract panic
        raise GoLiveError(f"{contract_id}.{method}: {exc}") from None


async def _state_version(acc: Account, contract_id: str) -> str:
    """The stored state version; a contract released before versioning has no such view (version 0)."""
    try:
        return str((await _view(acc, contract_id, "get_state_version"))["state_version"])
    except GoLiveError:
        return "0 (before versioning)"


async def _code_hash_on_chain(acc: Account, account_id: str) -> str:
    view = await acc.provider.get_account(account_id)
    return str(view.get("code_hash", EMPTY_CODE_HASH))


async def _access_keys(acc: Account, account_id: str) -> list[AccessKey]:
    view = await acc.provider.get_access_key_list(account_id)
    return [AccessKey.from_view(item) for item in view.get("keys", [])]


def _verified_wasm(path: Path | None, *, force: bool, rebuild: bool) -> bytes:
    """The wasm to deploy, checked against a fresh build of contract/src/offshore (printed with sha256)."""
    from contract import OFFSHORE_SOURCE, OFFSHORE_WASM, ContractBuildError, build_contract

    with tempfile.TemporaryDirectory(prefix="offshore-build-") as tmp:
        cache = Path(tmp) / "cache" if rebuild else None  # --rebuild: no cache, a build from scratch
        try:
            fresh = build_contract(OFFSHORE_SOURCE, Path(tmp) / "offshore.wasm", cache_dir=cache).read_bytes()
        except ContractBuildError as exc:
            raise ConfigError(f"cannot build the contract to compare with: {exc}") from None
    fresh_sha = hashlib.sha256(fresh).hexdigest()
    target = path or OFFSHORE_WASM
    if path is None and not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(fresh)
    if not target.is_file():
        raise ConfigError(f"no such wasm: {target}")
    code = target.read_bytes()
    sha = hashlib.sha256(code).hexdigest()
    print(f"wasm      {target} ({len(code)} bytes) sha256={sha}")
    refusal = wasm_refusal(target, sha, fresh_sha, force=force)
    if refusal:
        raise ConfigError(refusal)
    if sha != fresh_sha:
        print(f"warning   not the build of this checkout (fresh build sha256={fresh_sha}); deploying it (--force)")
    return code


def _signer(settings: Settings, args: argparse.Namespace, account_id: str) -> KeyPair:
    return signer_key(settings, account_id, args.credentials_dir)


def _rpc(settings: Settings, args: argparse.Namespace) -> str:
    return str(args.rpc or settings.near_rpc_url)


# ---- contract commands ----


async def _deploy(args: argparse.Namespace, settings: Settings) -> int:
    code = _verified_wasm(args.wasm, force=args.force, rebuild=args.rebuild)
    contract_id = args.account or settings.contract_id
    owner = args.init_owner or contract_id
    operator = args.init_operator or settings.operator_id
    key = _signer(settings, args, contract_id)
    async with _account(settings, _rpc(settings, args), contract_id, key) as acc:
        if await _code_hash_on_chain(acc, contract_id) != EMPTY_CODE_HASH:
            raise ConfigError(f"{contract_id} already has a contract: use `offshore contract upgrade`")
        init_args = {"owner_id": owner, "operator_id": operator}
        if settings.randomness_key.get_secret_value():  # publish the randomness key (issue 15)
            from executor import randomness

            secret = randomness.private_key(settings.randomness_key.get_secret_value())
            init_args["randomness_public_key"] = randomness.public_key_hex(secret)
        init = json.dumps(init_args).encode()
        actions = [
            transactions.create_deploy_contract_action(code),
            transactions.create_function_call_action("new", init, INIT_GAS, 0),
        ]
        await _submit(acc, contract_id, actions, "deploy + new")  # one transaction: never half-initialised
        return await _verify(acc, contract_id, code, expect={"owner_id": owner, "operator_id": operator})


async def _upgrade(args: argparse.Namespace, settings: Settings) -> int:
    code = _verified_wasm(args.wasm, force=args.force, rebuild=args.rebuild)
    contract_id = args.account or settings.contract_id
    key = _signer(settings, args, contract_id)
    async with _account(settings, _rpc(settings, args), contract_id, key) as acc:
        before = await _code_hash_on_chain(acc, contract_id)
        if before == EMPTY_CODE_HASH:
            raise ConfigError(f"{contract_id} has no contract yet: use `offshore contract deploy`")
        pending = await _view(acc, contract_id, "list_pending_requests", {"limit": 100})
        print(f"before    code_hash={before}, {len(pending)}{'+' if len(pending) == 100 else ''} requests pending")
        actions = [
            transactions.create_deploy_contract_action(code),
            transactions.create_function_call_action("migrate", b"{}", INIT_GAS, 0),
        ]
        try:
            migrated = await _submit(acc, contract_id, actions, "deploy + migrate")
        except GoLiveError:
            after = await _code_hash_on_chain(acc, contract_id)
            print(f"rollback  code_hash={after} ({'unchanged' if after == before else 'CHANGED'})")
            raise
        print(f"migrated  state version {migrated['from_version']} -> {migrated['to_version']}")
        return await _verify(acc, contract_id, code, expect={})


async def _verify(acc: Account, contract_id: str, code: bytes, *, expect: dict[str, str]) -> int:
    on_chain = await _code_hash_on_chain(acc, contract_id)
    if on_chain != code_hash(code):
        raise GoLiveError(f"code_hash on chain {on_chain} is not the deployed wasm's {code_hash(code)}")
    config = await _view(acc, contract_id, "get_config")
    wrong = {k: config.get(k) for k, v in expect.items() if config.get(k) != v}
    if wrong:
        raise GoLiveError(f"get_config disagrees with the init arguments: {wrong}")
    print(f"verified  {contract_id} code_hash={on_chain} state_version={await _state_version(acc, contract_id)}")
    print(f"config    owner={config['owner_id']} operator={config['operator_id']} paused={config['paused']}")
    return 0


async def _status(args: argparse.Namespace, settings: Settings) -> int:
    contract_id = args.account or settings.contract_id
    async with _account(settings, _rpc(settings, args), contract_id, None) as acc:
        config = await _view(acc, contract_id, "get_config")
        stats = await _view(acc, contract_id, "get_stats")
        version = await _state_version(acc, contract_id)
        print(f"contract  {contract_id} on {settings.network} code_hash={await _code_hash_on_chain(acc, contract_id)}")
        print(f"state     version {version}")
        print(f"config    owner={config['owner_id']} operator={config['operator_id']} paused={config['paused']}")
        print("stats     " + " ".join(f"{k}={v}" for k, v in stats.items()))
    return 0


async def _owner_call(args: argparse.Namespace, settings: Settings, method: str, call_args: dict[str, Any]) -> Any:
    contract_id = settings.contract_id
    signer = args.account or contract_id
    async with _account(settings, _rpc(settings, args), signer, _signer(settings, args, signer)) as acc:
        action = transactions.create_function_call_action(method, json.dumps(call_args).encode(), 30 * TGAS, 0)
        return await _submit(acc, contract_id, [action], method)


async def _pause(args: argparse.Namespace, settings: Settings) -> int:
    paused = args.action == "pause"
    await _owner_call(args, settings, "set_paused", {"paused": paused})
    print(f"{settings.contract_id} {'paused: new requests are refused' if paused else 'accepts requests again'}")
    return 0


async def _cancel(args: argparse.Namespace, settings: Settings) -> int:
    await _owner_call(
        args, settings, "emergency_cancel_execution", {"request_id": args.request_id, "reason": args.reason}
    )
    print(f"request {args.request_id} cancelled ({args.reason}); its deposit is refunded in full")
    return 0


async def _drain(args: argparse.Namespace, settings: Settings) -> int:
    """Waits until no request is pending: each settles, or its yield times out and is refunded."""
    timeout = args.timeout or settings.yield_timeout_blocks * settings.block_time_s + 60
    contract_id = settings.contract_id
    async with _account(settings, _rpc(settings, args), contract_id, None) as acc:
        deadline = time.monotonic() + timeout
        last = -1
        while True:  # poll: the chain has no push notification for "nothing pending"
            pending = await _view(acc, contract_id, "list_pending_requests", {"limit": 100})
            if len(pending) != last:
                print(f"pending   {len(pending)}{'+' if len(pending) == 100 else ''}", flush=True)
                last = len(pending)
            if not pending:
                print("drained   no request is pending")
                return 0
            if time.monotonic() > deadline:
                raise GoLiveError(f"{len(pending)} requests still pending after {timeout:.0f}s")
            await asyncio.sleep(settings.block_time_s)  # poll: one block


# ---- operator keys ----


def _keys_file(args: argparse.Namespace, settings: Settings) -> Path:
    return Path(args.keys_file or settings.operator_keys_file or settings.state_dir / "operator-keys")


def _write_key_set(args: argparse.Namespace, settings: Settings, keys: Sequence[str]) -> None:
    path = _keys_file(args, settings)
    write_private(path, keys_file_text(keys))
    print(f"keys file {path} ({len(keys)} keys; settle reads it through OFFSHORE_OPERATOR_KEYS_FILE)")
    if args.k8s_secret:
        write_private(Path(args.k8s_secret), secret_manifest(keys, namespace=args.namespace))
        print(f"secret    {args.k8s_secret} (kubectl apply -f it; never commit it)")


def _current_key_set(args: argparse.Namespace, settings: Settings) -> tuple[str, ...]:
    """The keys settle is given: the keys file, or (no file yet) OFFSHORE_OPERATOR_KEYS."""
    path = _keys_file(args, settings)
    if path.exists():
        return parse_keys(path.read_text())
    return parse_keys(settings.operator_keys.get_secret_value())


async def _keys_add(args: argparse.Namespace, settings: Settings) -> int:
    if args.count < 1:
        raise ConfigError("add at least one key")
    operator = args.account or settings.operator_id
    contract_id = settings.contract_id
    allowance = int(args.allowance * NEAR)
    new = [KeyPair.generate() for _ in range(args.count)]
    async with _account(settings, _rpc(settings, args), operator, _signer(settings, args, operator)) as acc:
        actions = [
            transactions.create_function_call_access_key_action(
                k.public_key_str, allowance, contract_id, list(RESOLVE_METHODS)
            )
            for k in new
        ]
        await _submit(acc, operator, actions, "add keys")  # one transaction: all keys or none
    for k in new:
        print(
            f"added     {k.public_key_str} -> {contract_id} {','.join(RESOLVE_METHODS)} allowance {args.allowance} NEAR"
        )
    kept = () if args.replace else _current_key_set(args, settings)
    _write_key_set(args, settings, [*kept, *(k.secret_key_str for k in new)])
    return 0


async def _keys_list(args: argparse.Namespace, settings: Settings) -> int:
    operator = args.account or settings.operator_id
    in_file = {public_of(k) for k in _current_key_set(args, settings)}
    async with _account(settings, _rpc(settings, args), operator, None) as acc:
        keys = await _access_keys(acc, operator)
    for k in keys:
        if k.receiver_id is None:
            kind = "full access"
        else:
            allowance = "unlimited" if k.allowance is None else f"{k.allowance / NEAR:.4f} NEAR left"
            kind = f"{k.receiver_id} {','.join(k.method_names)} ({allowance})"
        mark = "settle" if k.public_key in in_file else ""
        print(f"{k.public_key:<54} {mark:<7}{kind}")
    return 0


async def _keys_revoke(args: argparse.Namespace, settings: Settings) -> int:
    operator = args.account or settings.operator_id
    keep_secrets = _current_key_set(args, settings)
    keep = {public_of(k) for k in keep_secrets}
    async with _account(settings, _rpc(settings, args), operator, _signer(settings, args, operator)) as acc:
        doomed = keys_to_revoke(await _access_keys(acc, operator), settings.contract_id, keep, args.public_keys)
        if not doomed:
            print("nothing to revoke: every settle key on chain is in the keys file")
            return 0
        actions = [transactions.create_delete_access_key_action(k.public_key) for k in doomed]
        await _submit(acc, operator, actions, "revoke keys")
    for k in doomed:
        print(f"revoked   {k.public_key}")
    remaining = [s for s in keep_secrets if public_of(s) not in {k.public_key for k in doomed}]
    if len(remaining) != len(keep_secrets):
        _write_key_set(args, settings, remaining)
    return 0


# ---- argparse ----


def _run(handler: Any) -> Any:
    def run(args: argparse.Namespace, settings: Settings) -> int:
        result: int = asyncio.run(handler(args, settings))
        return result

    return run


def _chain_options(p: argparse.ArgumentParser, *, signs: bool = True) -> None:
    p.add_argument("--rpc", metavar="URL", help="NEAR JSON-RPC (default: OFFSHORE_NEAR_RPC_URL, from OFFSHORE_NETWORK)")
    p.add_argument("--account", metavar="ID", help="the signing account (defaults per command)")
    if signs:
        p.add_argument(
            "--credentials-dir",
            type=Path,
            metavar="DIR",
            help="near-cli keys DIR/<network>/<account>.json (default ~/.near-credentials; or OFFSHORE_SIGNER_KEY)",
        )


def _wasm_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--wasm", type=Path, help="default contract/res/offshore.wasm (built if missing)")
    p.add_argument("--force", action="store_true", help="deploy a wasm that is not a fresh build of this checkout")
    p.add_argument("--rebuild", action="store_true", help="compare with a build from scratch, not the build cache")


def _key_set_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--keys-file", type=Path, help="settle's key file (default OFFSHORE_OPERATOR_KEYS_FILE)")
    p.add_argument("--k8s-secret", type=Path, metavar="FILE", help="also write the Kubernetes Secret manifest")
    p.add_argument("--namespace", help="namespace of the Secret manifest")


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`offshore contract ...` and `offshore operator keys ...` (registered by offshore/cli.py)."""
    contract = commands.add_parser("contract", help="deploy, upgrade and administer the contract on a network")
    sub = contract.add_subparsers(dest="action", required=True)
    deploy = sub.add_parser("deploy", help="deploy + initialise (one transaction), then verify get_config")
    _chain_options(deploy)
    _wasm_options(deploy)
    deploy.add_argument("--init-owner", metavar="ID", help="owner_id (default: the contract account)")
    deploy.add_argument("--init-operator", metavar="ID", help="operator_id (default: OFFSHORE_OPERATOR_ID)")
    deploy.set_defaults(handler=_run(_deploy))
    upgrade = sub.add_parser("upgrade", help="deploy + migrate (one transaction; refused = rolled back)")
    _chain_options(upgrade)
    _wasm_options(upgrade)
    upgrade.set_defaults(handler=_run(_upgrade))
    status = sub.add_parser("status", help="code hash, state version, config and stats")
    _chain_options(status, signs=False)
    status.set_defaults(handler=_run(_status))
    for action, text in (("pause", "refuse new requests (pending ones still settle)"), ("resume", "accept again")):
        p = sub.add_parser(action, help=text)
        _chain_options(p)
        p.set_defaults(handler=_run(_pause))
    drain = sub.add_parser("drain", help="wait until no request is pending (pause first)")
    _chain_options(drain, signs=False)
    drain.add_argument("--timeout", type=float, help="seconds (default: the yield timeout + 60 s)")
    drain.set_defaults(handler=_run(_drain))
    cancel = sub.add_parser("cancel", help="emergency-cancel a pending request (owner; full refund)")
    _chain_options(cancel)
    cancel.add_argument("request_id")
    cancel.add_argument("--reason", default="emergency", help="recorded on chain (max 256 characters)")
    cancel.set_defaults(handler=_run(_cancel))

    operator = commands.add_parser("operator", help="the operator account settle signs with")
    keys = operator.add_subparsers(dest="group", required=True).add_parser("keys", help="settle's function-call keys")
    ksub = keys.add_subparsers(dest="action", required=True)
    add = ksub.add_parser("add", help="create N resolve-only keys (one transaction) and write them for settle")
    add.add_argument("count", type=int, metavar="N")
    add.add_argument("--allowance", type=float, default=DEFAULT_ALLOWANCE_NEAR, help="NEAR of gas per key")
    add.add_argument("--replace", action="store_true", help="the key set becomes only the new keys (rotation)")
    _chain_options(add)
    _key_set_options(add)
    add.set_defaults(handler=_run(_keys_add))
    lst = ksub.add_parser("list", help="the operator's access keys; `settle` marks those in the keys file")
    _chain_options(lst, signs=False)
    _key_set_options(lst)
    lst.set_defaults(handler=_run(_keys_list))
    revoke = ksub.add_parser("revoke", help="delete settle keys: those named, or all not in the keys file")
    revoke.add_argument("public_keys", nargs="*", metavar="PUBLIC_KEY")
    _chain_options(revoke)
    _key_set_options(revoke)
    revoke.set_defaults(handler=_run(_keys_revoke))
