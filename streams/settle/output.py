"""What settle sends as `response.output`: a guest's stdout checked and bounded off chain.

The contract never parses guest output (MicroPython's json traps on deep nesting and spends quadratic
gas on long integers): it checks sizes and UTF-8, parks the bytes and hands them to the caller, Json as
is and Text/Bytes as one JSON string. So everything the contract must not see is refused here, as a
failed execution that is still charged for the compute it used:

- every format: at most `MAX_OUTPUT_BYTES` UTF-8 bytes as sent (the contract's `max_output_bytes`);
- Text: valid UTF-8 (no replacement characters invented for the guest);
- Json: valid UTF-8 and strict RFC 8259 JSON (no NaN/Infinity, no non-finite floats), nesting at most
  `MAX_JSON_DEPTH` deep, number literals at most `MAX_JSON_NUMBER_CHARS` long; sent as the guest wrote
  it, surrounding whitespace removed;
- Bytes: base64 (4/3 of the output).
"""

from __future__ import annotations

import base64
import json
import math
from typing import Any

from streams.reasons import FailureReason

__all__ = [
    "MAX_ERROR_BYTES",
    "MAX_JSON_DEPTH",
    "MAX_JSON_NUMBER_CHARS",
    "MAX_OUTPUT_BYTES",
    "OutputRejected",
    "error_text",
    "shape_output",
]

MAX_OUTPUT_BYTES = 16384  # the contract's max_output_bytes (get_config; a test keeps them equal)
MAX_ERROR_BYTES = 512  # the contract keeps 1024; settle sends half, the rest is the kind prefix's room
MAX_JSON_DEPTH = 64  # below serde_json's default recursion limit (128): callers in Rust can parse it
MAX_JSON_NUMBER_CHARS = 100  # u128 has 39 digits; a longer literal is an attack on the caller's parser


class OutputRejected(ValueError):
    """The guest's output cannot be settled as it is; `kind` prefixes the on-chain error."""

    def __init__(self, kind: FailureReason, message: str) -> None:
        super().__init__(message)
        self.kind = kind

    @property
    def error(self) -> str:
        return f"{self.kind}: {self}"


def shape_output(response_format: str, output: bytes, *, max_bytes: int = MAX_OUTPUT_BYTES) -> str:
    """`response.output` for this format, or OutputRejected with a one-line reason."""
    if response_format == "Bytes":
        text = base64.b64encode(output).decode()
    elif response_format in ("Text", "Json"):
        text = _utf8(output, response_format)
        if response_format == "Json":
            text = text.strip(" \t\r\n")
            _check_json(text)
    else:
        raise OutputRejected(FailureReason.INVALID_OUTPUT, f"unknown response_format {response_format!r}")
    size = len(text.encode())
    if size > max_bytes:
        raise OutputRejected(
            FailureReason.OUTPUT_TOO_LARGE,
            f"{response_format} output is {size} bytes as sent to the contract; the limit is {max_bytes}",
        )
    return text


def error_text(error: str, *, max_bytes: int = MAX_ERROR_BYTES) -> str:
    """At most `max_bytes` of UTF-8, cut on a character boundary (the contract measures bytes)."""
    raw = error.encode("utf-8", errors="replace")
    return raw[:max_bytes].decode("utf-8", errors="ignore")


def _utf8(output: bytes, fmt: str) -> str:
    try:
        return output.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = output[exc.start : exc.start + 1].hex()
        raise OutputRejected(
            FailureReason.INVALID_OUTPUT, f"{fmt} output is not valid UTF-8 (byte 0x{bad} at offset {exc.start})"
        ) from None


def _reject_constant(name: str) -> Any:
    raise OutputRejected(FailureReason.INVALID_OUTPUT, f"Json output contains {name}, which is not JSON")


def _parse_float(literal: str) -> float:
    _check_number(literal)
    value = float(literal)
    if not math.isfinite(value):
        raise OutputRejected(FailureReason.INVALID_OUTPUT, f"Json output has a number out of range ({literal[:20]})")
    return value


def _parse_int(literal: str) -> int:
    _check_number(literal)
    return int(literal)


def _check_number(literal: str) -> None:
    if len(literal) > MAX_JSON_NUMBER_CHARS:
        raise OutputRejected(
            FailureReason.INVALID_OUTPUT,
            f"Json output has a {len(literal)}-character number; the limit is {MAX_JSON_NUMBER_CHARS}",
        )


def _check_json(text: str) -> None:
    # Depth first, without parsing: a deep document must not reach the (recursive) parser at all.
    depth = _max_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise OutputRejected(
            FailureReason.INVALID_OUTPUT, f"Json output nests {depth} deep; the limit is {MAX_JSON_DEPTH}"
        )
    try:
        json.loads(text, parse_constant=_reject_constant, parse_float=_parse_float, parse_int=_parse_int)
    except OutputRejected:
        raise
    except (ValueError, RecursionError) as exc:
        raise OutputRejected(FailureReason.INVALID_OUTPUT, f"Json output is not valid JSON: {str(exc)[:200]}") from None


def _max_depth(text: str) -> int:
    """Deepest bracket nesting outside strings (a linear scan; exact for valid JSON)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest
