"""Bad-input corpus, executor/compile half, end to end (issue 19 items 2-5, 7): one platform run.

Every bad request goes through the real chain, indexer, broker and stages at once; then one normal
request. Each case asserts its clear error on chain, the refund rule (a failure is charged what it
used, compile time included, and refunded the rest; an expired request is refunded in full and never
resolved), that no stage process restarted, and that the normal request after them still settles.
The contract/output half of the corpus lives with the contract's tests.
"""

# ruff: noqa: E501  (the case tables read best one case per line)

from __future__ import annotations

import dataclasses
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from executor.testing import RepoFiles, git_repo
from keystore import fetch_public_key
from offshore.local import CLIENTS
from schemas import DeadLetter, ExecutionFinished, ExecutionRequested, RequestExpired, decode, encode
from streams.kafka import make_consumer, make_producer
from streams.topics import DEAD_LETTERS, EXECUTED, REQUESTS, SETTLED

from ..executor import wasmgen
from .conftest import LIMITS, Harness, _harness

pytestmark = pytest.mark.integration
HELLO_C = '#include <stdio.h>\nint main(void) { puts("hi"); return 0; }\n'


@dataclass(frozen=True)
class Case:
    name: str
    files: Callable[[Path], RepoFiles]
    error: str  # a regex matching the error settled on chain; "" = expired (never resolved)
    target: str = "wasm32-wasip1"
    path: str | None = None
    commit: str | None = None
    limits: dict[str, int] = dataclasses.field(default_factory=lambda: dict(LIMITS))
    compress: bool = True


def _host(root: Path) -> Path:
    host = root / "host"
    (host / "csrc").mkdir(parents=True, exist_ok=True)
    (host / "csrc" / "main.c").write_text('const char *k = "HOST-SECRET-42";\nint main(void){return 0;}\n')
    (host / "host.wasm").write_bytes(wasmgen.module())
    return host


CASES = [
    Case("unknown commit", lambda h: {"main.c": HELLO_C}, "compile_fetch_failed", commit="1" * 40),
    Case("prebuilt path missing", lambda h: {"main.c": HELLO_C}, "compile_invalid_source", "wasm", "g.wasm"),
    Case("prebuilt file is not wasm", lambda h: {"g.wasm": "#!/bin/sh\n"}, "bad magic", "wasm", "g.wasm"),
    Case("non-WASI imports", lambda h: {"g.wasm": wasmgen.module(imports=(("env", "read_host_file"),))}, "env.read_host_file", "wasm", "g.wasm"),
    Case("50k locals", lambda h: {"g.wasm": wasmgen.module(locals_per_function=50_000)}, "locals", "wasm", "g.wasm"),
    Case("99 memories", lambda h: {"g.wasm": wasmgen.module(memories=99)}, "99 memories", "wasm", "g.wasm"),
    Case("100M-element table", lambda h: {"g.wasm": wasmgen.module(tables=1, table_min=100_000_000)}, "table", "wasm", "g.wasm"),
    Case("8 memories of 125 MiB", lambda h: {"g.wasm": wasmgen.module(memories=8, memory_pages=2000)}, "8 memories", "wasm", "g.wasm"),
    Case("wasm symlink to a host file", lambda h: {"g.wasm": h / "host.wasm"}, "not a regular file", "wasm", "g.wasm"),
    Case("Cargo.toml symlink to /etc/passwd", lambda h: {"Cargo.toml": Path("/etc/passwd"), "src/main.rs": "fn main(){}"}, "is a symlink"),
    Case("src symlink to a host dir", lambda h: {"src": h / "csrc", "README": "x"}, "is a symlink"),
    Case("repo over the checkout quota", lambda h: {"main.c": HELLO_C, "zeros.bin": b"\0" * (3 * 1024 * 1024)}, "checkout quota"),
    Case("compile error", lambda h: {"main.c": "int main(void) { return nope; }\n"}, "compile_build_failed"),
    Case(
        "run limit that cannot fit in the window (expired at compile)",
        lambda h: {"main.c": HELLO_C},
        "",
        limits={**LIMITS, "max_execution_seconds": 60},
    ),
]  # fmt: skip


QUOTA = 4 * 1024 * 1024  # bytes count twice (eol=crlf): 3 MiB of zeros are over it
# A module over its compile budget is in tests/executor (test_hostile_modules, test_bad_sources): here
# its 19 MB fetch alone outlasts the fetch share of this 60 s window on a loaded machine.


@pytest.fixture(scope="module")
def harness() -> Iterator[Harness]:
    """The standard e2e platform, with a smaller checkout quota so the over-quota repo stays cheap."""
    yield from _harness(
        "offshore-e2e-corpus-",
        block_interval_s=0.1,
        yield_timeout_blocks=600,
        reconcile_after_blocks=80,
        extra_env={"OFFSHORE_MAX_CHECKOUT_BYTES": str(QUOTA)},
    )


