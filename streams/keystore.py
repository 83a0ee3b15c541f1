"""Transitional: the execute stage's in-process opener until it calls the keystore service.

The keystore is its own component now (keystore/, issue 20). This shim exists only because the
execute stage's wiring (streams/worker.py) is being moved by another branch; it is deleted when the
execute stage switches to `keystore.DecryptClient`.
"""

from __future__ import annotations

from keystore import policy as rules
from keystore.crypto import MasterKeys, SecretsError, encrypt_secrets, generate_master_key, parse_envelope
from keystore.service import ACCESSES
from schemas import ExecutionRequested

__all__ = ["ACCESSES", "Keystore", "SecretsError", "encrypt_secrets", "generate_master_key"]


class Keystore:
    def __init__(self, keys: MasterKeys) -> None:
        self.keys = keys

    @classmethod
    def from_hex(cls, text: str) -> Keystore:
        return cls(MasterKeys.parse(text))

    def open(self, req: ExecutionRequested) -> dict[str, str]:
        if not req.encrypted_secrets:
            return {}
        src = req.code_source
        env = parse_envelope(req.encrypted_secrets, repo=src.repo, sender=req.sender_id, commit=src.commit)
        denied = rules.policy_denial(env.header, sender=req.sender_id, repo=src.repo, commit=src.commit, final_height=0)
        try:
            if denied is not None:
                raise SecretsError(denied[1])
            opened = self.keys.open(env)
        except SecretsError:
            ACCESSES.labels("denied").inc()
            raise
        ACCESSES.labels("granted").inc()
        return opened
