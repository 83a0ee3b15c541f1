"""The chain in one SQLite file, written block by block, so a restarted devnet continues where it was.

Each block is one SQLite transaction: the block, the receipts, outcomes and transactions it touched,
the accounts it changed (contract storage row by row, so a busy contract does not rewrite its whole
state every block) and the in-flight queues. A crash loses at most the block being written. Records
are pickled dataclasses: the file is the devnet's own and is versioned, not an interchange format.
"""

from __future__ import annotations

import pickle
import sqlite3
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from devnet.errors import StateFileError
from devnet.node.chain import BlockResult, Node
from devnet.node.keys import KeyPair

_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS blocks (height INTEGER PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS accounts (id TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS storage (account TEXT NOT NULL, k BLOB NOT NULL, v BLOB NOT NULL,
                                    PRIMARY KEY (account, k));
CREATE TABLE IF NOT EXISTS codes (hash BLOB PRIMARY KEY, wasm BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS receipts (id BLOB PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS outcomes (id BLOB PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS txs (hash BLOB PRIMARY KEY, data BLOB NOT NULL);
"""


def _dump(obj: Any) -> bytes:
    return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)


class StateStore:
    def __init__(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StateFileError(f"cannot open devnet state file {path}: {exc}") from exc
        self._path = path
        self._codes_saved: set[bytes] = set()

    def close(self) -> None:
        self._db.close()

    def has_chain(self) -> bool:
        return self._db.execute("SELECT 1 FROM meta WHERE k = 'misc'").fetchone() is not None

    def load(self, node: Node) -> dict[str, KeyPair]:
        """Restore `node`; returns the genesis keys stored with the chain."""
        try:
            version = self._db.execute("SELECT v FROM meta WHERE k = 'version'").fetchone()
            if version is None or pickle.loads(version[0]) != _VERSION:
                raise StateFileError(f"{self._path} was written by another devnet version; delete it")
            for (data,) in self._db.execute("SELECT data FROM blocks ORDER BY height"):
                node.store_block(pickle.loads(data))
            for account_id, data in self._db.execute("SELECT id, data FROM accounts"):
                node.accounts[account_id] = pickle.loads(data)
            for account_id, k, v in self._db.execute("SELECT account, k, v FROM storage"):
                node.accounts[account_id].storage[bytes(k)] = bytes(v)
            for code_hash, wasm in self._db.execute("SELECT hash, wasm FROM codes"):
                node.codes[bytes(code_hash)] = bytes(wasm)
                self._codes_saved.add(bytes(code_hash))
            for rid, data in self._db.execute("SELECT id, data FROM receipts"):
                node.receipts[bytes(rid)] = pickle.loads(data)
            for rid, data in self._db.execute("SELECT id, data FROM outcomes"):
                node.outcomes[bytes(rid)] = pickle.loads(data)
            for h, data in self._db.execute("SELECT hash, data FROM txs"):
                node.txs[bytes(h)] = pickle.loads(data)
            (misc,) = self._db.execute("SELECT v FROM meta WHERE k = 'misc'").fetchone()
            keys_row = self._db.execute("SELECT v FROM meta WHERE k = 'keys'").fetchone()
            m = pickle.loads(misc)
        except (sqlite3.Error, pickle.UnpicklingError, EOFError, AttributeError, KeyError) as exc:
            raise StateFileError(f"cannot read devnet state file {self._path}: {exc}") from exc
        node.genesis_height = m["genesis_height"]
        node.outgoing = m["outgoing"]
        node.postponed = m["postponed"]
        node.waiting_for = m["waiting_for"]
        node.data = m["data"]
        node.yields = m["yields"]
        return {a: KeyPair(secret) for a, secret in pickle.loads(keys_row[0]).items()} if keys_row else {}

    def save_keys(self, keys: Mapping[str, KeyPair]) -> None:
        """Genesis keys, so a restarted devnet can still sign for its accounts without a credentials dir."""
        blob = _dump({a: k.secret for a, k in keys.items()})
        self._db.execute("INSERT OR REPLACE INTO meta VALUES ('keys', ?)", (blob,))

    def save_all(self, node: Node) -> None:
        """Write a whole chain (after genesis)."""
        res = BlockResult(block=node.head) if node.head is not None else None
        assert res is not None
        res.dirty_accounts = set(node.accounts)
        res.dirty_storage = {a: set(acct.storage) for a, acct in node.accounts.items()}
        res.new_receipts = list(node.receipts)
        res.touched_txs = set(node.txs)
        self.save_block(node, res, executed=list(node.outcomes))

    def save_block(self, node: Node, res: BlockResult, executed: list[bytes] | None = None) -> None:
        db = self._db
        try:
            db.execute("BEGIN")
            db.execute("INSERT OR REPLACE INTO meta VALUES ('version', ?)", (_dump(_VERSION),))
            db.execute("INSERT OR REPLACE INTO blocks VALUES (?, ?)", (res.block.height, _dump(res.block)))
            for account_id in res.dirty_accounts:
                acct = node.accounts.get(account_id)
                if acct is None:
                    db.execute("DELETE FROM accounts WHERE id = ?", (account_id,))
                    db.execute("DELETE FROM storage WHERE account = ?", (account_id,))
                    continue
                db.execute(
                    "INSERT OR REPLACE INTO accounts VALUES (?, ?)", (account_id, _dump(replace(acct, storage={})))
                )
                if acct.code_hash not in self._codes_saved and acct.code_hash in node.codes:
                    db.execute(
                        "INSERT OR IGNORE INTO codes VALUES (?, ?)", (acct.code_hash, node.codes[acct.code_hash])
                    )
                    self._codes_saved.add(acct.code_hash)
            for account_id, keys in res.dirty_storage.items():
                acct = node.accounts.get(account_id)
                if acct is None:
                    continue
                for k in keys:
                    v = acct.storage.get(k)
                    if v is None:
                        db.execute("DELETE FROM storage WHERE account = ? AND k = ?", (account_id, k))
                    else:
                        db.execute("INSERT OR REPLACE INTO storage VALUES (?, ?, ?)", (account_id, k, v))
            for rid in res.new_receipts:
                db.execute("INSERT OR REPLACE INTO receipts VALUES (?, ?)", (rid, _dump(node.receipts[rid])))
            for rid in executed if executed is not None else res.block.executed_receipt_ids:
                db.execute("INSERT OR REPLACE INTO outcomes VALUES (?, ?)", (rid, _dump(node.outcomes[rid])))
            for h in res.touched_txs:
                db.execute("INSERT OR REPLACE INTO txs VALUES (?, ?)", (h, _dump(node.txs[h])))
            misc = {
                "genesis_height": node.genesis_height,
                "outgoing": node.outgoing,
                "postponed": node.postponed,
                "waiting_for": node.waiting_for,
                "data": node.data,
                "yields": node.yields,
            }
            db.execute("INSERT OR REPLACE INTO meta VALUES ('misc', ?)", (_dump(misc),))
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            db.execute("ROLLBACK")
            raise StateFileError(f"cannot write devnet state file {self._path}: {exc}") from exc
