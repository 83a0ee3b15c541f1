"""A cheap structural scan of a wasm binary, so a hostile module is refused before any compiler runs.

Cranelift's time grows about cubically with the locals of one function (a 765 KB module with 50k
locals took ~2 minutes), so counts are read from the section headers and the code section's local
declarations in one linear pass, and checked against `WasmCompileLimits`. The scan only reads
what the caps need; full validation is left to wasmtime (in the limited compile child).
"""

from __future__ import annotations

from dataclasses import dataclass

from executor._types import WasmCompileLimits

_MAGIC = b"\0asm\x01\0\0\0"
_FUNC, _TABLE, _MEMORY, _GLOBAL, _TAG = 0, 1, 2, 3, 4
_SIMPLE_VALTYPES = frozenset({0x7F, 0x7E, 0x7D, 0x7C, 0x7B, 0x70, 0x6F})
_SECTION_IMPORT, _SECTION_FUNCTION, _SECTION_TABLE, _SECTION_MEMORY = 2, 3, 4, 5
_SECTION_EXPORT, _SECTION_CODE = 7, 10


class ShapeError(ValueError):
    """The module is malformed or over a cap; the message says which (shown to the requester)."""


@dataclass(frozen=True, slots=True)
class ModuleShape:
    functions: int
    """Defined (not imported) functions."""
    max_locals: int
    max_function_bytes: int
    memories: int
    """Imported plus defined."""
    tables: int
    max_table_min: int
    memory_min_pages: int
    memory_exported: bool
    """The (only) memory is exported as `memory`: the runtime reads it for `memory_bytes`."""


class _Reader:
    __slots__ = ("data", "end", "pos")

    def __init__(self, data: bytes, pos: int = 0, end: int | None = None) -> None:
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end

    def byte(self) -> int:
        if self.pos >= self.end:
            raise ShapeError("malformed module: unexpected end")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def uleb(self, max_bits: int = 32) -> int:
        result = shift = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
            if shift >= max_bits + 7:
                raise ShapeError("malformed module: integer too long")
        if result >= 1 << max_bits:
            raise ShapeError("malformed module: integer too large")
        return result

    def skip(self, n: int) -> None:
        if n > self.end - self.pos:
            raise ShapeError("malformed module: length past the end")
        self.pos += n

    def name(self) -> bytes:
        n = self.uleb()
        start = self.pos
        self.skip(n)
        return self.data[start : self.pos]

    def limits(self) -> int:
        """Reads limits; returns the minimum. Shared (threads) and 64-bit (memory64) flags are refused."""
        flags = self.byte()
        if flags & ~0x01:
            raise ShapeError("shared or 64-bit memories and tables are not supported")
        minimum = self.uleb()
        if flags & 0x01:
            self.uleb()
        return minimum


def module_shape(data: bytes, limits: WasmCompileLimits) -> ModuleShape:
    """Scans `data` and checks it against `limits`; raises ShapeError naming the first problem."""
    if not data.startswith(_MAGIC):
        raise ShapeError("not a wasm module (bad magic or version)")
    r = _Reader(data, len(_MAGIC))
    functions = memories = tables = max_locals = max_body = max_table_min = memory_min = 0
    memory_exported = False
    while r.pos < r.end:
        section = r.byte()
        size = r.uleb()
        body = _Reader(data, r.pos, r.pos + size)
        r.skip(size)
        if section == _SECTION_IMPORT:
            for _ in range(body.uleb()):
                body.name()
                body.name()
                kind = body.byte()
                if kind in (_FUNC, _TAG):
                    if kind == _TAG:
                        body.byte()
                    body.uleb()
                elif kind == _TABLE:
                    body.byte()
                    tables += 1
                    max_table_min = max(max_table_min, body.limits())
                elif kind == _MEMORY:
                    memories += 1
                    memory_min = max(memory_min, body.limits())
                elif kind == _GLOBAL:
                    body.byte()
                    body.byte()
                else:
                    raise ShapeError(f"malformed module: import kind {kind}")
        elif section == _SECTION_FUNCTION:
            functions = body.uleb()
        elif section == _SECTION_TABLE:
            for _ in range(body.uleb()):
                if body.byte() == 0x40:
                    raise ShapeError("tables with initialisers are not supported")
                tables += 1
                max_table_min = max(max_table_min, body.limits())
        elif section == _SECTION_MEMORY:
            for _ in range(body.uleb()):
                memories += 1
                memory_min = max(memory_min, body.limits())
        elif section == _SECTION_EXPORT:
            for _ in range(body.uleb()):
                name = body.name()
                kind = body.byte()
                index = body.uleb()
                memory_exported |= kind == _MEMORY and name == b"memory" and index == 0
        elif section == _SECTION_CODE:
            count = body.uleb()
            if count > limits.max_functions:
                raise ShapeError(f"{count} functions, limit {limits.max_functions}")
            for _ in range(count):
                length = body.uleb()
                max_body = max(max_body, length)
                if length > limits.max_function_bytes:
                    raise ShapeError(f"a function body of {length} bytes, limit {limits.max_function_bytes}")
                fn = _Reader(data, body.pos, body.pos + length)
                body.skip(length)
                locals_ = 0
                for _ in range(fn.uleb()):
                    locals_ += fn.uleb()
                    if fn.byte() not in _SIMPLE_VALTYPES:
                        raise ShapeError("a local of an unsupported type (GC / function references)")
                    if locals_ > limits.max_locals:
                        raise ShapeError(f"a function with over {limits.max_locals} locals")
                max_locals = max(max_locals, locals_)
    if functions > limits.max_functions:
        raise ShapeError(f"{functions} functions, limit {limits.max_functions}")
    if memories > 1:
        raise ShapeError(f"{memories} memories; one is allowed (multi-memory is disabled)")
    if tables > limits.max_tables:
        raise ShapeError(f"{tables} tables, limit {limits.max_tables}")
    if max_table_min > limits.max_table_elements:
        raise ShapeError(f"a table of {max_table_min} elements, limit {limits.max_table_elements}")
    if memories and not memory_exported:
        raise ShapeError("the memory must be exported as `memory` (WASI reads it there)")
    return ModuleShape(
        functions=functions,
        max_locals=max_locals,
        max_function_bytes=max_body,
        memories=memories,
        tables=tables,
        max_table_min=max_table_min,
        memory_min_pages=memory_min,
        memory_exported=memory_exported,
    )
