from __future__ import annotations

import base64
import dataclasses

import pytest

from schemas import ExecutionRequested
from schemas.samples import sample_requested
from streams.keystore import Keystore, SecretsError, encrypt_secrets, generate_master_key

REPO, OWNER = "https://github.com/acme/app.git", "client.test.near"
COMMIT, NEXT_COMMIT = "a" * 40, "b" * 40


@pytest.fixture
def keystore() -> Keystore:
    return Keystore.from_hex(generate_master_key())


def _request(envelope: str, commit: str = COMMIT) -> ExecutionRequested:
    base = sample_requested()
    return dataclasses.replace(
        base,
        sender_id=OWNER,
        code_source=dataclasses.replace(base.code_source, repo=REPO, commit=commit),
        encrypted_secrets=envelope,
    )


def test_round_trip_for_the_matching_request(keystore: Keystore) -> None:
    envelope = encrypt_secrets(
        keystore.public_key(REPO, OWNER), REPO, OWNER, {"API_KEY": "s3cr3t-value"}, commit=COMMIT
    )
    assert "s3cr3t-value" not in envelope
    assert keystore.open(_request(envelope)) == {"API_KEY": "s3cr3t-value"}


@pytest.mark.parametrize(("repo", "owner"), [(REPO, "mallory.test.near"), ("https://github.com/evil/x.git", OWNER)])
def test_ciphertext_does_not_open_for_another_repo_or_sender(keystore: Keystore, repo: str, owner: str) -> None:
    envelope = encrypt_secrets(
        keystore.public_key(REPO, OWNER), REPO, OWNER, {"API_KEY": "s3cr3t-value"}, commit=COMMIT
    )
    with pytest.raises(SecretsError) as info:
        keystore.decrypt(envelope, repo, owner, COMMIT, request_id="1")
    assert "s3cr3t-value" not in str(info.value)


def test_by_default_a_new_commit_of_the_same_repo_cannot_open_old_secrets(keystore: Keystore) -> None:
    envelope = encrypt_secrets(keystore.public_key(REPO, OWNER), REPO, OWNER, {"K": "v"}, commit=COMMIT)
    with pytest.raises(SecretsError, match="commit"):
        keystore.open(_request(envelope, commit=NEXT_COMMIT))


def test_any_commit_scope_is_the_owners_explicit_choice(keystore: Keystore) -> None:
    envelope = encrypt_secrets(keystore.public_key(REPO, OWNER), REPO, OWNER, {"K": "v"}, any_commit=True)
    assert keystore.open(_request(envelope, commit=NEXT_COMMIT)) == {"K": "v"}
    with pytest.raises(SecretsError):
        encrypt_secrets(keystore.public_key(REPO, OWNER), REPO, OWNER, {"K": "v"})  # neither: no silent default


def test_the_scope_byte_cannot_be_flipped_to_any_commit(keystore: Keystore) -> None:
    envelope = encrypt_secrets(keystore.public_key(REPO, OWNER), REPO, OWNER, {"K": "v"}, commit=COMMIT)
    raw = bytearray(base64.b64decode(envelope))
    raw[1] = 1  # claim "any commit"
    with pytest.raises(SecretsError):
        keystore.open(_request(base64.b64encode(bytes(raw)).decode(), commit=NEXT_COMMIT))


def test_v1_envelopes_without_a_commit_binding_are_refused(keystore: Keystore) -> None:
    v1 = base64.b64encode(bytes([1]) + bytes(64)).decode()
    with pytest.raises(SecretsError, match="re-encrypt"):
        keystore.decrypt(v1, REPO, OWNER, COMMIT, request_id="1")


def test_recipient_keys_differ_per_repo_and_owner(keystore: Keystore) -> None:
    keys = {keystore.public_key(r, o) for r in ("a", "b") for o in ("x", "y")}
    assert len(keys) == 4


@pytest.mark.parametrize("envelope", ["not base64!", "AAAA", ""])
def test_garbage_is_a_clear_error(keystore: Keystore, envelope: str) -> None:
    with pytest.raises(SecretsError):
        keystore.decrypt(envelope, REPO, OWNER, COMMIT, request_id="1")


def test_request_without_secrets_gets_empty_env(keystore: Keystore) -> None:
    assert keystore.open(sample_requested()) == {}


def test_cli_encrypt_binds_to_the_commit_unless_any_commit_is_chosen(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from offshore.cli import main
    from offshore.settings import get_settings

    master = generate_master_key()
    monkeypatch.setenv("OFFSHORE_KEYSTORE_MASTER_KEY", master)
    get_settings.cache_clear()
    keystore = Keystore.from_hex(master)
    base = ["secrets", "encrypt", "--repo", REPO, "--owner", OWNER]
    try:
        assert main([*base, "K=v"]) == 2  # neither flag: refused, no silent default
        assert "--commit" in capsys.readouterr().err
        assert main([*base, "--commit", COMMIT, "K=v"]) == 0
        pinned = capsys.readouterr().out.strip()
        assert main([*base, "--any-commit", "K=v"]) == 0
        anywhere = capsys.readouterr().out.strip()
    finally:
        get_settings.cache_clear()
    assert keystore.decrypt(pinned, REPO, OWNER, COMMIT, request_id="1") == {"K": "v"}
    with pytest.raises(SecretsError):
        keystore.decrypt(pinned, REPO, OWNER, NEXT_COMMIT, request_id="1")
    assert keystore.decrypt(anywhere, REPO, OWNER, NEXT_COMMIT, request_id="1") == {"K": "v"}
