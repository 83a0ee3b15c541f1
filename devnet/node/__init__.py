"""The chain itself: borsh transactions, keys, accounts, receipts, blocks, views and persistence."""

from devnet.node.borsh import SignedTransaction, Transaction, decode_signed_transaction, encode_signed_transaction
from devnet.node.chain import BlockResult, Node, VmBackend
from devnet.node.keys import KeyPair, public_key_from_str, public_key_to_str

__all__ = [
    "BlockResult",
    "KeyPair",
    "Node",
    "SignedTransaction",
    "Transaction",
    "VmBackend",
    "decode_signed_transaction",
    "encode_signed_transaction",
    "public_key_from_str",
    "public_key_to_str",
]
