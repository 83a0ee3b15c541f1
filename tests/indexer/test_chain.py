"""Pure chain decisions on real blocks (tests/indexer/fixtures/neardata, sources in SOURCES.md):
header extraction, parent links across `null` answers, block time, Retry-After and key redaction."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import pytest

from indexer.api import redact, retry_after_s
from indexer.chain import Anchor, BlockTime, Header, header_of, link_problem

FIXTURES = Path(__file__).parent / "fixtures" / "neardata"
PARENT = FIXTURES / "mainnet-000107503704.lake.json"
CHILD = FIXTURES / "mainnet-000107503705.lake.json"


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.json")), ids=lambda p: p.name)
def test_the_header_read_from_the_raw_block_is_the_block_header(path: Path) -> None:
    raw = path.read_bytes()
    block = json.loads(raw)["block"]
    height = block["header"]["height"]
    header = header_of(raw, height)
    assert header == Header(
        height=height,
        hash=block["header"]["hash"],
        prev_hash=block["header"]["prev_hash"],
        prev_height=block["header"]["prev_height"],
        timestamp_ns=int(block["header"]["timestamp_nanosec"]),
    )
    assert header_of(json.dumps(block).encode(), height) == header  # a `/headers` answer: the `block` part
    shards_first = json.dumps({"shards": json.loads(raw)["shards"], "block": block}).encode()
    assert header_of(shards_first, height) == header  # another key order: parsed whole, same header


def test_null_garbage_and_another_height_are_told_apart() -> None:
    raw = PARENT.read_bytes()
    assert header_of(b" null\n", 5) is None
    for garbled in (b"<html>upstream hiccup</html>", b'{"block": {}}', raw[: len(raw) // 2]):
        with pytest.raises(ValueError):
            header_of(garbled, 107503704)
    with pytest.raises(ValueError, match="answered height 107503704 for 107503705"):
        header_of(raw, 107503705)


def test_a_real_child_links_to_its_real_parent_and_to_nothing_else() -> None:
    parent = header_of(PARENT.read_bytes(), 107503704)
    child = header_of(CHILD.read_bytes(), 107503705)
    assert parent is not None and child is not None
    assert link_problem(Anchor(parent.height, parent.hash), [], child) is None
    assert link_problem(Anchor(parent.height, None), [], child) is None  # an old checkpoint without hash
    assert link_problem(None, [], child) is None  # the first block of a run
    # The parent was answered null (out of range): the child names it, so it was not skipped.
    problem = link_problem(None, [107503704], child)
    assert problem is not None and "107503704" in problem
    assert link_problem(Anchor(107503703, None), [107503704], child) is not None
    # A skip the chain confirms: the anchor is the parent, the heights between were null.
    assert link_problem(Anchor(parent.height, parent.hash), [], child) is None
    # Another hash at the parent's height: the API's answers do not form one chain.
    assert link_problem(Anchor(parent.height, "11111111111111111111111111111111"), [], child) is not None
    # Early mainnet headers have no prev_height: the hash decides, or nothing can be checked.
    early = Header(child.height, child.hash, child.prev_hash, None, child.timestamp_ns)
    assert link_problem(Anchor(107503702, parent.hash), [107503703], early) is None
    assert link_problem(Anchor(107503702, "other"), [107503703, 107503704], early) is not None
    assert link_problem(None, [107503704], early) is None  # nothing to check it against: accepted


def test_block_time_is_the_median_per_height_and_ignores_skips() -> None:
    clock = BlockTime()
    assert clock.seconds() is None
    parent = header_of(PARENT.read_bytes(), 107503704)
    child = header_of(CHILD.read_bytes(), 107503705)
    assert parent is not None and child is not None
    clock.observe(parent.height, parent.timestamp_ns)
    clock.observe(child.height, child.timestamp_ns)
    assert clock.seconds() == pytest.approx(0.819249484)
    clock.observe(child.height + 3, child.timestamp_ns + 3 * 800_000_000)  # two skipped heights between
    clock.observe(child.height + 4, child.timestamp_ns + 3 * 800_000_000 + 10**10)  # one very late block
    assert clock.seconds() == pytest.approx(0.819249484)  # median of 0.819, 0.8, 10


def test_retry_after_in_seconds_or_as_a_date() -> None:
    now = 1_800_000_000.0
    assert retry_after_s("1", now) == 1.0
    assert retry_after_s(format_datetime(datetime.fromtimestamp(now + 30, UTC), usegmt=True), now) == 30.0
    assert retry_after_s(None, now) is None and retry_after_s("soon", now) is None


def test_the_api_key_is_redacted_from_urls() -> None:
    url = "https://a0.mainnet.neardata.xyz/v0/block/9820210/headers?apiKey=s3cr3t&x=1"
    assert "s3cr3t" not in redact(url) and "REDACTED" in redact(url) and "x=1" in redact(url)
    assert redact("http://127.0.0.1:3030/v0/block/1") == "http://127.0.0.1:3030/v0/block/1"


def test_the_api_key_is_not_in_the_config_repr() -> None:
    from indexer import IndexerConfig

    config = IndexerConfig(block_api_url="https://x/v0", contract_id="c", checkpoint_path=Path("cp"), api_key="s3cr3t")
    assert "s3cr3t" not in repr(config) and config.api_key == "s3cr3t"
