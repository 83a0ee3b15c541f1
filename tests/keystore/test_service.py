"""The keystore service end to end: a real devnet with the contract, a real broker for the audit
trail, the `offshore keystore` process, and the CLI a dApp developer runs. Requests are put on chain
and left pending (no pipeline runs), and the decrypt API is called exactly as the execute stage does.

Every case is denied or granted by the keystore's own chain read, and audited on offshore.audit.v1;
no secret value appears in any audit message, the keystore's log or its metrics page.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from keystore import (
    DecryptClient,
    KeystoreUnavailable,
    SecretsDenied,
    SecretsUnconfirmed,
    fetch_public_key,
    generate_master_key,
)
from keystore.chain import ChainReader
from keystore.client import client_tls
from keystore.crypto import parse_envelope
from offshore.local import CLIENTS, LocalPlatform, PlatformInfo
from offshore.stack import free_port
from projector import refresh_views
from schemas import CodeSource, ExecutionRequested, SecretsAccessed, decode
from schemas.samples import sample_requested
from streams.kafka import make_consumer
from streams.topics import AUDIT

pytestmark = pytest.mark.integration

REPO = "https://github.com/acme/keystore-e2e.git"
COMMIT, OTHER = "c" * 40, "d" * 40
ALICE, BOB = CLIENTS
RUN = uuid.uuid4().hex[:8]
SECRETS = {"API_KEY": f"api-{RUN}-value", "DB_PASSWORD": f"db-{RUN}-value"}


@pytest.fixture(scope="module")
def platform() -> Iterator[tuple[LocalPlatform, PlatformInfo]]:
    state = Path(tempfile.mkdtemp(prefix="offshore-keystore-", dir="/tmp"))  # Postgres needs a 0755 path
    (state / "keystore.key").write_text(f"k1:{generate_master_key()}\n")
    platform = LocalPlatform(
        state, processes=("keystore", "project"), block_interval_s=0.1, yield_timeout_blocks=5000, operator_keys=0
    )
    info = platform.start()
    try:
        yield platform, info
    finally:
        platform.stop()
        shutil.rmtree(state, ignore_errors=True)


def token(info: PlatformInfo) -> str:
    return (info.state_dir / "keystore.token").read_text().strip()


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "offshore.cli", *args], input=stdin, capture_output=True, text=True, timeout=60
    )


async def seal(info: PlatformInfo, owner: str, **policy: Any) -> str:
    commit = policy.pop("commit", COMMIT)
    key = await fetch_public_key(info.keystore_url, REPO, owner, commit=commit)
    return key.seal(SECRETS, **policy)


async def put_on_chain(info: PlatformInfo, sender: str, sealed: str, *, commit: str = COMMIT) -> ExecutionRequested:
    async with info.client(sender) as client:
        sent = await client.request(repo=REPO, commit=commit, encrypted_secrets=sealed)
    chain = ChainReader(info.rpc_url, info.contract_id)
    try:
        for _ in range(200):  # poll: the indexer hands execute only final requests; wait for finality too
            if await chain.get_request(sent.request_id) is not None:
                break
            await asyncio.sleep(0.05)  # poll
    finally:
        await chain.close()
    return dataclasses.replace(
        sample_requested(sent.request_id),
        sender_id=sender,
        code_source=CodeSource(repo=REPO, commit=commit, build_target="wasm32-wasip1"),
        encrypted_secrets=sealed,
    )


@pytest.fixture
async def execute(platform: tuple[LocalPlatform, PlatformInfo]) -> AsyncIterator[DecryptClient]:
    client = DecryptClient(platform[1].keystore_decrypt_url, token(platform[1]))
    yield client
    await client.close()


def audit_events() -> list[SecretsAccessed]:
    return [e for _, e in _audit_messages()]


def _audit_messages() -> list[tuple[bytes, SecretsAccessed]]:
    info = _INFO[0]
    consumer = make_consumer(info.endpoints.kafka_bootstrap, f"audit-{uuid.uuid4().hex[:6]}")
    consumer.subscribe([AUDIT.name])
    out: list[tuple[bytes, SecretsAccessed]] = []
    quiet = time.monotonic()
    while time.monotonic() - quiet < 2 or not out:  # poll: read the audit topic to its end
        msg = consumer.poll(0.1)
        if msg is None or msg.error() is not None:
            assert time.monotonic() - quiet < 30, "no audit events"
            continue
        quiet = time.monotonic()
        raw = msg.value() or b""
        event = decode(raw)
        assert isinstance(event, SecretsAccessed)
        out.append((raw, event))
    consumer.close()
    return out


_INFO: list[PlatformInfo] = []


@pytest.fixture(autouse=True)
def _remember(platform: tuple[LocalPlatform, PlatformInfo]) -> None:
    _INFO[:] = [platform[1]]


def _newest_key(info: PlatformInfo) -> str | None:
    try:
        with urllib.request.urlopen(f"{info.keystore_url}/health", timeout=1) as resp:
            return str(json.loads(resp.read())["key_id"])
    except OSError:
        return None


def audited(request_id: str) -> SecretsAccessed:
    for _ in range(50):  # poll: the audit is acknowledged before the answer, so it is there already
        found = [e for e in audit_events() if e.request_id == request_id]
        if found:
            return found[-1]
    raise AssertionError(f"request {request_id} not audited")


def test_the_public_api_serves_keys_health_and_openapi(platform: tuple[LocalPlatform, PlatformInfo]) -> None:
    info = platform[1]
    with urllib.request.urlopen(f"{info.keystore_url}/health", timeout=5) as resp:
        assert json.loads(resp.read()) == {"status": "ok", "key_id": "k1"}
    with urllib.request.urlopen(f"{info.keystore_url}/openapi.json", timeout=5) as resp:
        spec = json.loads(resp.read())
    assert spec["openapi"].startswith("3.") and {"/v1/public-key", "/v1/decrypt"} <= set(spec["paths"])
    pub = cli("secrets", "pubkey", "--keystore", info.keystore_url, "--repo", REPO, "--owner", ALICE)
    assert pub.returncode == 0, pub.stderr
    assert "key id       k1" in pub.stdout and "fingerprint  sha256:" in pub.stdout
    # the decrypt API is not on the public listener
    with pytest.raises(urllib.error.HTTPError) as info_:
        urllib.request.urlopen(urllib.request.Request(f"{info.keystore_url}/v1/decrypt", data=b"{}"), timeout=5)
    assert info_.value.code in (404, 405)


async def test_a_developer_seals_with_only_the_cli_and_execute_opens_it(
    platform: tuple[LocalPlatform, PlatformInfo], execute: DecryptClient
) -> None:
    info = platform[1]
    pub = cli(
        "secrets", "pubkey", "--keystore", info.keystore_url, "--repo", REPO, "--owner", ALICE, "--commit", COMMIT
    )
    fingerprint = next(line.split()[-1] for line in pub.stdout.splitlines() if line.startswith("fingerprint"))
    lines = "".join(f"{k}={v}\n" for k, v in SECRETS.items())
    args = ("secrets", "encrypt", "--keystore", info.keystore_url, "--repo", REPO, "--owner", ALICE, "--commit", COMMIT)
    sealed = cli(*args, "--fingerprint", fingerprint, "-", stdin=lines)
    assert sealed.returncode == 0, sealed.stderr
    wrong = cli(*args, "--fingerprint", "sha256:" + "0" * 64, "-", stdin=lines)
    assert wrong.returncode == 2 and "fingerprint mismatch" in wrong.stderr
    req = await put_on_chain(info, ALICE, sealed.stdout.strip())
    assert await execute.open(req) == SECRETS
    event = audited(req.request_id)
    assert (event.granted, event.reason, event.secret_names) == (True, "granted", sorted(SECRETS))
    assert (event.owner_id, event.sender_id, event.repo, event.commit, event.key_id) == (
        ALICE,
        ALICE,
        REPO,
        COMMIT,
        "k1",
    )


async def test_a_wrong_token_is_refused_and_audited(platform: tuple[LocalPlatform, PlatformInfo]) -> None:
    info = platform[1]
    req = await put_on_chain(info, ALICE, await seal(info, ALICE))
    intruder = DecryptClient(info.keystore_decrypt_url, "not-the-token-" + "x" * 20)
    try:
        with pytest.raises(KeystoreUnavailable, match="401"):
            await intruder.open(req)
    finally:
        await intruder.close()
    event = audited(req.request_id)
    assert not event.granted and event.reason.startswith("unauthenticated") and event.caller == "unauthenticated"


async def test_a_forged_request_is_unconfirmed_and_audited(
    platform: tuple[LocalPlatform, PlatformInfo], execute: DecryptClient
) -> None:
    """An event on Kafka naming a real request but carrying a victim's ciphertext, or naming none."""
    info = platform[1]
    victim = await seal(info, ALICE)
    decoy = await put_on_chain(info, BOB, await seal(info, BOB))
    forged = dataclasses.replace(decoy, sender_id=ALICE, encrypted_secrets=victim)
    with pytest.raises(SecretsUnconfirmed, match="sender differs"):
        await execute.open(forged)
    assert audited(decoy.request_id).reason.startswith("unconfirmed: sender differs")
    ghost = dataclasses.replace(forged, request_id="987654321")
    with pytest.raises(SecretsUnconfirmed, match="no such request"):
        await execute.open(ghost)
    assert not audited("987654321").granted


