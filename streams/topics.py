"""The topic registry: every topic the platform uses, named `offshore.<domain>.v<N>`, keyed by request_id.

Listed once here (and mirrored as KafkaTopic resources in deploy/k8s). `create_topics` is idempotent.
"""

from __future__ import annotations

from dataclasses import dataclass

_DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class Topic:
    name: str
    events: tuple[str, ...]  # event types written to it
    partitions: int = 8
    retention_ms: int = 14 * _DAY_MS
    compacted: bool = False

    def config(self) -> dict[str, str]:
        return {
            "cleanup.policy": "compact" if self.compacted else "delete",
            "retention.ms": str(self.retention_ms),
        }


REQUESTS = Topic("offshore.requests.v1", ("ExecutionRequested",))
# Requests re-keyed by source key, so one builder owns each program: single-flight through partitioning.
COMPILE_QUEUE = Topic("offshore.compile-queue.v1", ())
COMPILED = Topic("offshore.compiled.v1", ("WasmCompiled", "CompilationFailed"))
EXECUTED = Topic("offshore.executed.v1", ("ExecutionFinished",))
SETTLED = Topic("offshore.settled.v1", ("ResolutionSubmitted", "SettlementSkipped", "RequestExpired"))
CHAIN = Topic("offshore.chain.v1", ("ExecutionCompleted", "ExecutionCancelled"))
# Dead letters are kept longer: they are what an operator inspects and replays after an incident.
DEAD_LETTERS = Topic("offshore.deadletter.v1", ("DeadLetter",), partitions=1, retention_ms=30 * _DAY_MS)

# The keystore's audit trail (keystore/README.md): one SecretsAccessed per decision, kept a year.
AUDIT = Topic("offshore.audit.v1", ("SecretsAccessed",), partitions=1, retention_ms=365 * _DAY_MS)

ALL_TOPICS: tuple[Topic, ...] = (REQUESTS, COMPILE_QUEUE, COMPILED, EXECUTED, SETTLED, CHAIN, DEAD_LETTERS)
ALL_TOPICS += (AUDIT,)


def topic_for(event_type: str) -> Topic:
    for topic in ALL_TOPICS:
        if event_type in topic.events:
            return topic
    raise KeyError(f"no topic carries {event_type}")
