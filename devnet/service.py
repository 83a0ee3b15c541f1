"""`Devnet`: the node, its block timer and the HTTP server, usable in-process (tests) or via `serve`.

Every node call runs on one worker thread (contract execution is CPU work and must not stall the
event loop); the event loop only routes requests and wakes waiters when a block lands.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal, TypeVar

import base58
from aiohttp import web

from devnet.config import DevnetConfig
from devnet.errors import DevnetError, InvalidTxError
from devnet.node.borsh import Transaction, encode_signed_transaction, encode_transaction
from devnet.node.chain import BlockResult, Node, VmBackend
from devnet.node.history import History, final_block
from devnet.node.keys import KeyPair, read_credentials, write_credentials
from devnet.node.persist import StateStore
from devnet.vm.types import FunctionCall

log = logging.getLogger(__name__)
T = TypeVar("T")
# How far a transaction got, in nearcore's TxExecutionStatus order (`wait_until` of send_tx / tx).
Until = Literal["included", "executed", "included_final", "executed_final", "final"]


class Devnet:
    """A running local chain. `async with Devnet(DevnetConfig(port=0)) as d: ... d.rpc_url ...`"""

    def __init__(self, config: DevnetConfig | None = None, *, vm: VmBackend | None = None) -> None:
        self.config = config or DevnetConfig()
        if self.config.final_lag_blocks < 0 or self.config.history_blocks < self.config.final_lag_blocks:
            raise DevnetError(
                f"final_lag_blocks must be >= 0 and history_blocks >= final_lag_blocks (queries at `final` need "
                f"that state), got {self.config.final_lag_blocks} and {self.config.history_blocks}"
            )
        self._vm = vm
        self._node: Node | None = None
        self._store: StateStore | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._runner: web.AppRunner | None = None
        self._timer: asyncio.Task[None] | None = None
        self._cond = asyncio.Condition()
        self._stopping = False  # wakes requests held for a block that will not come
        self.held = 0  # block API requests held open now, waiting for their block to be final
        self._included: dict[bytes, int] = {}  # tx hash -> height of the block that included it
        self._executed: dict[bytes, int] = {}  # tx hash -> height where its last receipt ran
        self._rejected: dict[bytes, InvalidTxError] = {}
        self._head = 0
        self._final = 0
        self.history = History(self.config.history_blocks)
        self.started_at = time.monotonic()
        self._genesis_height = 1
        self.keys: dict[str, KeyPair] = {}
        self.port = self.config.port
        self.rng = random.Random(self.config.fault_seed)

    # ---------------------------------------------------------------- lifecycle

    async def __aenter__(self) -> Devnet:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        from devnet.server import make_app

        self._stopping = False
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="devnet-node")
        fresh = await self.call(lambda _: self._open())
        self._runner = web.AppRunner(make_app(self), access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port)
        await site.start()
        server = site._server
        if server is not None and getattr(server, "sockets", None):
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        if self.config.block_interval_s > 0:
            self._timer = asyncio.create_task(self._block_timer(), name="devnet-blocks")
        if fresh:
            await self._init_contracts()
        log.info("devnet %s serving %s (head %d)", self.config.chain_id, self.rpc_url, self._head)

    async def stop(self) -> None:
        self._stopping = True
        async with self._cond:
            self._cond.notify_all()
        if self._timer is not None:
            self._timer.cancel()
            await asyncio.gather(self._timer, return_exceptions=True)
            self._timer = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._executor is not None:
            if self._store is not None:
                store = self._store
                await self.call(lambda _: store.close())
                self._store = None
            self._executor.shutdown(wait=True)
            self._executor = None

    def _open(self) -> bool:
        """Worker thread: restore the chain from the state file, or create genesis. True if fresh."""
        cfg = self.config
        node = Node(cfg, self._vm)
        if cfg.state_file is not None:
            self._store = StateStore(cfg.state_file)
            if self._store.has_chain():
                self.keys = self._store.load(node)
                self._adopt(node)
                self._write_credentials()
                return False
        keys: dict[str, tuple[int, KeyPair]] = {}

        def key_for(account_id: str, secret: str | None) -> KeyPair:
            if secret:
                return KeyPair.from_string(secret)
            if cfg.credentials_dir is not None:
                found = read_credentials(cfg.credentials_dir, cfg.chain_id, account_id)
                if found is not None:
                    return found
            return KeyPair.generate()

        keys[cfg.root_account_id] = (cfg.root_balance, key_for(cfg.root_account_id, None))
        for g in cfg.genesis_accounts:
            keys[g.account_id] = (g.balance, key_for(g.account_id, g.secret_key))
        codes: dict[str, bytes] = {}
        for d in cfg.deploy:
            if d.account_id not in keys:
                keys[d.account_id] = (d.balance, key_for(d.account_id, None))
            try:
                codes[d.account_id] = Path(d.wasm_path).read_bytes()
            except OSError as exc:
                raise DevnetError(f"cannot read contract {d.wasm_path}: {exc}") from exc
        node.genesis(keys, codes)
        self.keys = {a: k for a, (_, k) in keys.items()}
        self._adopt(node)
        if self._store is not None:
            self._store.save_all(node)
            self._store.save_keys(self.keys)
        self._write_credentials()
        return True

    def _adopt(self, node: Node) -> None:
        self._node = node
        assert node.head is not None
        self._head = node.head.height
        self._final = final_block(node).height
        self._genesis_height = node.genesis_height
        self._included = {h: t.block_height for h, t in node.txs.items()}
        self._executed = {h: t.done_height for h, t in node.txs.items() if t.done_height is not None}
        self.history.start(node)

    def _write_credentials(self) -> None:
        if self.config.credentials_dir is None:
            return
        for account_id, key in self.keys.items():
            write_credentials(self.config.credentials_dir, self.config.chain_id, account_id, key)

    async def _init_contracts(self) -> None:
        for d in self.config.deploy:
            if d.init_method is None:
                continue
            tx_hash = await self.sign_and_submit(
                d.account_id,
                d.account_id,
                [FunctionCall(method_name=d.init_method, args=d.init_args, gas=d.init_gas, deposit=0)],
            )
            if self.config.block_interval_s > 0:
                view = await self.wait_for_tx(tx_hash)
                if "Failure" in view["status"]:
                    raise DevnetError(f"{d.account_id}.{d.init_method} failed: {view['status']['Failure']}")

    # ---------------------------------------------------------------- node access

    async def call(self, fn: Callable[[Node], T]) -> T:
        """Run `fn(node)` on the node's thread."""
        if self._executor is None:
            raise DevnetError("devnet is not running")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(self._node))  # type: ignore[arg-type]

    @property
    def rpc_url(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    @property
    def block_api_url(self) -> str:
        return f"{self.rpc_url}/v0"

    @property
    def head_height(self) -> int:
        return self._head

    @property
    def final_height(self) -> int:
        """Height of the last final block (`final_lag_blocks` behind the head)."""
        return self._final

    @property
    def genesis_height(self) -> int:
        return self._genesis_height

    def key(self, account_id: str) -> KeyPair:
        return self.keys[account_id]

    # ---------------------------------------------------------------- blocks

    async def _block_timer(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self.config.block_interval_s
        due = loop.time()
        while True:
            due += interval
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)  # the block clock itself, not a wait for readiness
            else:
                due = loop.time()
            try:
                await self.produce_block()
            except Exception:
                log.exception("devnet block production failed")

    async def advance_time(self, seconds: float) -> int:
        """Moves block time forward without producing blocks (yields do not time out); returns the offset.

        For time-based contract rules (e.g. cancelling a request pending for 10 minutes) in tests."""
        if seconds < 0:
            raise ValueError("block time only moves forward")

        def shift(node: Node) -> int:
            node.time_offset_ns += int(seconds * 1e9)
            return node.time_offset_ns

        return await self.call(shift)

    async def produce_block(self) -> int:
        """Produce one block now (in addition to the timer, or instead of it when the interval is 0)."""
        res, final = await self.call(self._produce)
        self._head = res.block.height
        self._final = final
        self._included.update((h, res.block.height) for h in res.included)
        self._executed.update((h, res.block.height) for h in res.completed)
        node = self._node
        assert node is not None
        for h in res.rejected:
            self._rejected[h] = node.rejected[h]
        async with self._cond:
            self._cond.notify_all()
        return res.block.height

    def _produce(self, node: Node) -> tuple[BlockResult, int]:
        res = node.produce_block()
        self.history.record(node, res.block.height, res.dirty_accounts)
        if self._store is not None:
            self._store.save_block(node, res)
        return res, final_block(node).height

    async def _wait(self, predicate: Callable[[], bool], timeout: float) -> None:  # noqa: ASYNC109 (a deadline is the API)
        async with self._cond:
            await asyncio.wait_for(self._cond.wait_for(predicate), timeout)

    async def wait_for_height(self, height: int, timeout: float = 30.0) -> None:  # noqa: ASYNC109 (a deadline is the API)
        """Until a block at `height` or above exists. Raises TimeoutError."""
        await self._wait(lambda: self._head >= height, timeout)

    async def wait_for_final_height(self, height: int, timeout: float = 30.0) -> None:  # noqa: ASYNC109 (a deadline is the API)
        """Until the block at `height` (or a later one) is final. Raises TimeoutError."""
        await self._wait(lambda: self._final >= height, timeout)

    async def hold_until_final(self, height: int, timeout: float) -> bool:  # noqa: ASYNC109 (a deadline is the API)
        """Whether the block at `height` became final within `timeout` (False also when stopping):
        how the block API holds a request for a height just above the final one, as neardata does.
        `held` counts the requests waiting here."""
        self.held += 1
        try:
            await self._wait(lambda: self._final >= height or self._stopping, timeout)
        except TimeoutError:
            return False
        finally:
            self.held -= 1
        return self._final >= height

    # ---------------------------------------------------------------- transactions

    async def submit(self, raw: bytes) -> bytes:
        """Validate and pool a signed transaction; returns its hash. Raises InvalidTxError."""
        tx_hash, _known = await self.call(lambda n: n.submit(raw))
        self._rejected.pop(tx_hash, None)
        return tx_hash

    def reached(self, tx_hash: bytes, until: Until) -> bool:
        """Whether the transaction got as far as `until` (nearcore's TxExecutionStatus semantics)."""
        inc = self._included.get(tx_hash)
        done = self._executed.get(tx_hash)
        if until == "included":
            return inc is not None
        if until == "executed":
            return done is not None
        if until == "included_final":
            return inc is not None and inc <= self._final
        if until == "executed_final":
            return done is not None and inc is not None and inc <= self._final
        return done is not None and done <= self._final

    def tx_state(self, tx_hash: bytes) -> Literal["unknown", "pending", "included", "executed", "rejected"]:
        if tx_hash in self._executed:
            return "executed"
        if tx_hash in self._included:
            return "included"
        if tx_hash in self._rejected:
            return "rejected"
        return "pending"

    async def wait_tx(self, tx_hash: bytes, until: Until, timeout: float) -> None:  # noqa: ASYNC109 (a deadline is the API)
        """Until the transaction reached `until` or was rejected at inclusion.
        Raises TimeoutError, or InvalidTxError if it was dropped at inclusion."""
        await self._wait(lambda: self.reached(tx_hash, until) or tx_hash in self._rejected, timeout)
        if tx_hash in self._rejected and tx_hash not in self._included:
            raise self._rejected[tx_hash]

    async def wait_for_tx(self, tx_hash: bytes | str, timeout: float | None = None) -> dict[str, Any]:  # noqa: ASYNC109 (a deadline is the API)
        """Wait until every receipt of the transaction ran; returns the `tx` RPC view."""
        from devnet.node.views import final_outcome_view

        h = base58.b58decode(tx_hash) if isinstance(tx_hash, str) else tx_hash
        await self.wait_tx(h, "executed", timeout if timeout is not None else self.config.tx_wait_timeout_s)
        return await self.call(lambda n: final_outcome_view(n, h))

    async def sign_and_submit(self, signer_id: str, receiver_id: str, actions: list[Any]) -> bytes:
        """Sign with the devnet's own key for `signer_id` (genesis accounts) and submit."""
        key = self.keys[signer_id]

        def build(node: Node) -> bytes:
            assert node.head is not None
            acct = node.accounts[signer_id]
            nonce = acct.keys[key.borsh_public_key].nonce + 1
            pooled = [s.transaction.nonce for s in node.pool if s.transaction.signer_id == signer_id]
            nonce = max([nonce, *(p + 1 for p in pooled)])
            tx = Transaction(signer_id, key.borsh_public_key, nonce, receiver_id, node.head.hash, tuple(actions))
            sig = b"\x00" + key.sign(hashlib.sha256(encode_transaction(tx)).digest())
            return encode_signed_transaction(tx, sig)

        raw = await self.call(build)
        return await self.submit(raw)

    def fault(self, rate: float) -> bool:
        return rate > 0 and self.rng.random() < rate


async def serve(config: DevnetConfig, *, on_ready: Callable[[Devnet], None] | None = None) -> None:
    """Run a devnet until cancelled (the `offshore devnet` entry point)."""
    async with Devnet(config) as devnet:
        if on_ready is not None:
            on_ready(devnet)
        await asyncio.Event().wait()
