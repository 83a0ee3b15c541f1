"""The chain: accounts, a transaction pool, receipts that run in later blocks, yields, blocks.

Single-threaded and synchronous on purpose: `Devnet` runs every call on one worker thread, so nothing
here needs a lock. Semantics follow nearcore where a client can tell the difference:

- a transaction is validated when submitted and again when included, then converted to one action
  receipt that executes in the NEXT block (also when signer == receiver; nearcore runs those "local"
  receipts in the same block, which no client of ours can observe);
- a receipt created in block h is delivered in block h+1; an action receipt whose input data is not
  there yet is postponed and runs in the block its last data receipt arrives;
- `promise_then` dependencies become data receipts; `promise_return` forwards the caller's data
  receivers to the returned receipt; a yielded callback waits for its data id until resumed (the
  resume data arrives next block) or until `yield_timeout_blocks` pass (it then sees a failed result);
- a failed receipt rolls back all of its actions, refunds its deposits to the predecessor; unused
  prepaid gas is refunded to the signer; refunds are receipts from `system`, as on NEAR;
- one producer, no forks; finality (the final block lagging the head) lives in history.py.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from devnet.config import DevnetConfig
from devnet.errors import InvalidTxError, QueryError, VmUnavailableError
from devnet.node.borsh import SignedTransaction, Unsupported, decode_signed_transaction
from devnet.node.keys import KeyPair, public_key_to_str, verify
from devnet.node.model import (
    ACCOUNT_BASE_BYTES,
    NONCE_MULTIPLIER,
    RECORD_OVERHEAD_BYTES,
    SYSTEM_ACCOUNT,
    ZERO_HASH,
    AccessKeyRecord,
    Account,
    ActionReceipt,
    Block,
    DataReceipt,
    ExecutionOutcome,
    Receipt,
    Status,
    TxRecord,
    YieldRecord,
    digest,
    is_implicit,
    is_valid_account_id,
    key_record_size,
)
from devnet.node.storage_stake import storage_shortfall
from devnet.node.validation import new_receipt_error, validate_actions
from devnet.vm.config import DEFAULT_CONFIG
from devnet.vm.errors import ContractLoadError
from devnet.vm.fees import prepaid_gas, receipt_exec_fee, receipt_send_fee
from devnet.vm.types import (
    Action,
    AddKey,
    CallContext,
    CreateAccount,
    DeleteAccount,
    DeleteKey,
    DeployContract,
    FullAccess,
    FunctionCall,
    FunctionCallPermission,
    HostError,
    Outcome,
    PromiseResult,
    Transfer,
)

log = logging.getLogger(__name__)

TGAS = 10**12
# Fees, gas limits and the storage price are nearcore's (devnet/vm/config.py, one table for the node and
# the VM); the send part of a receipt's fees is burnt when it is created, the execution part when it runs.
VIEW_GAS = DEFAULT_CONFIG.max_gas_burnt_view
VIEW_MEMO_ENTRIES = 4096


def _deposit(a: Action) -> int:
    if isinstance(a, Transfer | FunctionCall):
        return a.deposit
    return 0


class VmBackend(Protocol):
    """What the node needs from devnet.vm (its `load_contract` and `execute`)."""

    def load(self, wasm: bytes) -> Any: ...

    def execute(self, contract: Any, method: str, ctx: CallContext, state: Any) -> Outcome: ...


class _DefaultVm:
    """devnet.vm, imported on first use so the node runs (minus contracts) without it."""

    def _module(self) -> Any:
        try:
            from devnet import vm
        except ImportError as exc:
            raise VmUnavailableError(f"devnet.vm cannot be imported: {exc}") from exc
        if not hasattr(vm, "execute") or not hasattr(vm, "load_contract"):
            raise VmUnavailableError("devnet.vm does not export load_contract/execute yet")
        return vm

    def load(self, wasm: bytes) -> Any:
        return self._module().load_contract(wasm)

    def execute(self, contract: Any, method: str, ctx: CallContext, state: Any) -> Outcome:
        result: Outcome = self._module().execute(contract, method, ctx, state)
        return result


class _CallState:
    """`ChainState` handed to the VM for one call."""

    def __init__(
        self, node: Node, storage: Mapping[bytes, bytes], created: Mapping[bytes, YieldRecord] | None = None
    ) -> None:
        self._node = node
        self._storage = storage
        self._created = created or {}  # yields made by earlier actions of the running receipt

    def storage(self) -> Mapping[bytes, bytes]:
        return self._storage

    def yield_is_pending(self, account_id: str, data_id: bytes) -> bool:
        y = self._created.get(data_id) or self._node.yields.get(data_id)
        return y is not None and y.account_id == account_id and y.state == "pending"


def host_error_to_near(err: HostError, account_id: str) -> Any:
    """A VM `HostError` as nearcore's `FunctionCallError` JSON (modern nearcore: mostly ExecutionError text)."""
    kind, msg = err.kind, err.message
    if kind == "GuestPanic":
        return {"ExecutionError": f"Smart contract panicked: {msg}"}
    if kind == "GasExceeded":
        return {"ExecutionError": "Exceeded the prepaid gas."}
    if kind == "GasLimitExceeded":
        return {"ExecutionError": "Exceeded the maximum amount of gas allowed to burn per contract."}
    if kind in ("MethodNotFound", "MethodEmptyName", "MethodInvalidSignature"):
        return {"MethodResolveError": kind}
    if kind == "CodeDoesNotExist":
        return {"CompilationError": {"CodeDoesNotExist": {"account_id": account_id}}}
    if kind in ("CompilationError", "PrepareError", "ContractLoadError"):
        return {"CompilationError": {"PrepareError": msg}}
    if kind == "WasmTrap":
        return {"ExecutionError": f"WebAssembly trap: {msg}"}
    return {"ExecutionError": f"{kind}: {msg}"}


