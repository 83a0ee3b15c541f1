"""View results are memoised per block (devnet/node/chain.py): the same view at the same block runs the
contract once, a new block that changed the state gives the new value, a view at an older block
still answers from that block's state, and a different argument is a different entry."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from py_near.account import Account

from devnet import Devnet

CONTRACT = "contract.test.near"  # deployed at genesis (see conftest.py)
ALICE = "alice.test.near"
AccountFactory = Callable[..., Awaitable[Account]]

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_views_run_once_per_block_and_follow_state_changes(devnet: Devnet, near: AccountFactory) -> None:
    alice = await near(ALICE)
    runs: list[str] = []

    def count(node: Any) -> None:
        inner = node.vm.execute

        def execute(contract: Any, method: str, ctx: Any, state: Any) -> Any:
            runs.append(method)
            return inner(contract, method, ctx, state)

        node.vm.execute = execute

    await devnet.call(count)
    await alice.function_call(CONTRACT, "set", {"v": 1})

    async def view(args: bytes = b"") -> tuple[bytes, int]:
        def at_head(node: Any) -> tuple[bytes, int]:
            out = node.call_view(CONTRACT, "get", args)
            return out.return_value, node.head.height

        return await devnet.call(at_head)

    def twice(node: Any) -> list[bytes]:  # on the node's thread: no block in between
        return [node.call_view(CONTRACT, "get", b"").return_value for _ in range(2)] + [
            node.call_view(CONTRACT, "get", b"other args").return_value
        ]

    first, again, other = await devnet.call(twice)
    assert first == again == other and runs.count("get") == 2  # the repeat came from the memo
    _, h1 = await view()
    await alice.function_call(CONTRACT, "set", {"v": 2})
    changed, _ = await view()
    assert changed == b'{"v": 2}' and first == b'{"v": 1}'

    def at_block(node: Any) -> bytes:
        block = node.blocks[h1]
        acct = devnet.history.account_at(node, CONTRACT, block)
        return bytes(node.call_view(CONTRACT, "get", b"", at=block, account=acct).return_value)

    assert await devnet.call(at_block) == b'{"v": 1}'
