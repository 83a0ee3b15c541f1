"""Cached, reproducible nearc builds of near-sdk-py contracts.

nearc 0.8.8 ships a MicroPython tree whose `modnear.c` breaks yield/resume (see docs/toolchain.md). We
never touch the installed package: the tree is copied once per toolchain under `.offshore/`, our
patch is applied to the copy, and nearc's own builder is driven against that copy in a subprocess
(nearc calls `sys.exit` and prints progress bars; a subprocess keeps both away from the caller).

Cache key = sha256 of the toolchain (nearc and near-sdk-py versions, the patch, emcc's version,
`_BUILD_FORMAT`) and of every file of the contract's directory. A hit is a file copy. The build
does not see git (NEP-330 metadata would otherwise embed the current commit), so the same source
gives the same bytes whatever the checkout.

Usage: `python -m contract SOURCE.py OUT.wasm`.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

from contract.errors import ContractBuildError

__all__ = ["PATCH_FILES", "REPO_ROOT", "build_contract", "default_cache_dir", "main", "toolchain_hash"]

REPO_ROOT = Path(__file__).resolve().parent.parent
PATCH_DIR = Path(__file__).resolve().parent / "patches"
# modnear-yield.patch: yield/resume (data_id as bytes, u64 gas, resume takes bytes).
# micropython-gc-heap.patch: 2 MiB heap, no collection (the stock GC traps; see the patch).
PATCH_FILES = tuple(sorted(PATCH_DIR.glob("*.patch")))
# Bump when the way we drive nearc changes in a way that changes the output.
_BUILD_FORMAT = "1"
_EXCLUDED_DIRS = {"build", "__pycache__", ".venv", "venv", ".git"}
# nearc skips every local module whose absolute path merely *contains* one of these strings.
_NEARC_PATH_TRAPS = (".git", ".venv", "venv", "__pycache__", "build")
_BUILD_TIMEOUT_S = 900
_LOG_TAIL_CHARS = 4000

_DEFAULT_PYPROJECT = """[project]
name = "offshore-contract"
version = "0.1.0"
requires-python = ">=3.11"
dependencies = ["near-sdk-py"]
"""

# Runs in the child: nearc's builder against our patched copy of its MicroPython tree.
_CHILD = """
import sys
from pathlib import Path
from nearc.builder import compile_contract
ok = compile_contract(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]))
sys.exit(0 if ok else 1)
"""


def default_cache_dir() -> Path:
    """`$OFFSHORE_CONTRACT_CACHE`, else `.offshore/nearc` in the repo (gitignored)."""
    env = os.environ.get("OFFSHORE_CONTRACT_CACHE")
    return Path(env) if env else REPO_ROOT / ".offshore" / "nearc"


def _nearc_dir() -> Path:
    try:
        import nearc
    except ImportError as exc:
        raise ContractBuildError("nearc is not installed (pip install nearc==0.8.8)") from exc
    return Path(nearc.__file__).resolve().parent


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError as exc:
        raise ContractBuildError(f"{dist} is not installed") from exc


@lru_cache(maxsize=1)
def _emcc_version() -> str:
    emcc = shutil.which("emcc")
    if emcc is None:
        raise ContractBuildError("emcc not found on PATH (apt-get install emscripten wabt binaryen)")
    try:
        out = subprocess.run([emcc, "--version"], capture_output=True, text=True, check=True, timeout=120)
    except (OSError, subprocess.SubprocessError) as exc:
        raise ContractBuildError(f"emcc --version failed: {exc}") from exc
    return out.stdout.splitlines()[0] if out.stdout else ""


@lru_cache(maxsize=1)
def toolchain_hash() -> str:
    """Identity of everything besides the contract source that shapes the WASM."""
    h = hashlib.sha256()
    for part in (
        _BUILD_FORMAT,
        _version("nearc"),
        _version("near-sdk-py"),
        _emcc_version(),
        sys.version.split()[0],
    ):
        h.update(part.encode() + b"\0")
    for patch in PATCH_FILES:
        h.update(patch.name.encode() + b"\0" + patch.read_bytes())
    return h.hexdigest()


def _source_files(src_dir: Path) -> list[Path]:
    """Files nearc may bundle: every .py below the contract's directory, plus its pyproject.toml."""
    files = []
    for path in sorted(src_dir.rglob("*")):
        rel = path.relative_to(src_dir)
        if any(part in _EXCLUDED_DIRS for part in rel.parts[:-1]) or not path.is_file():
            continue
        if path.suffix == ".py" or rel == Path("pyproject.toml"):
            files.append(rel)
    return files


def _source_hash(source: Path, files: list[Path]) -> str:
    h = hashlib.sha256(source.name.encode() + b"\0")
    for rel in files:
        h.update(rel.as_posix().encode() + b"\0")
        h.update(hashlib.sha256((source.parent / rel).read_bytes()).digest())
    return h.hexdigest()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Serialises builds across processes (pytest-xdist workers, the Makefile, another engineer)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _patched_toolchain(cache_dir: Path) -> Path:
    """A copy of nearc's assets (its `micropython` tree) with our modnear.c patch applied."""
    root = cache_dir / f"toolchain-{toolchain_hash()[:16]}"
    if (root / ".ready").exists():
        return root
    with _locked(cache_dir / "toolchain.lock"):
        if (root / ".ready").exists():
            return root
        tmp = Path(tempfile.mkdtemp(prefix="toolchain-", dir=cache_dir))
        try:
            shutil.copytree(
                _nearc_dir() / "micropython",
                tmp / "micropython",
                ignore=shutil.ignore_patterns("__pycache__", "build", "build-*"),
            )
            for patch in PATCH_FILES:
                proc = subprocess.run(
                    ["patch", "-p1", "--forward", "--batch", "-i", str(patch)],
                    cwd=tmp / "micropython",
                    capture_output=True,
                    text=True,
                    timeout=60,
                )
                if proc.returncode != 0:
                    raise ContractBuildError(f"cannot apply {patch.name}: {proc.stdout}{proc.stderr}")
            (tmp / ".ready").write_text(toolchain_hash() + "\n")
            if root.exists():
                shutil.rmtree(root)
            tmp.rename(root)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return root


