"""Projector throughput: events/s from every topic into Postgres (docs/design.md §12: at least 5000 events/s).

Its own embedded stack (broker + Postgres). Realistic full request lifecycles are published first; the
projector then drains every topic. The rate is measured from the first batch read to the last commit
(both the rows and their offsets), so the one-off consumer-group join is reported separately. The
rate depends on what else runs on the machine; `events_per_cpu_second` (CPU time of this process,
which decodes, maps and writes) does much less.
A second group then replays everything (all duplicates) to measure the replay rate.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psycopg

from offshore.stack import running_stack
from projector import Projector, migrate, refresh_views
from projector.synthetic import synthetic_events
from schemas import encode
from streams import ALL_TOPICS, create_topics, make_producer, topic_for

REQUESTS = int(os.environ.get("BENCH_PROJECTOR_REQUESTS", "12000"))
TARGET_EVENTS_PER_SECOND = 5000
_FAST_GROUP = {"session.timeout.ms": 2000, "heartbeat.interval.ms": 300}


def run() -> dict[str, Any]:
    state = Path(tempfile.mkdtemp(prefix="offshore-bench-projector-", dir="/tmp"))
    state.chmod(0o755)  # the postgres user must reach its data dir when we run as root
    try:
        with running_stack(state) as endpoints:
            return _measure(endpoints.kafka_bootstrap, endpoints.postgres_dsn)
    finally:
        shutil.rmtree(state, ignore_errors=True)


def _measure(bootstrap: str, dsn: str) -> dict[str, Any]:
    create_topics(bootstrap)
    migrate(dsn)
    ends, events = _publish(bootstrap)
    first = _drain(bootstrap, dsn, "bench-projector", ends)
    started = time.perf_counter()
    refresh_views(dsn)
    refresh_s = time.perf_counter() - started
    replay = _drain(bootstrap, dsn, "bench-projector-replay", ends)
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*) FROM store.events").fetchone()
    stored = int(row[0]) if row else 0
    if stored != events or first.stats.written != events or replay.stats.written != 0:
        raise RuntimeError(f"projection incomplete: {stored} stored, {first.stats.written} written of {events}")
    rate = events / first.busy_s
    return {
        "events_per_second": round(rate),
        "target_events_per_second": TARGET_EVENTS_PER_SECOND,
        "meets_target": rate >= TARGET_EVENTS_PER_SECOND,
        "events": events,
        "requests": REQUESTS,
        "batches": first.stats.batches,
        "seconds": round(first.busy_s, 3),
        "seconds_including_group_join": round(first.wall_s, 3),
        "events_per_cpu_second": round(events / first.cpu_s),  # steadier than wall time on a busy host
        "replay_events_per_second": round(events / replay.busy_s),
        "refresh_all_views_seconds": round(refresh_s, 3),
    }


def _publish(bootstrap: str) -> tuple[dict[tuple[str, int], int], int]:
    ends: dict[tuple[str, int], int] = {}

    def delivered(err: Any, msg: Any) -> None:
        if err is not None:
            raise RuntimeError(f"produce failed: {err}")
        key = (msg.topic(), msg.partition())
        ends[key] = max(ends.get(key, 0), msg.offset() + 1)

    producer = make_producer(bootstrap)
    count = 0
    for event in synthetic_events(REQUESTS, prefix="bench-"):
        topic = topic_for(type(event).__name__).name
        producer.produce(topic, key=event.request_id.encode(), value=encode(event), on_delivery=delivered)
        producer.poll(0)
        count += 1
    if producer.flush(60) != 0:
        raise RuntimeError("producer did not flush")
    return ends, count


class _Run:
    def __init__(self, projector: Projector, wall_s: float, cpu_s: float) -> None:
        self.stats = projector.stats
        self.wall_s = wall_s
        self.cpu_s = cpu_s  # this process, all threads: the projector's own cost, whatever else runs
        first, last = self.stats.first_message_at, self.stats.last_commit_at
        self.busy_s = (last - first) if first is not None and last is not None else float("nan")


def _drain(bootstrap: str, dsn: str, group: str, ends: dict[tuple[str, int], int]) -> _Run:
    projector = Projector(
        bootstrap=bootstrap,
        dsn=dsn,
        group_id=group,
        topics=[t.name for t in ALL_TOPICS],
        refresh_interval_s=None,
        consumer_config=_FAST_GROUP,
    )
    stop = threading.Event()
    failure: list[BaseException] = []

    def target() -> None:
        try:
            projector.run(stop)
        except BaseException as exc:
            failure.append(exc)

    started = time.perf_counter()
    cpu_started = time.process_time()
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    deadline = time.monotonic() + 300
    with psycopg.connect(dsn, autocommit=True) as conn:
        while thread.is_alive() and time.monotonic() < deadline:  # poll
            rows = conn.execute(
                "SELECT topic, kafka_partition, next_offset FROM store.projector_offsets WHERE consumer_group = %s",
                (group,),
            ).fetchall()
            have = {(t, p): o for t, p, o in rows}
            if all(have.get(key, 0) >= end for key, end in ends.items()):
                break
            time.sleep(0.02)  # poll
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    stop.set()
    thread.join(60)
    if failure:
        raise RuntimeError(f"projector failed: {failure[0]}") from failure[0]
    if time.monotonic() >= deadline:
        raise RuntimeError("projector did not drain the topics within 300 s")
    return _Run(projector, wall, cpu)
