"""The keystore's decisions, as pure functions: is this request real, and may it open this envelope.

Kafka is not a trust boundary, and neither is the execute stage's word: the keystore reads the
contract's own record of the request (`get_request`) and the chain's final height itself, and
decides from those alone. The ciphertext it opens is the chain's copy, never the caller's.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from keystore.crypto import ANY_COMMIT, Header


@dataclass(frozen=True, kw_only=True)
class Claim:
    """What the execute stage asks for: the request as its event describes it."""

    request_id: str
    sender_id: str
    repo: str
    commit: str
    build_target: str
    path: str | None
    secrets_sha256: str

    @classmethod
    def from_json(cls, body: Any) -> Claim:
        """Raises ValueError (a 400) on a malformed body; never echoes the body."""
        if not isinstance(body, dict):
            raise ValueError("the body is a JSON object")
        src = body.get("code_source")
        if not isinstance(src, dict):
            raise ValueError("code_source is an object {repo, commit, build_target, path}")
        fields = {
            "request_id": body.get("request_id"),
            "sender_id": body.get("sender_id"),
            "repo": src.get("repo"),
            "commit": src.get("commit"),
            "build_target": src.get("build_target"),
            "secrets_sha256": body.get("secrets_sha256"),
        }
        for name, value in fields.items():
            if not isinstance(value, str) or not value or len(value) > 2048:
                raise ValueError(f"{name} is a non-empty string")
        path = src.get("path")
        if path is not None and not isinstance(path, str):
            raise ValueError("code_source.path is a string or null")
        return cls(path=path, **fields)  # type: ignore[arg-type]


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# Reason codes: the `reason` label of offshore_keystore_denials_total and the audit's `reason` prefix.
UNCONFIRMED = "unconfirmed"
REPO = "repo_mismatch"
COMMIT = "commit_not_allowed"
SENDER = "sender_not_allowed"
EXPIRED = "policy_expired"
UNKNOWN_KEY = "unknown_key"
MALFORMED = "malformed_envelope"
DOES_NOT_OPEN = "does_not_open"
UNAUTHENTICATED = "unauthenticated"
REASONS = (UNCONFIRMED, REPO, COMMIT, SENDER, EXPIRED, UNKNOWN_KEY, MALFORMED, DOES_NOT_OPEN, UNAUTHENTICATED)


def unconfirmed_reason(claim: Claim, view: dict[str, Any] | None) -> str | None:
    """Why the chain's record does not confirm the claim (None = confirmed, still pending)."""
    if view is None:
        return "no such request on chain"
    if view.get("status") != "pending" or view.get("resolved"):
        return f"request is not pending on chain (status {view.get('status')!r})"
    if view.get("sender_id") != claim.sender_id:
        return "sender differs from the chain's record"
    src = view.get("code_source") or {}
    if (src.get("repo"), src.get("commit"), src.get("build_target"), src.get("path")) != (
        claim.repo,
        claim.commit,
        claim.build_target,
        claim.path,
    ):
        return "code source (repo, commit, target, path) differs from the chain's record"
    chain_secrets = view.get("encrypted_secrets")
    if not isinstance(chain_secrets, str) or sha256_hex(chain_secrets) != claim.secrets_sha256.lower():
        return "secrets ciphertext hash differs from the chain's record"
    return None


def policy_denial(header: Header, *, sender: str, repo: str, commit: str, final_height: int) -> tuple[str, str] | None:
    """(reason code, explanation) when the owner's sealed policy refuses this confirmed request."""
    policy = header.policy
    if header.repo != repo:
        return REPO, "sealed for another repo"
    if policy.commit != ANY_COMMIT and policy.commit != commit.strip().lower():
        return COMMIT, f"sealed for commit {policy.commit[:12]}, the request runs {commit[:12]}"
    if sender not in header.allowed_senders():
        who = "the owner only" if not policy.senders else "an allow-list"
        return SENDER, f"sender {sender} may not open secrets of {header.owner} (policy: {who})"
    if policy.expires_at_height is not None and final_height > policy.expires_at_height:
        return EXPIRED, f"policy expired at height {policy.expires_at_height} (chain is at {final_height})"
    return None