async def test_another_commit_is_denied_and_audited(
    platform: tuple[LocalPlatform, PlatformInfo], execute: DecryptClient
) -> None:
    info = platform[1]
    req = await put_on_chain(info, ALICE, await seal(info, ALICE, commit=COMMIT), commit=OTHER)
    with pytest.raises(SecretsDenied) as denied:
        await execute.open(req)
    assert denied.value.reason == "commit_not_allowed"
    event = audited(req.request_id)
    assert (event.granted, event.reason.split(":")[0], event.secret_names) == (False, "commit_not_allowed", [])
    any_commit = await put_on_chain(info, ALICE, await seal(info, ALICE, commit=None), commit=OTHER)
    assert await execute.open(any_commit) == SECRETS


async def test_another_sender_is_denied_unless_allow_listed(
    platform: tuple[LocalPlatform, PlatformInfo], execute: DecryptClient
) -> None:
    info = platform[1]
    copied = await put_on_chain(info, BOB, await seal(info, ALICE))  # bob replays alice's ciphertext
    with pytest.raises(SecretsDenied) as denied:
        await execute.open(copied)
    assert denied.value.reason == "sender_not_allowed"
    event = audited(copied.request_id)
    assert (event.owner_id, event.sender_id, event.reason.split(":")[0]) == (ALICE, BOB, "sender_not_allowed")
    shared = await put_on_chain(info, BOB, await seal(info, ALICE, senders=(BOB,)))
    assert await execute.open(shared) == SECRETS
    assert audited(shared.request_id).granted


