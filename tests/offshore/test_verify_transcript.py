"""How `offshore verify` gets a recording (offshore/verify.py `IoStore`, `load_io_transcript`).

A real guest (the WAT fetcher) calls a real loopback API with its responses recorded in a real
artifact store; the API is then stopped. The recording, read from the store's directory or from a
copy served by a real static web server, replays to the same output; a copy with an altered response
is refused before anything runs. The whole flow against the platform is tests/e2e/test_verify_io.py.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import wasmtime

import executor
from executor import examples
from executor.testing_http import mock_web, published_store
from offshore.verify import IoStore, Transcript, load_io_transcript

FETCH_WAT = Path(examples.GUESTS_DIR / "http_fetch_wat" / "fetch.wat")


@pytest.fixture(scope="module")
def fetch() -> bytes:
    return bytes(wasmtime.wat2wasm(FETCH_WAT.read_text()))


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory, fetch: bytes) -> tuple[Path, bytes, executor.ExecutionResult]:
    """(store root, input, live result): one call to /hello recorded, the API stopped afterwards."""
    root = tmp_path_factory.mktemp("operator") / "artifacts"
    store = executor.ArtifactStore(executor.StoreConfig(root=root))
    config = executor.ExecutorConfig(module_cache_dir=root.parent / "modules", http=executor.HttpConfig(dev_mode=True))
    with mock_web() as web, executor.Executor(config) as live:
        url = web.url("/hello").encode()
        grant = executor.HttpGrant(hosts=("127.0.0.1",), max_calls=1, max_kb=16)
        result = live.execute(fetch, url, http=grant, io_store=store)
    assert result.success and result.http_calls == 1, result.error
    return root, url, result


@pytest.fixture
def served(tmp_path: Path, recorded: tuple[Path, bytes, executor.ExecutionResult]) -> Iterator[tuple[Path, str]]:
    """A published copy of the operator's store (refs and blobs) behind a loopback static web server."""
    root = tmp_path / "published"
    with published_store(recorded[0], root) as url:
        yield root, url


def _load(location: str | None, head: str, into: Path) -> Transcript:
    async def go() -> Transcript:
        async with aiohttp.ClientSession() as http:
            source = IoStore(location, http) if location else None
            return await load_io_transcript(source, head, into)

    return asyncio.run(go())


def _replay(fetch: bytes, url: bytes, head: str, io: Transcript, tmp: Path) -> executor.ExecutionResult:
    assert io.store is not None, io
    with executor.Executor(executor.ExecutorConfig(module_cache_dir=tmp / "modules")) as offline:
        return offline.replay(fetch, url, io_sha256=head, io_store=io.store)


def test_a_recording_from_the_store_dir_or_its_published_copy_replays_offline(
    fetch: bytes, recorded: tuple[Path, bytes, executor.ExecutionResult], served: tuple[Path, str], tmp_path: Path
) -> None:
    root, url, live = recorded
    for n, location in enumerate((str(root), served[1])):
        io = _load(location, live.io_sha256, tmp_path / f"copy{n}")
        assert (io.calls, io.missing, io.invalid) == (1, None, None)
        again = _replay(fetch, url, live.io_sha256, io, tmp_path)
        assert (again.stdout, again.instructions, again.io_sha256) == (live.stdout, live.instructions, live.io_sha256)


def test_missing_recordings_say_where_they_were_looked_for(
    recorded: tuple[Path, bytes, executor.ExecutionResult], tmp_path: Path
) -> None:
    head = recorded[2].io_sha256
    assert _load(None, head, tmp_path / "a").missing == "no --io-store given"
    assert _load(str(tmp_path), head, tmp_path / "b").missing == f"not in {tmp_path}"
    assert _load("http://user:pw@127.0.0.1:9/x?token=t", head, tmp_path / "c").missing == (
        "http://127.0.0.1:9/x: ClientConnectorError"  # an unreachable copy; no credentials printed
    )


def test_an_altered_response_or_transcript_is_refused(
    recorded: tuple[Path, bytes, executor.ExecutionResult], served: tuple[Path, str], tmp_path: Path
) -> None:
    root, url = served
    head = recorded[2].io_sha256
    ref = json.loads((root / executor.ref_relpath(executor.transcript_key(head))).read_text())
    ((_request, response),) = executor.parse_transcript(
        (root / executor.blob_relpath(ref["sha256"])).read_bytes(), head
    )
    blob = root / executor.blob_relpath(response)
    blob.write_bytes(blob.read_bytes().replace(b'"status":200', b'"status":201'))
    assert _load(url, head, tmp_path / "a").invalid == f"recorded response {response[:16]}... does not match its hash"
    store = executor.ArtifactStore(executor.StoreConfig(root=root))
    store.put_ref(executor.transcript_key(head), store.put(b'{"v": 1, "calls": []}'))
    assert _load(url, head, tmp_path / "b").invalid == "the recording does not hash to its io_sha256"
