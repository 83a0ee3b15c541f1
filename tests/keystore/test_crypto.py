"""Envelopes: v3 seals the owner's policy as associated data; rotation; v2 still opens; v1 refused."""

from __future__ import annotations

import base64
import json

import pytest

from keystore.crypto import (
    ANY_COMMIT,
    MasterKeys,
    Policy,
    SecretsError,
    encrypt_secrets,
    encrypt_secrets_v2,
    fingerprint,
    generate_master_key,
    parse_envelope,
)

REPO, OWNER = "https://github.com/acme/app.git", "alice.test.near"
COMMIT, NEXT_COMMIT = "a" * 40, "b" * 40
SECRET = "s3cr3t-value-93"


def seal(keys: MasterKeys, policy: Policy, *, owner: str = OWNER) -> str:
    return encrypt_secrets(
        keys.public_key(REPO, owner), REPO, owner, {"API_KEY": SECRET}, key_id=keys.newest, policy=policy
    )


def opened(keys: MasterKeys, envelope: str, *, sender: str = OWNER, commit: str = COMMIT) -> dict[str, str]:
    return keys.open(parse_envelope(envelope, repo=REPO, sender=sender, commit=commit))


def test_v3_round_trip_and_the_header_is_readable_without_opening() -> None:
    keys = MasterKeys.parse(f"k1:{generate_master_key()}")
    policy = Policy(commit=COMMIT, senders=("bob.test.near",), expires_at_height=500)
    envelope = seal(keys, policy)
    assert SECRET not in envelope and SECRET not in base64.b64decode(envelope).decode(errors="replace")
    head = parse_envelope(envelope, repo=REPO, sender="whoever", commit=NEXT_COMMIT).header
    assert (head.version, head.key_id, head.repo, head.owner, head.policy) == (3, "k1", REPO, OWNER, policy)
    assert head.allowed_senders() == ("bob.test.near",)
    assert opened(keys, envelope) == {"API_KEY": SECRET}


def _edit_header(envelope: str, **changes: object) -> str:
    raw = base64.b64decode(envelope)
    size = int.from_bytes(raw[1:3], "big")
    header = json.loads(raw[3 : 3 + size])
    header.update(changes)
    new = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    return base64.b64encode(raw[:1] + len(new).to_bytes(2, "big") + new + raw[3 + size :]).decode()


@pytest.mark.parametrize(
    "changes",
    [{"commit": ANY_COMMIT}, {"senders": ["mallory.test.near"]}, {"expires": None}, {"expires": 10**9}],
    ids=["widen-commit", "add-sender", "drop-expiry", "extend-expiry"],
)
def test_a_policy_edited_after_sealing_does_not_open(changes: dict[str, object]) -> None:
    keys = MasterKeys.parse(f"k1:{generate_master_key()}")
    envelope = seal(keys, Policy(commit=COMMIT, expires_at_height=100))
    forged = _edit_header(envelope, **changes)
    assert parse_envelope(forged, repo=REPO, sender=OWNER, commit=COMMIT).header.policy != Policy(
        commit=COMMIT, expires_at_height=100
    )
    with pytest.raises(SecretsError, match="do not open") as info:
        opened(keys, forged)
    assert SECRET not in str(info.value)


def test_a_header_naming_another_owner_or_repo_does_not_open() -> None:
    keys = MasterKeys.parse(f"k1:{generate_master_key()}")
    envelope = seal(keys, Policy(commit=ANY_COMMIT))
    for changes in ({"owner": "mallory.test.near"}, {"repo": "https://github.com/evil/x.git"}):
        with pytest.raises(SecretsError):
            opened(keys, _edit_header(envelope, **changes))


def test_rotation_newest_seals_old_keys_still_open() -> None:
    old, new = generate_master_key(), generate_master_key()
    before = MasterKeys.parse(f"k1:{old}")
    sealed_before = seal(before, Policy(commit=COMMIT))
    after = MasterKeys.parse(f"k1:{old}\nk2:{new}\n")
    assert after.newest == "k2" and after.ids == ("k1", "k2")
    assert after.public_key(REPO, OWNER) != before.public_key(REPO, OWNER)
    assert after.public_key(REPO, OWNER, key_id="k1") == before.public_key(REPO, OWNER)
    sealed_after = seal(after, Policy(commit=COMMIT))
    assert parse_envelope(sealed_after, repo=REPO, sender=OWNER, commit=COMMIT).header.key_id == "k2"
    assert opened(after, sealed_before) == opened(after, sealed_after) == {"API_KEY": SECRET}
    retired = MasterKeys.parse(f"k2:{new}")  # k1 dropped: its ciphertexts no longer open
    with pytest.raises(SecretsError, match="does not hold"):
        opened(retired, sealed_before)


def test_v2_envelopes_still_open_with_the_pre_rotation_key_id_0() -> None:
    legacy = generate_master_key()
    keys = MasterKeys.parse(f"{legacy},k2:{generate_master_key()}")  # bare hex = id "0"
    assert keys.ids == ("0", "k2")
    v2 = encrypt_secrets_v2(keys.public_key(REPO, OWNER, key_id="0"), REPO, OWNER, {"K": "v"}, commit=COMMIT)
    assert opened(keys, v2) == {"K": "v"}
    with pytest.raises(SecretsError):  # its commit binding still holds
        opened(keys, v2, commit=NEXT_COMMIT)
    with pytest.raises(SecretsError):  # and only its owner's requests open it
        opened(keys, v2, sender="mallory.test.near")
    any_v2 = encrypt_secrets_v2(keys.public_key(REPO, OWNER, key_id="0"), REPO, OWNER, {"K": "v"}, commit=None)
    assert opened(keys, any_v2, commit=NEXT_COMMIT) == {"K": "v"}


def test_v1_and_garbage_are_refused_with_a_clear_error() -> None:
    v1 = base64.b64encode(bytes([1]) + bytes(64)).decode()
    with pytest.raises(SecretsError, match="re-encrypt"):
        parse_envelope(v1, repo=REPO, sender=OWNER, commit=COMMIT)
    for bad, match in (("%%%", "base64"), (base64.b64encode(b"\x07abc").decode(), "version")):
        with pytest.raises(SecretsError, match=match):
            parse_envelope(bad, repo=REPO, sender=OWNER, commit=COMMIT)


@pytest.mark.parametrize(
    ("text", "match"),
    [("", "no keystore master key"), ("k1:abcd", "at least 32 bytes"), ("k1:zz", "not hex"),
     (f"k1:{'00' * 32},k1:{'11' * 32}", "twice"), (f"bad id:{'00' * 32}", "id")],
)  # fmt: skip
def test_master_key_text_is_checked(text: str, match: str) -> None:
    with pytest.raises(SecretsError, match=match) as info:
        MasterKeys.parse(text)
    assert "00" * 32 not in str(info.value)


def test_policies_are_validated_when_sealing() -> None:
    with pytest.raises(SecretsError, match="40-hex"):
        Policy(commit="main")
    with pytest.raises(SecretsError, match="height"):
        Policy(commit=COMMIT, expires_at_height=-1)


def test_fingerprints_bind_key_id_repo_and_owner() -> None:
    key = bytes(range(32))
    base = fingerprint("k1", REPO, OWNER, key)
    assert base.startswith("sha256:")
    others = {
        fingerprint("k2", REPO, OWNER, key),
        fingerprint("k1", "r", OWNER, key),
        fingerprint("k1", REPO, "o", key),
    }
    assert base not in others and len(others) == 3