def _stage(source: Path, files: list[Path], work: Path) -> Path:
    """Mirror the contract's directory into `work`, keeping `work/build` for incremental builds."""
    work.mkdir(parents=True, exist_ok=True)
    for old in work.rglob("*"):
        rel = old.relative_to(work)
        if rel.parts[0] == "build" or not old.is_file():
            continue
        old.unlink()
    for rel in files:
        dst = work / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source.parent / rel, dst)
    if not (work / "pyproject.toml").exists():
        (work / "pyproject.toml").write_text(_DEFAULT_PYPROJECT)
    return work / source.name


def _run_nearc(entry: Path, output: Path, toolchain: Path) -> None:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "GIT_DIR": "/nonexistent",  # keep the checkout's commit out of the NEP-330 metadata
        "GIT_CEILING_DIRECTORIES": "/",
        "SOURCE_DATE_EPOCH": "0",
        "MAKEFLAGS": f"-j{os.cpu_count() or 1}",
        "COLUMNS": "200",
        "TERM": "dumb",
    }
    if "EM_CACHE" in os.environ:
        env["EM_CACHE"] = os.environ["EM_CACHE"]
    cmd = [sys.executable, "-c", _CHILD, str(entry), str(output), sys.prefix, str(toolchain)]
    try:
        proc = subprocess.run(
            cmd,
            cwd=entry.parent,
            env=env,
            capture_output=True,
            text=True,
            timeout=_BUILD_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as exc:
        raise ContractBuildError(f"nearc build of {entry.name} timed out after {_BUILD_TIMEOUT_S}s") from exc
    if proc.returncode != 0 or not output.exists():
        log = (proc.stdout + proc.stderr)[-_LOG_TAIL_CHARS:]
        raise ContractBuildError(f"nearc build of {entry.name} failed (exit {proc.returncode}):\n{log}")


def _check_bundled(work: Path, files: list[Path], entry_name: str) -> None:
    """nearc silently leaves out modules it fails to find; the contract would then fail on every call."""
    manifest = (work / "build" / "manifest.py").read_text()
    for rel in files:
        if rel.suffix == ".py" and rel.name != entry_name and f'module("{rel.as_posix()}"' not in manifest:
            raise ContractBuildError(f"nearc did not bundle local module {rel} (see {work}/build/manifest.py)")


def build_contract(source: Path, out: Path, *, cache_dir: Path | None = None) -> Path:
    """Build the near-sdk-py contract whose nearc entry file is `source` into `out`; return `out`.

    Every `.py` in `source`'s directory (recursively) is bundled, as nearc does, so keep one
    contract per directory. Only decorated functions of `source` itself are exported.
    """
    source = Path(source).resolve()
    out = Path(out).resolve()
    if not source.is_file():
        raise ContractBuildError(f"contract source not found: {source}")
    cache = (cache_dir or default_cache_dir()).resolve()
    files = _source_files(source.parent)
    key = hashlib.sha256((toolchain_hash() + _source_hash(source, files)).encode()).hexdigest()
    cached = cache / "wasm" / f"{key}.wasm"
    if not cached.exists():
        # One work tree for every contract: MicroPython's objects are shared, so only the first
        # build is cold (~60 s); the next contracts relink in seconds. Builds are serialised.
        work = cache / "work" / f"tree-{toolchain_hash()[:16]}"
        trap = next((t for t in _NEARC_PATH_TRAPS if t in str(work)), None)
        if trap is not None:
            raise ContractBuildError(f"nearc would drop every local module under {work} (path contains {trap!r})")
        toolchain = _patched_toolchain(cache)
        with _locked(work.with_suffix(".lock")):
            if not cached.exists():
                entry = _stage(source, files, work)
                tmp_out = work / "build" / "out.wasm"
                tmp_out.parent.mkdir(parents=True, exist_ok=True)
                tmp_out.unlink(missing_ok=True)
                _run_nearc(entry, tmp_out, toolchain)
                _check_bundled(work, files, source.name)
                cached.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp_out, cached)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    shutil.copyfile(cached, tmp)
    os.replace(tmp, out)
    return out


def main(argv: list[str]) -> int:
    """CLI entry: prints the path, size and sha256 of the built WASM."""
    if len(argv) != 2:
        print("usage: python -m contract.build SOURCE.py OUT.wasm", file=sys.stderr)
        return 2
    try:
        out = build_contract(Path(argv[0]), Path(argv[1]))
    except ContractBuildError as exc:
        print(f"contract build failed: {exc}", file=sys.stderr)
        return 1
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    print(f"{out} {out.stat().st_size} bytes sha256={digest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
