"""`offshore keystore`: the one process that holds the master keys (aiohttp, two listeners).

- Public listener (`OFFSHORE_KEYSTORE_PORT`): `GET /v1/public-key` (the recipient key for a repo and
  owner, with its key id and fingerprint), `GET /health`, `GET /openapi.json`. Anyone may call it.
- Decrypt listener (`OFFSHORE_KEYSTORE_DECRYPT_PORT`): `POST /v1/decrypt`, for the execute stage
  only: a bearer token (constant-time compare) always, and mTLS when the TLS settings are given (the
  Kubernetes manifests give them). A separate port so a NetworkPolicy can admit only execute pods.

A decrypt request names a request; the keystore reads that request from the chain itself, confirms
sender, code source and ciphertext hash, then applies the policy the owner sealed into the envelope,
and only then opens the chain's copy of the ciphertext. Every decision - granted or denied, and
every refused token - is an audit event on Kafka (`offshore.audit.v1`) written *before* the answer;
if the audit cannot be written, nothing is handed out (503).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import ssl
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from aiohttp import web
from prometheus_client import Counter, Histogram

from keystore import policy as rules
from keystore.chain import ChainUnavailable
from keystore.crypto import (
    ANY_COMMIT,
    VERSION,
    MasterKeys,
    Policy,
    SecretsError,
    fingerprint,
    parse_envelope,
)
from keystore.openapi import openapi
from schemas import SecretsAccessed

log = logging.getLogger("offshore.keystore")

ACCESSES = Counter("offshore_secret_access_total", "Keystore decisions on request secrets by outcome.", ["outcome"])
DENIALS = Counter("offshore_keystore_denials_total", "Denied secret accesses by reason code.", ["reason"])
PUBLIC_KEYS = Counter("offshore_keystore_public_keys_total", "Public keys served.")
DECRYPT_SECONDS = Histogram("offshore_keystore_decrypt_seconds", "Decrypt API latency (chain reads included).")
AUDIT_FAILURES = Counter("offshore_keystore_audit_failures_total", "Decisions not answered: audit write failed.")
_MAX_BODY = 64 * 1024


class Chain(Protocol):
    async def final_height(self) -> int: ...

    async def get_request(self, request_id: str) -> dict[str, Any] | None: ...


class AuditSink(Protocol):
    async def record(self, event: SecretsAccessed) -> None:
        """Durably writes the event (acknowledged by the broker) or raises."""
        ...


@dataclass(frozen=True)
class Decision:
    status: int  # 200 granted, 401 token, 403 policy denial, 409 unconfirmed
    body: dict[str, Any]
    audit: SecretsAccessed


class Keystore:
    """The decisions of the decrypt API, over a chain reader and an audit sink (both injected)."""

    def __init__(self, keys: MasterKeys, chain: Chain, audit: AuditSink, *, token: str, producer: str) -> None:
        if len(token) < 16:
            raise SecretsError("the keystore's decrypt token must be at least 16 characters")
        self.keys = keys
        self._chain = chain
        self._audit = audit
        self._token = token.encode()
        self._producer = producer

    def public_key(self, repo: str, owner: str, commit: str | None) -> dict[str, Any]:
        if not repo or not owner:
            raise ValueError("give repo and owner")
        binding = ANY_COMMIT if commit in (None, "", "any", ANY_COMMIT) else str(commit).strip().lower()
        Policy(commit=binding)  # validates the commit
        key = self.keys.public_key(repo, owner)
        PUBLIC_KEYS.inc()
        return {
            "repo": repo,
            "owner": owner,
            "commit": binding,
            "key_id": self.keys.newest,
            "public_key": key.hex(),
            "fingerprint": fingerprint(self.keys.newest, repo, owner, key),
            "envelope_version": VERSION,
        }

    def authenticated(self, header: str | None) -> bool:
        given = (header or "").removeprefix("Bearer ").encode()
        return hmac.compare_digest(given, self._token)

    def _event(self, request_id: str, caller: str, granted: bool, reason: str, **fields: Any) -> SecretsAccessed:
        return SecretsAccessed(
            event_id=f"secrets:{request_id[:64]}:{uuid.uuid4().hex}",
            request_id=request_id[:64],
            occurred_at=datetime.now(UTC),
            producer=self._producer,
            caller=caller,
            granted=granted,
            reason=reason[:500],
            **fields,
        )

    def refused_token(self, request_id: str, caller: str) -> Decision:
        event = self._event(request_id, caller, False, f"{rules.UNAUTHENTICATED}: wrong or missing bearer token")
        return Decision(401, {"outcome": "unauthenticated", "error": "wrong or missing bearer token"}, event)

    async def decide(self, claim: rules.Claim, caller: str) -> tuple[Decision, dict[str, str] | None]:
        """The decision and, when granted, the env map (kept out of the Decision so it is never logged)."""
        view = await self._chain.get_request(claim.request_id)
        height = await self._chain.final_height()
        unconfirmed = rules.unconfirmed_reason(claim, view)
        if unconfirmed is not None or view is None:
            reason = f"{rules.UNCONFIRMED}: {unconfirmed}"
            event = self._event(claim.request_id, caller, False, reason, observed_height=height)
            return Decision(409, {"outcome": "unconfirmed", "reason": rules.UNCONFIRMED, "detail": reason}, event), None
        sender, repo, commit = str(view["sender_id"]), claim.repo, claim.commit
        seen = {"sender_id": sender, "repo": repo, "commit": commit, "observed_height": height}

        def denied(code: str, detail: str, **more: Any) -> tuple[Decision, None]:
            reason = f"{code}: {detail}"
            body = {"outcome": "denied", "reason": code, "detail": reason}
            return Decision(403, body, self._event(claim.request_id, caller, False, reason, **seen, **more)), None

        try:
            envelope = parse_envelope(str(view["encrypted_secrets"]), repo=repo, sender=sender, commit=commit)
        except SecretsError as exc:
            return denied(rules.MALFORMED, str(exc))
        head = envelope.header
        about = {"owner_id": head.owner, "key_id": head.key_id}
        refusal = rules.policy_denial(head, sender=sender, repo=repo, commit=commit, final_height=height)
        if refusal is not None:
            return denied(*refusal, **about)
        if head.key_id not in self.keys.ids:
            return denied(rules.UNKNOWN_KEY, f"sealed with master key {head.key_id!r}, not held here", **about)
        try:
            env = self.keys.open(envelope)
        except SecretsError as exc:
            return denied(rules.DOES_NOT_OPEN, str(exc), **about)
        event = self._event(claim.request_id, caller, True, "granted", secret_names=sorted(env), **seen, **about)
        return Decision(200, {"outcome": "granted", "key_id": head.key_id}, event), env

    async def record(self, decision: Decision) -> None:
        await self._audit.record(decision.audit)
        outcome = "granted" if decision.audit.granted else "denied"
        ACCESSES.labels(outcome).inc()
        if not decision.audit.granted:
            DENIALS.labels(decision.audit.reason.split(":", 1)[0]).inc()
        log.info(
            "secrets %s request=%s caller=%s reason=%s names=%s",
            outcome,
            decision.audit.request_id,
            decision.audit.caller,
            decision.audit.reason,
            decision.audit.secret_names,
        )


def _json(status: int, body: dict[str, Any]) -> web.Response:
    return web.json_response(body, status=status, headers={"Cache-Control": "no-store"})


def _caller(request: web.Request) -> str:
    """Who is asking: the verified mTLS client certificate's subject CN, else the token holder."""
    cert = request.transport.get_extra_info("peercert") if request.transport else None
    if cert:
        for rdn in cert.get("subject", ()):
            for name, value in rdn:
                if name == "commonName":
                    return f"mtls:{value}"
    return "token"


