"""Clients of the keystore service: the public key (CLI, dApp developers) and decrypt (execute stage).

The decrypt client sorts the keystore's answers into what the execute stage must do with them:
`SecretsDenied` fails the request (settled on chain with the refund rule), `SecretsUnconfirmed` means
the event is not the chain's request (dead-letter it, record no result), `KeystoreUnavailable` is a
transient stage error (retried / re-driven later). None of them quotes a secret.
"""

from __future__ import annotations

import hashlib
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp

from common.errors import OffshoreError
from keystore.crypto import Policy, SecretsError, encrypt_secrets, fingerprint
from schemas import ExecutionRequested


class KeystoreUnavailable(OffshoreError):
    """The keystore could not be asked, or refused the caller itself (token, TLS, 5xx)."""


class SecretsDenied(SecretsError):
    """The owner's policy refuses this request; `reason` is a code of keystore/policy.py."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


class SecretsUnconfirmed(Exception):
    """The keystore's own chain read does not confirm the request."""


@dataclass(frozen=True)
class PublicKey:
    repo: str
    owner: str
    commit: str
    key_id: str
    public_key: bytes
    fingerprint: str

    def seal(
        self, secrets: dict[str, str], *, senders: tuple[str, ...] = (), expires_at_height: int | None = None
    ) -> str:
        policy = Policy(commit=self.commit, senders=senders, expires_at_height=expires_at_height)
        return encrypt_secrets(self.public_key, self.repo, self.owner, secrets, key_id=self.key_id, policy=policy)


def client_tls(ca: str | None, cert: str | None = None, key: str | None = None) -> ssl.SSLContext | None:
    """TLS toward the keystore: verify it against `ca`; present our certificate when given (mTLS)."""
    if not ca and not cert:
        return None
    ctx = ssl.create_default_context(cafile=ca or None)
    if cert:
        ctx.load_cert_chain(cert, key or None)
    return ctx


async def fetch_public_key(
    url: str, repo: str, owner: str, *, commit: str | None, expected_fingerprint: str | None = None
) -> PublicKey:
    """GET /v1/public-key, then recompute the fingerprint over what was served (and compare it with
    the one the developer pinned, when given): a key for another repo, owner or key id is refused."""
    query = urlencode({"repo": repo, "owner": owner, "commit": commit or "any"})
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session,
            session.get(f"{url.rstrip('/')}/v1/public-key?{query}") as resp,
        ):
            body: Any = await resp.json(content_type=None)
            status = resp.status
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise KeystoreUnavailable(f"keystore {url} unreachable: {type(exc).__name__}") from None
    if status != 200 or not isinstance(body, dict):
        error = body.get("error") if isinstance(body, dict) else None
        raise KeystoreUnavailable(f"keystore answered HTTP {status}: {error or 'no detail'}")
    try:
        key = PublicKey(
            repo=str(body["repo"]),
            owner=str(body["owner"]),
            commit=str(body["commit"]),
            key_id=str(body["key_id"]),
            public_key=bytes.fromhex(str(body["public_key"])),
            fingerprint=str(body["fingerprint"]),
        )
    except (KeyError, ValueError):
        raise KeystoreUnavailable("keystore answered a malformed public key") from None
    if (key.repo, key.owner) != (repo, owner) or len(key.public_key) != 32:
        raise SecretsError("the keystore answered a key for another repo or owner")
    if fingerprint(key.key_id, repo, owner, key.public_key) != key.fingerprint:
        raise SecretsError("the public key does not match its fingerprint: refusing to seal to it")
    if expected_fingerprint and expected_fingerprint != key.fingerprint:
        raise SecretsError(
            f"fingerprint mismatch: expected {expected_fingerprint}, the keystore serves {key.fingerprint}"
        )
    return key


class DecryptClient:
    """The execute stage's only way to secrets: POST /v1/decrypt with the shared token (and mTLS)."""

    def __init__(self, url: str, token: str, *, tls: ssl.SSLContext | None = None, timeout_s: float = 15.0) -> None:
        self._url = url.rstrip("/") + "/v1/decrypt"
        self._headers = {"Authorization": f"Bearer {token}"}
        self._tls = tls
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def open(self, req: ExecutionRequested) -> dict[str, str]:
        """The env map of this request (empty when it has none)."""
        if not req.encrypted_secrets:
            return {}
        src = req.code_source
        body = {
            "request_id": req.request_id,
            "sender_id": req.sender_id,
            "code_source": {"repo": src.repo, "commit": src.commit, "build_target": src.build_target, "path": src.path},
            "secrets_sha256": hashlib.sha256(req.encrypted_secrets.encode()).hexdigest(),
        }
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        try:
            async with self._session.post(self._url, json=body, headers=self._headers, ssl=self._tls or True) as resp:
                status = resp.status
                answer: Any = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError, ssl.SSLError) as exc:
            raise KeystoreUnavailable(f"keystore unreachable: {type(exc).__name__}") from None
        answer = answer if isinstance(answer, dict) else {}
        if status == 200 and isinstance(answer.get("env"), dict):
            return {str(k): str(v) for k, v in answer["env"].items()}
        if status == 403:
            raise SecretsDenied(str(answer.get("reason", "denied")), str(answer.get("detail", "secrets denied")))
        if status == 409:
            raise SecretsUnconfirmed(str(answer.get("detail", "not confirmed on chain")))
        raise KeystoreUnavailable(f"keystore answered HTTP {status}: {answer.get('error') or answer.get('outcome')}")
