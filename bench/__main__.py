"""Runs every benchmark section and writes bench/report.json (docs/design.md §12 targets).

A section is a module in this package listed in SECTIONS with `run() -> dict[str, object]`; its keys are
flattened under the section name (`executor.warm_runs_per_second`). A failing section is reported as
such and does not stop the others, so one broken benchmark never hides the rest.
"""

from __future__ import annotations

import importlib
import json
import platform
import sys
import time
import traceback
from importlib import metadata
from pathlib import Path
from typing import Any

SECTIONS: tuple[str, ...] = (
    "executor",
    "compile",
    "projector",
    "indexer",
    "pipeline",
    "chaos",
    "runtimes",
    "verify",
    "gas",
    "devnet",
    "broker_wipe",
)
REPORT = Path(__file__).with_name("report.json")
_VERSIONED = ("wasmtime", "confluent-kafka", "faust-streaming", "fastavro", "psycopg", "py-near")


def _machine() -> dict[str, Any]:
    versions: dict[str, str | None] = {}
    for dist in _VERSIONED:
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": __import__("os").cpu_count(),
        "versions": versions,
    }


def main(argv: list[str]) -> int:
    wanted = argv or list(SECTIONS)
    report: dict[str, Any] = {"machine": _machine(), "started_at": time.time()}
    failed = 0
    for name in wanted:
        print(f"bench: {name} ...", flush=True)
        try:
            module = importlib.import_module(f"bench.{name}")
            report[name] = module.run()
        except Exception as exc:  # a broken section must not hide the others
            failed += 1
            traceback.print_exc()
            report[name] = {"error": f"{type(exc).__name__}: {exc}"}
    REPORT.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    print(f"\n{'metric':<45} value")
    for section in wanted:
        for key, value in sorted(_flatten(report[section]).items()):
            print(f"{section + '.' + key:<45} {value}")
    print(f"\nwrote {REPORT}")
    return 1 if failed else 0


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(data, dict):
        return {prefix: data}
    out: dict[str, Any] = {}
    for key, value in data.items():
        out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