def _fc_error(err: HostError, account_id: str) -> Any:
    return {"FunctionCallError": host_error_to_near(err, account_id)}


@dataclass
class _Cost:
    send_gas: int
    exec_gas: int
    prepaid_gas: int
    deposit: int
    gas_price: int

    @property
    def gas_cost(self) -> int:
        return (self.send_gas + self.exec_gas + self.prepaid_gas) * self.gas_price

    @property
    def total(self) -> int:
        return self.gas_cost + self.deposit


@dataclass
class BlockResult:
    """What a new block changed, for waiters and persistence."""

    block: Block
    included: list[bytes] = field(default_factory=list)  # tx hashes included in this block
    completed: list[bytes] = field(default_factory=list)  # tx hashes whose receipts all ran
    rejected: list[bytes] = field(default_factory=list)  # tx hashes dropped at inclusion
    dirty_accounts: set[str] = field(default_factory=set)
    dirty_storage: dict[str, set[bytes]] = field(default_factory=dict)
    new_receipts: list[bytes] = field(default_factory=list)
    touched_txs: set[bytes] = field(default_factory=set)


class Node:
    """Chain state and block production. Build with `Node.genesis(...)` or restore via persistence."""

    def __init__(self, config: DevnetConfig, vm: VmBackend | None = None) -> None:
        self.config = config
        self.vm: VmBackend = vm or _DefaultVm()
        self.accounts: dict[str, Account] = {}
        self.codes: dict[bytes, bytes] = {}
        self.receipts: dict[bytes, Receipt] = {}
        self.outcomes: dict[bytes, ExecutionOutcome] = {}
        self.txs: dict[bytes, TxRecord] = {}
        self.blocks: dict[int, Block] = {}
        self.block_by_hash: dict[bytes, int] = {}
        self.chunk_by_hash: dict[bytes, int] = {}
        self.head: Block | None = None
        self.genesis_height = 1
        self.time_offset_ns = 0  # devnet_advance_time: block time may run ahead of the wall clock
        self.outgoing: list[Receipt] = []
        self.postponed: dict[bytes, ActionReceipt] = {}
        self.waiting_for: dict[bytes, bytes] = {}  # data_id -> postponed receipt id
        self.data: dict[bytes, bytes | None] = {}  # data that arrived, by data_id
        self.yields: dict[bytes, YieldRecord] = {}
        self.rejected: dict[bytes, InvalidTxError] = {}
        self.pool: list[SignedTransaction] = []
        self._pool_hashes: set[bytes] = set()
        self._pool_nonces: dict[tuple[str, bytes], int] = {}
        self._compiled: dict[bytes, Any] = {}
        # View results by (block hash, account, method, args): a view is a pure function of the state
        # at its block, which only block production changes (on this same thread). Waiting clients
        # and stages ask the same view many times per block; each run is a whole contract start.
        self._views: dict[tuple[bytes, str, str, bytes], Outcome] = {}

    # ---------------------------------------------------------------- genesis

    def genesis(self, keys: Mapping[str, tuple[int, KeyPair]], codes: Mapping[str, bytes]) -> Block:
        """Create the accounts (`account -> (balance, key)`), deploy `codes`, produce the genesis block."""
        for account_id, (balance, key) in keys.items():
            acct = Account(balance=balance)
            self._add_key(acct, key.borsh_public_key, AccessKeyRecord(0, FullAccess()))
            self.accounts[account_id] = acct
        for account_id, wasm in codes.items():
            self._deploy(self.accounts[account_id], wasm)
        ts = self.config.genesis_time_ns or time.time_ns()
        h = self.genesis_height
        block_hash = digest("block", h, ZERO_HASH, ts)
        block = Block(
            height=h,
            hash=block_hash,
            prev_hash=ZERO_HASH,
            prev_height=0,
            timestamp_ns=ts,
            chunk_hash=digest("chunk", block_hash),
            tx_hashes=(),
            incoming_receipt_ids=(),
            executed_receipt_ids=(),
            gas_used=0,
            gas_price=self.config.gas_price,
            total_supply=self.total_supply(),
        )
        self.store_block(block)
        return block

    def store_block(self, block: Block) -> None:
        self.blocks[block.height] = block
        self.block_by_hash[block.hash] = block.height
        self.chunk_by_hash[block.chunk_hash] = block.height
        self.head = block

    def total_supply(self) -> int:
        return sum(a.balance + a.locked for a in self.accounts.values())

    # ---------------------------------------------------------------- accounts helpers

    @staticmethod
    def _add_key(acct: Account, pk: bytes, rec: AccessKeyRecord) -> None:
        acct.keys[pk] = rec
        acct.storage_usage += key_record_size(pk, rec.permission)

    @staticmethod
    def _remove_key(acct: Account, pk: bytes) -> None:
        rec = acct.keys.pop(pk)
        acct.storage_usage -= key_record_size(pk, rec.permission)

    def _deploy(self, acct: Account, wasm: bytes) -> None:
        old = self.codes.get(acct.code_hash, b"") if acct.code_hash != ZERO_HASH else b""
        code_hash = hashlib.sha256(wasm).digest()
        self.codes[code_hash] = wasm
        acct.storage_usage += len(wasm) - len(old)
        acct.code_hash = code_hash

    @staticmethod
    def _write_storage(acct: Account, writes: Mapping[bytes, bytes | None]) -> None:
        for k, v in writes.items():
            old = acct.storage.get(k)
            if old is not None:
                acct.storage_usage -= len(k) + len(old) + RECORD_OVERHEAD_BYTES
            if v is None:
                acct.storage.pop(k, None)
            else:
                acct.storage[k] = v
                acct.storage_usage += len(k) + len(v) + RECORD_OVERHEAD_BYTES

    def contract(self, code_hash: bytes) -> Any:
        compiled = self._compiled.get(code_hash)
        if compiled is None:
            compiled = self.vm.load(self.codes[code_hash])
            self._compiled[code_hash] = compiled
        return compiled

    # ---------------------------------------------------------------- transactions

    def submit(self, raw: bytes) -> tuple[bytes, bool]:
        """Validate and pool a borsh SignedTransaction. Returns (hash, known) where `known` means this
        exact transaction was seen before (resubmitting is harmless, as on NEAR). Raises InvalidTxError."""
        stx = decode_signed_transaction(raw)
        if stx.hash in self.txs or stx.hash in self._pool_hashes:
            return stx.hash, True
        if len(raw) > DEFAULT_CONFIG.max_transaction_size:
            raise InvalidTxError(
                {"TransactionSizeExceeded": {"size": len(raw), "limit": DEFAULT_CONFIG.max_transaction_size}}
            )
        self._validate(stx, pooled=True)
        tx = stx.transaction
        self.pool.append(stx)
        self._pool_hashes.add(stx.hash)
        key = (tx.signer_id, tx.public_key)
        self._pool_nonces[key] = max(self._pool_nonces.get(key, 0), tx.nonce)
        self.rejected.pop(stx.hash, None)
        return stx.hash, False

    def _validate(self, stx: SignedTransaction, *, pooled: bool) -> _Cost:
        tx = stx.transaction
        for a in tx.actions:
            if isinstance(a, Unsupported):
                raise InvalidTxError(
                    {"ActionsValidation": {"UnsupportedProtocolFeature": {"protocol_feature": a.name, "version": 0}}}
                )
        if not is_valid_account_id(tx.signer_id):
            raise InvalidTxError({"InvalidSignerId": {"signer_id": tx.signer_id}})
        if not is_valid_account_id(tx.receiver_id):
            raise InvalidTxError({"InvalidReceiverId": {"receiver_id": tx.receiver_id}})
        if not verify(tx.public_key, stx.hash, stx.signature):
            raise InvalidTxError("InvalidSignature")
        assert self.head is not None
        ref = self.block_by_hash.get(tx.block_hash)
        if ref is None:
            raise InvalidTxError("InvalidChain")
        if self.head.height - ref > self.config.tx_validity_blocks:
            raise InvalidTxError("Expired")
        signer = self.accounts.get(tx.signer_id)
        if signer is None:
            raise InvalidTxError({"SignerDoesNotExist": {"signer_id": tx.signer_id}})
        key = signer.keys.get(tx.public_key)
        pk_str = public_key_to_str(tx.public_key)
        if key is None:
            raise InvalidTxError(
                {"InvalidAccessKeyError": {"AccessKeyNotFound": {"account_id": tx.signer_id, "public_key": pk_str}}}
            )
        ak_nonce = key.nonce
        if pooled:
            ak_nonce = max(ak_nonce, self._pool_nonces.get((tx.signer_id, tx.public_key), 0))
        if tx.nonce <= ak_nonce:
            raise InvalidTxError({"InvalidNonce": {"tx_nonce": tx.nonce, "ak_nonce": ak_nonce}})
        upper = (self.head.height + 1) * NONCE_MULTIPLIER
        if tx.nonce >= upper:
            raise InvalidTxError({"NonceTooLarge": {"tx_nonce": tx.nonce, "upper_bound": upper}})
        actions: tuple[Action, ...] = tuple(a for a in tx.actions if not isinstance(a, Unsupported))
        limits = replace(DEFAULT_CONFIG, max_total_prepaid_gas=self.config.max_prepaid_gas)
        invalid = validate_actions(actions, limits)
        if invalid is not None:
            raise InvalidTxError({"ActionsValidation": invalid})
        sir = tx.signer_id == tx.receiver_id
        cost = _Cost(
            send_gas=receipt_send_fee(actions, sir, tx.receiver_id),
            exec_gas=receipt_exec_fee(actions, tx.receiver_id),
            prepaid_gas=prepaid_gas(actions),
            deposit=sum(_deposit(a) for a in actions),
            gas_price=self.config.gas_price,
        )
        perm = key.permission
        if isinstance(perm, FunctionCallPermission) and perm.allowance is not None and cost.gas_cost > perm.allowance:
            raise InvalidTxError(
                {
                    "InvalidAccessKeyError": {
                        "NotEnoughAllowance": {
                            "account_id": tx.signer_id,
                            "public_key": pk_str,
                            "allowance": str(perm.allowance),
                            "cost": str(cost.gas_cost),
                        }
                    }
                }
            )
        if signer.balance < cost.total:
            raise InvalidTxError(
                {
                    "NotEnoughBalance": {
                        "signer_id": tx.signer_id,
                        "balance": str(signer.balance),
                        "cost": str(cost.total),
                    }
                }
            )
        shortfall = storage_shortfall(signer.balance - cost.total, signer.locked, signer.storage_usage)
        if shortfall:
            raise InvalidTxError({"LackBalanceForState": {"signer_id": tx.signer_id, "amount": str(shortfall)}})
        if isinstance(perm, FunctionCallPermission):
            if len(actions) != 1 or not isinstance(actions[0], FunctionCall):
                raise InvalidTxError({"InvalidAccessKeyError": "RequiresFullAccess"})
            fc = actions[0]
            if fc.deposit > 0:
                raise InvalidTxError({"InvalidAccessKeyError": "DepositWithFunctionCall"})
            if tx.receiver_id != perm.receiver_id:
                raise InvalidTxError(
                    {
                        "InvalidAccessKeyError": {
                            "ReceiverMismatch": {"tx_receiver": tx.receiver_id, "ak_receiver": perm.receiver_id}
                        }
                    }
                )
            if perm.method_names and fc.method_name not in perm.method_names:
                raise InvalidTxError({"InvalidAccessKeyError": {"MethodNameMismatch": {"method_name": fc.method_name}}})
        return cost

    def _convert(self, stx: SignedTransaction, height: int, block_hash: bytes, res: BlockResult) -> None:
        """Charge the signer and turn the transaction into its receipt (delivered next block)."""
        tx = stx.transaction
        try:
            cost = self._validate(stx, pooled=False)
        except InvalidTxError as exc:
            self.rejected[stx.hash] = exc
            res.rejected.append(stx.hash)
            return
        signer = self.accounts[tx.signer_id]
        key = signer.keys[tx.public_key]
        signer.balance -= cost.total
        key.nonce = tx.nonce
        if isinstance(key.permission, FunctionCallPermission) and key.permission.allowance is not None:
            key.permission = replace(key.permission, allowance=key.permission.allowance - cost.gas_cost)
        res.dirty_accounts.add(tx.signer_id)
        actions = tuple(a for a in tx.actions if not isinstance(a, Unsupported))
        receipt = ActionReceipt(
            receipt_id=digest("receipt", stx.hash, 0),
            predecessor_id=tx.signer_id,
            receiver_id=tx.receiver_id,
            signer_id=tx.signer_id,
            signer_public_key=tx.public_key,
            gas_price=cost.gas_price,
            actions=actions,
            tx_hash=stx.hash,
        )
        outcome = ExecutionOutcome(
            id=stx.hash,
            block_height=height,
            block_hash=block_hash,
            executor_id=tx.signer_id,
            logs=(),
            receipt_ids=(receipt.receipt_id,),
            gas_burnt=cost.send_gas,
            tokens_burnt=cost.send_gas * cost.gas_price,
            status=Status("SuccessReceiptId", receipt.receipt_id),
        )
        self.txs[stx.hash] = TxRecord(
            signed=stx, block_height=height, block_hash=block_hash, outcome=outcome, receipt_ids=[], pending=set()
        )
        res.included.append(stx.hash)
        res.touched_txs.add(stx.hash)
        self._emit(receipt, res)

    # ---------------------------------------------------------------- blocks

    def next_height(self) -> int:
        assert self.head is not None
        h = self.head.height + 1
        while h in self.config.skip_heights:
            h += 1
        return h

    def produce_block(self, now_ns: int | None = None) -> BlockResult:
        assert self.head is not None
        prev = self.head
        height = self.next_height()
        ts = max((now_ns or time.time_ns()) + self.time_offset_ns, prev.timestamp_ns + 1)
        block_hash = digest("block", height, prev.hash, ts)
        placeholder = Block(height, block_hash, prev.hash, prev.height, ts, b"", (), (), (), 0, 0, 0)
        res = BlockResult(block=placeholder)
        incoming, self.outgoing = self.outgoing, []
        executed: list[bytes] = []
        gas_used = 0
        for r in incoming:
            if isinstance(r, DataReceipt):
                self.data[r.data_id] = r.data
                waiting = self.waiting_for.pop(r.data_id, None)
                if waiting is not None and self._ready(self.postponed[waiting]):
                    gas_used += self._execute(self.postponed.pop(waiting), height, block_hash, ts, res, executed)
            elif self._ready(r):
                gas_used += self._execute(r, height, block_hash, ts, res, executed)
            else:
                self._postpone(r)
        pool, self.pool = self.pool, []
        self._pool_hashes.clear()
        self._pool_nonces.clear()
        for stx in pool:
            self._convert(stx, height, block_hash, res)
            if stx.hash in self.txs:
                gas_used += self.txs[stx.hash].outcome.gas_burnt
        self._time_out_yields(height, res)
        block = Block(
            height=height,
            hash=block_hash,
            prev_hash=prev.hash,
            prev_height=prev.height,
            timestamp_ns=ts,
            chunk_hash=digest("chunk", block_hash),
            tx_hashes=tuple(res.included),
            incoming_receipt_ids=tuple(r.receipt_id for r in incoming),
            executed_receipt_ids=tuple(executed),
            gas_used=gas_used,
            gas_price=self.config.gas_price,
            total_supply=self.total_supply(),
        )
        self.store_block(block)
        res.block = block
        return res

    def _ready(self, r: ActionReceipt) -> bool:
        return all(d in self.data for d in r.input_data_ids)

    def _postpone(self, r: ActionReceipt) -> None:
        self.postponed[r.receipt_id] = r
        for d in r.input_data_ids:
            if d not in self.data:
                self.waiting_for[d] = r.receipt_id

    def _emit(self, r: Receipt, res: BlockResult) -> None:
        """Record a new receipt, attach it to its transaction and queue it for the next block."""
        self.receipts[r.receipt_id] = r
        res.new_receipts.append(r.receipt_id)
        self._track(r, res)
        self.outgoing.append(r)

    def _track(self, r: Receipt, res: BlockResult) -> None:
        tx = self.txs.get(r.tx_hash)
        if tx is None or not isinstance(r, ActionReceipt):
            return
        tx.receipt_ids.append(r.receipt_id)
        if not r.is_refund:
            tx.pending.add(r.receipt_id)
        res.touched_txs.add(r.tx_hash)

    def _time_out_yields(self, height: int, res: BlockResult) -> None:
        limit = self.config.yield_timeout_blocks
        for data_id, y in list(self.yields.items()):
            if y.state == "pending" and height >= y.created_height + limit:
                self.yields[data_id] = replace(y, state="timed_out")
                self._emit(
                    DataReceipt(
                        receipt_id=digest("yield-timeout", data_id),
                        predecessor_id=y.account_id,
                        receiver_id=y.account_id,
                        data_id=data_id,
                        data=None,
                        tx_hash=y.tx_hash,
                    ),
                    res,
                )

    # ---------------------------------------------------------------- receipt execution

    def _refund(self, parent: ActionReceipt, kind: str, to: str, amount: int, res: BlockResult) -> bytes | None:
        if amount <= 0 or to == SYSTEM_ACCOUNT:
            return None
        r = ActionReceipt(
            receipt_id=digest("refund", parent.receipt_id, kind),
            predecessor_id=SYSTEM_ACCOUNT,
            receiver_id=to,
            signer_id=SYSTEM_ACCOUNT,
            signer_public_key=b"\x00" + bytes(32),
            gas_price=0,
            actions=(Transfer(deposit=amount),),
            tx_hash=parent.tx_hash,
            is_refund=True,
        )
        self._emit(r, res)
        return r.receipt_id

    def _execute(
        self, r: ActionReceipt, height: int, block_hash: bytes, ts: int, res: BlockResult, executed: list[bytes]
    ) -> int:
        """Run one action receipt; returns the gas it burnt."""
        inputs = [self.data.pop(d, None) for d in r.input_data_ids]
        promise_results = tuple(
            PromiseResult("successful", d) if d is not None else PromiseResult("failed") for d in inputs
        )
        if r.is_promise_yield:
            for d in r.input_data_ids:
                self.yields.pop(d, None)
        run = _ReceiptRun(self, r, height, block_hash, ts, promise_results)
        run.apply()
        receipt_ids: list[bytes] = []
        if run.failure is None:
            self.accounts.pop(r.receiver_id, None)
            if run.account is not None:
                self.accounts[r.receiver_id] = run.account
            res.dirty_accounts.add(r.receiver_id)
            if run.storage_dirty:
                res.dirty_storage.setdefault(r.receiver_id, set()).update(run.storage_dirty)
            for nr in run.new_receipts:
                if nr.is_promise_yield:
                    self.receipts[nr.receipt_id] = nr
                    res.new_receipts.append(nr.receipt_id)
                    self._track(nr, res)
                    self._postpone(nr)
                else:
                    self._emit(nr, res)
                receipt_ids.append(nr.receipt_id)
            self.yields.update(run.new_yields)
            for dr in run.resumes:
                pending = self.yields.get(dr.data_id)
                if pending is not None and pending.state == "pending" and pending.account_id == r.receiver_id:
                    self.yields[dr.data_id] = replace(pending, state="resumed")
                    self._emit(dr, res)
            for extra in run.side_receipts:  # e.g. DeleteAccount's transfer to the beneficiary
                self._emit(extra, res)
                receipt_ids.append(extra.receipt_id)
        reward = 0
        if not r.is_refund and run.reward_gas:
            # nearcore pays 30% of the gas burnt by function calls to the called account if it still
            # exists after the receipt (also when the call failed), out of the tokens burnt.
            num, den = DEFAULT_CONFIG.burnt_gas_reward
            rewarded = self.accounts.get(r.receiver_id)
            if rewarded is not None:
                reward = run.reward_gas * num // den * self.config.gas_price
                rewarded.balance += reward
                res.dirty_accounts.add(r.receiver_id)
        if not r.is_refund:
            if run.failure is not None:
                rid = self._refund(r, "deposit", r.predecessor_id, run.deposits, res)
                if rid:
                    receipt_ids.append(rid)
            rid = self._refund(r, "gas", r.signer_id, run.gas_refund() * r.gas_price, res)
            if rid:
                receipt_ids.append(rid)
        status = run.status()
        # Results flow to receipts waiting on this one, unless a returned promise takes over.
        if status.kind != "SuccessReceiptId":
            value = status.value if status.kind == "SuccessValue" else None
            for data_id, receiver in r.output_data_receivers:
                self._emit(
                    DataReceipt(
                        receipt_id=digest("data", data_id),
                        predecessor_id=r.receiver_id,
                        receiver_id=receiver,
                        data_id=data_id,
                        data=value,
                        tx_hash=r.tx_hash,
                    ),
                    res,
                )
        burnt = run.gas_burnt if not r.is_refund else 0
        self.outcomes[r.receipt_id] = ExecutionOutcome(
            id=r.receipt_id,
            block_height=height,
            block_hash=block_hash,
            executor_id=r.receiver_id,
            logs=tuple(run.logs),
            receipt_ids=tuple(receipt_ids),
            gas_burnt=burnt,
            tokens_burnt=burnt * r.gas_price - reward,
            status=status,
        )
        executed.append(r.receipt_id)
        tx = self.txs.get(r.tx_hash)
        if tx is not None:
            res.touched_txs.add(r.tx_hash)
            tx.pending.discard(r.receipt_id)
            if not tx.pending and tx.done_height is None:
                tx.done_height = height
                res.completed.append(r.tx_hash)
        return burnt

    # ---------------------------------------------------------------- views

    def call_view(
        self, account_id: str, method: str, args: bytes, *, at: Block | None = None, account: Account | None = None
    ) -> Outcome:
        """A view call at the head, or at block `at` against `account` as it was then (history.py)."""
        block = at if at is not None else self.head
        assert block is not None
        memo = (block.hash, account_id, method, args)
        hit = self._views.get(memo)
        if hit is not None:
            return hit
        acct = account if at is not None else self.accounts.get(account_id)
        outcome = self._call_view(account_id, method, args, block, acct)
        if len(self._views) >= VIEW_MEMO_ENTRIES:
            del self._views[next(iter(self._views))]  # the oldest: dicts keep insertion order
        self._views[memo] = outcome
        return outcome

    def _call_view(self, account_id: str, method: str, args: bytes, block: Block, acct: Account | None) -> Outcome:
        if acct is None:
            raise QueryError(
                "UNKNOWN_ACCOUNT",
                f"account {account_id} does not exist while viewing",
                {"requested_account_id": account_id},
            )
        if acct.code_hash == ZERO_HASH:
            raise QueryError(
                "NO_CONTRACT_CODE",
                f"Contract code for contract ID #{account_id} has never been observed on the node",
                {"contract_account_id": account_id},
            )
        ctx = CallContext(
            current_account_id=account_id,
            signer_account_id="",
            signer_account_pk=b"",
            predecessor_account_id="",
            input=args,
            block_height=block.height,
            block_timestamp_ns=block.timestamp_ns,
            epoch_height=1,
            account_balance=acct.balance,
            account_locked_balance=acct.locked,
            storage_usage=acct.storage_usage,
            attached_deposit=0,
            prepaid_gas=VIEW_GAS,
            random_seed=digest("seed", block.hash),
            receipt_id=digest("view", block.hash),
            is_view=True,
        )
        try:
            contract = self.contract(acct.code_hash)
        except VmUnavailableError:
            raise
        except Exception as exc:
            return Outcome(error=HostError("CompilationError", str(exc)))
        return self.vm.execute(contract, method, ctx, _CallState(self, acct.storage))

    def tx_status(self, tx_hash: bytes) -> Status | None:
        """FinalExecutionStatus: follows the receipt chain; None = Started (not finished)."""
        tx = self.txs.get(tx_hash)
        if tx is None:
            return None
        status = tx.outcome.status
        while status.kind == "SuccessReceiptId":
            o = self.outcomes.get(status.value)
            if o is None:
                return None
            status = o.status
        return status

    def iter_tx_outcomes(self, tx_hash: bytes) -> Iterator[ExecutionOutcome]:
        tx = self.txs[tx_hash]
        for rid in tx.receipt_ids:
            o = self.outcomes.get(rid)
            if o is not None:
                yield o


