"""nearcore's contract preparation (`near-vm-runner/src/prepare/prepare_v3.rs`), on the wasm bytes.

Before a contract is compiled, nearcore validates the module against its limits and normalises its
memory: whatever memory the contract declares (or none) is replaced by one memory of
`initial_memory_pages` (1024) growing to at most `max_memory_pages` (2048), exported to the host under
a reserved name; memory exports of the contract itself are dropped, custom sections discarded.
Imported memories, tables and globals, and imports from modules other than `env`, are rejected.

Limits checked here (named as nearcore's `PrepareError`): number of types and of functions (imports
included), locals per contract, tables and their initial size, function body size, params per function.
Proposals nearcore rejects and wasmtime's `Config` cannot switch off one by one (multi-value results,
extended constant expressions, exception tags) are rejected here too; the rest (SIMD, relaxed SIMD,
threads, tail calls, multi-memory, memory64, GC) by the Engine's feature switches (`_engine.py`).
"""

from __future__ import annotations

from devnet.vm.config import VMConfig
from devnet.vm.errors import ContractLoadError

MEMORY_EXPORT = "\0near_memory"  # cannot clash with a method name a transaction can call (NUL)
_MAGIC = b"\0asm\x01\0\0\0"
_VALTYPES = {0x7F, 0x7E, 0x7D, 0x7C, 0x7B, 0x70, 0x6F}  # i32 i64 f32 f64 v128 funcref externref
_CONST_OPS = {0x41, 0x42, 0x43, 0x44, 0x23, 0xD0, 0xD2}