async def test_an_expired_policy_is_denied_and_audited(
    platform: tuple[LocalPlatform, PlatformInfo], execute: DecryptClient
) -> None:
    info = platform[1]
    req = await put_on_chain(info, ALICE, await seal(info, ALICE, expires_at_height=1))
    with pytest.raises(SecretsDenied) as denied:
        await execute.open(req)
    assert denied.value.reason == "policy_expired"
    event = audited(req.request_id)
    assert event.reason.startswith("policy_expired") and event.observed_height and event.observed_height > 1
    later = await put_on_chain(info, ALICE, await seal(info, ALICE, expires_at_height=10**9))
    assert await execute.open(later) == SECRETS


def _certificates(root: Path) -> dict[str, str]:
    """A CA, the keystore's server certificate (127.0.0.1), execute's client certificate, and a
    client certificate from another CA: PEM files, as the Kubernetes Secrets carry them."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.now(UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def issue(cn: str, key: ec.EllipticCurvePrivateKey, issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
              *, ca: bool = False, server: bool = False) -> x509.Certificate:  # fmt: skip
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(cn))
            .issuer_name(issuer[0] if issuer else name(cn))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
            )
        return builder.sign(issuer[1] if issuer else key, hashes.SHA256())

    files: dict[str, str] = {}

    def write(label: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey | None = None) -> None:
        (root / f"{label}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        files[f"{label}.crt"] = str(root / f"{label}.crt")
        if key is not None:
            pem = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            (root / f"{label}.key").write_bytes(pem)
            files[f"{label}.key"] = str(root / f"{label}.key")

    ca_key, rogue_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = issue("offshore-ca", ca_key, None, ca=True)
    rogue_ca = issue("rogue-ca", rogue_key, None, ca=True)
    write("ca", ca)
    for label, cn, issuer, server in (
        ("keystore", "offshore-keystore-api", (ca.subject, ca_key), True),
        ("execute", "offshore-execute", (ca.subject, ca_key), False),
        ("rogue", "offshore-execute", (rogue_ca.subject, rogue_key), False),
    ):
        key = ec.generate_private_key(ec.SECP256R1())
        write(label, issue(cn, key, issuer, server=server), key)
    return files


async def test_mtls_decrypt_needs_a_client_certificate_from_our_ca(
    platform: tuple[LocalPlatform, PlatformInfo],
) -> None:
    plat, info = platform
    certs = _certificates(Path(tempfile.mkdtemp(prefix="offshore-mtls-", dir="/tmp")))
    public, decrypt = free_port(), free_port()
    plat.add_process(
        "keystore-mtls",
        "keystore",
        env={
            "OFFSHORE_KEYSTORE_PORT": str(public),
            "OFFSHORE_KEYSTORE_DECRYPT_PORT": str(decrypt),
            "OFFSHORE_KEYSTORE_TLS_CERT": certs["keystore.crt"],
            "OFFSHORE_KEYSTORE_TLS_KEY": certs["keystore.key"],
            "OFFSHORE_KEYSTORE_TLS_CA": certs["ca.crt"],
        },
    )  # returns once /metrics answers: both listeners are bound
    req = await put_on_chain(info, ALICE, await seal(info, ALICE))
    url = f"https://127.0.0.1:{decrypt}"
    for tls in (client_tls(certs["ca.crt"]), client_tls(certs["ca.crt"], certs["rogue.crt"], certs["rogue.key"])):
        stranger = DecryptClient(url, token(info), tls=tls)  # right token, no or a foreign certificate
        try:
            with pytest.raises(KeystoreUnavailable):
                await stranger.open(req)
        finally:
            await stranger.close()
    execute = DecryptClient(
        url, token(info), tls=client_tls(certs["ca.crt"], certs["execute.crt"], certs["execute.key"])
    )
    try:
        assert await execute.open(req) == SECRETS
    finally:
        await execute.close()
    event = audited(req.request_id)
    assert event.granted and event.caller == "mtls:offshore-execute"


def test_no_secret_value_in_the_audit_topic_log_or_metrics(platform: tuple[LocalPlatform, PlatformInfo]) -> None:
    info = platform[1]
    needles = [v.encode() for v in SECRETS.values()]
    messages = _audit_messages()
    assert len(messages) >= 8 and {e.granted for _, e in messages} == {True, False}
    for raw, _ in messages:
        assert not any(n in raw for n in needles)
    log = (info.state_dir / "logs" / "keystore.log").read_bytes()
    assert not any(n in log for n in needles)
    assert b"secrets granted" in log and b"secrets denied" in log
    with urllib.request.urlopen(info.metrics["keystore"], timeout=5) as resp:
        page = resp.read()
    assert not any(n in page for n in needles)
    for code in ("sender_not_allowed", "commit_not_allowed", "policy_expired", "unconfirmed", "unauthenticated"):
        assert f'offshore_keystore_denials_total{{reason="{code}"}}'.encode() in page
    assert token(info).encode() not in log + page
    assert_projected_without_secrets(info, len(messages))
    master = Path(info.state_dir / "keystore.key").read_text().split(":")[-1].strip().encode()
    assert master not in log + page


def assert_projected_without_secrets(info: PlatformInfo, audited_count: int) -> None:
    """The projector stores every audit event; the analysts' views count them; no value is in Postgres."""
    dsn = info.endpoints.postgres_dsn

    def stored() -> int:
        with psycopg.connect(dsn) as conn:
            row = conn.execute("SELECT count(*) FROM store.events WHERE event_type = 'SecretsAccessed'").fetchone()
        return int(row[0]) if row else 0

    deadline = time.monotonic() + 60
    while stored() < audited_count:  # poll: the projector catches up with the audit topic
        assert time.monotonic() < deadline, "the projector did not store the audit events"
        time.sleep(0.1)  # poll
    refresh_views(dsn)
    with psycopg.connect(dsn) as conn:
        daily = conn.execute(
            "SELECT sum(granted), sum(denied) FROM analytics.secret_access_daily WHERE owner_id = %s", (ALICE,)
        ).fetchone()
        codes = {r[0] for r in conn.execute("SELECT reason_code FROM analytics.secret_denials").fetchall()}
        dump = conn.execute("SELECT string_agg(e::text, '') FROM store.events e").fetchone()
    assert daily is not None and daily[0] >= 3 and daily[1] >= 3
    assert {"sender_not_allowed", "commit_not_allowed", "policy_expired", "unconfirmed", "unauthenticated"} <= codes
    assert dump is not None and not any(v in dump[0] for v in SECRETS.values())


