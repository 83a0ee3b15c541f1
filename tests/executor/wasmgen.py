"""Builds hostile wasm binaries byte by byte (fast, and shapes a text assembler would refuse to write)."""

from __future__ import annotations


def uleb(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _vec(items: list[bytes]) -> bytes:
    return uleb(len(items)) + b"".join(items)


def _section(sid: int, payload: bytes) -> bytes:
    return bytes([sid]) + uleb(len(payload)) + payload


def _name(text: str) -> bytes:
    return uleb(len(text)) + text.encode()


def module(
    *,
    functions: int = 1,
    locals_per_function: int = 0,
    ops_per_function: int = 0,
    memories: int = 1,
    memory_pages: int = 1,
    tables: int = 0,
    table_min: int = 0,
    export_memory: bool = True,
    imports: tuple[tuple[str, str], ...] = (),
    grow_pages: int = 0,
    memory_flags: int = 0,
    local_type: int = 0x7E,
    extra_sections: bytes = b"",
) -> bytes:
    """A module of `functions` `() -> ()` functions; the last is exported as `_start`.

    With `ops_per_function`, each body multiplies 16 i64 locals around (Cranelift work, linear in size).
    """
    types = _section(1, _vec([b"\x60\x00\x00"]))
    imp = _section(2, _vec([_name(m) + _name(n) + b"\x00" + uleb(0) for m, n in imports])) if imports else b""
    funcs = _section(3, _vec([uleb(0)] * functions))
    tabs = _section(4, _vec([b"\x70\x00" + uleb(table_min)] * tables)) if tables else b""
    limits = bytes([memory_flags]) + uleb(memory_pages) + (uleb(memory_pages) if memory_flags & 1 else b"")
    mems = _section(5, _vec([limits] * memories)) if memories else b""
    exports = [_name("_start") + b"\x00" + uleb(len(imports) + functions - 1)]
    if export_memory and memories:
        exports.append(_name("memory") + b"\x02" + uleb(0))
    exp = _section(7, _vec(exports))
    nlocals = max(locals_per_function, 16 if ops_per_function else 0)
    decls = _vec([uleb(nlocals) + bytes([local_type])]) if nlocals else _vec([])
    ops = bytearray()
    for i in range(ops_per_function):
        ops += b"\x20" + uleb(i % 16) + b"\x20" + uleb((i * 3 + 1) % 16) + b"\x7e\x21" + uleb((i * 5 + 2) % 16)
    if grow_pages:
        assert grow_pages < 64  # one-byte signed LEB
        ops += b"\x41" + bytes([grow_pages]) + b"\x40\x00\x1a"  # i32.const n; memory.grow 0; drop
    body = decls + bytes(ops) + b"\x0b"
    code = _section(10, _vec([uleb(len(body)) + body] * functions))
    return b"\0asm\x01\0\0\0" + types + imp + funcs + tabs + mems + extra_sections + exp + code
