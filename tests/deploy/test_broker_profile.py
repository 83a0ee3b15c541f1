"""The broker profiles against Apache Kafka's broker defaults, and who may create topics.

Tansu (our local broker) enforces none of the broker's group limits, so a session timeout that a real
Kafka refuses (INVALID_SESSION_TIMEOUT) would pass every other test: only these checks catch it. The
defaults are Apache Kafka's own (fixtures/kafka-broker-defaults.json names the source).
"""

from __future__ import annotations

import json
import ssl
import uuid
from pathlib import Path
from typing import Any

import faust
import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient
from pydantic import SecretStr

from offshore.settings import Settings, load_settings
from streams.app import app_settings, create_app
from streams.errors import KafkaError
from streams.kafka import consumer_config, create_topics, producer_config
from streams.kafka_profile import LOCAL, PRODUCTION, BrokerProfile, GroupTimings, KafkaSecurity, broker_profile
from streams.topics import Topic

DEFAULTS: dict[str, Any] = json.loads((Path(__file__).parent / "fixtures" / "kafka-broker-defaults.json").read_text())
PASSWORD = "s3cr3t-Sasl-pw-" + uuid.uuid4().hex[:8]
CA_FILE = Path(ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt")


def violations(profile: BrokerProfile) -> list[str]:
    """What a stock Apache Kafka 3.x/4.x broker would refuse, or what breaks group membership on it."""
    out = []
    for client, timings in (("faust", profile.faust), ("confluent", profile.consumer)):
        session = timings.session_timeout_ms
        if not DEFAULTS["group.min.session.timeout.ms"] <= session <= DEFAULTS["group.max.session.timeout.ms"]:
            out.append(f"{client}: session.timeout.ms {session} outside the broker's group session range")
        if timings.heartbeat_interval_ms * 3 > session:
            out.append(f"{client}: heartbeat.interval.ms {timings.heartbeat_interval_ms} > session/3")
        if timings.rebalance_timeout_ms < session:
            out.append(f"{client}: rebalance timeout / max.poll.interval.ms below the session timeout")
    group_protocol = profile.consumer_config("b:9092", "g")["group.protocol"]
    if group_protocol != "classic":  # the consumer protocol ignores client sessions (45-60 s broker side)
        out.append(f"group.protocol {group_protocol}: aiokafka (Faust) only speaks the classic protocol")
    if profile.creates_topics:
        out.append("processes create topics: they would race the topic operator")
    if profile.replication_factor < 3 or profile.replication_factor > DEFAULTS["offsets.topic.replication.factor"]:
        out.append(f"replication factor {profile.replication_factor} is not the production 3")
    if profile.producer("b:9092")["acks"] != "all":
        out.append("producers must wait for all in-sync replicas")
    return out


def test_production_profile_fits_the_kafka_broker_defaults() -> None:
    assert violations(PRODUCTION) == []


def test_the_check_refuses_the_local_profile_and_any_short_session() -> None:
    """The check can fail: today's fast local values are exactly what a real broker refuses."""
    assert any("session.timeout.ms 2000" in v for v in violations(LOCAL))
    from dataclasses import replace

    tweaked = replace(PRODUCTION, consumer=GroupTimings(5999, 1000, 300_000))
    assert violations(tweaked) == ["confluent: session.timeout.ms 5999 outside the broker's group session range"]
    assert violations(replace(PRODUCTION, faust=GroupTimings(10_000, 4000, 60_000))) == [
        "faust: heartbeat.interval.ms 4000 > session/3"
    ]


def test_real_clients_accept_the_production_settings() -> None:
    """librdkafka validates its properties (and their relations) when a client is constructed."""
    secure = BrokerProfile(
        **{
            **PRODUCTION.__dict__,
            "security": KafkaSecurity("SASL_SSL", "SCRAM-SHA-512", "offshore", SecretStr(PASSWORD), CA_FILE),
        }
    )
    for profile in (PRODUCTION, secure):
        Consumer(consumer_config("127.0.0.1:1", "g", profile=profile)).close()
        Producer(producer_config("127.0.0.1:1", profile=profile)).flush(0)
        AdminClient(profile.librdkafka_common("127.0.0.1:1"))
    config = consumer_config("127.0.0.1:1", "g", profile=secure)
    assert config["security.protocol"] == "SASL_SSL" and config["sasl.mechanism"] == "SCRAM-SHA-512"
    assert config["sasl.username"] == "offshore" and config["ssl.ca.location"] == str(CA_FILE)


def test_faust_gets_the_profile_timeouts_credentials_and_topic_ownership(tmp_path: Path) -> None:
    security = KafkaSecurity("SASL_SSL", "SCRAM-SHA-256", "offshore", SecretStr(PASSWORD), CA_FILE)
    profile = BrokerProfile(**{**PRODUCTION.__dict__, "security": security})
    app = create_app("profile-test", bootstrap="kafka-0:9092", data_dir=str(tmp_path), profile=profile)
    conf = app.conf
    assert conf.broker_session_timeout == 10.0 and conf.broker_heartbeat_interval == 3.0
    assert conf.broker_rebalance_timeout == 60.0
    assert conf.topic_allow_declare is False and conf.topic_replication_factor == 3
    credentials = conf.broker_credentials
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.mechanism.value == "SCRAM-SHA-256" and credentials.ssl_context is not None
    assert PASSWORD not in repr(credentials) and PASSWORD not in repr(profile) and PASSWORD not in str(conf.__dict__)
    local = app_settings("b:1", str(tmp_path), LOCAL)
    assert (local["broker_session_timeout"], local["topic_allow_declare"], local["broker_credentials"]) == (
        2.0,
        True,
        None,
    )
    tls_only = BrokerProfile(**{**PRODUCTION.__dict__, "security": KafkaSecurity("SSL", ssl_cafile=CA_FILE)})
    assert isinstance(app_settings("b:1", str(tmp_path), tls_only)["broker_credentials"], faust.SSLCredentials)


def test_settings_choose_the_profile() -> None:
    assert broker_profile(load_settings()).name == "local"  # embedded broker
    prod = broker_profile(load_settings(kafka_bootstrap="kafka:9092"))
    assert prod.name == "production" and prod.replication_factor == 3 and not prod.creates_topics
    assert broker_profile(load_settings(kafka_bootstrap="127.0.0.1:9", kafka_profile="local")).name == "local"
    assert broker_profile(load_settings(kafka_bootstrap="k:9", kafka_replication_factor=1)).replication_factor == 1
    secure = load_settings(
        kafka_bootstrap="k:9092",
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_username="offshore",
        kafka_sasl_password=PASSWORD,
        kafka_ssl_cafile=str(CA_FILE),
    )
    profile = broker_profile(secure)
    assert profile.security.librdkafka()["sasl.password"] == PASSWORD
    assert PASSWORD not in repr(secure) and PASSWORD not in repr(profile)


def test_settings_refuse_an_unknown_protocol() -> None:
    from offshore.errors import ConfigError

    with pytest.raises(ConfigError, match="OFFSHORE_KAFKA_SECURITY_PROTOCOL"):
        load_settings(kafka_security_protocol="SASL_PLAIN")


def test_production_never_creates_topics_local_does(kafka_bootstrap: str) -> None:
    topic = Topic(f"test.profile.{uuid.uuid4().hex[:8]}", (), partitions=2)
    with pytest.raises(KafkaError, match=f"topics {topic.name} do not exist.*topic operator"):
        create_topics(kafka_bootstrap, [topic], profile=PRODUCTION)
    assert topic.name not in AdminClient({"bootstrap.servers": kafka_bootstrap}).list_topics(timeout=10).topics
    assert create_topics(kafka_bootstrap, [topic], profile=LOCAL) == [topic.name]
    assert create_topics(kafka_bootstrap, [topic], profile=PRODUCTION) == []  # present: nothing to do


def _listening_address(port: int) -> str:
    """The local address a TCP socket listens on for `port`, read from /proc/net/tcp (IPv4)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if int(hex_port, 16) == port and state == "0A":  # LISTEN
            return ".".join(str(b) for b in reversed(bytes.fromhex(address)))
    raise AssertionError(f"nothing listens on {port}")


def test_metrics_bind_loopback_unless_configured() -> None:
    from offshore.processes import _start_metrics
    from offshore.stack import free_port

    port = free_port()
    _start_metrics(load_settings(metrics_port=port))
    assert _listening_address(port) == "127.0.0.1"
    wildcard = free_port()
    _start_metrics(load_settings(metrics_port=wildcard, metrics_host="0.0.0.0"))  # what the pods set
    assert _listening_address(wildcard) == "0.0.0.0"


def test_the_dev_stack_runs_the_local_profile_on_loopback() -> None:
    """`offshore up` points its processes at the embedded broker by address, so it names the profile."""
    from offshore.local import LocalPlatform

    platform = LocalPlatform(Path("/nonexistent"))
    info = type("Info", (), {"endpoints": type("E", (), {"kafka_bootstrap": "127.0.0.1:1", "postgres_dsn": "x"})})
    for attr in ("rpc_url", "block_api_url", "contract_id"):
        setattr(info, attr, "x")
    env = platform._base_env(info)  # type: ignore[arg-type]
    values = {k.removeprefix("OFFSHORE_").lower(): v for k, v in env.items() if k.startswith("OFFSHORE_")}
    settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
    assert broker_profile(settings).name == "local" and settings.metrics_host == "127.0.0.1"


async def test_faust_builds_its_kafka_consumer_from_the_profile(tmp_path: Path) -> None:
    """The real aiokafka consumer Faust creates: the profile's fetch wait (not Faust's hard-coded
    1500 ms), session and heartbeat."""
    for profile in (LOCAL, PRODUCTION):
        app = create_app(f"consumer-{profile.name}", bootstrap="127.0.0.1:1", data_dir=str(tmp_path), profile=profile)
        consumer = app.consumer._new_consumer_thread()._create_worker_consumer(app.transport)
        try:
            assert consumer._fetch_max_wait_ms == profile.fetch_wait_max_ms
            assert consumer._session_timeout_ms == profile.faust.session_timeout_ms
            assert consumer._heartbeat_interval_ms == profile.faust.heartbeat_interval_ms
        finally:
            await consumer.stop()
