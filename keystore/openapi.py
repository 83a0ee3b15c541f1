"""The keystore's HTTP API as OpenAPI 3.1, served by the process at `GET /openapi.json`."""

from __future__ import annotations

from typing import Any

_ERROR = {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}
_DENIAL = {
    "type": "object",
    "properties": {
        "outcome": {"type": "string", "enum": ["denied", "unconfirmed", "unauthenticated"]},
        "reason": {"type": "string", "description": "Reason code (keystore/policy.py REASONS)."},
        "detail": {"type": "string"},
    },
    "required": ["outcome"],
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def openapi() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "NEAR Offshore keystore",
            "version": "1",
            "description": (
                "Recipient keys for request secrets (public), and decryption for the execute stage only. "
                "Seal with `offshore secrets encrypt --keystore URL`: ECIES X25519 + HKDF-SHA256 + "
                "ChaCha20-Poly1305, envelope v3 with the owner's policy as associated data (keystore/README.md)."
            ),
        },
        "paths": {
            "/health": {
                "get": {
                    "summary": "Liveness and the id of the newest master key",
                    "responses": {"200": _json({"type": "object"}, "The process is serving.")},
                }
            },
            "/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI"}}}},
            "/v1/public-key": {
                "get": {
                    "summary": "The recipient key for secrets of one repo and owner",
                    "parameters": [
                        {"name": "repo", "in": "query", "required": True, "schema": {"type": "string"}},
                        {
                            "name": "owner",
                            "in": "query",
                            "required": True,
                            "schema": {"type": "string"},
                            "description": "The account that owns the secrets (by default the only sender).",
                        },
                        {
                            "name": "commit",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "string"},
                            "description": "40-hex commit the secrets will be bound to, or `any`; echoed back.",
                        },
                    ],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "repo": {"type": "string"},
                                    "owner": {"type": "string"},
                                    "commit": {"type": "string"},
                                    "key_id": {"type": "string"},
                                    "public_key": {"type": "string", "description": "X25519, 32 bytes hex."},
                                    "fingerprint": {
                                        "type": "string",
                                        "description": "sha256 over (key id, repo, owner, key): compare out of band.",
                                    },
                                    "envelope_version": {"type": "integer"},
                                },
                                "required": ["repo", "owner", "commit", "key_id", "public_key", "fingerprint"],
                            },
                            "The key to seal to.",
                        ),
                        "400": _json(_ERROR, "Missing repo/owner or a malformed commit."),
                    },
                }
            },
            "/v1/decrypt": {
                "post": {
                    "summary": "Open a request's secrets (execute stage only; separate port, token and mTLS)",
                    "security": [{"bearer": []}],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "request_id": {"type": "string"},
                                        "sender_id": {"type": "string"},
                                        "code_source": {
                                            "type": "object",
                                            "properties": {
                                                "repo": {"type": "string"},
                                                "commit": {"type": "string"},
                                                "build_target": {"type": "string"},
                                                "path": {"type": ["string", "null"]},
                                            },
                                            "required": ["repo", "commit", "build_target"],
                                        },
                                        "secrets_sha256": {"type": "string"},
                                    },
                                    "required": ["request_id", "sender_id", "code_source", "secrets_sha256"],
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "outcome": {"const": "granted"},
                                    "key_id": {"type": "string"},
                                    "env": {"type": "object", "additionalProperties": {"type": "string"}},
                                },
                            },
                            "Granted: the env map of the request (never logged).",
                        ),
                        "400": _json(_ERROR, "Malformed body."),
                        "401": _json(_DENIAL, "Wrong or missing bearer token (audited)."),
                        "403": _json(_DENIAL, "The owner's policy refuses this request (audited): fail the request."),
                        "409": _json(_DENIAL, "The chain does not confirm the request (audited): do not run it."),
                        "503": _json(_ERROR, "Chain or audit trail unavailable; nothing was decided. Retry."),
                    },
                }
            },
        },
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }
