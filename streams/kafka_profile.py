"""Broker profiles: the Kafka client settings of every process, chosen by settings, never by code path.

Two profiles, one code path:

- `local`: the embedded Tansu broker (`offshore up`, tests). Tansu does not enforce the broker's
  session limits and joins a group in about session.timeout/2, and an empty fetch waits the whole
  fetch.wait.max.ms (docs/toolchain.md), so timeouts are short. Processes create missing topics (1 replica).
- `production`: any stock Apache Kafka 3.x/4.x broker (Strimzi in deploy/). Every value is inside the
  broker defaults (tests/deploy/test_broker_profile.py checks them against Apache Kafka's source):
  * session.timeout.ms 10 s: group.min.session.timeout.ms is 6 s, so 2 s is refused
    (INVALID_SESSION_TIMEOUT); 10 s notices a hard-killed pod quickly (a pod stopped by SIGTERM leaves
    the group at once), well under the 30 min maximum.
  * heartbeat.interval.ms 3 s: at most a third of the session (Kafka's guidance), so two heartbeats
    may be lost before the member is evicted.
  * rebalance timeout (Faust) 60 s and max.poll.interval.ms (librdkafka) 300 s: room for a slow build
    or Postgres batch between polls without being thrown out of the group.
  * fetch.wait.max.ms 500 ms (Kafka's default): on a real broker a fetch returns as soon as one byte
    (fetch.min.bytes) is there, so this only bounds idle fetches and adds no latency per hop.
  * group.protocol classic: KIP-848's `consumer` protocol ignores client session settings and aiokafka
    (Faust) does not speak it; Tansu never assigns with it.
  * topics are owned by the Strimzi topic operator (deploy/k8s/base/topics): processes never create
    them, they only check at start that they exist, so nothing races the operator with 1 replica.

Security (SASL/TLS) applies to both profiles and to Faust and confluent-kafka alike. The SASL password
is a SecretStr until the client config is built; it never appears in a repr, log or error.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import SecretStr

if TYPE_CHECKING:
    from offshore.settings import Settings

ProfileName = Literal["local", "production"]


@dataclass(frozen=True)
class GroupTimings:
    """Consumer-group timings of one client library."""

    session_timeout_ms: int
    heartbeat_interval_ms: int
    rebalance_timeout_ms: int  # Faust: the coordinator's rebalance timeout; librdkafka: max.poll.interval.ms


@dataclass(frozen=True)
class KafkaSecurity:
    """How clients authenticate to and encrypt towards the brokers."""

    protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "SCRAM-SHA-512"
    sasl_username: str = ""
    sasl_password: SecretStr = field(default_factory=lambda: SecretStr(""))
    ssl_cafile: Path | None = None

    @property
    def uses_sasl(self) -> bool:
        return self.protocol.startswith("SASL_")

    @property
    def uses_tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    def librdkafka(self) -> dict[str, Any]:
        """confluent-kafka (librdkafka) properties; holds the password in clear: pass it, never print it."""
        config: dict[str, Any] = {"security.protocol": self.protocol}
        if self.uses_sasl:
            config["sasl.mechanism"] = self.sasl_mechanism
            config["sasl.username"] = self.sasl_username
            config["sasl.password"] = self.sasl_password.get_secret_value()
        if self.uses_tls and self.ssl_cafile is not None:
            config["ssl.ca.location"] = str(self.ssl_cafile)
        return config

    def faust_credentials(self) -> Any:
        """Faust's `broker_credentials` (aiokafka); None for PLAINTEXT. Their repr shows no password."""
        import faust

        context = None
        if self.uses_tls:
            context = ssl.create_default_context(cafile=str(self.ssl_cafile) if self.ssl_cafile else None)
        if self.uses_sasl:
            return faust.SASLCredentials(
                username=self.sasl_username,
                password=self.sasl_password.get_secret_value(),
                mechanism=self.sasl_mechanism,
                ssl_context=context,
            )
        if self.uses_tls:
            return faust.SSLCredentials(context)
        return None


