from __future__ import annotations

import dataclasses

import pytest

from schemas.samples import sample_requested
from streams.keystore import Keystore, SecretsError, encrypt_secrets, generate_master_key

REPO, OWNER = "https://github.com/acme/app.git", "client.test.near"


@pytest.fixture
def keystore() -> Keystore:
    return Keystore.from_hex(generate_master_key())


def test_round_trip_for_the_matching_request(keystore: Keystore) -> None:
    envelope = encrypt_secrets(keystore.public_key(REPO, OWNER), REPO, OWNER, {"API_KEY": "s3cr3t-value"})
    assert "s3cr3t-value" not in envelope
    req = dataclasses.replace(
        sample_requested(),
        sender_id=OWNER,
        code_source=dataclasses.replace(sample_requested().code_source, repo=REPO),
        encrypted_secrets=envelope,
    )
    assert keystore.open(req) == {"API_KEY": "s3cr3t-value"}


@pytest.mark.parametrize(("repo", "owner"), [(REPO, "mallory.test.near"), ("https://github.com/evil/x.git", OWNER)])
def test_ciphertext_does_not_open_for_another_repo_or_sender(keystore: Keystore, repo: str, owner: str) -> None:
    envelope = encrypt_secrets(keystore.public_key(REPO, OWNER), REPO, OWNER, {"API_KEY": "s3cr3t-value"})
    with pytest.raises(SecretsError) as info:
        keystore.decrypt(envelope, repo, owner, request_id="1")
    assert "s3cr3t-value" not in str(info.value)


def test_recipient_keys_differ_per_repo_and_owner(keystore: Keystore) -> None:
    keys = {keystore.public_key(r, o) for r in ("a", "b") for o in ("x", "y")}
    assert len(keys) == 4


@pytest.mark.parametrize("envelope", ["not base64!", "AAAA", ""])
def test_garbage_is_a_clear_error(keystore: Keystore, envelope: str) -> None:
    with pytest.raises(SecretsError):
        keystore.decrypt(envelope, REPO, OWNER, request_id="1")


def test_request_without_secrets_gets_empty_env(keystore: Keystore) -> None:
    assert keystore.open(sample_requested()) == {}
