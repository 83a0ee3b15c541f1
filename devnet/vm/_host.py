"""The NEAR host functions (`env` imports) for one contract call.

Semantics follow nearcore's `VMLogic` (near-vm-runner/src/logic/logic.rs): u64 arguments, `len ==
u64::MAX` means "read from register `ptr`", u128 balances as 16 little-endian bytes, `register_len` of an
unused register is u64::MAX, view calls may not touch signer/predecessor/gas/promises/state writes. The
call's effects are collected here and turned into an `Outcome` only if the call succeeds.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

import wasmtime

from devnet.vm import _crypto, fees
from devnet.vm._engine import HOST_FUNCTIONS, get_fuel, set_fuel
from devnet.vm._prepare import MEMORY_EXPORT
from devnet.vm.config import VMConfig
from devnet.vm.types import (
    Action,
    AddKey,
    CallContext,
    ChainState,
    CreateAccount,
    DeleteAccount,
    DeleteKey,
    DeployContract,
    FullAccess,
    FunctionCall,
    FunctionCallPermission,
    HostError,
    NewReceipt,
    Outcome,
    Transfer,
    YieldResume,
)

U64_MAX = (1 << 64) - 1
_ACCOUNT_ID_RE = re.compile(r"^(([a-z\d]+[-_])*[a-z\d]+\.)*([a-z\d]+[-_])*[a-z\d]+$")
# Host functions the devnet deliberately does not model: a call fails with UnsupportedHostFunction
# (listed in devnet/README.md), never with a made-up answer.
_UNSUPPORTED = frozenset(
    {
        "alt_bn128_g1_multiexp",
        "alt_bn128_g1_sum",
        "alt_bn128_pairing_check",
        "promise_batch_action_stake",
        "p256_verify",
        "bls12381_p1_sum",
        "bls12381_p2_sum",
        "bls12381_g1_multiexp",
        "bls12381_g2_multiexp",
        "bls12381_map_fp_to_g1",
        "bls12381_map_fp2_to_g2",
        "bls12381_pairing_check",
        "bls12381_p1_decompress",
        "bls12381_p2_decompress",
        "promise_batch_action_deploy_global_contract",
        "promise_batch_action_deploy_global_contract_by_account_id",
        "promise_batch_action_use_global_contract",
        "promise_batch_action_use_global_contract_by_account_id",
    }
)


class HostFailure(Exception):
    """Unwinds the guest: raised inside a host function, caught by the runner, reported as HostError."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message

    def to_error(self) -> HostError:
        return HostError(kind=self.kind, message=self.message)


@dataclass
class _Receipt:
    receiver_id: str
    actions: list[Action] = field(default_factory=list)
    depends_on: list[int] = field(default_factory=list)
    yield_data_id: bytes | None = None


@dataclass(frozen=True)
class _Join:
    """A promise made by promise_and: not a receipt, just the receipts it waits for."""

    receipts: tuple[int, ...]


def yield_data_id(receipt_id: bytes, counter: int) -> bytes:
    """Deterministic, unique per (call, yield): sha256(receipt_id || counter as u64 little-endian)."""
    return hashlib.sha256(receipt_id + counter.to_bytes(8, "little")).digest()


