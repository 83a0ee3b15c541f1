"""`python -I executor/_compile_worker.py ENGINE_JSON DEST < module.wasm`: the limited compile child.

Standalone on purpose (only `wasmtime` and the standard library): importing the `executor` package
costs seconds of wall clock on a loaded machine, all of it inside the compile's time budget. The
parent (`executor/_engine.py`) builds the same config with `wasmtime_config`, from this file.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import wasmtime


def wasmtime_config(engine: dict[str, Any], *, parallel: bool = True) -> wasmtime.Config:
    """The one place wasm proposals are chosen: off unless the runtime's EngineConfig turns them on."""
    cfg = wasmtime.Config()
    cfg.consume_fuel = True
    cfg.epoch_interruption = True
    cfg.max_wasm_stack = int(engine["max_wasm_stack_bytes"])
    cfg.cranelift_opt_level = "speed"
    cfg.parallel_compilation = parallel
    cfg.wasm_threads = False
    cfg.shared_memory = False
    cfg.wasm_multi_memory = False
    cfg.wasm_memory64 = False
    cfg.wasm_gc = False
    cfg.wasm_function_references = False
    cfg.wasm_stack_switching = False
    cfg.wasm_relaxed_simd = False
    cfg.wasm_custom_page_sizes = False
    cfg.wasm_wide_arithmetic = False
    cfg.wasm_component_model = False
    cfg.wasm_exceptions = bool(engine["wasm_exceptions"])
    cfg.wasm_simd = bool(engine["wasm_simd"])
    cfg.wasm_reference_types = bool(engine["wasm_reference_types"])
    cfg.wasm_bulk_memory = bool(engine["wasm_bulk_memory"])
    cfg.wasm_multi_value = bool(engine["wasm_multi_value"])
    cfg.wasm_tail_call = bool(engine["wasm_tail_call"])
    cfg.cranelift_nan_canonicalization = bool(engine.get("nan_canonicalization", True))
    return cfg


def main(argv: list[str]) -> int:
    """Wasm on stdin, engine settings and destination in argv; exit 3 = invalid module."""
    engine = json.loads(argv[0])
    dest = Path(argv[1])
    data = sys.stdin.buffer.read()
    try:
        module = wasmtime.Module(wasmtime.Engine(wasmtime_config(engine, parallel=False)), data)
    except wasmtime.WasmtimeError as exc:
        text = str(exc).strip()
        print(text.splitlines()[0] if text else "invalid module", file=sys.stderr)
        return 3
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    tmp.write_bytes(bytes(module.serialize()))
    os.replace(tmp, dest)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