@dataclass(frozen=True)
class BrokerProfile:
    name: ProfileName
    faust: GroupTimings
    consumer: GroupTimings  # confluent-kafka consumers (projector, tools)
    fetch_wait_max_ms: int
    commit_interval_s: float  # Faust's offset commit period (at-least-once; stages are idempotent)
    linger_ms: int
    creates_topics: bool
    replication_factor: int
    security: KafkaSecurity = field(default_factory=KafkaSecurity)

    def librdkafka_common(self, bootstrap: str) -> dict[str, Any]:
        return {"bootstrap.servers": bootstrap, "log_level": 3, **self.security.librdkafka()}

    def producer(self, bootstrap: str) -> dict[str, Any]:
        return {
            **self.librdkafka_common(bootstrap),
            "enable.idempotence": True,
            "acks": "all",  # with min.insync.replicas 2 of 3 in production: no acknowledged write is lost
            "linger.ms": self.linger_ms,
        }

    def consumer_config(self, bootstrap: str, group_id: str) -> dict[str, Any]:
        return {
            **self.librdkafka_common(bootstrap),
            "group.id": group_id,
            "group.protocol": "classic",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",  # `latest` misbehaves on Tansu's high watermark
            "fetch.wait.max.ms": self.fetch_wait_max_ms,
            "session.timeout.ms": self.consumer.session_timeout_ms,
            "heartbeat.interval.ms": self.consumer.heartbeat_interval_ms,
            "max.poll.interval.ms": self.consumer.rebalance_timeout_ms,
        }

    def faust_settings(self) -> dict[str, Any]:
        """Faust App settings for this profile (seconds where Faust takes seconds)."""
        return {
            "broker_session_timeout": self.faust.session_timeout_ms / 1000,
            "broker_heartbeat_interval": self.faust.heartbeat_interval_ms / 1000,
            "broker_rebalance_timeout": self.faust.rebalance_timeout_ms / 1000,
            "broker_commit_interval": self.commit_interval_s,
            "broker_credentials": self.security.faust_credentials(),
            "producer_linger_ms": self.linger_ms,
            "producer_acks": -1,
            "topic_allow_declare": self.creates_topics,
            "topic_replication_factor": self.replication_factor,
        }


LOCAL = BrokerProfile(
    name="local",
    faust=GroupTimings(session_timeout_ms=2000, heartbeat_interval_ms=500, rebalance_timeout_ms=2000),
    consumer=GroupTimings(session_timeout_ms=6000, heartbeat_interval_ms=500, rebalance_timeout_ms=300_000),
    # Tansu wakes a waiting fetch within ~9 ms at 50 (3 ms at 10), but every idle consumer fetches 5x
    # less often: the idle pipeline went from 0.74 to 0.31 cores (Tansu 0.32 -> 0.11), room the
    # capacity and chaos benches need on 2 cores (bench/README.md)
    fetch_wait_max_ms=50,
    commit_interval_s=0.2,
    linger_ms=1,
    creates_topics=True,
    replication_factor=1,
)

PRODUCTION = BrokerProfile(
    name="production",
    faust=GroupTimings(session_timeout_ms=10_000, heartbeat_interval_ms=3000, rebalance_timeout_ms=60_000),
    consumer=GroupTimings(session_timeout_ms=10_000, heartbeat_interval_ms=3000, rebalance_timeout_ms=300_000),
    fetch_wait_max_ms=500,
    commit_interval_s=1.0,
    linger_ms=5,
    creates_topics=False,
    replication_factor=3,
)


def broker_profile(settings: Settings) -> BrokerProfile:
    """The profile the settings choose: OFFSHORE_KAFKA_PROFILE, else local iff the broker is embedded."""
    from dataclasses import replace

    name = settings.kafka_profile or ("local" if settings.kafka_bootstrap is None else "production")
    base = LOCAL if name == "local" else PRODUCTION
    security = KafkaSecurity(
        protocol=settings.kafka_security_protocol,
        sasl_mechanism=settings.kafka_sasl_mechanism,
        sasl_username=settings.kafka_sasl_username,
        sasl_password=settings.kafka_sasl_password,
        ssl_cafile=settings.kafka_ssl_cafile,
    )
    replicas = settings.kafka_replication_factor or base.replication_factor
    return replace(base, replication_factor=replicas, security=security)


def current_profile() -> BrokerProfile:
    """The profile of this process (from its settings)."""
    from offshore.settings import get_settings

    return broker_profile(get_settings())


def topics_to_create(profile: BrokerProfile, wanted: Iterable[str], existing: set[str]) -> tuple[list[str], list[str]]:
    """(names to create, names missing that this profile may not create)."""
    missing = [name for name in wanted if name not in existing]
    return (missing, []) if profile.creates_topics else ([], missing)
