"""The keystore's pure decisions: chain confirmation of a decrypt claim, and the sealed policy."""

# ruff: noqa: E501  (the case tables read best one case per line)

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from keystore import policy as rules
from keystore.crypto import ANY_COMMIT, Header, Policy

REPO, OWNER, BOB = "https://github.com/acme/app.git", "alice.test.near", "bob.test.near"
COMMIT, OTHER = "a" * 40, "b" * 40
CIPHERTEXT = "QkFTRTY0Q0lQSEVS"
CLAIM = rules.Claim(
    request_id="9",
    sender_id=OWNER,
    repo=REPO,
    commit=COMMIT,
    build_target="wasm32-wasip1",
    path=None,
    secrets_sha256=rules.sha256_hex(CIPHERTEXT),
)


def view(**changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "request_id": 9, "sender_id": OWNER, "status": "pending", "resolved": False,
        "code_source": {"repo": REPO, "commit": COMMIT, "build_target": "wasm32-wasip1", "path": None},
        "encrypted_secrets": CIPHERTEXT,
    }  # fmt: skip
    record.update(changes)
    return record


@pytest.mark.parametrize(
    ("record", "claim", "reason"),
    [
        (view(), CLAIM, None),
        (None, CLAIM, "no such request"),
        (view(status="completed"), CLAIM, "not pending"),
        (view(resolved=True), CLAIM, "not pending"),
        (view(sender_id="mallory.test.near"), CLAIM, "sender differs"),
        (view(), dataclasses.replace(CLAIM, sender_id="mallory.test.near"), "sender differs"),
        (view(), dataclasses.replace(CLAIM, commit=OTHER), "code source"),
        (view(), dataclasses.replace(CLAIM, repo="https://github.com/evil/x.git"), "code source"),
        (view(), dataclasses.replace(CLAIM, path="x.wasm"), "code source"),
        (view(encrypted_secrets="T1RIRVI="), CLAIM, "ciphertext hash"),
        (view(encrypted_secrets=None), CLAIM, "ciphertext hash"),
    ],
)
def test_a_claim_opens_only_what_the_chain_confirms(
    record: dict[str, Any] | None, claim: rules.Claim, reason: str | None
) -> None:
    got = rules.unconfirmed_reason(claim, record)
    assert got is None if reason is None else reason in str(got)


def header(**policy: Any) -> Header:
    return Header(version=3, key_id="k1", repo=REPO, owner=OWNER, policy=Policy(**{"commit": COMMIT, **policy}))


@pytest.mark.parametrize(
    ("head", "sender", "repo", "commit", "height", "code"),
    [
        (header(), OWNER, REPO, COMMIT, 10, None),
        (header(), OWNER, REPO, OTHER, 10, rules.COMMIT),
        (header(commit=ANY_COMMIT), OWNER, REPO, OTHER, 10, None),
        (header(), BOB, REPO, COMMIT, 10, rules.SENDER),
        (header(senders=(BOB,)), BOB, REPO, COMMIT, 10, None),
        (header(senders=(BOB,)), OWNER, REPO, COMMIT, 10, rules.SENDER),  # an allow-list replaces "owner only"
        (header(senders=(BOB, OWNER)), OWNER, REPO, COMMIT, 10, None),
        (header(expires_at_height=10), OWNER, REPO, COMMIT, 10, None),
        (header(expires_at_height=10), OWNER, REPO, COMMIT, 11, rules.EXPIRED),
        (header(), OWNER, "https://github.com/evil/x.git", COMMIT, 10, rules.REPO),
    ],
)
def test_the_owners_policy_decides(
    head: Header, sender: str, repo: str, commit: str, height: int, code: str | None
) -> None:
    got = rules.policy_denial(head, sender=sender, repo=repo, commit=commit, final_height=height)
    assert (got[0] if got else None) == code


@pytest.mark.parametrize(
    "body",
    [None, [], {"request_id": "1"}, {"request_id": "1", "sender_id": "a", "code_source": "x", "secrets_sha256": "h"},
     {"request_id": "", "sender_id": "a", "code_source": {"repo": "r", "commit": "c", "build_target": "t"}, "secrets_sha256": "h"},
     {"request_id": "1", "sender_id": "a", "code_source": {"repo": "r", "commit": "c", "build_target": "t", "path": 3}, "secrets_sha256": "h"}],
)  # fmt: skip
def test_malformed_claims_are_refused(body: Any) -> None:
    with pytest.raises(ValueError):
        rules.Claim.from_json(body)