class _ReceiptRun:
    """One action receipt applied to a private copy of its receiver; committed by the node on success."""

    def __init__(
        self,
        node: Node,
        r: ActionReceipt,
        height: int,
        block_hash: bytes,
        ts: int,
        promise_results: tuple[PromiseResult, ...],
    ) -> None:
        self.node = node
        self.r = r
        self.height = height
        self.block_hash = block_hash
        self.ts = ts
        self.promise_results = promise_results
        existing = node.accounts.get(r.receiver_id)
        self.account: Account | None = existing.copy() if existing is not None else None
        self.created = False
        self.logs: list[str] = []
        self.failure: Any = None
        self.gas_burnt = receipt_exec_fee(r.actions, r.receiver_id)
        self.reward_gas = 0  # gas burnt by function calls: 30% of it is paid to the receiver
        self.prepaid = prepaid_gas(r.actions)
        self.used = 0  # of the attached function-call gas: burnt by the VM or given to new receipts
        self.deposits = sum(_deposit(a) for a in r.actions)
        self.new_receipts: list[ActionReceipt] = []
        self.side_receipts: list[ActionReceipt] = []
        self.new_yields: dict[bytes, YieldRecord] = {}
        self.resumes: list[DataReceipt] = []
        self.storage_dirty: set[bytes] = set()
        self.value = b""
        self.return_receipt: bytes | None = None

    def gas_refund(self) -> int:
        """nearcore: a failed receipt refunds all attached gas it did not burn (the gas it had reserved
        for receipts it created is not spent, as those receipts are dropped)."""
        spent = self.used if self.failure is None else self.reward_gas
        return max(0, self.prepaid - spent)

    def status(self) -> Status:
        if self.failure is not None:
            return Status("Failure", failure=self.failure)
        if self.return_receipt is not None:
            return Status("SuccessReceiptId", self.return_receipt)
        return Status("SuccessValue", self.value)

    def _fail(self, index: int | None, kind: Any) -> None:
        self.failure = {"ActionError": {"index": index, "kind": kind}}
        self.new_receipts.clear()
        self.side_receipts.clear()
        self.new_yields.clear()
        self.resumes.clear()
        self.return_receipt = None

    def apply(self) -> None:
        r = self.r
        for i, a in enumerate(r.actions):
            kind = self._action(i, a)
            if kind is not None:
                self._fail(i, kind)
                return
        acct = self.account
        if acct is not None and not r.is_refund:
            shortfall = storage_shortfall(acct.balance, acct.locked, acct.storage_usage)
            if shortfall:
                self._fail(None, {"LackBalanceForState": {"account_id": r.receiver_id, "amount": str(shortfall)}})

    def _needs_owner(self, a: Action) -> Any:
        if self.r.predecessor_id != self.r.receiver_id and not self.created:
            return {"ActorNoPermission": {"account_id": self.r.receiver_id, "actor_id": self.r.predecessor_id}}
        return None

    def _action(self, i: int, a: Action) -> Any:
        r = self.r
        node = self.node
        if isinstance(a, CreateAccount):
            if self.account is not None:
                return {"AccountAlreadyExists": {"account_id": r.receiver_id}}
            rid, pred = r.receiver_id, r.predecessor_id
            if "." not in rid and not is_implicit(rid):
                registrar = node.config.root_account_id
                if pred != registrar:
                    return {
                        "CreateAccountOnlyByRegistrar": {
                            "account_id": rid,
                            "registrar_account_id": registrar,
                            "predecessor_account_id": pred,
                        }
                    }
            elif "." in rid and rid.split(".", 1)[1] != pred:
                return {"CreateAccountNotAllowed": {"account_id": rid, "predecessor_id": pred}}
            self.account = Account(balance=0)
            self.created = True
            return None
        if self.account is None:
            if isinstance(a, Transfer) and is_implicit(r.receiver_id):
                self.account = Account(balance=0)
                self.created = True
                pk = b"\x00" + bytes.fromhex(r.receiver_id)
                node._add_key(self.account, pk, AccessKeyRecord(0, FullAccess()))
            else:
                return {"AccountDoesNotExist": {"account_id": r.receiver_id}}
        acct = self.account
        if isinstance(a, Transfer):
            acct.balance += a.deposit
            return None
        if isinstance(a, FunctionCall):
            return self._function_call(i, a)
        denied = self._needs_owner(a)
        if denied is not None:
            return denied
        if isinstance(a, DeployContract):
            node._deploy(acct, a.code)
            return None
        if isinstance(a, AddKey):
            if a.public_key in acct.keys:
                return {
                    "AddKeyAlreadyExists": {
                        "account_id": r.receiver_id,
                        "public_key": public_key_to_str(a.public_key),
                    }
                }
            nonce = (self.height - 1) * NONCE_MULTIPLIER
            node._add_key(acct, a.public_key, AccessKeyRecord(nonce, a.permission))
            return None
        if isinstance(a, DeleteKey):
            if a.public_key not in acct.keys:
                return {
                    "DeleteKeyDoesNotExist": {
                        "account_id": r.receiver_id,
                        "public_key": public_key_to_str(a.public_key),
                    }
                }
            node._remove_key(acct, a.public_key)
            return None
        assert isinstance(a, DeleteAccount)
        if acct.balance > 0:
            self.side_receipts.append(
                ActionReceipt(
                    receipt_id=digest("delete-account", r.receipt_id, i),
                    predecessor_id=r.receiver_id,
                    receiver_id=a.beneficiary_id,
                    signer_id=r.signer_id,
                    signer_public_key=r.signer_public_key,
                    gas_price=r.gas_price,
                    actions=(Transfer(deposit=acct.balance),),
                    tx_hash=r.tx_hash,
                )
            )
        self.account = None
        return None

    def _function_call(self, i: int, a: FunctionCall) -> Any:
        r = self.r
        node = self.node
        acct = self.account
        assert acct is not None
        acct.balance += a.deposit
        if acct.code_hash == ZERO_HASH:
            return {"FunctionCallError": {"CompilationError": {"CodeDoesNotExist": {"account_id": r.receiver_id}}}}
        ctx = CallContext(
            current_account_id=r.receiver_id,
            signer_account_id=r.signer_id,
            signer_account_pk=r.signer_public_key,
            predecessor_account_id=r.predecessor_id,
            input=a.args,
            block_height=self.height,
            block_timestamp_ns=self.ts,
            epoch_height=1,
            account_balance=acct.balance,
            account_locked_balance=acct.locked,
            storage_usage=acct.storage_usage,
            attached_deposit=a.deposit,
            prepaid_gas=a.gas,
            random_seed=digest("seed", self.block_hash, r.receipt_id),
            receipt_id=r.receipt_id if i == 0 else digest("action", r.receipt_id, i),
            promise_results=self.promise_results,
            output_data_receivers=tuple(to for _, to in r.output_data_receivers) if i == len(r.actions) - 1 else (),
        )
        try:
            contract = node.contract(acct.code_hash)
            outcome = node.vm.execute(contract, a.method_name, ctx, _CallState(node, acct.storage, self.new_yields))
        except VmUnavailableError as exc:
            log.error("function call %s.%s failed: %s", r.receiver_id, a.method_name, exc)
            self.used += a.gas
            return {"FunctionCallError": {"ExecutionError": f"devnet VM unavailable: {exc}"}}
        except Exception as exc:  # the VM must not take the chain down; the receipt fails instead
            if isinstance(exc, ContractLoadError):  # nearcore names the PrepareError variant
                return {"FunctionCallError": {"CompilationError": {"PrepareError": getattr(exc, "kind", str(exc))}}}
            log.exception("devnet VM raised on %s.%s", r.receiver_id, a.method_name)
            self.used += a.gas
            return {"FunctionCallError": {"ExecutionError": f"devnet VM internal error: {exc!r}"}}
        self.logs.extend(outcome.logs)
        burnt = min(outcome.gas_burnt, a.gas)
        self.used += max(burnt, min(outcome.gas_used, a.gas))
        self.gas_burnt += burnt
        self.reward_gas += burnt
        if outcome.error is not None:
            return _fc_error(outcome.error, r.receiver_id)
        for nr in outcome.receipts:  # nearcore validates what the contract created and fails the caller
            invalid = validate_actions(nr.actions)
            if invalid is not None:
                return new_receipt_error(invalid)
        node._write_storage(acct, outcome.storage_writes)
        self.storage_dirty.update(outcome.storage_writes)
        # New receipts: ids, data dependencies, deposits leaving the account, gas given away.
        ids = {nr.index: digest("receipt", r.receipt_id, i, nr.index) for nr in outcome.receipts}
        inputs: dict[int, list[bytes]] = {nr.index: [] for nr in outcome.receipts}
        outputs: dict[int, list[tuple[bytes, str]]] = {nr.index: [] for nr in outcome.receipts}
        for nr in outcome.receipts:
            for dep in nr.depends_on:
                if dep not in ids:
                    return _fc_error(HostError("InvalidPromiseIndex", f"promise {dep} does not exist"), r.receiver_id)
                data_id = digest("data", r.receipt_id, i, dep, nr.index)
                inputs[nr.index].append(data_id)
                outputs[dep].append((data_id, nr.receiver_id))
        last = i == len(r.actions) - 1
        if outcome.return_promise is not None and last:
            if outcome.return_promise not in ids:
                return _fc_error(HostError("InvalidPromiseIndex", "returned promise does not exist"), r.receiver_id)
            outputs[outcome.return_promise].extend(r.output_data_receivers)
        leaving = 0
        for nr in outcome.receipts:
            leaving += sum(_deposit(x) for x in nr.actions)
            input_ids = tuple(inputs[nr.index])
            if nr.yield_data_id is not None:
                input_ids = (nr.yield_data_id, *input_ids)
                self.new_yields[nr.yield_data_id] = YieldRecord(
                    account_id=r.receiver_id,
                    receipt_id=ids[nr.index],
                    created_height=self.height,
                    tx_hash=r.tx_hash,
                )
            self.new_receipts.append(
                ActionReceipt(
                    receipt_id=ids[nr.index],
                    predecessor_id=r.receiver_id,
                    receiver_id=nr.receiver_id,
                    signer_id=r.signer_id,
                    signer_public_key=r.signer_public_key,
                    gas_price=r.gas_price,
                    actions=nr.actions,
                    tx_hash=r.tx_hash,
                    input_data_ids=input_ids,
                    output_data_receivers=tuple(outputs[nr.index]),
                    is_promise_yield=nr.yield_data_id is not None,
                )
            )
        if leaving > acct.balance:
            return _fc_error(
                HostError("BalanceExceeded", "not enough balance for the attached deposits"), r.receiver_id
            )
        acct.balance -= leaving
        for yr in outcome.yield_resumes:
            self.resumes.append(
                DataReceipt(
                    receipt_id=digest("resume", r.receipt_id, i, yr.data_id),
                    predecessor_id=r.receiver_id,
                    receiver_id=r.receiver_id,
                    data_id=yr.data_id,
                    data=yr.payload,
                    tx_hash=r.tx_hash,
                    is_promise_resume=True,
                )
            )
        if last:
            if outcome.return_promise is not None:
                self.return_receipt = ids[outcome.return_promise]
            else:
                self.value = outcome.return_value or b""
        return None


__all__ = [
    "ACCOUNT_BASE_BYTES",
    "BlockResult",
    "Node",
    "VmBackend",
    "host_error_to_near",
]