async def test_bad_inputs_fail_their_request_and_the_next_one_settles(harness: Harness) -> None:
    info = harness.info
    repos = info.state_dir / "repos" / f"corpus-{uuid.uuid4().hex[:6]}"
    host = _host(info.state_dir)
    alive_before = harness.platform.alive()
    sources = [git_repo(repos / f"c{i}", case.files(host), compress=case.compress) for i, case in enumerate(CASES)]
    async with harness.client(CLIENTS[0]) as alice:
        sent = []
        for case, (url, commit) in zip(CASES, sources, strict=True):
            sent.append(
                await alice.request(
                    repo=url, commit=case.commit or commit, build_target=case.target, path=case.path, limits=case.limits
                )
            )
        forged_ids, victim = await _forge_events_with_a_victims_ciphertext(harness, alice)
        views = await harness.finals([s.request_id for s in sent], timeout_s=240)
        url, commit = harness.repos["json_echo"]
        normal = await alice.request(repo=url, commit=commit, input_data='{"after": "corpus"}', response_format="Json")
        after = (await harness.finals([normal.request_id]))[normal.request_id]

    resolves = harness.resolve_counts()
    for case, sub in zip(CASES, sent, strict=True):
        view = views[sub.request_id]
        charged, refunded = int(view["payment_charged"]), int(view["payment_refunded"])
        assert charged + refunded == sub.deposit, case.name
        if not case.error:  # expired: skipped before any work, never resolved, refunded in full
            assert view["status"] == "timed_out", (case.name, view)
            assert (charged, resolves[sub.request_id]) == (0, 0), case.name
            continue
        assert view["status"] == "failed", (case.name, view)
        assert re.search(case.error, str(view["error"])), (case.name, view["error"])
        assert "HOST-SECRET-42" not in str(view["error"]) and "root:x:0" not in str(view["error"])
        assert int(view["resources_used"]["compile_time_ms"]) >= 1, case.name  # compile time is charged
        assert resolves[sub.request_id] == 1, case.name

    events = _events(harness, forged_ids, victim)
    for rid in forged_ids:  # dead-lettered by execute, never executed, never settled
        letters = [e for e in events[rid] if isinstance(e, DeadLetter)]
        assert letters and letters[0].error_type == "UnconfirmedRequest", events[rid]
        assert not any(isinstance(e, ExecutionFinished) for e in events[rid])
    expired = [e for e in events["*expired*"] if isinstance(e, RequestExpired)]
    assert any(e.stage == "compile" for e in expired)

    assert after["status"] == "completed", after
    assert harness.platform.alive() == alive_before  # no stage died on any of it


async def _forge_events_with_a_victims_ciphertext(harness: Harness, alice: Any) -> tuple[list[str], str]:
    """Bob's genuine request with a secret settles; then forged events carrying his ciphertext are
    produced straight to Kafka under ids the chain never issued: his own input, and an attacker's."""
    info = harness.info
    from executor import examples

    url, commit = examples.publish("secret_env", info.state_dir / "repos")
    bob = CLIENTS[1]
    key = await fetch_public_key(info.keystore_url, url, bob, commit=commit)
    sealed = key.seal({"API_KEY": "victim-secret"})
    async with harness.client(bob) as client:
        genuine = await client.request(repo=url, commit=commit, encrypted_secrets=sealed, response_format="Json")
        await harness.finals([genuine.request_id])
    template = next(
        e
        for e in _read(info.endpoints.kafka_bootstrap, [REQUESTS.name], lambda e: e.request_id == genuine.request_id)
        if isinstance(e, ExecutionRequested)
    )
    base = 10_000_000 + int(time.time()) % 1_000_000
    forged_ids = [str(base), str(base + 1)]
    producer = make_producer(info.endpoints.kafka_bootstrap)
    for rid, text in zip(forged_ids, (template.input_data, "leak"), strict=True):
        # The forger picks the block height too: a fresh one, so no stage expires the event first.
        height = template.block_height + 100_000
        forged = dataclasses.replace(
            template, request_id=rid, event_id=f"forged:{rid}", input_data=text, block_height=height
        )
        producer.produce(REQUESTS.name, key=rid.encode(), value=encode(forged))
    producer.flush(10)
    return forged_ids, genuine.request_id


def _read(bootstrap: str, topics: list[str], match: Callable[[Any], bool], *, quiet_s: float = 3.0) -> list[Any]:
    consumer = make_consumer(bootstrap, f"corpus-{uuid.uuid4().hex[:6]}")
    consumer.subscribe(topics)
    out: list[Any] = []
    last: float | None = None  # the quiet time counts from the first message (joining the group is slow)
    give_up = time.monotonic() + 90
    while time.monotonic() < give_up and (last is None or time.monotonic() - last < quiet_s):  # poll: to the end
        msg = consumer.poll(0.1)
        if msg is None or msg.error() is not None:
            continue
        last = time.monotonic()
        event = decode(msg.value() or b"")
        if match(event):
            out.append(event)
    consumer.close()
    return out


def _events(harness: Harness, forged_ids: list[str], victim: str) -> dict[str, list[Any]]:
    bootstrap = harness.info.endpoints.kafka_bootstrap
    out: dict[str, list[Any]] = {rid: [] for rid in forged_ids}
    out["*expired*"] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # poll: until execute has handled both forged events
        events = _read(bootstrap, [DEAD_LETTERS.name, EXECUTED.name, SETTLED.name], lambda e: True)
        letters = {e.request_id for e in events if isinstance(e, DeadLetter) and e.error_type == "UnconfirmedRequest"}
        if set(forged_ids) <= letters:
            break
    for e in events:
        if isinstance(e, RequestExpired):
            out["*expired*"].append(e)
        if e.request_id in forged_ids:
            out[e.request_id].append(e)
    assert victim not in forged_ids
    return out
