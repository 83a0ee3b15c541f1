"""Rule 5 end to end: a request's secret reaches its guest as an env var and nothing else.

The plaintext is looked for everywhere the platform writes: every process log (the keystore's too),
every message on every topic (the audit topic too), the Postgres event store and every /metrics page.
The execute stage holds no master key: it gets the env map from the keystore service, which audits
the access; a request the owner's policy refuses settles as failed, and the stage keeps running.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import psycopg
import pytest

import executor.examples as examples
from keystore import fetch_public_key
from offshore.local import CLIENTS
from offshore.testing import scrape, wait_until
from schemas import decode
from streams.kafka import make_consumer
from streams.topics import ALL_TOPICS, AUDIT, REQUESTS

from .conftest import Harness

pytestmark = pytest.mark.integration


def _fnv1a64(text: str) -> str:
    h = 0xCBF29CE484222325
    for byte in text.encode():
        h = ((h ^ byte) * 0x100000001B3) % 2**64
    return f"{h:016x}"


async def test_a_secret_reaches_the_guest_and_nowhere_else(harness: Harness) -> None:
    info = harness.info
    url, commit = examples.publish("secret_env", info.state_dir / "repos")
    secret = f"plaintext-{uuid.uuid4().hex}"
    sender = CLIENTS[0]
    sealed = (await fetch_public_key(info.keystore_url, url, sender, commit=commit)).seal({"API_KEY": secret})
    async with harness.client(sender) as alice:
        sent = await alice.request(repo=url, commit=commit, encrypted_secrets=sealed, response_format="Json")
        view = (await harness.finals([sent.request_id]))[sent.request_id]
        output = await alice.result(sent.tx_hash)
    assert view["status"] == "completed"
    assert output["present"] is True and output["length"] == len(secret)
    assert output["fnv1a64"] == _fnv1a64(secret)  # the guest saw exactly this value
    assert output["can_open_files"] is False

    needle = secret.encode()
    for log in (info.state_dir / "logs").glob("*.log"):
        assert needle not in log.read_bytes(), log.name
    for process, url_ in info.metrics.items():
        assert secret not in str(scrape(url_)), process

    consumer = make_consumer(info.endpoints.kafka_bootstrap, f"secrets-{uuid.uuid4().hex[:6]}")
    consumer.subscribe([t.name for t in ALL_TOPICS])
    seen = 0
    found_request = False
    audited: list[Any] = []
    quiet_since = time.monotonic()
    while time.monotonic() - quiet_since < 3 or not found_request:  # poll: read every topic to its end
        msg = consumer.poll(0.1)
        if msg is None or msg.error() is not None:
            assert time.monotonic() - quiet_since < 60, "topics never went quiet"
            continue
        quiet_since = time.monotonic()
        seen += 1
        value = msg.value() or b""
        assert needle not in value and needle not in (msg.key() or b""), msg.topic()
        found_request |= msg.topic() == REQUESTS.name and sent.request_id.encode() == msg.key()
        if msg.topic() == AUDIT.name and msg.key() == sent.request_id.encode():
            audited.append(decode(value))
    consumer.close()
    assert seen > 0
    assert [(a.granted, a.secret_names, a.sender_id) for a in audited] == [(True, ["API_KEY"], sender)]
    execute_env = harness.platform._children["execute"].env
    assert not {"OFFSHORE_KEYSTORE_MASTER_KEY", "OFFSHORE_KEYSTORE_MASTER_KEY_FILE"} & set(execute_env)

    def stored() -> bool:
        with psycopg.connect(info.endpoints.postgres_dsn) as conn:
            row = conn.execute("SELECT count(*) FROM store.events WHERE request_id = %s", (sent.request_id,)).fetchone()
            return bool(row and row[0] >= 4)

    wait_until(stored, timeout_s=60, what="the projector to store the request's events")
    with psycopg.connect(info.endpoints.postgres_dsn) as conn:
        dump = conn.execute("SELECT string_agg(e::text, '\n') FROM store.events e").fetchone()
    assert dump is not None and dump[0]
    assert secret not in dump[0]
    assert sealed not in dump[0]  # not even the ciphertext is kept


async def test_a_request_the_owners_policy_refuses_settles_as_failed(harness: Harness) -> None:
    """Bob sends Alice's ciphertext (sealed for her requests only): the keystore denies, execute fails
    the request, the contract refunds what was not charged, and the pipeline goes on."""
    info = harness.info
    url, commit = examples.publish("secret_env", info.state_dir / "repos")
    alice, bob = CLIENTS
    sealed = (await fetch_public_key(info.keystore_url, url, alice, commit=commit)).seal({"API_KEY": "alice-only"})
    async with harness.client(bob) as client:
        sent = await client.request(repo=url, commit=commit, encrypted_secrets=sealed, response_format="Json")
        view = (await harness.finals([sent.request_id]))[sent.request_id]
    assert view["status"] == "failed", view
    assert "sender_not_allowed" in str(view.get("error")), view
    assert int(view["payment_charged"]) + int(view["payment_refunded"]) == sent.deposit
    assert int(view["payment_refunded"]) > 0
    assert harness.platform.alive()["execute"]
