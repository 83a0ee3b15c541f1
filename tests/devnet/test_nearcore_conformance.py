"""Where a contract or a client can tell the devnet from nearcore: transaction and receipt validation,
fees, the gas reward, storage staking, yields resumed early. Runs the node (`devnet.node.chain.Node`)
block by block on real wasm (tests/devnet/contracts/conformance.wat); expected numbers are nearcore's
(protocol 85 parameter snapshot, tests/devnet/vm/fixtures/)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
import wasmtime

from devnet.config import NEAR, TGAS, DevnetConfig
from devnet.errors import InvalidTxError
from devnet.node.borsh import Transaction, encode_signed_transaction, encode_transaction
from devnet.node.chain import Node
from devnet.node.keys import KeyPair
from devnet.node.model import ACCOUNT_BASE_BYTES, ExecutionOutcome, key_record_size
from devnet.node.validation import validate_actions
from devnet.vm.types import (
    Action,
    AddKey,
    CreateAccount,
    DeleteAccount,
    DeployContract,
    FullAccess,
    FunctionCall,
    FunctionCallPermission,
    Transfer,
)

WAT = Path(__file__).parent / "contracts" / "conformance.wat"
ROOT, ALICE, BOB, CONTRACT = "test.near", "alice.test.near", "bob.test.near", "contract.test.near"
GAS_PRICE = 100_000_000
# nearcore protocol 85 (core/parameters snapshot): (send_sir, send_not_sir, execution)
RECEIPT = (108_059_500_000, 108_059_500_000, 108_059_500_000)
TRANSFER = (115_123_062_500, 115_123_062_500, 115_123_062_500)
FUNCTION_CALL = (200_000_000_000, 200_000_000_000, 780_000_000_000)
FUNCTION_CALL_BYTE = (2_235_934, 47_683_715, 2_235_934)
DEPLOY = (184_765_750_000, 184_765_750_000, 184_765_750_000)
DEPLOY_BYTE = (6_812_999, 47_683_715, 64_572_944)


class Chain:
    """A devnet node driven by hand: genesis accounts with keys, signed transactions, blocks."""

    def __init__(self) -> None:
        self.node = Node(DevnetConfig(port=0, block_interval_s=0, yield_timeout_blocks=5))
        self.keys = {a: KeyPair.generate() for a in (ROOT, ALICE, BOB, CONTRACT)}
        balances = {ROOT: 1_000 * NEAR, ALICE: 100 * NEAR, BOB: 100 * NEAR, CONTRACT: 100 * NEAR}
        wasm = bytes(wasmtime.wat2wasm(WAT.read_text()))
        self.node.genesis({a: (balances[a], k) for a, k in self.keys.items()}, {CONTRACT: wasm})
        self.nonces: dict[str, int] = {}

    def raw(self, signer: str, receiver: str, actions: list[Action], key: KeyPair | None = None) -> bytes:
        key = key or self.keys[signer]
        head = self.node.head
        assert head is not None
        nonce = self.nonces.get(signer, self.node.accounts[signer].keys[key.borsh_public_key].nonce) + 1
        self.nonces[signer] = nonce
        tx = Transaction(signer, key.borsh_public_key, nonce, receiver, head.hash, tuple(actions))
        return encode_signed_transaction(tx, b"\x00" + key.sign(hashlib.sha256(encode_transaction(tx)).digest()))

    def submit(self, signer: str, receiver: str, actions: list[Action], key: KeyPair | None = None) -> bytes:
        tx_hash, _ = self.node.submit(self.raw(signer, receiver, actions, key))
        return tx_hash

    def run(self, signer: str, receiver: str, actions: list[Action], key: KeyPair | None = None) -> list[Any]:
        """Submit and produce blocks until every receipt ran; returns [tx outcome, receipt outcomes...]."""
        tx_hash = self.submit(signer, receiver, actions, key)
        for _ in range(30):  # poll: one block per round
            self.node.produce_block()
            tx = self.node.txs.get(tx_hash)
            if tx is not None and tx.done_height is not None:
                self.node.produce_block()  # refunds, created with the last receipt, land in the next block
                return [tx.outcome, *self.node.iter_tx_outcomes(tx_hash)]
        raise AssertionError("transaction did not finish in 30 blocks")

    def balance(self, account_id: str) -> int:
        return self.node.accounts[account_id].balance


def call(method: str, args: bytes = b"{}", gas: int = 100 * TGAS, deposit: int = 0) -> FunctionCall:
    return FunctionCall(method_name=method, args=args, gas=gas, deposit=deposit)


def rejection(chain: Chain, actions: list[Action], receiver: str = BOB) -> Any:
    with pytest.raises(InvalidTxError) as err:
        chain.submit(ALICE, receiver, actions)
    return err.value.data


@pytest.fixture
def chain() -> Chain:
    return Chain()


def _fc_key(names: tuple[str, ...]) -> AddKey:
    perm = FunctionCallPermission(receiver_id=CONTRACT, method_names=names, allowance=None)
    return AddKey(public_key=KeyPair.generate().borsh_public_key, nonce=0, permission=perm)


@pytest.mark.parametrize(
    ("actions", "error"),
    [
        ([Transfer(1)] * 101, {"TotalNumberOfActionsExceeded": {"total_number_of_actions": 101, "limit": 100}}),
        (
            [call("noop", gas=600 * TGAS), call("noop", gas=600 * TGAS)],
            {"TotalPrepaidGasExceeded": {"total_prepaid_gas": 1_200 * TGAS, "limit": 1_000 * TGAS}},
        ),
        ([call("noop", gas=0)], "FunctionCallZeroAttachedGas"),
        ([call("a" * 257)], {"FunctionCallMethodNameLengthExceeded": {"length": 257, "limit": 256}}),
        ([_fc_key(("a" * 257,))], {"AddKeyMethodNameLengthExceeded": {"length": 257, "limit": 256}}),
        (
            [_fc_key(tuple(f"{i}" + "m" * 199 for i in range(10)))],
            {"AddKeyMethodNamesNumberOfBytesExceeded": {"total_number_of_bytes": 2010, "limit": 2000}},
        ),
        (
            [DeployContract(b"\0asm\x01\0\0\0")] * 11,
            {"TotalNumberOfDeployActionsExceeded": {"number_of_deploy_actions": 11, "limit": 10}},
        ),
        ([DeleteAccount(ALICE), Transfer(1)], "DeleteActionMustBeFinal"),
    ],
)
def test_transactions_are_validated_like_nearcore(chain: Chain, actions: list[Action], error: Any) -> None:
    assert rejection(chain, actions) == {"ActionsValidation": error}


def test_contract_and_transaction_size_limits(chain: Chain) -> None:
    too_big = DeployContract(b"\0" * (4 * 1024 * 1024 + 1))
    assert validate_actions([too_big]) == {"ContractSizeExceeded": {"size": 4 * 1024 * 1024 + 1, "limit": 4194304}}
    with pytest.raises(InvalidTxError) as err:
        chain.node.submit(chain.raw(ALICE, ALICE, [DeployContract(b"\0" * (1_572_864 + 1))]))
    assert "TransactionSizeExceeded" in err.value.data


def test_a_single_call_may_attach_up_to_1000_tgas(chain: Chain) -> None:
    outcomes = chain.run(ALICE, CONTRACT, [call("noop", gas=999 * TGAS)])
    assert outcomes[-1].status.kind == "SuccessValue"


def test_a_zero_gas_promise_fails_the_calling_receipt(chain: Chain) -> None:
    outcomes = chain.run(ALICE, CONTRACT, [call("zero_gas")])
    caller = outcomes[1]
    assert caller.status.failure == {
        "ActionError": {
            "index": 0,
            "kind": {"NewReceiptValidationError": {"ActionsValidation": "FunctionCallZeroAttachedGas"}},
        }
    }
    assert all(o.executor_id != CONTRACT or o is caller for o in outcomes[1:])  # noop() never ran


def test_transfer_fees_are_nearcores(chain: Chain) -> None:
    before = chain.balance(ALICE)
    tx, receipt = chain.run(ALICE, BOB, [Transfer(5)])[:2]
    fee = RECEIPT[1] + TRANSFER[1]  # 0.2231825625 Tgas: nearcore's well-known transfer cost
    assert tx.gas_burnt == fee == 223_182_562_500
    assert receipt.gas_burnt == RECEIPT[2] + TRANSFER[2]
    assert before - chain.balance(ALICE) == (tx.gas_burnt + receipt.gas_burnt) * GAS_PRICE + 5


def test_function_call_and_deploy_fees_are_nearcores(chain: Chain) -> None:
    tx = chain.run(ALICE, CONTRACT, [call("noop")])[0]
    assert tx.gas_burnt == RECEIPT[1] + FUNCTION_CALL[1] + FUNCTION_CALL_BYTE[1] * len("noop{}")
    code = bytes(wasmtime.wat2wasm('(module (func (export "run")))'))
    tx = chain.run(ALICE, ALICE, [DeployContract(code)])[0]  # to itself: the cheaper send_sir fee
    assert tx.gas_burnt == RECEIPT[0] + DEPLOY[0] + DEPLOY_BYTE[0] * len(code)
    tx, receipt = chain.run(ALICE, BOB, [DeployContract(code)])[:2]
    assert tx.gas_burnt == RECEIPT[1] + DEPLOY[1] + DEPLOY_BYTE[1] * len(code)
    assert receipt.status.kind == "Failure"  # alice may not deploy to bob: the exec fee is burnt anyway
    assert receipt.gas_burnt == RECEIPT[2] + DEPLOY[2] + DEPLOY_BYTE[2] * len(code)


def test_the_called_contract_earns_30_percent_of_the_gas_its_calls_burn(chain: Chain) -> None:
    before = chain.balance(CONTRACT)
    receipt: ExecutionOutcome = chain.run(ALICE, CONTRACT, [call("spin")])[1]
    exec_fees = RECEIPT[2] + FUNCTION_CALL[2] + FUNCTION_CALL_BYTE[2] * len("spin{}")
    vm_burnt = receipt.gas_burnt - exec_fees
    assert vm_burnt > 5 * 10**11  # 100k loop iterations of ~8 wasm operators
    reward = vm_burnt * 3 // 10 * GAS_PRICE
    assert chain.balance(CONTRACT) - before == reward
    assert receipt.tokens_burnt == receipt.gas_burnt * GAS_PRICE - reward


def test_a_failed_call_also_earns_the_reward_and_refunds_unburnt_gas(chain: Chain) -> None:
    before_contract, before_alice = chain.balance(CONTRACT), chain.balance(ALICE)
    outcomes = chain.run(ALICE, CONTRACT, [call("zero_gas", gas=100 * TGAS)])
    tx, receipt = outcomes[0], outcomes[1]
    exec_fees = RECEIPT[2] + FUNCTION_CALL[2] + FUNCTION_CALL_BYTE[2] * len("zero_gas{}")
    vm_burnt = receipt.gas_burnt - exec_fees
    assert chain.balance(CONTRACT) - before_contract == vm_burnt * 3 // 10 * GAS_PRICE
    # alice pays exactly what was burnt: everything attached but not burnt comes back
    assert before_alice - chain.balance(ALICE) == (tx.gas_burnt + receipt.gas_burnt) * GAS_PRICE


def test_zero_balance_accounts_and_the_storage_shortfall(chain: Chain) -> None:
    key = KeyPair.generate()
    zba = "zba.alice.test.near"
    outcomes = chain.run(ALICE, zba, [CreateAccount(), AddKey(key.borsh_public_key, 0, FullAccess())])
    assert outcomes[1].status.kind == "SuccessValue"  # NEP-448: 182 bytes <= 770 need no balance
    assert chain.balance(zba) == 0
    code = bytes(wasmtime.wat2wasm('(module (func (export "run") nop nop nop))')) + bytes(1000)
    poor = "poor.alice.test.near"
    actions: list[Action] = [
        CreateAccount(),
        Transfer(10**21),
        AddKey(key.borsh_public_key, 0, FullAccess()),
        DeployContract(code),
    ]
    receipt = chain.run(ALICE, poor, actions)[1]
    usage = ACCOUNT_BASE_BYTES + key_record_size(key.borsh_public_key, FullAccess()) + len(code)
    shortfall = usage * 10**19 - 10**21  # nearcore reports what is missing, not the total
    assert receipt.status.failure == {
        "ActionError": {"index": None, "kind": {"LackBalanceForState": {"account_id": poor, "amount": str(shortfall)}}}
    }


def _callback(outcomes: list[Any]) -> Any:
    return next(o for o in outcomes if o.logs and o.logs[0] in ("resumed", "timeout"))


def test_a_yield_resumed_in_the_call_that_created_it_resolves(chain: Chain) -> None:
    outcomes = chain.run(ALICE, CONTRACT, [call("yield_resume_same_call")])
    assert "resume_failed" not in outcomes[1].logs
    cb = _callback(outcomes)
    assert cb.logs == ("resumed",) and cb.status.value == b"same-call"


def test_a_yield_resumed_by_a_later_action_of_the_same_transaction_resolves(chain: Chain) -> None:
    outcomes = chain.run(CONTRACT, CONTRACT, [call("yield"), call("resume", args=b"early")])
    assert "resume_failed" not in outcomes[1].logs
    cb = _callback(outcomes)
    assert cb.logs == ("resumed",) and cb.status.value == b"early"