class Session:
    """State of one contract call: registers, logs, gas meter, pending receipts and storage overlay."""

    def __init__(self, ctx: CallContext, state: ChainState, config: VMConfig) -> None:
        self.ctx = ctx
        self.cfg = config
        self.state = state
        self.base_storage: Mapping[bytes, bytes] = state.storage()
        self.writes: dict[bytes, bytes | None] = {}
        self.registers: dict[int, bytes] = {}
        self.registers_size = 0
        self.logs: list[str] = []
        self.log_length = 0
        self.return_value: bytes | None = None
        self.return_receipt: int | None = None
        self.promises: list[int | _Join] = []  # promise index -> receipt index or join
        self.receipts: list[_Receipt] = []
        self.weights: list[tuple[int, int, int]] = []  # (receipt, action position, gas weight)
        self.resumes: list[YieldResume] = []
        self.yields_created = 0
        self.balance = ctx.account_balance
        self.storage_usage = ctx.storage_usage
        self.memory: wasmtime.Memory | None = None
        # gas: burnt = wasm_ops * regular_op_cost + host_burnt; used = burnt + reserved
        self.prepaid = config.max_gas_burnt_view if ctx.is_view else ctx.prepaid_gas
        self.max_burnt = config.max_gas_burnt_view if ctx.is_view else config.max_gas_burnt
        self.wasm_ops = 0
        self.host_burnt = 0
        self.reserved = 0
        self.fuel_left = 0

    # ---------------------------------------------------------------- gas

    @property
    def burnt(self) -> int:
        return self.wasm_ops * self.cfg.regular_op_cost + self.host_burnt

    @property
    def used(self) -> int:
        return self.burnt + self.reserved

    def _sync(self, c: wasmtime.Caller | wasmtime.Store) -> None:
        left = get_fuel(c)
        self.wasm_ops += self.fuel_left - left
        self.fuel_left = left

    def refuel(self, c: wasmtime.Caller | wasmtime.Store) -> None:
        allowed = min(self.max_burnt - self.burnt, self.prepaid - self.used)
        self.fuel_left = max(allowed, 0) // self.cfg.regular_op_cost
        set_fuel(c, self.fuel_left)

    def finish_wasm(self, store: wasmtime.Store) -> None:
        self._sync(store)

    def charge(self, c: wasmtime.Caller | wasmtime.Store | None, burn: int, reserve: int = 0) -> None:
        """Burn `burn` gas now and reserve `reserve` (gas handed to created receipts) from prepaid."""
        if c is not None:
            self._sync(c)
        self.host_burnt += burn
        self.reserved += reserve
        if self.burnt > self.max_burnt:
            raise HostFailure("GasLimitExceeded", f"exceeded the limit of {self.max_burnt} gas burnt per call")
        if self.used > self.prepaid:
            raise HostFailure("GasExceeded", f"exceeded the prepaid gas ({self.prepaid})")
        if c is not None:
            self.refuel(c)

    def out_of_fuel(self) -> HostFailure:
        """Classify a fuel trap: whichever limit is the tighter one was hit."""
        if self.max_burnt - self.host_burnt < self.prepaid - self.host_burnt - self.reserved:
            return HostFailure("GasLimitExceeded", f"exceeded the limit of {self.max_burnt} gas burnt per call")
        return HostFailure("GasExceeded", f"exceeded the prepaid gas ({self.prepaid})")

    def burnt_on_error(self, kind: str) -> int:
        if kind == "GasExceeded":
            return min(self.prepaid, self.max_burnt)
        if kind == "GasLimitExceeded":
            return self.max_burnt
        return min(self.burnt, self.max_burnt)

    # ------------------------------------------------------------- helpers

    def dispatch(self, name: str, caller: wasmtime.Caller, args: tuple[int, ...]) -> int | None:
        if self.memory is None:  # a start function runs before the runner sees the instance's exports
            memory = caller.get(MEMORY_EXPORT)
            if isinstance(memory, wasmtime.Memory):
                self.memory = memory
        return _HANDLERS[name](self, caller, *args)

    def _mem(self) -> wasmtime.Memory:
        if self.memory is None:  # pragma: no cover - every prepared module exports its memory
            raise HostFailure("MemoryAccessViolation", "guest memory is not available")
        return self.memory

    def _read_mem(self, c: wasmtime.Caller, ptr: int, length: int) -> bytes:
        self.charge(c, self.cfg.read_memory_base + self.cfg.read_memory_byte * length)
        mem = self._mem()
        if ptr + length > mem.data_len(c):
            raise HostFailure("MemoryAccessViolation", f"reading {length} bytes at {ptr} is out of bounds")
        if length == 0:
            return b""
        return bytes(mem.read(c, ptr, ptr + length))

    def _write_mem(self, c: wasmtime.Caller, ptr: int, data: bytes) -> None:
        self.charge(c, self.cfg.write_memory_base + self.cfg.write_memory_byte * len(data))
        mem = self._mem()
        if ptr + len(data) > mem.data_len(c):
            raise HostFailure("MemoryAccessViolation", f"writing {len(data)} bytes at {ptr} is out of bounds")
        if data:
            mem.write(c, data, ptr)

    def _read_input(self, c: wasmtime.Caller, ptr: int, length: int) -> bytes:
        """Guest memory, or register `ptr` when `length` is u64::MAX."""
        if length == U64_MAX:
            data = self.registers.get(ptr)
            if data is None:
                raise HostFailure("InvalidRegisterId", f"register {ptr} is not set")
            self.charge(c, self.cfg.read_register_base + self.cfg.read_register_byte * len(data))
            return data
        return self._read_mem(c, ptr, length)

    def _read_u128(self, c: wasmtime.Caller, ptr: int) -> int:
        return int.from_bytes(self._read_mem(c, ptr, 16), "little")

    def _write_u128(self, c: wasmtime.Caller, ptr: int, value: int) -> None:
        self._write_mem(c, ptr, value.to_bytes(16, "little"))

    def _set_register(self, c: wasmtime.Caller, register_id: int, data: bytes) -> None:
        self.charge(c, self.cfg.write_register_base + self.cfg.write_register_byte * len(data))
        if len(data) > self.cfg.max_register_size:
            raise HostFailure("MemoryAccessViolation", f"register value of {len(data)} bytes is too large")
        old = self.registers.get(register_id)
        if old is None and len(self.registers) >= self.cfg.max_number_registers:
            raise HostFailure("MemoryAccessViolation", "too many registers")
        size = self.registers_size - (len(old) if old is not None else 0) + len(data)
        if size > self.cfg.registers_memory_limit:
            raise HostFailure("MemoryAccessViolation", "registers exceed their memory limit")
        self.registers[register_id] = data
        self.registers_size = size

    def _require_change(self, name: str) -> None:
        if self.ctx.is_view:
            raise HostFailure("ProhibitedInView", f"{name} is not allowed in a view call")

    def _log_room(self) -> int:
        return self.cfg.max_total_log_length - self.log_length

    def _log_too_long(self, extra: int) -> HostFailure:
        return HostFailure(
            "TotalLogLengthExceeded",
            f"total log length {self.log_length + extra} exceeds the limit {self.cfg.max_total_log_length}",
        )

    def _utf8(self, c: wasmtime.Caller, length: int, ptr: int) -> str:
        self.charge(c, self.cfg.utf8_decoding_base)
        room = self._log_room()
        if length != U64_MAX:
            if length > room:
                raise self._log_too_long(length)
            buf = self._read_mem(c, ptr, length)
        else:
            mem = self._mem()
            end = min(mem.data_len(c), ptr + room + 1)
            chunk = bytes(mem.read(c, ptr, end)) if end > ptr else b""
            nul = chunk.find(b"\0")
            if nul < 0:
                if end == ptr + room + 1:
                    raise self._log_too_long(room + 1)
                raise HostFailure("MemoryAccessViolation", "unterminated string runs out of memory")
            buf = chunk[:nul]
            self.charge(c, (self.cfg.read_memory_base + self.cfg.read_memory_byte) * (nul + 1))
        self.charge(c, self.cfg.utf8_decoding_byte * len(buf))
        try:
            return buf.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise HostFailure("BadUTF8", "string is not valid UTF-8") from exc

    def _utf16(self, c: wasmtime.Caller, length: int, ptr: int) -> str:
        self.charge(c, self.cfg.utf16_decoding_base)
        room = self._log_room()
        if length == U64_MAX:
            mem = self._mem()
            end = min(mem.data_len(c), ptr + room + 2)
            chunk = bytes(mem.read(c, ptr, end)) if end > ptr else b""
            length = next((i for i in range(0, len(chunk) - 1, 2) if chunk[i : i + 2] == b"\0\0"), -1)
            if length < 0:
                if end == ptr + room + 2:
                    raise self._log_too_long(room + 2)
                raise HostFailure("MemoryAccessViolation", "unterminated string runs out of memory")
            buf = chunk[:length]
        else:
            buf = self._read_mem(c, ptr, length)
        if len(buf) % 2:
            raise HostFailure("BadUTF16", "UTF-16 string has an odd number of bytes")
        if len(buf) > room:
            raise self._log_too_long(len(buf))
        self.charge(c, self.cfg.utf16_decoding_byte * len(buf))
        try:
            return buf.decode("utf-16-le")
        except UnicodeDecodeError as exc:
            raise HostFailure("BadUTF16", "string is not valid UTF-16") from exc

    def _push_log(self, c: wasmtime.Caller, message: str) -> None:
        size = len(message.encode("utf-8"))
        self.charge(c, self.cfg.log_base + self.cfg.log_byte * size)
        if self.log_length + size > self.cfg.max_total_log_length:
            raise self._log_too_long(size)
        self.log_length += size
        self.logs.append(message)

    def _check_log_count(self) -> None:
        if len(self.logs) >= self.cfg.max_number_logs:
            raise HostFailure("NumberOfLogsExceeded", f"more than {self.cfg.max_number_logs} logs")

    def _account_id(self, c: wasmtime.Caller, ptr: int, length: int) -> str:
        raw = self._read_input(c, ptr, length)
        self.charge(c, self.cfg.utf8_decoding_base + self.cfg.utf8_decoding_byte * len(raw))
        try:
            account_id = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise HostFailure("BadUTF8", "account id is not valid UTF-8") from exc
        if not (2 <= len(account_id) <= 64 and _ACCOUNT_ID_RE.match(account_id)):
            raise HostFailure("InvalidAccountId", f"{account_id!r} is not a valid account id")
        return account_id

    def _public_key(self, c: wasmtime.Caller, ptr: int, length: int) -> bytes:
        key = self._read_input(c, ptr, length)
        if not ((len(key) == 33 and key[0] == 0) or (len(key) == 65 and key[0] == 1)):
            raise HostFailure("InvalidPublicKey", "public key must be borsh: 0 + 32 bytes or 1 + 64 bytes")
        return key

    def _method_name(self, raw: bytes) -> str:
        if not raw:
            raise HostFailure("EmptyMethodName", "method name is empty")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise HostFailure("BadUTF8", "method name is not valid UTF-8") from exc

    def _push_promise(self, promise: int | _Join) -> int:
        self.promises.append(promise)
        if len(self.promises) > self.cfg.max_promises_per_function_call_action:
            raise HostFailure(
                "NumberPromisesExceeded",
                f"more than {self.cfg.max_promises_per_function_call_action} promises in one call",
            )
        return len(self.promises) - 1

    def _promise(self, promise_idx: int) -> int | _Join:
        if promise_idx >= len(self.promises):
            raise HostFailure("InvalidPromiseIndex", f"promise index {promise_idx} does not exist")
        return self.promises[promise_idx]

    def _receipt_of(self, promise_idx: int) -> int:
        promise = self._promise(promise_idx)
        if isinstance(promise, _Join):
            raise HostFailure("CannotAppendActionToJointPromise", "actions cannot be added to promise_and")
        return promise

    def _deduct(self, amount: int) -> None:
        if amount > self.balance:
            raise HostFailure("BalanceExceeded", f"attaching {amount} exceeds the balance {self.balance}")
        self.balance -= amount

    def _new_receipt(self, c: wasmtime.Caller, receipt: _Receipt) -> int:
        deps = len(receipt.depends_on)
        if deps > self.cfg.max_number_input_data_dependencies:
            raise HostFailure(
                "NumberInputDataDependenciesExceeded",
                f"{deps} dependencies exceed the limit {self.cfg.max_number_input_data_dependencies}",
            )
        # nearcore's pay_gas_for_new_receipt: data receipts' send and exec fees are burnt right away.
        cfg = self.cfg
        burn = cfg.action_receipt.send(receipt.receiver_id == self.ctx.current_account_id)
        for dep in receipt.depends_on:
            dep_sir = self.receipts[dep].receiver_id == receipt.receiver_id
            burn += cfg.data_receipt_base.send(dep_sir) + cfg.data_receipt_base.execution
        self.charge(c, burn, cfg.action_receipt.execution)
        self.receipts.append(receipt)
        return self._push_promise(len(self.receipts) - 1)

    def _add_action(self, c: wasmtime.Caller, promise_idx: int, action: Action, attached_gas: int = 0) -> int:
        """Append `action` to a promise: burn its send fee, reserve its execution fee and attached gas."""
        receipt = self._receipt_of(promise_idx)
        receiver = self.receipts[receipt].receiver_id
        sir = receiver == self.ctx.current_account_id
        send = fees.action_send_fee(action, sir, receiver, self.cfg)
        self.charge(c, send, fees.action_exec_fee(action, receiver, self.cfg) + attached_gas)
        self.receipts[receipt].actions.append(action)
        return receipt

    def _trie_node_cost(self, key: bytes) -> int:
        """nearcore (flat storage): dereferencing a stored value touches one trie node; a value this call
        wrote itself is served from the pending changes for free. Lookups by key cost no trie nodes."""
        return 0 if key in self.writes else self.cfg.touching_trie_node

    def _get(self, key: bytes) -> bytes | None:
        if key in self.writes:
            return self.writes[key]
        return self.base_storage.get(key)

    def _storage_key(self, c: wasmtime.Caller, ptr: int, length: int) -> bytes:
        key = self._read_input(c, ptr, length)
        if len(key) > self.cfg.max_length_storage_key:
            raise HostFailure("KeyLengthExceeded", f"key of {len(key)} bytes exceeds {self.cfg.max_length_storage_key}")
        return key

    def _unsupported(self, name: str) -> HostFailure:
        return HostFailure("UnsupportedHostFunction", f"{name} is not modelled by the devnet (see devnet/README.md)")

    # ---------------------------------------------------------- registers

    def _h_read_register(self, c: wasmtime.Caller, register_id: int, ptr: int) -> None:
        self.charge(c, self.cfg.base)
        data = self.registers.get(register_id)
        if data is None:
            raise HostFailure("InvalidRegisterId", f"register {register_id} is not set")
        self.charge(c, self.cfg.read_register_base + self.cfg.read_register_byte * len(data))
        self._write_mem(c, ptr, data)

    def _h_register_len(self, c: wasmtime.Caller, register_id: int) -> int:
        self.charge(c, self.cfg.base)
        data = self.registers.get(register_id)
        return U64_MAX if data is None else len(data)

    def _h_write_register(self, c: wasmtime.Caller, register_id: int, length: int, ptr: int) -> None:
        self.charge(c, self.cfg.base)
        self._set_register(c, register_id, self._read_mem(c, ptr, length))

    # ------------------------------------------------------------ context

    def _h_current_account_id(self, c: wasmtime.Caller, register_id: int) -> None:
        self.charge(c, self.cfg.base)
        self._set_register(c, register_id, self.ctx.current_account_id.encode())

    def _h_signer_account_id(self, c: wasmtime.Caller, register_id: int) -> None:
        self.charge(c, self.cfg.base)
        self._require_change("signer_account_id")
        self._set_register(c, register_id, self.ctx.signer_account_id.encode())

    def _h_signer_account_pk(self, c: wasmtime.Caller, register_id: int) -> None:
        self.charge(c, self.cfg.base)
        self._require_change("signer_account_pk")
        self._set_register(c, register_id, self.ctx.signer_account_pk)

    def _h_predecessor_account_id(self, c: wasmtime.Caller, register_id: int) -> None:
        self.charge(c, self.cfg.base)
        self._require_change("predecessor_account_id")
        self._set_register(c, register_id, self.ctx.predecessor_account_id.encode())

    def _h_input(self, c: wasmtime.Caller, register_id: int) -> None:
        self.charge(c, self.cfg.base)
        self._set_register(c, register_id, self.ctx.input)

    def _h_block_index(self, c: wasmtime.Caller) -> int:
        self.charge(c, self.cfg.base)
        return self.ctx.block_height

    def _h_block_timestamp(self, c: wasmtime.Caller) -> int:
        self.charge(c, self.cfg.base)
        return self.ctx.block_timestamp_ns

    def _h_epoch_height(self, c: wasmtime.Caller) -> int:
        self.charge(c, self.cfg.base)
        return self.ctx.epoch_height

    def _h_storage_usage(self, c: wasmtime.Caller) -> int:
        self.charge(c, self.cfg.base)
        return self.storage_usage

    # ---------------------------------------------------------- economics

    def _h_account_balance(self, c: wasmtime.Caller, ptr: int) -> None:
        self.charge(c, self.cfg.base)
        self._write_u128(c, ptr, self.balance)

    def _h_account_locked_balance(self, c: wasmtime.Caller, ptr: int) -> None:
        self.charge(c, self.cfg.base)
        self._write_u128(c, ptr, self.ctx.account_locked_balance)

    def _h_attached_deposit(self, c: wasmtime.Caller, ptr: int) -> None:
        self.charge(c, self.cfg.base)
        self._write_u128(c, ptr, self.ctx.attached_deposit)

    def _h_prepaid_gas(self, c: wasmtime.Caller) -> int:
        self.charge(c, self.cfg.base)
        self._require_change("prepaid_gas")
        return self.ctx.prepaid_gas

    def _h_used_gas(self, c: wasmtime.Caller) -> int:
        self.charge(c, self.cfg.base)
        self._require_change("used_gas")
        return self.used

    # --------------------------------------------------------------- math

    def _h_random_seed(self, c: wasmtime.Caller, register_id: int) -> None:
        self.charge(c, self.cfg.base)
        self._set_register(c, register_id, self.ctx.random_seed)

    def _hash(
        self,
        c: wasmtime.Caller,
        fn: Callable[[bytes], bytes],
        base: int,
        per_byte: int,
        args: tuple[int, int, int],
    ) -> None:
        length, ptr, register_id = args
        self.charge(c, base)
        value = self._read_input(c, ptr, length)
        self.charge(c, per_byte * len(value))
        self._set_register(c, register_id, fn(value))

    def _h_sha256(self, c: wasmtime.Caller, length: int, ptr: int, register_id: int) -> None:
        cfg = self.cfg
        self._hash(c, _crypto.sha256, cfg.sha256_base, cfg.sha256_byte, (length, ptr, register_id))

    def _h_keccak256(self, c: wasmtime.Caller, length: int, ptr: int, register_id: int) -> None:
        cfg = self.cfg
        self._hash(c, _crypto.keccak256, cfg.keccak256_base, cfg.keccak256_byte, (length, ptr, register_id))

    def _h_keccak512(self, c: wasmtime.Caller, length: int, ptr: int, register_id: int) -> None:
        cfg = self.cfg
        self._hash(c, _crypto.keccak512, cfg.keccak512_base, cfg.keccak512_byte, (length, ptr, register_id))

    def _h_ripemd160(self, c: wasmtime.Caller, length: int, ptr: int, register_id: int) -> None:
        self.charge(c, self.cfg.ripemd160_base)
        value = self._read_input(c, ptr, length)
        self.charge(c, self.cfg.ripemd160_block * ((len(value) + 8) // 64 + 1))
        self._set_register(c, register_id, _crypto.ripemd160(value))

    def _h_ecrecover(
        self,
        c: wasmtime.Caller,
        hash_len: int,
        hash_ptr: int,
        sig_len: int,
        sig_ptr: int,
        v: int,
        malleability_flag: int,
        register_id: int,
    ) -> int:
        self.charge(c, self.cfg.ecrecover_base)
        signature = self._read_input(c, sig_ptr, sig_len)
        if len(signature) != 64:
            raise HostFailure("ECRecoverError", f"signature must be 64 bytes, got {len(signature)}")
        if v >= 4:
            raise HostFailure("ECRecoverError", f"recovery byte must be 0 to 3, got {v}")
        msg_hash = self._read_input(c, hash_ptr, hash_len)
        if len(msg_hash) != 32:
            raise HostFailure("ECRecoverError", f"hash must be 32 bytes, got {len(msg_hash)}")
        if malleability_flag not in (0, 1):
            raise HostFailure("ECRecoverError", f"malleability flag must be 0 or 1, got {malleability_flag}")
        if not _crypto.secp256k1_signature_ok(signature, malleability_flag == 1):
            return 0
        public_key = _crypto.ecrecover(msg_hash, signature, v)
        if public_key is None:
            return 0
        self._set_register(c, register_id, public_key)
        return 1

    def _h_ed25519_verify(
        self,
        c: wasmtime.Caller,
        sig_len: int,
        sig_ptr: int,
        msg_len: int,
        msg_ptr: int,
        key_len: int,
        key_ptr: int,
    ) -> int:
        self.charge(c, self.cfg.ed25519_verify_base)
        signature = self._read_input(c, sig_ptr, sig_len)
        if len(signature) != 64:
            raise HostFailure("Ed25519VerifyInvalidInput", "invalid signature length")
        message = self._read_input(c, msg_ptr, msg_len)
        self.charge(c, self.cfg.ed25519_verify_byte * len(message))
        public_key = self._read_input(c, key_ptr, key_len)
        if len(public_key) != 32:
            raise HostFailure("Ed25519VerifyInvalidInput", "invalid public key length")
        return int(_crypto.ed25519_verify(signature, message, public_key))

    # ------------------------------------------------------ miscellaneous

    def _h_value_return(self, c: wasmtime.Caller, length: int, ptr: int) -> None:
        self.charge(c, self.cfg.base)
        value = self._read_input(c, ptr, length)
        if len(value) > self.cfg.max_length_returned_data:
            raise HostFailure(
                "ReturnedValueLengthExceeded",
                f"{len(value)} bytes exceed the limit {self.cfg.max_length_returned_data}",
            )
        # nearcore: the value travels as a data receipt to each receiver, priced per byte.
        cfg = self.cfg
        per_byte = sum(
            cfg.data_receipt_byte.send(r == self.ctx.current_account_id) + cfg.data_receipt_byte.execution
            for r in self.ctx.output_data_receivers
        )
        self.charge(c, per_byte * len(value))
        self.return_value = value
        self.return_receipt = None

    def _h_panic(self, c: wasmtime.Caller) -> None:
        self.charge(c, self.cfg.base)
        raise HostFailure("GuestPanic", "explicit guest panic")

    def _h_panic_utf8(self, c: wasmtime.Caller, length: int, ptr: int) -> None:
        self.charge(c, self.cfg.base)
        raise HostFailure("GuestPanic", self._utf8(c, length, ptr))

    def _h_log_utf8(self, c: wasmtime.Caller, length: int, ptr: int) -> None:
        self.charge(c, self.cfg.base)
        self._check_log_count()
        self._push_log(c, self._utf8(c, length, ptr))

    def _h_log_utf16(self, c: wasmtime.Caller, length: int, ptr: int) -> None:
        self.charge(c, self.cfg.base)
        self._check_log_count()
        self._push_log(c, self._utf16(c, length, ptr))

    def _h_abort(self, c: wasmtime.Caller, msg_ptr: int, filename_ptr: int, line: int, col: int) -> None:
        """AssemblyScript's abort: length-prefixed UTF-16 strings; logs and then panics."""
        self.charge(c, self.cfg.base)
        if msg_ptr < 4 or filename_ptr < 4:
            raise HostFailure("BadUTF16", "abort string pointers must be at least 4")
        self._check_log_count()
        msg_len = int.from_bytes(self._read_mem(c, msg_ptr - 4, 4), "little")
        file_len = int.from_bytes(self._read_mem(c, filename_ptr - 4, 4), "little")
        msg = self._utf16(c, msg_len, msg_ptr)
        filename = self._utf16(c, file_len, filename_ptr)
        message = f'{msg}, filename: "{filename}" line: {line} col: {col}'
        self._push_log(c, f"ABORT: {message}")
        raise HostFailure("GuestPanic", message)

    # ----------------------------------------------------------- promises

    def _h_promise_create(
        self,
        c: wasmtime.Caller,
        account_len: int,
        account_ptr: int,
        method_len: int,
        method_ptr: int,
        args_len: int,
        args_ptr: int,
        amount_ptr: int,
        gas: int,
    ) -> int:
        promise = self._h_promise_batch_create(c, account_len, account_ptr)
        self._h_promise_batch_action_function_call_weight(
            c, promise, method_len, method_ptr, args_len, args_ptr, amount_ptr, gas, 0
        )
        return promise

    def _h_promise_then(
        self,
        c: wasmtime.Caller,
        promise_idx: int,
        account_len: int,
        account_ptr: int,
        method_len: int,
        method_ptr: int,
        args_len: int,
        args_ptr: int,
        amount_ptr: int,
        gas: int,
    ) -> int:
        promise = self._h_promise_batch_then(c, promise_idx, account_len, account_ptr)
        self._h_promise_batch_action_function_call_weight(
            c, promise, method_len, method_ptr, args_len, args_ptr, amount_ptr, gas, 0
        )
        return promise

    def _h_promise_and(self, c: wasmtime.Caller, ptr: int, count: int) -> int:
        self.charge(c, self.cfg.base)
        self._require_change("promise_and")
        self.charge(c, self.cfg.promise_and_base + self.cfg.promise_and_per_promise * count * 8)
        raw = self._read_mem(c, ptr, count * 8)
        receipts: list[int] = []
        for i in range(count):
            promise = self._promise(int.from_bytes(raw[i * 8 : i * 8 + 8], "little"))
            receipts.extend(promise.receipts if isinstance(promise, _Join) else (promise,))
            if len(receipts) > self.cfg.max_number_input_data_dependencies:
                raise HostFailure(
                    "NumberInputDataDependenciesExceeded",
                    f"{len(receipts)} dependencies exceed {self.cfg.max_number_input_data_dependencies}",
                )
        return self._push_promise(_Join(tuple(receipts)))

    def _h_promise_batch_create(self, c: wasmtime.Caller, account_len: int, account_ptr: int) -> int:
        self.charge(c, self.cfg.base)
        self._require_change("promise_batch_create")
        account_id = self._account_id(c, account_ptr, account_len)
        return self._new_receipt(c, _Receipt(receiver_id=account_id))

    def _h_promise_batch_then(self, c: wasmtime.Caller, promise_idx: int, account_len: int, account_ptr: int) -> int:
        self.charge(c, self.cfg.base)
        self._require_change("promise_batch_then")
        account_id = self._account_id(c, account_ptr, account_len)
        promise = self._promise(promise_idx)
        deps = list(promise.receipts) if isinstance(promise, _Join) else [promise]
        return self._new_receipt(c, _Receipt(receiver_id=account_id, depends_on=deps))

    def _h_promise_batch_action_create_account(self, c: wasmtime.Caller, promise_idx: int) -> None:
        self.charge(c, self.cfg.base)
        self._require_change("promise_batch_action_create_account")
        self._add_action(c, promise_idx, CreateAccount())

    def _h_promise_batch_action_deploy_contract(
        self, c: wasmtime.Caller, promise_idx: int, code_len: int, code_ptr: int
    ) -> None:
        self.charge(c, self.cfg.base)
        self._require_change("promise_batch_action_deploy_contract")
        code = self._read_input(c, code_ptr, code_len)
        if len(code) > self.cfg.max_contract_size:
            raise HostFailure(
                "ContractSizeExceeded", f"{len(code)} bytes exceed the limit {self.cfg.max_contract_size}"
            )
        self._add_action(c, promise_idx, DeployContract(code=code))

    def _h_promise_batch_action_function_call(
        self,
        c: wasmtime.Caller,
        promise_idx: int,
        method_len: int,
        method_ptr: int,
        args_len: int,
        args_ptr: int,
        amount_ptr: int,
        gas: int,
    ) -> None:
        self._h_promise_batch_action_function_call_weight(
            c, promise_idx, method_len, method_ptr, args_len, args_ptr, amount_ptr, gas, 0
        )

    def _h_promise_batch_action_function_call_weight(
        self,
        c: wasmtime.Caller,
        promise_idx: int,
        method_len: int,
        method_ptr: int,
        args_len: int,
        args_ptr: int,
        amount_ptr: int,
        gas: int,
        weight: int,
    ) -> None:
        self.charge(c, self.cfg.base)
        self._require_change("promise_batch_action_function_call")
        amount = self._read_u128(c, amount_ptr)
        method = self._method_name(self._read_input(c, method_ptr, method_len))
        args = self._read_input(c, args_ptr, args_len)
        self._receipt_of(promise_idx)
        self._deduct(amount)
        action = FunctionCall(method_name=method, args=args, gas=gas, deposit=amount)
        receipt = self._add_action(c, promise_idx, action, gas)
        actions = self.receipts[receipt].actions
        if weight:
            self.weights.append((receipt, len(actions) - 1, weight))

    def _h_promise_batch_action_transfer(self, c: wasmtime.Caller, promise_idx: int, amount_ptr: int) -> None:
        self.charge(c, self.cfg.base)
        self._require_change("promise_batch_action_transfer")
        amount = self._read_u128(c, amount_ptr)
        self._receipt_of(promise_idx)
        self._deduct(amount)
        self._add_action(c, promise_idx, Transfer(deposit=amount))

    def _h_promise_batch_action_stake(self, c: wasmtime.Caller, *_: int) -> None:
        self.charge(c, self.cfg.base)
        self._require_change("promise_batch_action_stake")
        raise self._unsupported("promise_batch_action_stake")

    def _h_promise_batch_action_add_key_with_full_access(
        self, c: wasmtime.Caller, promise_idx: int, key_len: int, key_ptr: int, nonce: int
    ) -> None:
        self.charge(c, self.cfg.base)
        self._require_change("promise_batch_action_add_key_with_full_access")
        key = self._public_key(c, key_ptr, key_len)
        action = AddKey(public_key=key, nonce=nonce, permission=FullAccess())
        self._add_action(c, promise_idx, action)

    def _h_promise_batch_action_add_key_with_function_call(
        self,
        c: wasmtime.Caller,
        promise_idx: int,
        key_len: int,
        key_ptr: int,
        nonce: int,
        allowance_ptr: int,
        receiver_len: int,
        receiver_ptr: int,
        names_len: int,
        names_ptr: int,
    ) -> None:
        self.charge(c, self.cfg.base)
        self._require_change("promise_batch_action_add_key_with_function_call")
        key = self._public_key(c, key_ptr, key_len)
        allowance = self._read_u128(c, allowance_ptr)
        receiver_id = self._account_id(c, receiver_ptr, receiver_len)
        raw_names = self._read_input(c, names_ptr, names_len)
        names = tuple(self._method_name(n) for n in raw_names.split(b",")) if raw_names else ()
        permission = FunctionCallPermission(receiver_id=receiver_id, method_names=names, allowance=allowance or None)
        action = AddKey(public_key=key, nonce=nonce, permission=permission)
        self._add_action(c, promise_idx, action)

    def _h_promise_batch_action_delete_key(
        self, c: wasmtime.Caller, promise_idx: int, key_len: int, key_ptr: int
    ) -> None:
        self.charge(c, self.cfg.base)
        self._require_change("promise_batch_action_delete_key")
        key = self._public_key(c, key_ptr, key_len)
        self._add_action(c, promise_idx, DeleteKey(public_key=key))

    def _h_promise_batch_action_delete_account(
        self, c: wasmtime.Caller, promise_idx: int, beneficiary_len: int, beneficiary_ptr: int
    ) -> None:
        self.charge(c, self.cfg.base)
        self._require_change("promise_batch_action_delete_account")
        beneficiary = self._account_id(c, beneficiary_ptr, beneficiary_len)
        action = DeleteAccount(beneficiary_id=beneficiary)
        self._add_action(c, promise_idx, action)

    def _h_promise_yield_create(
        self,
        c: wasmtime.Caller,
        method_len: int,
        method_ptr: int,
        args_len: int,
        args_ptr: int,
        gas: int,
        weight: int,
        register_id: int,
    ) -> int:
        self.charge(c, self.cfg.base)
        self._require_change("promise_yield_create")
        method = self._method_name(self._read_input(c, method_ptr, method_len))
        args = self._read_input(c, args_ptr, args_len)
        size = len(method.encode()) + len(args)
        self.charge(c, self.cfg.yield_create_base + self.cfg.yield_create_byte * size)
        data_id = yield_data_id(self.ctx.receipt_id, self.yields_created)
        self.yields_created += 1
        receipt = _Receipt(receiver_id=self.ctx.current_account_id, yield_data_id=data_id)
        promise = self._new_receipt(c, receipt)
        self._add_action(c, promise, FunctionCall(method_name=method, args=args, gas=gas, deposit=0), gas)
        if weight:
            self.weights.append((len(self.receipts) - 1, 0, weight))
        self._set_register(c, register_id, data_id)
        return promise

    def _h_promise_yield_resume(
        self, c: wasmtime.Caller, data_id_len: int, data_id_ptr: int, payload_len: int, payload_ptr: int
    ) -> int:
        self.charge(c, self.cfg.base)
        self._require_change("promise_yield_resume")
        data_id = self._read_input(c, data_id_ptr, data_id_len)
        payload = self._yield_payload(c, payload_ptr, payload_len)
        if len(data_id) != 32:
            raise HostFailure("DataIdMalformed", f"data id must be 32 bytes, got {len(data_id)}")
        return self._resume(c, data_id, payload)

    def _yield_payload(self, c: wasmtime.Caller, ptr: int, length: int) -> bytes:
        payload = self._read_input(c, ptr, length)
        if len(payload) > self.cfg.max_yield_payload_size:
            raise HostFailure(
                "YieldPayloadLength",
                f"yield payload of {len(payload)} bytes exceeds {self.cfg.max_yield_payload_size}",
            )
        return payload

    def _resume(self, c: wasmtime.Caller, data_id: bytes, payload: bytes) -> int:
        self.charge(c, self.cfg.yield_resume_base + self.cfg.yield_resume_byte * len(payload))
        if any(r.data_id == data_id for r in self.resumes):
            return 0  # already resumed by this call: a second resume would be dropped by the chain
        created_here = any(r.yield_data_id == data_id for r in self.receipts)
        if not created_here and not self.state.yield_is_pending(self.ctx.current_account_id, data_id):
            return 0
        self.resumes.append(YieldResume(data_id=data_id, payload=payload))
        return 1

    def _yield_id_data_id(self, yield_id: bytes) -> bytes:
        """The data id behind a contract-chosen yield id: one per (account, yield id), as nearcore's
        YieldIdToDataId mapping gives (the devnet derives it instead of storing it)."""
        return hashlib.sha256(b"yield-id\0" + self.ctx.current_account_id.encode() + b"\0" + yield_id).digest()

    def _yield_id(self, c: wasmtime.Caller, ptr: int, length: int) -> bytes:
        yield_id = self._read_input(c, ptr, length)
        if len(yield_id) != 32:
            raise HostFailure("YieldIdMalformed", f"yield id must be 32 bytes, got {len(yield_id)}")
        return yield_id

    def _h_promise_yield_create_with_id(
        self,
        c: wasmtime.Caller,
        method_len: int,
        method_ptr: int,
        args_len: int,
        args_ptr: int,
        amount_ptr: int,
        gas: int,
        weight: int,
        yield_id_len: int,
        yield_id_ptr: int,
    ) -> int:
        """Like promise_yield_create, under a yield id the contract chooses (with a deposit for the
        callback); u64::MAX without creating anything while a yield with that id is pending."""
        self.charge(c, self.cfg.base + self.cfg.yield_create_with_id_base)
        self._require_change("promise_yield_create_with_id")
        amount = self._read_u128(c, amount_ptr)
        method = self._method_name(self._read_input(c, method_ptr, method_len))
        args = self._read_input(c, args_ptr, args_len)
        data_id = self._yield_id_data_id(self._yield_id(c, yield_id_ptr, yield_id_len))
        self.charge(c, self.cfg.yield_create_byte * (len(method.encode()) + len(args)))
        account = self.ctx.current_account_id
        created_here = any(r.yield_data_id == data_id for r in self.receipts)
        if created_here or self.state.yield_is_pending(account, data_id):
            return U64_MAX
        promise = self._new_receipt(c, _Receipt(receiver_id=account, yield_data_id=data_id))
        self._add_action(c, promise, FunctionCall(method_name=method, args=args, gas=gas, deposit=amount), gas)
        self._deduct(amount)
        if weight:
            self.weights.append((len(self.receipts) - 1, 0, weight))
        return promise

    def _h_promise_yield_resume_with_yield_id(
        self, c: wasmtime.Caller, yield_id_len: int, yield_id_ptr: int, payload_len: int, payload_ptr: int
    ) -> int:
        self.charge(c, self.cfg.base)
        self._require_change("promise_yield_resume_with_yield_id")
        yield_id = self._yield_id(c, yield_id_ptr, yield_id_len)
        payload = self._yield_payload(c, payload_ptr, payload_len)
        return self._resume(c, self._yield_id_data_id(yield_id), payload)

    def _h_promise_results_count(self, c: wasmtime.Caller) -> int:
        self.charge(c, self.cfg.base)
        self._require_change("promise_results_count")
        return len(self.ctx.promise_results)

    def _h_promise_result(self, c: wasmtime.Caller, result_idx: int, register_id: int) -> int:
        self.charge(c, self.cfg.base)
        self._require_change("promise_result")
        if result_idx >= len(self.ctx.promise_results):
            raise HostFailure("InvalidPromiseResultIndex", f"promise result {result_idx} does not exist")
        result = self.ctx.promise_results[result_idx]
        if result.status == "successful":
            self._set_register(c, register_id, result.data)
            return 1
        return 2

    def _h_promise_return(self, c: wasmtime.Caller, promise_idx: int) -> None:
        self.charge(c, self.cfg.base + self.cfg.promise_return)
        self._require_change("promise_return")
        promise = self._promise(promise_idx)
        if isinstance(promise, _Join):
            raise HostFailure("CannotReturnJointPromise", "a promise_and cannot be returned")
        self.return_receipt = promise
        self.return_value = None

    # ------------------------------------------------------------ storage

    def _h_storage_write(
        self, c: wasmtime.Caller, key_len: int, key_ptr: int, value_len: int, value_ptr: int, register_id: int
    ) -> int:
        self.charge(c, self.cfg.base)
        self._require_change("storage_write")
        self.charge(c, self.cfg.storage_write_base)
        key = self._storage_key(c, key_ptr, key_len)
        value = self._read_input(c, value_ptr, value_len)
        if len(value) > self.cfg.max_length_storage_value:
            raise HostFailure(
                "ValueLengthExceeded",
                f"value of {len(value)} bytes exceeds {self.cfg.max_length_storage_value}",
            )
        cfg = self.cfg
        self.charge(c, cfg.storage_write_key_byte * len(key) + cfg.storage_write_value_byte * len(value))
        old = self._get(key)
        ttn = self._trie_node_cost(key)
        self.writes[key] = value
        if old is None:
            self.storage_usage += len(key) + len(value) + cfg.storage_num_extra_bytes_record
            return 0
        self.charge(c, cfg.storage_write_evicted_byte * len(old) + ttn)
        self.storage_usage += len(value) - len(old)
        self._set_register(c, register_id, old)
        return 1

    def _h_storage_read(self, c: wasmtime.Caller, key_len: int, key_ptr: int, register_id: int) -> int:
        self.charge(c, self.cfg.base + self.cfg.storage_read_base)
        key = self._storage_key(c, key_ptr, key_len)
        self.charge(c, self.cfg.storage_read_key_byte * len(key))
        value = self._get(key)
        if value is None:
            return 0
        self.charge(c, self.cfg.storage_read_value_byte * len(value) + self._trie_node_cost(key))
        self._set_register(c, register_id, value)
        return 1

    def _h_storage_remove(self, c: wasmtime.Caller, key_len: int, key_ptr: int, register_id: int) -> int:
        self.charge(c, self.cfg.base)
        self._require_change("storage_remove")
        self.charge(c, self.cfg.storage_remove_base)
        key = self._storage_key(c, key_ptr, key_len)
        self.charge(c, self.cfg.storage_remove_key_byte * len(key))
        old = self._get(key)
        if old is None:
            return 0
        self.charge(c, self.cfg.storage_remove_ret_value_byte * len(old) + self._trie_node_cost(key))
        self.writes[key] = None
        self.storage_usage -= len(key) + len(old) + self.cfg.storage_num_extra_bytes_record
        self._set_register(c, register_id, old)
        return 1

    def _h_storage_has_key(self, c: wasmtime.Caller, key_len: int, key_ptr: int) -> int:
        self.charge(c, self.cfg.base + self.cfg.storage_has_key_base)
        key = self._storage_key(c, key_ptr, key_len)
        self.charge(c, self.cfg.storage_has_key_byte * len(key))
        return int(self._get(key) is not None)

    def _h_storage_iter_prefix(self, c: wasmtime.Caller, *_: int) -> int:
        raise HostFailure("Deprecated", "storage_iter_prefix is deprecated")

    def _h_storage_iter_range(self, c: wasmtime.Caller, *_: int) -> int:
        raise HostFailure("Deprecated", "storage_iter_range is deprecated")

    def _h_storage_iter_next(self, c: wasmtime.Caller, *_: int) -> int:
        raise HostFailure("Deprecated", "storage_iter_next is deprecated")

    # ---------------------------------------------------------- validator

    def _h_validator_stake(self, c: wasmtime.Caller, account_len: int, account_ptr: int, stake_ptr: int) -> None:
        """The devnet has no validators: every account's stake is 0 (what nearcore answers for a
        non-validator)."""
        self.charge(c, self.cfg.base + self.cfg.validator_stake_base)
        self._account_id(c, account_ptr, account_len)
        self._write_u128(c, stake_ptr, 0)

    def _h_validator_total_stake(self, c: wasmtime.Caller, stake_ptr: int) -> None:
        self.charge(c, self.cfg.base + self.cfg.validator_total_stake_base)
        self._write_u128(c, stake_ptr, 0)

    # ------------------------------------------------------------ outcome

    def _distribute_unused_gas(self) -> list[_Receipt]:
        """Split the prepaid gas left over among function calls that asked for a weight (nearcore)."""
        unused = self.prepaid - self.used
        if self.ctx.is_view or unused <= 0 or not self.weights:
            return self.receipts
        total = sum(w for _, _, w in self.weights)
        given = 0
        for n, (receipt, position, weight) in enumerate(self.weights):
            extra = unused - given if n == len(self.weights) - 1 else unused * weight // total
            given += extra
            action = self.receipts[receipt].actions[position]
            assert isinstance(action, FunctionCall)
            self.receipts[receipt].actions[position] = replace(action, gas=action.gas + extra)
        self.reserved += unused
        return self.receipts

    def success(self) -> Outcome:
        receipts = self._distribute_unused_gas()
        return Outcome(
            return_value=self.return_value,
            return_promise=self.return_receipt,
            logs=tuple(self.logs),
            receipts=tuple(
                NewReceipt(
                    index=i,
                    receiver_id=r.receiver_id,
                    actions=tuple(r.actions),
                    depends_on=tuple(r.depends_on),
                    yield_data_id=r.yield_data_id,
                )
                for i, r in enumerate(receipts)
            ),
            yield_resumes=tuple(self.resumes),
            storage_writes=dict(self.writes),
            gas_burnt=self.burnt,
            gas_used=self.used,
        )

    def failure(self, error: HostError) -> Outcome:
        burnt = self.burnt_on_error(error.kind)
        return Outcome(logs=tuple(self.logs), gas_burnt=burnt, gas_used=burnt, error=error)


def _unmodelled_handler(name: str) -> Callable[..., int | None]:
    def handler(self: Session, c: wasmtime.Caller, *_: int) -> int | None:
        self.charge(c, self.cfg.base)
        raise self._unsupported(name)

    return handler


_HANDLERS: dict[str, Callable[..., int | None]] = {
    name: getattr(Session, f"_h_{name}", None) or _unmodelled_handler(name) for name in HOST_FUNCTIONS
}
assert _UNSUPPORTED <= HOST_FUNCTIONS
