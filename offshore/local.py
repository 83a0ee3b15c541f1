"""The whole platform on one machine (`offshore up`, the demo, end-to-end tests).

Every component runs as its own child process, exactly as in production (one process per stage),
so tests can SIGKILL and restart any of them. Children get their configuration through `OFFSHORE_*`
variables, and each only the secrets it needs: the operator keys go to settle alone, the keystore
master key to the keystore alone (the execute stage gets the decrypt API's URL and token).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from offshore.client import OffshoreClient, Submitted
from offshore.errors import StackError
from offshore.stack import Endpoints, LocalStack, free_port

OWNER = "owner.test.near"
OPERATOR = "operator.test.near"
CLIENTS = ("alice.test.near", "bob.test.near")
CHAIN_ID = "localnet"
PIPELINE = ("indexer", "compile", "execute", "settle")
_READY_TIMEOUT_S = 90.0


@dataclass(frozen=True)
class PlatformInfo:
    state_dir: Path
    endpoints: Endpoints
    rpc_url: str
    block_api_url: str
    contract_id: str
    credentials_dir: Path
    metrics: dict[str, str] = field(default_factory=dict)
    keystore_url: str = ""  # the keystore's public API (`offshore secrets encrypt --keystore URL`)
    keystore_decrypt_url: str = ""  # its decrypt API (execute only: token in <state>/keystore.token)

    def client_key(self, account_id: str) -> str:
        """The account's secret key (near-cli credentials written by the devnet)."""
        from offshore.keys import account_key

        return account_key(self.credentials_dir, CHAIN_ID, account_id).secret_key_str

    def client(self, account_id: str) -> OffshoreClient:
        return OffshoreClient(
            rpc_url=self.rpc_url,
            account_id=account_id,
            secret_key=self.client_key(account_id),
            contract_id=self.contract_id,
            block_api_url=self.block_api_url,
        )

    async def send_many(
        self,
        n: int,
        *,
        repo: str,
        commit: str,
        concurrency: int,
        input_for: Callable[[int], str] = lambda i: json.dumps({"i": i}),
        limits: dict[str, int] | None = None,
        response_format: str = "Json",
    ) -> list[Submitted]:
        """n requests spread round-robin over the client accounts, `concurrency` in flight per account."""
        clients = [self.client(a) for a in CLIENTS]
        gates = [asyncio.Semaphore(concurrency) for _ in clients]
        async with contextlib.AsyncExitStack() as stack:
            for c in clients:
                await stack.enter_async_context(c)

            async def one(i: int) -> Submitted:
                async with gates[i % len(clients)]:
                    return await clients[i % len(clients)].request(
                        repo=repo,
                        commit=commit,
                        input_data=input_for(i),
                        limits=limits,
                        response_format=response_format,
                    )

            return list(await asyncio.gather(*(one(i) for i in range(n))))

    async def wait_settled(self, ids: list[str], *, timeout_s: float = 180) -> dict[str, dict[str, Any]]:
        """Each request's final on-chain record (no longer pending), by following blocks."""
        async with self.client(CLIENTS[0]) as c:
            return await c.wait_many(ids, timeout_s=timeout_s)


@dataclass
class _Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None