def public_app(keystore: Keystore) -> web.Application:
    async def health(_: web.Request) -> web.Response:
        return _json(200, {"status": "ok", "key_id": keystore.keys.newest})

    async def spec(_: web.Request) -> web.Response:
        return _json(200, openapi())

    async def public_key(request: web.Request) -> web.Response:
        q = request.query
        try:
            body = keystore.public_key(q.get("repo", ""), q.get("owner", ""), q.get("commit"))
        except (ValueError, SecretsError) as exc:
            return _json(400, {"error": str(exc)})
        return _json(200, body)

    app = web.Application(client_max_size=_MAX_BODY)
    app.router.add_get("/health", health)
    app.router.add_get("/openapi.json", spec)
    app.router.add_get("/v1/public-key", public_key)
    return app


def decrypt_app(keystore: Keystore) -> web.Application:
    async def health(_: web.Request) -> web.Response:
        return _json(200, {"status": "ok"})

    async def decrypt(request: web.Request) -> web.Response:
        started = time.perf_counter()
        try:
            return await _decrypt(request)
        finally:
            DECRYPT_SECONDS.observe(time.perf_counter() - started)

    async def _decrypt(request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read())
        except (ValueError, web.HTTPException):
            body = None
        claimed_id = str(body.get("request_id", ""))[:64] if isinstance(body, dict) else ""
        if not keystore.authenticated(request.headers.get("Authorization")):
            return await _answer(keystore.refused_token(claimed_id, "unauthenticated"))
        try:
            claim = rules.Claim.from_json(body)
        except ValueError as exc:
            return _json(400, {"error": f"bad decrypt request: {exc}"})
        try:
            decision, env = await keystore.decide(claim, _caller(request))
        except ChainUnavailable as exc:
            return _json(503, {"error": f"cannot confirm the request on chain now: {exc}"})
        return await _answer(decision, env)

    async def _answer(decision: Decision, env: dict[str, str] | None = None) -> web.Response:
        try:
            await keystore.record(decision)
        except Exception as exc:  # no audit, no answer: the caller retries
            AUDIT_FAILURES.inc()
            log.error("audit write failed (%s); request %s not answered", type(exc).__name__, decision.audit.request_id)
            return _json(503, {"error": "the audit trail is unavailable; nothing was decrypted"})
        return _json(decision.status, {**decision.body, "env": env} if env is not None else decision.body)

    app = web.Application(client_max_size=_MAX_BODY)
    app.router.add_get("/health", health)
    app.router.add_post("/v1/decrypt", decrypt)
    return app


