"""Finality (the final block lags the head) and a bounded window of past account states.

On NEAR a block becomes final about two blocks after it is produced (doomslug), so a client that
writes and then reads at `finality: final` can see the old value: the devnet reproduces that, so such
races show up locally. Queries at an older block answer from that block's state; past the window the
devnet answers nearcore's GARBAGE_COLLECTED_BLOCK error, as a non-archival node does.

History keeps, for every account changed in a block, a snapshot of it after that block. A snapshot
shares the contract storage dict with the live account: the node never writes storage in place on a
committed account (a receipt runs on a copy that replaces the account), so sharing is safe and a
snapshot costs the key table only. Memory is bounded by `history_blocks` snapshots per account.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field

import base58

from devnet.errors import QueryError
from devnet.node.chain import Node
from devnet.node.model import AccessKeyRecord, Account, Block

FINALITIES = ("optimistic", "near-final", "final")


def ancestor(node: Node, b: Block, steps: int) -> Block:
    """The block `steps` blocks before `b` on the chain (genesis at the latest); skipped heights do
    not count, as on NEAR where finality follows the chain, not the height."""
    while steps > 0 and b.prev_height in node.blocks:
        b = node.blocks[b.prev_height]
        steps -= 1
    return b


def final_block(node: Node, b: Block | None = None) -> Block:
    """The last final block as of `b` (default the head): `final_lag_blocks` blocks back."""
    head = b if b is not None else node.head
    assert head is not None
    return ancestor(node, head, node.config.final_lag_blocks)


def block_for_finality(node: Node, finality: str) -> Block:
    """`optimistic` = head; `near-final` = doomslug-final (one back); `final` = the final block."""
    assert node.head is not None
    if finality == "optimistic":
        return node.head
    if finality == "near-final":
        return ancestor(node, node.head, min(1, node.config.final_lag_blocks))
    if finality == "final":
        return final_block(node)
    raise QueryError("PARSE_ERROR", f"unknown finality {finality!r}", {"error_message": f"unknown finality {finality}"})


def _snapshot(acct: Account | None) -> Account | None:
    if acct is None:
        return None
    return Account(
        balance=acct.balance,
        locked=acct.locked,
        code_hash=acct.code_hash,
        keys={k: AccessKeyRecord(v.nonce, v.permission) for k, v in acct.keys.items()},
        storage=acct.storage,  # shared: never mutated in place once committed (module docstring)
        storage_usage=acct.storage_usage,
    )


@dataclass
class History:
    """Snapshots of changed accounts per block, `window` blocks back from the head."""

    window: int
    start_height: int = 0  # states before this height are not kept (before genesis or a restart)
    versions: dict[str, list[tuple[int, Account | None]]] = field(default_factory=dict)
    changed: dict[int, tuple[str, ...]] = field(default_factory=dict)  # height -> accounts changed

    def start(self, node: Node) -> None:
        """Begin at the node's head: every account's current state is its state at the head."""
        assert node.head is not None
        self.start_height = node.head.height
        self.versions = {a: [(self.start_height, _snapshot(acct))] for a, acct in node.accounts.items()}
        self.changed = {}

    def record(self, node: Node, height: int, dirty: Iterable[str]) -> None:
        """After block `height`: snapshot the accounts it changed, drop what fell out of the window."""
        ids = tuple(sorted(dirty))
        self.changed[height] = ids
        cutoff = height - self.window
        for account_id in ids:
            vs = self.versions.setdefault(account_id, [(self.start_height, None)])
            vs.append((height, _snapshot(node.accounts.get(account_id))))
            # keep the newest version at or before the cutoff: it is the state at the cutoff
            keep_from = bisect.bisect_right(vs, cutoff, key=lambda v: v[0]) - 1
            if keep_from > 0:
                del vs[:keep_from]
        for h in [h for h in self.changed if h <= cutoff]:
            del self.changed[h]

    def earliest(self, head_height: int) -> int:
        return max(self.start_height, head_height - self.window)

    def check(self, node: Node, block: Block) -> None:
        """Raises nearcore's GARBAGE_COLLECTED_BLOCK for a block whose state is no longer kept."""
        assert node.head is not None
        if block.height < self.earliest(node.head.height):
            raise QueryError(
                "GARBAGE_COLLECTED_BLOCK",
                f"The data for block #{block.height} is garbage collected on this node, use an archival node "
                "to fetch historical data",
                {"block_height": block.height, "block_hash": base58.b58encode(block.hash).decode()},
            )

    def account_at(self, node: Node, account_id: str, block: Block) -> Account | None:
        """The account as it was after `block` (None: it did not exist)."""
        assert node.head is not None
        if block.height == node.head.height:
            return node.accounts.get(account_id)
        self.check(node, block)
        vs = self.versions.get(account_id)
        if not vs:
            return None  # never existed since the history started
        i = bisect.bisect_right(vs, block.height, key=lambda v: v[0]) - 1
        return vs[i][1] if i >= 0 else None

    def previous(self, account_id: str, height: int) -> Account | None:
        """The account as it was before block `height` (for state changes)."""
        vs = self.versions.get(account_id, [])
        i = bisect.bisect_left(vs, height, key=lambda v: v[0]) - 1
        return vs[i][1] if i >= 0 else None

    def after(self, account_id: str, height: int) -> Account | None:
        vs = self.versions.get(account_id, [])
        i = bisect.bisect_right(vs, height, key=lambda v: v[0]) - 1
        return vs[i][1] if i >= 0 else None