class LocalPlatform:
    def __init__(
        self,
        state_dir: Path,
        *,
        contract_id: str = "offshore.test.near",
        block_interval_s: float = 0.1,
        yield_timeout_blocks: int = 200,
        operator_keys: int = 4,
        processes: tuple[str, ...] = (*PIPELINE, "project", "keystore"),
        reconcile_after_blocks: int = 30,
        extra_env: dict[str, str] | None = None,
        devnet_port: int = 0,
        deploy_contract: bool = True,
    ) -> None:
        self.state_dir = state_dir.resolve()
        self.contract_id = contract_id
        self._block_interval = block_interval_s
        self._yield_timeout = yield_timeout_blocks
        self._operator_keys = operator_keys
        self._processes = processes
        self._reconcile_after = reconcile_after_blocks
        self._extra_env = extra_env or {}
        self._devnet_port = devnet_port
        self._deploy_contract = deploy_contract  # False: an empty chain for `offshore contract deploy`
        self._stack = LocalStack(self.state_dir / "stack")
        self._children: dict[str, _Child] = {}
        self.info: PlatformInfo | None = None

    # ---- lifecycle ----

    def start(self, *, progress: bool = False) -> PlatformInfo:
        def say(msg: str) -> None:
            if progress:
                print(msg, flush=True)

        self.state_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.state_dir, 0o755)
        try:
            say("up: starting Kafka-API broker and PostgreSQL ...")
            endpoints = self._stack.up()
            from streams import create_topics

            create_topics(endpoints.kafka_bootstrap)
            wasm = None
            if self._deploy_contract:
                say("up: building the offshore contract (cached) ...")
                from contract import build_offshore

                wasm = build_offshore()
            say("up: starting the devnet with the contract deployed ...")
            info = self._start_devnet(endpoints, wasm)
            operator_keys = asyncio.run(self._operator_access_keys(info)) if self._operator_keys else []
            if "project" in self._processes:
                self._migrate(endpoints.postgres_dsn)
            self._keystore_key()  # the keystore process reads it from the file
            token = self._keystore_token()
            keystore_port, decrypt_port = free_port(), free_port()
            base = self._base_env(info)
            base["OFFSHORE_KEYSTORE_URL"] = f"http://127.0.0.1:{decrypt_port}"
            info = dataclasses.replace(
                info,
                keystore_url=f"http://127.0.0.1:{keystore_port}",
                keystore_decrypt_url=base["OFFSHORE_KEYSTORE_URL"],
            )
            for name in self._processes:
                env = dict(base)
                if name == "settle":
                    env["OFFSHORE_OPERATOR_KEYS"] = ",".join(operator_keys)
                if name == "execute":
                    env["OFFSHORE_KEYSTORE_TOKEN"] = token  # no master key: it asks the keystore
                    env["OFFSHORE_RANDOMNESS_KEY"] = self._randomness_key()
                if name == "keystore":
                    env["OFFSHORE_KEYSTORE_MASTER_KEY_FILE"] = str(self.state_dir / "keystore.key")
                    env["OFFSHORE_KEYSTORE_TOKEN"] = token
                    env["OFFSHORE_KEYSTORE_PORT"] = str(keystore_port)
                    env["OFFSHORE_KEYSTORE_DECRYPT_PORT"] = str(decrypt_port)
                port = free_port()
                env["OFFSHORE_METRICS_PORT"] = str(port)
                info.metrics[name] = f"http://127.0.0.1:{port}/metrics"
                self._spawn(_Child(name, [sys.executable, "-m", "offshore.cli", name], env, self._log(name)))
            say("up: waiting for every process to serve /metrics ...")
            for name in self._processes:
                self._await_metrics(name, info.metrics[name])
            self.info = info
            return info
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for child in reversed(list(self._children.values())):
            self._terminate(child)
        self._children.clear()
        self._stack.down()

    def __enter__(self) -> PlatformInfo:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- process control (tests, operators) ----

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        child = self._children[name]
        if child.proc is not None and child.proc.poll() is None:
            os.killpg(child.proc.pid, sig)
            child.proc.wait(timeout=30)

    def restart(self, name: str) -> None:
        child = self._children[name]
        self._terminate(child)
        self._keep_metrics_port(child)
        self._spawn(child)

    def _keep_metrics_port(self, child: _Child) -> None:
        """A dead child's metrics port is free for anyone: the machine's own outgoing connections take
        ephemeral ports from the same range, and a restarted stage that cannot bind it exits at start
        (seen in the chaos bench: execute stayed down). Such a child gets a new port."""
        port = child.env.get("OFFSHORE_METRICS_PORT")
        if port is None or _bindable(int(port)):
            return
        child.env["OFFSHORE_METRICS_PORT"] = str(free_port())
        if self.info is not None and child.name in self.info.metrics:
            self.info.metrics[child.name] = f"http://127.0.0.1:{child.env['OFFSHORE_METRICS_PORT']}/metrics"

    def wipe_broker(self) -> None:
        """The embedded broker killed and restarted empty on its port, then every process restarted
        (as a supervisor restarts pods whose Kafka clients fail), once the topics exist again. Work in
        flight is lost from Kafka; the chain still lists it and the reconciler re-drives it."""
        from streams import create_topics

        self._stack.wipe_broker()
        create_topics(self._stack.endpoints().kafka_bootstrap)
        for name in self._processes:
            self.restart(name)

    def add_process(
        self, name: str, command: str, *, metrics_port: int | None = None, env: dict[str, str] | None = None
    ) -> str:
        """Another process of a stage (e.g. a second `execute` worker), or a stage's first process
        with the platform's environment plus `env`; returns its metrics URL."""
        assert self.info is not None
        base = next((c for c in self._children.values() if c.argv[-1] == command), None)
        argv = base.argv if base else [sys.executable, "-m", "offshore.cli", command]
        port = metrics_port or free_port()
        child_env = {
            **(base.env if base else self._base_env(self.info)),
            **(env or {}),
            "OFFSHORE_METRICS_PORT": str(port),
        }
        self._spawn(_Child(name, argv, child_env, self._log(name)))
        url = f"http://127.0.0.1:{port}/metrics"
        self.info.metrics[name] = url
        self._await_metrics(name, url)
        return url

    def alive(self) -> dict[str, bool]:
        return {n: c.proc is not None and c.proc.poll() is None for n, c in self._children.items()}

    def supervise(self, stop: threading.Event, *, say: Callable[[str], None] = print, every_s: float = 1.0) -> None:
        """Until `stop` is set: a component that exited is restarted, as Kubernetes would."""
        while not stop.wait(every_s):  # poll: a child's exit has no event to wait on here
            for name, alive in self.alive().items():
                if not alive:
                    say(f"up: {name} exited; restarting it (see {self.state_dir / 'logs' / name}.log)")
                    self.restart(name)

    def log_tail(self, name: str, chars: int = 3000) -> str:
        return self._children[name].log.read_text(errors="replace")[-chars:]

    # ---- internals ----

    def _log(self, name: str) -> Path:
        (self.state_dir / "logs").mkdir(parents=True, exist_ok=True)
        return self.state_dir / "logs" / f"{name}.log"

    def _spawn(self, child: _Child) -> None:
        with child.log.open("ab") as log:
            child.proc = subprocess.Popen(
                child.argv,
                env=child.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self._children[child.name] = child

    def _terminate(self, child: _Child) -> None:
        proc = child.proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # stragglers of the group (build sandboxes, threads)
        child.proc = None

    def _start_devnet(self, endpoints: Endpoints, wasm: Path | None) -> PlatformInfo:
        port = self._devnet_port or free_port()
        credentials = self.state_dir / "credentials"
        from executor import randomness

        public = randomness.public_key_hex(randomness.private_key(self._randomness_key()))
        init = json.dumps({"owner_id": OWNER, "operator_id": OPERATOR, "randomness_public_key": public})
        accounts = (OWNER, OPERATOR, *CLIENTS) if wasm else (self.contract_id, OWNER, OPERATOR, *CLIENTS)
        argv = [
            sys.executable, "-m", "offshore.cli", "devnet", "--port", str(port),
            "--block-interval", str(self._block_interval), "--yield-timeout-blocks", str(self._yield_timeout),
            "--credentials-dir", str(credentials),
            *(arg for account in accounts for arg in ("--account", account)),
            *(("--deploy", f"{self.contract_id}={wasm}:new:{init}") if wasm else ()),
        ]  # fmt: skip
        env = {**os.environ, "OFFSHORE_STATE_DIR": str(self.state_dir)}
        self._spawn(_Child("devnet", argv, env, self._log("devnet")))
        rpc = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + _READY_TIMEOUT_S
        while time.monotonic() < deadline:  # poll: the contract's init call lands a few blocks in
            if self._children["devnet"].proc.poll() is not None:  # type: ignore[union-attr]
                raise StackError(f"devnet exited at start: {self.log_tail('devnet', 1500)}")
            if _contract_ready(rpc, self.contract_id) if wasm else _chain_ready(rpc):
                break
            time.sleep(0.05)  # poll
        else:
            raise StackError(f"devnet not ready after {_READY_TIMEOUT_S:.0f}s: {self.log_tail('devnet', 1500)}")
        return PlatformInfo(self.state_dir, endpoints, rpc, f"{rpc}/v0", self.contract_id, credentials)

    async def _operator_access_keys(self, info: PlatformInfo) -> list[str]:
        """Function-call keys the settle stage signs with: resolve_execution on our contract only."""
        import base58
        from nacl.signing import SigningKey
        from py_near.account import Account

        operator = Account(OPERATOR, info.client_key(OPERATOR), rpc_addr=info.rpc_url)
        await operator.startup()
        keys = []
        try:
            for _ in range(self._operator_keys):
                seed = SigningKey.generate()
                public = bytes(seed.verify_key)
                await operator.add_public_key(
                    "ed25519:" + base58.b58encode(public).decode(),
                    info.contract_id,
                    ["resolve_execution", "resolve_executions"],
                    None,
                )
                keys.append("ed25519:" + base58.b58encode(bytes(seed) + public).decode())
        finally:
            await operator.shutdown()
        return keys

    def _keystore_key(self) -> str:
        path = self.state_dir / "keystore.key"
        if not path.exists():
            from keystore import generate_master_key

            path.touch(mode=0o600)
            path.write_text(generate_master_key())
        return path.read_text().strip()

    def _keystore_token(self) -> str:
        """The decrypt API's shared token (keystore and execute only), kept across restarts."""
        path = self.state_dir / "keystore.token"
        if not path.exists():
            import secrets

            path.touch(mode=0o600)
            path.write_text(secrets.token_hex(32))
        return path.read_text().strip()

    def _randomness_key(self) -> str:
        """The platform randomness key (issue 15), made once per state dir; the contract publishes its
        public key at `new`, the execute stage alone gets the secret."""
        path = self.state_dir / "randomness.key"
        if not path.exists():
            path.touch(mode=0o600)
            path.write_text(os.urandom(32).hex())
        return path.read_text().strip()

    def _migrate(self, dsn: str) -> None:
        from projector import migrate

        migrate(dsn)

    def _base_env(self, info: PlatformInfo) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OFFSHORE_") and k != "PROMETHEUS_MULTIPROC_DIR"}
        env.update(
            {
                "OFFSHORE_STATE_DIR": str(self.state_dir),
                "OFFSHORE_KAFKA_BOOTSTRAP": info.endpoints.kafka_bootstrap,
                "OFFSHORE_KAFKA_PROFILE": "local",  # the embedded broker: fast timeouts, processes create topics
                "OFFSHORE_METRICS_HOST": "127.0.0.1",  # the dev stack's /metrics stay on loopback
                "OFFSHORE_POSTGRES_DSN": info.endpoints.postgres_dsn,
                "OFFSHORE_NEAR_RPC_URL": info.rpc_url,
                "OFFSHORE_BLOCK_API_URL": info.block_api_url,
                "OFFSHORE_CONTRACT_ID": info.contract_id,
                "OFFSHORE_OPERATOR_ID": OPERATOR,
                "OFFSHORE_ALLOW_FILE_URLS": "true",
                "OFFSHORE_INDEXER_START_HEIGHT": "1",
                "OFFSHORE_YIELD_TIMEOUT_BLOCKS": str(self._yield_timeout),
                "OFFSHORE_RECONCILE_AFTER_BLOCKS": str(self._reconcile_after),
                "OFFSHORE_BLOCK_TIME_S": str(self._block_interval),
            }
        )
        env.update(self._extra_env)
        return env

    def _await_metrics(self, name: str, url: str) -> None:
        deadline = time.monotonic() + _READY_TIMEOUT_S
        while time.monotonic() < deadline:  # poll
            proc = self._children[name].proc
            if proc is None or proc.poll() is not None:
                raise StackError(f"{name} exited at start: {self.log_tail(name, 1500)}")
            try:
                with urllib.request.urlopen(url, timeout=1) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.05)  # poll
        raise StackError(f"{name} did not serve {url} within {_READY_TIMEOUT_S:.0f}s")


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the metrics server binds
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _chain_ready(rpc: str) -> bool:
    from devnet.testing import status

    try:
        return bool(status(rpc, timeout=1))
    except (OSError, ValueError):
        return False


def _contract_ready(rpc: str, contract_id: str) -> bool:
    body = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": "ready",
            "method": "query",
            "params": {"request_type": "call_function", "finality": "final", "account_id": contract_id,
                       "method_name": "get_config", "args_base64": "e30="},
        }
    ).encode()  # fmt: skip
    try:
        req = urllib.request.Request(rpc, data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=1) as resp:
            data = json.loads(resp.read())
    except (OSError, ValueError):
        return False
    result = data.get("result")
    return isinstance(result, dict) and "error" not in result and bool(result.get("result"))