def server_tls(cert: str, key: str, client_ca: str) -> ssl.SSLContext:
    """mTLS for the decrypt listener: our certificate, and client certificates signed by `client_ca`."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=client_ca)
    ctx.load_cert_chain(cert, key)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


async def serve(
    keystore: Keystore,
    *,
    host: str,
    public_port: int,
    decrypt_port: int,
    tls: ssl.SSLContext | None,
    stop: asyncio.Event,
    on_ready: Callable[[int, int], Awaitable[None] | None] | None = None,
) -> None:
    """Runs both listeners until `stop` is set. Ports 0 pick free ports (reported to on_ready)."""
    runners = [
        web.AppRunner(public_app(keystore), access_log=None),
        web.AppRunner(decrypt_app(keystore), access_log=None),
    ]
    for runner in runners:
        await runner.setup()
    try:
        public = web.TCPSite(runners[0], host, public_port)
        private = web.TCPSite(runners[1], host, decrypt_port, ssl_context=tls)
        await public.start()
        await private.start()
        ports = [s._server.sockets[0].getsockname()[1] for s in (public, private)]  # type: ignore[union-attr]
        if on_ready is not None:
            done = on_ready(ports[0], ports[1])
            if done is not None:
                await done
        await stop.wait()
    finally:
        for runner in runners:
            await runner.cleanup()
