"""Deterministic WASI: what a guest can observe is a function of recorded data (issue 15).

A re-run of a past request (`offshore verify`) must give the same bytes and the same fuel. wasmtime's
WASI reads host entropy and host clocks, and sleeps in the host; this module shadows exactly those
imports on the linker (`Linker.allow_shadowing` after `define_wasi`, checked on wasmtime 50):

- `random_get`: the ChaCha20 keystream of the run's 32-byte seed (zero nonce), consumed in call order.
  The platform's seed is sha256 of an ed25519 signature over the request (`executor.randomness`), so
  nobody can predict it before the request or choose it after.
- `clock_time_get`: a virtual clock. Realtime = the request's block time + elapsed; monotonic and the
  CPU-time clocks = elapsed. Every read advances elapsed by `TICK_NS`, so time visibly moves and a
  busy-wait on the clock ends (on fuel, at worst), without any host time leaking in.
- `clock_res_get`: `TICK_NS` for every clock.
- `poll_oneoff`: a sleep advances the virtual clock by its timeout and returns at once (fd
  subscriptions are reported ready at once). Sleeping never blocks a worker and never changes a result.
- `fd_write` (stdout, stderr): captured by the run's capped sinks; the write that overflows stdout
  traps the guest right there, so an output flood stops at the same instruction on every run (a
  stop at the next epoch tick would make its fuel depend on timing). Other fds: EBADF (a guest has
  no writable file).

The per-run state lives in a thread-local: a guest runs on the calling thread and its host calls come
back on that thread, so the linker's functions (shared by every store) find their run without a
store-data lookup.
"""

from __future__ import annotations

import os
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import wasmtime
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

from executor._types import Determinism

WASI_MODULE = "wasi_snapshot_preview1"
TICK_NS = 1_000
"""Virtual nanoseconds one clock read takes (and the reported resolution of every clock)."""

_ESUCCESS, _EBADF, _EFAULT, _EINVAL, _ENOTSUP = 0, 8, 21, 28, 58
_CLOCK_REALTIME, _CLOCK_MONOTONIC, _CLOCK_PROCESS, _CLOCK_THREAD = 0, 1, 2, 3
_SUB_SIZE, _EVENT_SIZE = 48, 32
_TAG_CLOCK = 0
_ABSTIME = 1


@dataclass(slots=True)
class _Run:
    """One guest run's virtual clock and random stream."""

    time_ns: int
    stream: Any
    elapsed_ns: int = 0
    random_bytes: int = 0
    sleeps: list[int] = field(default_factory=list)
    sinks: dict[int, Callable[[bytes], int | None]] = field(default_factory=dict)

    def now(self, clock: int) -> int | None:
        if clock == _CLOCK_REALTIME:
            return self.time_ns + self.elapsed_ns
        if clock in (_CLOCK_MONOTONIC, _CLOCK_PROCESS, _CLOCK_THREAD):
            return self.elapsed_ns
        return None


_LOCAL = threading.local()


def fresh() -> Determinism:
    """Unrecorded inputs for a run outside the platform (library use): a random seed, the host's time."""
    return Determinism(seed=os.urandom(32), time_ns=time.time_ns())


@contextmanager
def deterministic(
    det: Determinism,
    *,
    stdout: Callable[[bytes], int | None] | None = None,
    stderr: Callable[[bytes], int | None] | None = None,
) -> Iterator[None]:
    """Makes `det` the source of randomness and time for guests run on this thread inside the block;
    `stdout`/`stderr` receive the guest's writes (a non-None return from stdout: over the cap, trap)."""
    if len(det.seed) != 32:
        raise ValueError("the randomness seed is 32 bytes")
    stream = Cipher(algorithms.ChaCha20(det.seed, b"\0" * 16), mode=None).encryptor()
    previous = getattr(_LOCAL, "run", None)
    sinks = {fd: sink for fd, sink in ((1, stdout), (2, stderr)) if sink is not None}
    _LOCAL.run = _Run(time_ns=det.time_ns, stream=stream, sinks=sinks)
    try:
        yield
    finally:
        _LOCAL.run = previous


def keystream(seed: bytes, n: int) -> bytes:
    """The first `n` random bytes a guest reads under `seed` (tests and tools compare with it)."""
    return Cipher(algorithms.ChaCha20(seed, b"\0" * 16), mode=None).encryptor().update(b"\0" * n)


def _current() -> _Run | None:
    return getattr(_LOCAL, "run", None)


def _memory(caller: wasmtime.Caller) -> wasmtime.Memory | None:
    mem = caller.get("memory")
    return mem if isinstance(mem, wasmtime.Memory) else None


def _in_bounds(caller: wasmtime.Caller, mem: wasmtime.Memory, ptr: int, size: int) -> bool:
    return ptr >= 0 and size >= 0 and ptr + size <= mem.data_len(caller)


def _random_get(caller: wasmtime.Caller, buf: int, size: int) -> int:
    run, mem = _current(), _memory(caller)
    if run is None or mem is None:
        return _ENOTSUP
    if not _in_bounds(caller, mem, buf, size):
        return _EFAULT
    if size:
        mem.write(caller, run.stream.update(b"\0" * size), buf)
        run.random_bytes += size
    return _ESUCCESS


