"""The Faust app every stage runs in: at-least-once, raw bytes, settings from the broker profile.

Values are raw bytes (Avro single-object encoding via `schemas`); keys are request ids. Timeouts,
topic ownership, replication and SASL/TLS come from the process's broker profile
(`streams/kafka_profile.py`: `local` for the embedded broker, `production` for Apache Kafka).
Faust hard-codes `fetch_max_wait_ms=1500` for its consumer, which on the embedded broker costs
~400 ms per hop, so the aiokafka transport gets a consumer thread with the profile's fetch wait.
"""

from __future__ import annotations

import weakref
from pathlib import Path
from typing import Any

import faust
from faust.transport.drivers import aiokafka as _faust_aiokafka

from streams.kafka_profile import BrokerProfile, current_profile

# The fetch wait of each app's consumer, set by create_app (Faust has no setting for it).
_FETCH_WAIT_MS: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()


class _ProfileFetchConsumerThread(_faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        wait = _FETCH_WAIT_MS.get(self.app)
        if wait is not None:
            consumer._fetch_max_wait_ms = wait  # read when the fetcher starts
        return consumer


class _ProfileFetchConsumer(_faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> Any:
        return _ProfileFetchConsumerThread(self, loop=self.loop, beacon=self.beacon)


# Installed once, for every Faust app in this process; see the module docstring for why.
_faust_aiokafka.Transport.Consumer = _ProfileFetchConsumer


def app_settings(bootstrap: str, data_dir: str, profile: BrokerProfile) -> dict[str, Any]:
    """Every Faust setting of a stage for one broker profile (a pure function: tests check it)."""
    return {
        "broker": f"kafka://{bootstrap}",
        "processing_guarantee": "at_least_once",  # exactly_once needs idempotent producers: Tansu refuses
        "value_serializer": "raw",
        "key_serializer": "raw",
        "store": "memory://",
        "datadir": data_dir,
        "web_enabled": False,
        "consumer_auto_offset_reset": "earliest",
        "topic_disable_leader": True,
        "table_cleanup_interval": 60.0,
        **profile.faust_settings(),
    }


def create_app(
    name: str, *, bootstrap: str, data_dir: str, profile: BrokerProfile | None = None, **overrides: Any
) -> faust.App:
    """A Faust app with the broker profile's settings (local: ready in ~2.5 s, ~9 ms per hop)."""
    profile = profile or current_profile()
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    settings = app_settings(bootstrap, data_dir, profile)
    settings.update(overrides)
    app = faust.App(name, **settings)
    _FETCH_WAIT_MS[app] = profile.fetch_wait_max_ms
    return app
