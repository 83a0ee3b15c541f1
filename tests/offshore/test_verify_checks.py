"""The pure decisions of `offshore verify` (offshore/verify.py): verdicts, charge, secrets file.

The whole flow against the devnet is tests/e2e/test_verify.py; these cover the cases it does not
reach cheaply: wall-clock outcomes, compile failures, timed-out and cancelled requests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from contract.pricing import Pricing, charge
from offshore.errors import ConfigError
from offshore.verify import (
    ATTESTED,
    MATCH,
    MISMATCH,
    OnChain,
    Rederived,
    checks,
    expected_charge,
    read_secrets_file,
    verdict,
)

PRICING = {
    "base_fee": "1000000000000000000000",
    "per_million_instructions_fee": "1000000000000000",
    "per_ms_fee": "100000000000000000",
    "per_compile_ms_fee": "10000000000000000",
    "compile_allowance_ms": 60000,
}
PAYMENT = 10**24


def _record(**over: Any) -> dict[str, Any]:
    used = {"instructions": 5_000_000, "time_ms": 12, "compile_time_ms": 300}
    charged = charge(Pricing(), PAYMENT, **used)
    rec: dict[str, Any] = {
        "request_id": 3,
        "status": "failed",
        "error": "timeout: over 1 s wall clock",
        "data_id": "ab" * 32,
        "payment": str(PAYMENT),
        "max_charge": str(PAYMENT),
        "resources_used": used,
        "payment_charged": str(charged),
        "payment_refunded": str(PAYMENT - charged),
        "resource_limits": {"max_instructions": 10**9, "max_memory_mb": 32, "max_execution_seconds": 1},
        "response_format": "Text",
        "commitment": None,
    }
    rec.update(over)
    return rec


def _on(record: dict[str, Any]) -> OnChain:
    return OnChain("offshore.test.near", "3", record, "", False, 100, PRICING, None)


def test_the_charge_is_the_contracts_formula() -> None:
    rec = _record()
    assert expected_charge(rec, PRICING) == int(rec["payment_charged"])
    assert expected_charge({**rec, "max_charge": "5"}, PRICING) == 5  # capped at the estimate


def test_guest_http_calls_and_kilobytes_are_part_of_the_recomputed_charge() -> None:
    """The demo's oracle: 3 calls and 431 bytes are billed (calls + started KB), at the contract's fees."""
    used = {"instructions": 26_133, "time_ms": 40, "compile_time_ms": 300, "http_calls": 3, "http_bytes": 431}
    rec = _record(resources_used=used)
    without = expected_charge(_record(resources_used={**used, "http_calls": 0, "http_bytes": 0}), PRICING)
    assert expected_charge(rec, PRICING) - without == 3 * Pricing().per_http_call_fee + 1 * Pricing().per_http_kb_fee


def test_a_wall_clock_outcome_is_operator_attested_not_a_mismatch() -> None:
    commitment = {"randomness_proof": "00" * 64, "wasm_sha256": "a" * 64, "input_sha256": "", "io_sha256": ""}
    re = Rederived("a" * 64, None, "b", "e", not_run=ATTESTED)
    found = {c.name: c.verdict for c in checks(_on(_record(commitment=commitment)), re)}
    assert found["output sha256"] == found["instructions"] == ATTESTED
    assert found["wasm sha256"] == found["charge (yocto)"] == MATCH


def test_a_compile_failure_verifies_when_the_rebuild_fails_too() -> None:
    rec = _record(error="compile_build_failed: clang exited with 1")
    assert verdict(checks(_on(rec), Rederived(None, "clang exited with 1", "b", "-"))) == "verified"
    built = checks(_on(rec), Rederived("c" * 64, None, "b", "e"))
    assert verdict(built) == "FAILED: build (MISMATCH)"


def test_refunded_requests_must_have_charged_nothing() -> None:
    ok = _record(status="timed_out", payment_charged="0", payment_refunded=str(PAYMENT))
    assert [c.verdict for c in checks(_on(ok), Rederived(None, None, "b", "-"))] == [MATCH]
    bad = _record(status="cancelled", payment_charged="7", payment_refunded=str(PAYMENT - 7))
    assert [c.verdict for c in checks(_on(bad), Rederived(None, None, "b", "-"))] == [MISMATCH]


def test_a_wrong_charge_is_a_mismatch() -> None:
    honest = int(_record()["payment_charged"])
    rec = _record(
        error="compile_build_failed: x", payment_charged=str(honest + 1), payment_refunded=str(PAYMENT - honest - 1)
    )
    assert verdict(checks(_on(rec), Rederived(None, "x", "b", "-"))) == "FAILED: charge (yocto) (MISMATCH)"


def test_secrets_file_json_or_lines_and_errors_never_echo_values(tmp_path: Path) -> None:
    path = tmp_path / "s"
    path.write_text('{"API_KEY": "v1"}')
    assert read_secrets_file(path) == {"API_KEY": "v1"}
    path.write_text("# mine\nAPI_KEY=v=2\n\nOTHER= x\n")
    assert read_secrets_file(path) == {"API_KEY": "v=2", "OTHER": " x"}
    path.write_text("no-equals-sign-s3cret\n")
    with pytest.raises(ConfigError) as err:
        read_secrets_file(path)
    assert "s3cret" not in str(err.value) and "line 1" in str(err.value)


def test_clock_decided_failures_are_attested() -> None:
    from offshore.verify import wall_clock_outcome

    assert wall_clock_outcome("timeout: over 1 s wall clock")
    assert wall_clock_outcome("compile_build_timeout: compiling the module took over 3.0 s")
    assert wall_clock_outcome("invalid_module: compiling the module took over 30.0 s")
    assert not wall_clock_outcome("invalid_module: not a wasm binary (bad magic)")
    assert not wall_clock_outcome("compile_build_failed: build failed (exit 1)")
    rec = _record(error="compile_build_timeout: compiling the module took over 3.0 s")
    found = checks(_on(rec), Rederived("c" * 64, None, "b", "e"))
    assert found[0].name == "build" and found[0].verdict == ATTESTED and verdict(found) == "verified"


def _http_record() -> dict[str, Any]:
    """A settled oracle: 3 recorded calls, charged exactly what the contract's formula says."""
    used = {"instructions": 26_133, "time_ms": 40, "compile_time_ms": 300, "http_calls": 3, "http_bytes": 431}
    empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"  # sha256 of the empty input
    commitment = {"randomness_proof": "00" * 64, "wasm_sha256": "a" * 64, "input_sha256": empty, "io_sha256": "f" * 64}
    rec = _record(status="completed", error=None, resources_used=used, commitment=commitment)
    charged = expected_charge(rec, PRICING)
    rec.update(payment_charged=str(charged), payment_refunded=str(PAYMENT - charged))
    return rec


def test_recorded_io_without_a_transcript_is_not_re_run_and_says_how_to_get_one() -> None:
    from offshore.verify import NEEDS_IO

    re = Rederived("a" * 64, None, "b", "e", not_run=NEEDS_IO, io_note="no --io-store given")
    found = {c.name: (c.verdict, c.local) for c in checks(_on(_http_record()), re)}
    assert found["recorded I/O"] == (NEEDS_IO, "no --io-store given")
    assert found["output sha256"][0] == NEEDS_IO
    assert verdict(checks(_on(_http_record()), re)) == "verified (not re-run: needs I/O transcript (--io-store))"


def test_a_transcript_that_is_not_the_recording_is_a_failed_check() -> None:
    re = Rederived("a" * 64, None, "b", "e", not_run="recorded I/O differs", io_error="replay: call 2: differs")
    found = checks(_on(_http_record()), re)
    assert verdict(found) == "FAILED: recorded I/O (MISMATCH)"
    (io,) = [c for c in found if c.name == "recorded I/O"]
    assert io.local == "replay: call 2: differs"