def _clock_time_get(caller: wasmtime.Caller, clock: int, _precision: int, out: int) -> int:
    run, mem = _current(), _memory(caller)
    if run is None or mem is None:
        return _ENOTSUP
    now = run.now(clock)
    if now is None:
        return _EINVAL
    if not _in_bounds(caller, mem, out, 8):
        return _EFAULT
    mem.write(caller, struct.pack("<Q", now & 0xFFFFFFFFFFFFFFFF), out)
    run.elapsed_ns += TICK_NS
    return _ESUCCESS


def _clock_res_get(caller: wasmtime.Caller, clock: int, out: int) -> int:
    run, mem = _current(), _memory(caller)
    if run is None or mem is None:
        return _ENOTSUP
    if run.now(clock) is None:
        return _EINVAL
    if not _in_bounds(caller, mem, out, 8):
        return _EFAULT
    mem.write(caller, struct.pack("<Q", TICK_NS), out)
    return _ESUCCESS


def _poll_oneoff(caller: wasmtime.Caller, subs_ptr: int, events_ptr: int, nsubs: int, nevents_ptr: int) -> int:
    """Sleeps advance the virtual clock; fd waits are ready at once. Never blocks the host."""
    run, mem = _current(), _memory(caller)
    if run is None or mem is None:
        return _ENOTSUP
    if nsubs <= 0:
        return _EINVAL
    if not (
        _in_bounds(caller, mem, subs_ptr, nsubs * _SUB_SIZE)
        and _in_bounds(caller, mem, events_ptr, nsubs * _EVENT_SIZE)
        and _in_bounds(caller, mem, nevents_ptr, 4)
    ):
        return _EFAULT
    raw = bytes(mem.read(caller, subs_ptr, subs_ptr + nsubs * _SUB_SIZE))
    fds: list[tuple[int, int]] = []
    clocks: list[tuple[int, int | None]] = []  # (userdata, wait ns or None = bad clock)
    for i in range(nsubs):
        sub = raw[i * _SUB_SIZE : (i + 1) * _SUB_SIZE]
        userdata, tag = struct.unpack_from("<QB", sub, 0)
        if tag == _TAG_CLOCK:
            clock_id, timeout, _precision, flags = struct.unpack_from("<IxxxxQQH", sub, 16)
            now = run.now(clock_id)
            if now is None:
                clocks.append((userdata, None))
            else:
                clocks.append((userdata, max(0, timeout - now) if flags & _ABSTIME else timeout))
        else:
            fds.append((userdata, tag))
    events: list[bytes] = []
    if fds:
        for userdata, tag in fds:
            events.append(struct.pack("<QHBxxxxxQHxxxxxx", userdata, _ESUCCESS, tag, 0, 0))
    else:
        waits = [w for _, w in clocks if w is not None]
        step = min(waits) if waits else 0
        run.elapsed_ns += step
        if waits:
            run.sleeps.append(step)
        for userdata, wait in clocks:
            if wait is None:
                events.append(struct.pack("<QHBxxxxxQHxxxxxx", userdata, _EINVAL, _TAG_CLOCK, 0, 0))
            elif wait <= step:
                events.append(struct.pack("<QHBxxxxxQHxxxxxx", userdata, _ESUCCESS, _TAG_CLOCK, 0, 0))
    mem.write(caller, b"".join(events), events_ptr)
    mem.write(caller, struct.pack("<I", len(events)), nevents_ptr)
    return _ESUCCESS


def _fd_write(caller: wasmtime.Caller, fd: int, iovs: int, iovs_len: int, nwritten: int) -> int:
    run, mem = _current(), _memory(caller)
    if run is None or mem is None:
        return _ENOTSUP
    sink = run.sinks.get(fd)
    if sink is None:
        return _EBADF
    if not (_in_bounds(caller, mem, iovs, iovs_len * 8) and _in_bounds(caller, mem, nwritten, 4)):
        return _EFAULT
    table = bytes(mem.read(caller, iovs, iovs + iovs_len * 8))
    data = bytearray()
    for i in range(iovs_len):
        ptr, size = struct.unpack_from("<II", table, i * 8)
        if not _in_bounds(caller, mem, ptr, size):
            return _EFAULT
        if size:
            data += mem.read(caller, ptr, ptr + size)
    if sink(bytes(data)) is not None:
        raise wasmtime.Trap("offshore: stdout over its cap")  # stops here: the same fuel on every run
    mem.write(caller, struct.pack("<I", len(data)), nwritten)
    return _ESUCCESS


def define_deterministic_wasi(linker: wasmtime.Linker) -> None:
    """Shadows WASI's entropy, clocks and sleep on `linker` (after `define_wasi`, shadowing allowed)."""
    i32, i64 = wasmtime.ValType.i32(), wasmtime.ValType.i64()
    linker.allow_shadowing = True
    linker.define_func(WASI_MODULE, "random_get", wasmtime.FuncType([i32, i32], [i32]), _random_get, True)
    linker.define_func(WASI_MODULE, "clock_time_get", wasmtime.FuncType([i32, i64, i32], [i32]), _clock_time_get, True)
    linker.define_func(WASI_MODULE, "clock_res_get", wasmtime.FuncType([i32, i32], [i32]), _clock_res_get, True)
    linker.define_func(WASI_MODULE, "poll_oneoff", wasmtime.FuncType([i32] * 4, [i32]), _poll_oneoff, True)
    linker.define_func(WASI_MODULE, "fd_write", wasmtime.FuncType([i32] * 4, [i32]), _fd_write, True)