class PrepareError(ContractLoadError):
    """nearcore's `PrepareError` (Deserialization, Memory, Instantiate, TooManyFunctions, ...)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind


class _Reader:
    def __init__(self, data: bytes, pos: int = 0, end: int | None = None) -> None:
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end

    def byte(self) -> int:
        if self.pos >= self.end:
            raise PrepareError("Deserialization", "unexpected end of the module")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def uleb(self) -> int:
        result = shift = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return result
            if shift > 63:
                raise PrepareError("Deserialization", "LEB128 number too long")

    def sleb(self) -> None:
        while self.byte() & 0x80:
            pass

    def skip(self, n: int) -> bytes:
        if self.pos + n > self.end:
            raise PrepareError("Deserialization", "unexpected end of the module")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def name(self) -> str:
        raw = self.skip(self.uleb())
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PrepareError("Deserialization", "a name is not UTF-8") from exc

    def limits(self) -> tuple[int, int | None, int]:
        flags = self.uleb()
        if flags & ~0x01:
            raise PrepareError("Deserialization", "shared or 64-bit memories and tables are not supported")
        initial = self.uleb()
        return initial, (self.uleb() if flags & 1 else None), flags

    def const_expr(self) -> None:
        """A constant expression of plain wasm (extended-const arithmetic is rejected, as in nearcore)."""
        while True:
            op = self.byte()
            if op == 0x0B:
                return
            if op not in _CONST_OPS:
                raise PrepareError("Deserialization", f"opcode 0x{op:02x} in a constant expression (extended-const)")
            if op in (0x41, 0x42):
                self.sleb()
            elif op == 0x43:
                self.skip(4)
            elif op == 0x44:
                self.skip(8)
            elif op == 0xD0:
                self.byte()
            else:
                self.uleb()


def _uleb(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _name(s: str) -> bytes:
    raw = s.encode()
    return _uleb(len(raw)) + raw


def _section(section_id: int, payload: bytes) -> bytes:
    return bytes([section_id]) + _uleb(len(payload)) + payload


def prepare(wasm: bytes, cfg: VMConfig) -> bytes:
    """Validate `wasm` against nearcore's limits and normalise its memory; raises PrepareError."""
    if not wasm.startswith(_MAGIC):
        raise PrepareError("Deserialization", "not a wasm module (bad magic or version)")
    r = _Reader(wasm, len(_MAGIC))
    out = bytearray(_MAGIC)
    memory_type = b"\x01" + _uleb(cfg.initial_memory_pages) + _uleb(cfg.max_memory_pages)
    memory_written = False
    exports_written = False
    functions = 0
    locals_total = 0
    last_id = 0
    order = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6, 7: 7, 8: 8, 9: 9, 12: 10, 10: 11, 11: 12}

    def ensure_memory() -> None:
        nonlocal memory_written
        if not memory_written:
            out.extend(_section(5, b"\x01" + memory_type))
            memory_written = True

    def ensure_exports() -> None:
        nonlocal exports_written
        ensure_memory()
        if not exports_written:
            out.extend(_section(7, b"\x01" + _name(MEMORY_EXPORT) + b"\x02\x00"))
            exports_written = True

    while r.pos < r.end:
        section_id = r.byte()
        size = r.uleb()
        start = r.pos
        end = start + size
        if end > r.end:
            raise PrepareError("Deserialization", "section runs past the end of the module")
        payload = wasm[start:end]
        s = _Reader(wasm, start, end)
        r.pos = end
        if section_id == 0:
            continue  # custom sections are discarded (discard_custom_sections)
        if section_id not in order:
            raise PrepareError("Deserialization", f"unsupported section id {section_id}")
        if order[section_id] <= last_id:
            raise PrepareError("Deserialization", "sections out of order")
        last_id = order[section_id]
        if order[section_id] > 5:
            ensure_memory()
        if order[section_id] > 7:
            ensure_exports()
        if section_id == 1:  # types
            count = s.uleb()
            if count > cfg.max_types_per_contract:
                raise PrepareError("TooManyTypes", f"{count} types exceed {cfg.max_types_per_contract}")
            for _ in range(count):
                if s.byte() != 0x60:
                    raise PrepareError("Deserialization", "only function types are supported")
                params = [s.byte() for _ in range(s.uleb())]
                results = [s.byte() for _ in range(s.uleb())]
                if any(t not in _VALTYPES for t in params + results):
                    raise PrepareError("Deserialization", "unsupported value type")
                if len(params) > cfg.max_params_per_function:
                    raise PrepareError("TooManyParams", f"{len(params)} params exceed {cfg.max_params_per_function}")
                if len(results) > 1:
                    raise PrepareError("Deserialization", "multi-value results are not supported")
            out.extend(_section(1, payload))
        elif section_id == 2:  # imports
            for _ in range(s.uleb()):
                module, field = s.name(), s.name()
                kind = s.byte()
                if kind == 2:
                    raise PrepareError("Memory", f"the contract imports memory {module}.{field}")
                if module != "env" or kind != 0:
                    raise PrepareError("Instantiate", f"import {module}.{field} is not a NEAR host function")
                s.uleb()
                functions += 1
            out.extend(_section(2, payload))
        elif section_id == 3:  # function declarations
            out.extend(_section(3, payload))
        elif section_id == 4:  # tables
            count = s.uleb()
            if count > cfg.max_tables_per_contract:
                raise PrepareError("TooManyTables", f"{count} tables exceed {cfg.max_tables_per_contract}")
            for _ in range(count):
                s.byte()
                initial, _, _ = s.limits()
                if initial > cfg.max_elements_per_contract_table:
                    raise PrepareError(
                        "TooManyTableElements", f"{initial} elements exceed {cfg.max_elements_per_contract_table}"
                    )
            out.extend(_section(4, payload))
        elif section_id == 5:  # memories: replaced by the standard one
            count = s.uleb()
            if count > 1:
                raise PrepareError("Deserialization", "multiple memories are not supported")
            for _ in range(count):
                s.limits()
            ensure_memory()
        elif section_id == 6:  # globals
            for _ in range(s.uleb()):
                if s.byte() not in _VALTYPES:
                    raise PrepareError("Deserialization", "unsupported global type")
                s.byte()
                s.const_expr()
            out.extend(_section(6, payload))
        elif section_id == 7:  # exports: the contract's memory exports are dropped, ours added
            entries = bytearray()
            n = 0
            for _ in range(s.uleb()):
                name = s.name()
                kind = s.byte()
                index = s.uleb()
                if kind == 2:
                    continue
                entries += _name(name) + bytes([kind]) + _uleb(index)
                n += 1
            entries += _name(MEMORY_EXPORT) + b"\x02\x00"
            out.extend(_section(7, _uleb(n + 1) + bytes(entries)))
            exports_written = True
        elif section_id == 11:  # data: offsets must be plain constant expressions
            for _ in range(s.uleb()):
                flags = s.uleb()
                if flags == 2:
                    s.uleb()
                if flags in (0, 2):
                    s.const_expr()
                s.skip(s.uleb())
            out.extend(_section(11, payload))
        elif section_id == 10:  # code
            count = s.uleb()
            functions += count
            if functions > cfg.max_functions_number_per_contract:
                raise PrepareError(
                    "TooManyFunctions", f"{functions} functions exceed {cfg.max_functions_number_per_contract}"
                )
            for _ in range(count):
                body_size = s.uleb()
                body_end = s.pos + body_size
                if body_size > cfg.max_function_body_size:
                    raise PrepareError(
                        "FunctionBodyTooLarge", f"a body of {body_size} bytes exceeds {cfg.max_function_body_size}"
                    )
                for _ in range(s.uleb()):
                    locals_total += s.uleb()
                    s.byte()
                    if locals_total > cfg.max_locals_per_contract:
                        raise PrepareError("TooManyLocals", f"more than {cfg.max_locals_per_contract} locals")
                s.pos = body_end
            out.extend(_section(10, payload))
        else:  # start, elements, data count: copied as they are
            out.extend(_section(section_id, payload))
    ensure_exports()
    if functions > cfg.max_functions_number_per_contract:
        raise PrepareError("TooManyFunctions", f"{functions} functions exceed {cfg.max_functions_number_per_contract}")
    return bytes(out)
