"""Settle's output shaping: every hostile output becomes either a bounded `output` the contract accepts
or a charged failure with a one-line error; a resolve the contract refuses falls back to a failure."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from schemas import ExecutionFinished, ResolutionSubmitted, ResourcesUsed
from schemas.request_view import RequestView
from schemas.samples import sample_record, sample_requested, samples
from streams.chain import resolve_args
from streams.deadline import DeadlinePolicy
from streams.errors import ResolveRefused
from streams.settle.core import SentTransaction, response_payload, settle_request
from streams.settle.output import MAX_OUTPUT_BYTES, OutputRejected, error_text, shape_output

FINISHED = samples()["ExecutionFinished"]
assert isinstance(FINISHED, ExecutionFinished)
USED = ResourcesUsed(instructions=1_500_000, time_ms=9, compile_time_ms=700)


def _finished(fmt: str, output: bytes) -> ExecutionFinished:
    req = dataclasses.replace(sample_requested(), response_format=fmt)
    return dataclasses.replace(FINISHED, request=req, output=output, success=True, resources_used=USED)


REJECTED = [
    ("Text", b"\xff" * 12288, "invalid_output: Text output is not valid UTF-8 (byte 0xff at offset 0)"),
    ("Text", b"ok \xed\xa0\x80", "invalid_output: Text output is not valid UTF-8 (byte 0xed at offset 3)"),
    ("Text", b"a" * (MAX_OUTPUT_BYTES + 1), "output_too_large: Text output is 16385 bytes"),
    ("Json", b"[" * 6000, "invalid_output: Json output nests 6000 deep"),
    ("Json", b"[" * 65 + b"]" * 65, "invalid_output: Json output nests 65 deep"),
    ("Json", b"9" * 12000, "invalid_output: Json output has a 12000-character number"),
    ("Json", b"1e999", "invalid_output: Json output has a number out of range"),
    ("Json", b"NaN", "invalid_output: Json output contains NaN"),
    ("Json", b"[Infinity]", "invalid_output: Json output contains Infinity"),
    ("Json", b"{oops", "invalid_output: Json output is not valid JSON"),
    ("Json", b"", "invalid_output: Json output is not valid JSON"),
    ("Json", b'"\xff"', "invalid_output: Json output is not valid UTF-8"),
    ("Json", b'"\x01"', "invalid_output: Json output is not valid JSON"),  # raw control character
    ("Json", b'["' + b"x" * MAX_OUTPUT_BYTES + b'"]', "output_too_large: Json output is 16388 bytes"),
    ("Bytes", b"\x00" * 12289, "output_too_large: Bytes output is 16388 bytes"),
]


@pytest.mark.parametrize(("fmt", "output", "error"), REJECTED, ids=[e[2][:48] for e in REJECTED])
def test_hostile_output_becomes_a_charged_failure(fmt: str, output: bytes, error: str) -> None:
    payload = response_payload(_finished(fmt, output))
    assert payload["success"] is False and "output" not in payload
    assert payload["error"].startswith(error), payload["error"]
    assert payload["resources_used"] == {"instructions": 1_500_000, "time_ms": 9, "compile_time_ms": 700}
    assert len(resolve_args({"request_id": "7", "response": payload})) < 1024


ACCEPTED = [
    ("Text", b"\x01" * 12288, "\x01" * 12288),
    ("Text", "\U0001f600".encode() * 3072, "\U0001f600" * 3072),
    ("Json", b"[" * 64 + b"]" * 64, "[" * 64 + "]" * 64),
    ("Json", b'  {"s": "[[[[\\"", "n": -1.5e10}\n', '{"s": "[[[[\\"", "n": -1.5e10}'),
    ("Json", b"1" * 100, "1" * 100),
    ("Bytes", b"\xff" * 12288, "/" * 16384),
]


@pytest.mark.parametrize(("fmt", "output", "sent"), ACCEPTED, ids=[f"{a[0]}-{len(a[1])}" for a in ACCEPTED])
def test_accepted_output_is_sent_bounded(fmt: str, output: bytes, sent: str) -> None:
    assert shape_output(fmt, output) == sent
    payload = response_payload(_finished(fmt, output))
    assert payload["success"] is True and payload["output"] == sent
    raw = resolve_args({"request_id": "7", "response": payload})
    assert json.loads(raw)["response"]["output"] == sent  # UTF-8 JSON: no surrogate escapes
    assert b"\\ud8" not in raw and len(payload["output"].encode()) <= MAX_OUTPUT_BYTES


def test_error_text_is_cut_in_bytes_on_a_character_boundary() -> None:
    assert error_text("\u20ac" * 1000) == "\u20ac" * 170  # 510 bytes: the 171st would need 513
    assert len(error_text("x" * 5000).encode()) == 512
    with pytest.raises(OutputRejected):
        shape_output("Xml", b"")


class RefusingChain:
    """Refuses the first resolve the way the contract does (a panic), accepts the next."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def final_height(self) -> int:
        return 130

    async def get_request(self, request_id: str) -> RequestView | None:
        return RequestView.from_json(sample_record(sample_requested()))

    async def resolve(self, request_id: str, response: dict[str, Any]) -> SentTransaction:
        self.sent.append(response)
        if len(self.sent) == 1:
            raise ResolveRefused("resolve_execution failed on chain: Smart contract panicked: response.output exceeds")
        return SentTransaction("TX2", "ed25519:K", 1)


async def test_a_refused_resolve_falls_back_to_a_charged_failure() -> None:
    chain = RefusingChain()
    policy = DeadlinePolicy(timeout_blocks=200, margin_blocks=10)
    out = await settle_request(_finished("Text", b"fine"), chain, policy=policy, producer="t")
    assert isinstance(out, ResolutionSubmitted) and out.success is False and out.tx_hash == "TX2"
    first, second = chain.sent
    assert first["success"] is True
    assert second["success"] is False and second["error"].startswith("resolve_refused: resolve_execution failed")
    assert second["resources_used"] == first["resources_used"]  # the compute is still charged


class RacedChain(RefusingChain):
    """The refusal was a concurrent resolve winning: the request no longer awaits one."""

    async def get_request(self, request_id: str) -> RequestView | None:
        return RequestView.from_json(sample_record(sample_requested(), resolved=bool(self.sent)))


async def test_no_fallback_when_another_resolve_already_won() -> None:
    chain = RacedChain()
    policy = DeadlinePolicy(timeout_blocks=200, margin_blocks=10)
    with pytest.raises(ResolveRefused):
        await settle_request(_finished("Text", b"fine"), chain, policy=policy, producer="t")
    assert len(chain.sent) == 1  # no second transaction