async def test_rotation_new_key_seals_old_ciphertexts_still_open(
    platform: tuple[LocalPlatform, PlatformInfo], execute: DecryptClient
) -> None:
    plat, info = platform
    before = await fetch_public_key(info.keystore_url, REPO, ALICE, commit=COMMIT)
    old = await put_on_chain(info, ALICE, before.seal(SECRETS))
    key_file = info.state_dir / "keystore.key"
    key_file.write_text(key_file.read_text() + f"k2:{generate_master_key()}\n")
    plat.restart("keystore")
    deadline = time.monotonic() + 60
    while _newest_key(info) != "k2":  # poll: the restarted keystore answers /health with the new newest key id
        assert time.monotonic() < deadline, plat.log_tail("keystore")
        await asyncio.sleep(0.1)  # poll
    after = await fetch_public_key(info.keystore_url, REPO, ALICE, commit=COMMIT)
    assert after.key_id == "k2" and after.public_key != before.public_key and after.fingerprint != before.fingerprint
    new = await put_on_chain(info, ALICE, after.seal(SECRETS))
    assert parse_envelope(new.encrypted_secrets or "", repo=REPO, sender=ALICE, commit=COMMIT).header.key_id == "k2"
    assert await execute.open(old) == SECRETS  # sealed under k1 before the rotation
    assert await execute.open(new) == SECRETS
    assert audited(old.request_id).key_id == "k1" and audited(new.request_id).key_id == "k2"
