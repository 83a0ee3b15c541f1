"""The keystore's audit sink: each decision is one SecretsAccessed on `offshore.audit.v1`, acknowledged
by the broker (idempotent producer, acks=all) before the decrypt API answers."""

from __future__ import annotations

import asyncio
from typing import Any

from schemas import SecretsAccessed, encode
from streams.topics import AUDIT


class AuditUnavailable(Exception):
    """The broker did not acknowledge an audit event."""


class KafkaAudit:
    def __init__(self, bootstrap: str, *, timeout_s: float = 10.0) -> None:
        from streams.kafka import make_producer

        self._producer = make_producer(bootstrap)
        self._timeout = timeout_s
        self._lock = asyncio.Lock()

    def _write(self, event: SecretsAccessed) -> None:
        errors: list[str] = []

        def on_delivery(err: Any, _msg: Any) -> None:
            if err is not None:
                errors.append(str(err))

        self._producer.produce(AUDIT.name, key=event.request_id.encode(), value=encode(event), on_delivery=on_delivery)
        if self._producer.flush(self._timeout) or errors:
            raise AuditUnavailable(f"audit event not acknowledged: {errors[:1]}")

    async def record(self, event: SecretsAccessed) -> None:
        async with self._lock:  # one flush at a time: each decision waits for its own acknowledgement
            await asyncio.to_thread(self._write, event)

    def close(self) -> None:
        self._producer.flush(self._timeout)
