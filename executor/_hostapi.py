"""The `offshore` wasm import module: guest HTTP as request -> handle, status, headers, body read.

ABI (all i32; pointers and lengths into the guest's exported `memory`; see guests/_sdk/offshore.h):
- `http_request(method, method_len, url, url_len, headers, headers_len, body, body_len) -> handle`
  (>= 1) or a negative error (-1 invalid, -2 denied by policy, -3 call budget used up, -4 timeout,
  -5 too large, -6 network error). `headers` are `Name: value` lines.
- `http_status(handle) -> status`, `http_body_len(handle) -> bytes`.
- `http_headers(handle, buf, cap) -> total length`: copies min(total, cap) bytes of `name: value\n`
  lines (names lowercase).
- `http_body_read(handle, buf, cap) -> n`: the next n <= cap body bytes, 0 at the end.
- `http_error(buf, cap) -> total length`: the message of the last failed request (never the URL).
- `http_close(handle) -> 0`.
A bad handle returns -7. An out-of-bounds pointer traps (a guest bug, deterministic).

The host functions live on the runtime's one Linker; the run they serve is found through a
thread-local, since a guest runs start to finish on one thread and calls back synchronously.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import wasmtime

from executor._http import E_BAD_HANDLE, E_DENIED, E_INVALID, E_TOO_LARGE, HttpSession
from executor._httptypes import HOST_MODULE

_CURRENT = threading.local()
_MAX_METHOD = 16
_MAX_URL = 8192
FUNCTIONS = (
    "http_request",
    "http_status",
    "http_body_len",
    "http_headers",
    "http_body_read",
    "http_error",
    "http_close",
)


@contextmanager
def bound(session: HttpSession | None) -> Iterator[None]:
    """Makes `session` the one the host functions of this thread serve, for one guest run."""
    previous = getattr(_CURRENT, "session", None)
    _CURRENT.session = session
    try:
        yield
    finally:
        _CURRENT.session = previous


def _session() -> HttpSession | None:
    session: HttpSession | None = getattr(_CURRENT, "session", None)
    return session


def _memory(caller: wasmtime.Caller) -> wasmtime.Memory:
    memory = caller.get("memory")
    if not isinstance(memory, wasmtime.Memory):
        raise wasmtime.WasmtimeError("offshore host API: the guest exports no memory")
    return memory


def _read(caller: wasmtime.Caller, ptr: int, length: int, cap: int) -> bytes:
    memory = _memory(caller)
    if ptr < 0 or length < 0 or length > cap or ptr + length > memory.data_len(caller):
        raise wasmtime.WasmtimeError("offshore host API: argument out of bounds")
    return bytes(memory.read(caller, ptr, ptr + length))


def _write(caller: wasmtime.Caller, ptr: int, cap: int, data: bytes) -> int:
    memory = _memory(caller)
    if ptr < 0 or cap < 0 or ptr + cap > memory.data_len(caller):
        raise wasmtime.WasmtimeError("offshore host API: buffer out of bounds")
    n = min(cap, len(data))
    if n:
        memory.write(caller, data[:n], ptr)
    return n


def _request(caller: wasmtime.Caller, m: int, ml: int, u: int, ul: int, h: int, hl: int, b: int, bl: int) -> int:
    session = _session()
    if session is None:
        return E_DENIED
    cap = session.config.max_request_bytes
    if ml > _MAX_METHOD or ul > _MAX_URL:
        session.last_error = "method or URL too long"
        return E_INVALID
    if hl > cap or bl > cap:
        session.last_error = "request headers or body over the limit"
        return E_TOO_LARGE
    method = _read(caller, m, ml, _MAX_METHOD).decode("latin-1").upper()
    url = _read(caller, u, ul, _MAX_URL).decode("latin-1")
    headers = _read(caller, h, hl, cap)
    body = _read(caller, b, bl, cap)
    return session.request(method, url, headers, body)


def _status(handle: int) -> int:
    session = _session()
    response = session.get(handle) if session is not None else None
    return response.status if response is not None else E_BAD_HANDLE


def _body_len(handle: int) -> int:
    session = _session()
    response = session.get(handle) if session is not None else None
    return len(response.body) if response is not None else E_BAD_HANDLE


def _headers(caller: wasmtime.Caller, handle: int, buf: int, cap: int) -> int:
    session = _session()
    response = session.get(handle) if session is not None else None
    if response is None:
        return E_BAD_HANDLE
    block = response.header_block()
    _write(caller, buf, cap, block)
    return len(block)


def _body_read(caller: wasmtime.Caller, handle: int, buf: int, cap: int) -> int:
    session = _session()
    response = session.get(handle) if session is not None else None
    if response is None:
        return E_BAD_HANDLE
    n = _write(caller, buf, cap, response.body[response.pos :])
    response.pos += n
    return n


def _error(caller: wasmtime.Caller, buf: int, cap: int) -> int:
    session = _session()
    message = (session.last_error if session is not None else "http is not enabled for this request").encode()
    _write(caller, buf, cap, message)
    return len(message)


def _close(handle: int) -> int:
    session = _session()
    return 0 if session is not None and session.close_handle(handle) else E_BAD_HANDLE


def define(linker: wasmtime.Linker) -> None:
    """Adds the `offshore` module to a linker (the runtime's, and the build-output checker's)."""
    i32 = wasmtime.ValType.i32()

    def fn(name: str, params: int, func: Any, caller: bool) -> None:
        linker.define_func(HOST_MODULE, name, wasmtime.FuncType([i32] * params, [i32]), func, access_caller=caller)

    fn("http_request", 8, _request, True)
    fn("http_status", 1, _status, False)
    fn("http_body_len", 1, _body_len, False)
    fn("http_headers", 3, _headers, True)
    fn("http_body_read", 3, _body_read, True)
    fn("http_error", 2, _error, True)
    fn("http_close", 1, _close, False)
