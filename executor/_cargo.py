"""Rust guests with crates: an offline, reproducible `cargo build` against a directory registry.

Why a directory registry: the build sandbox has no network, so every crate a guest locks must already
be on disk. Two ways to get it there, chosen by `CompileConfig.cargo_fetch_from`:

- unset (default, and this machine): the crates Debian packages as `librust-*-dev`, installed into
  `cargo_registry` (`/usr/share/cargo/registry`). A curated set, listed in executor/README.md.
- set (production): a separate, network-allowed step (`fetch_crates`) copies exactly the locked
  crates from that upstream into a content-addressed cache (`cargo_cache_dir/<sha256 of the crate
  tree>`), verifying each against its Cargo.lock checksum; the build then runs offline, the same
  way as with the Debian set. The upstream is a directory registry (a mirror, or a local stand-in
  in tests).

Either way the sandbox sees exactly the locked crates, read-only, at `/registry/<name>-<version>`,
so the build (and its sha256) does not depend on where the crates came from. Anything the lock
names that is not available fails the build before cargo runs: "dependency not available: NAME
VERSION".
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

from executor._repofs import kind, read_repo_file
from executor._sandbox import Bind
from executor._types import CompileConfig
from executor.errors import BuildError, ExecutorError

REGISTRY_MOUNT = "/registry"
TARGET = "wasm32-wasi"
_TARGET_DIR = "/tmp/target"
_CRATES_IO = "registry+https://github.com/rust-lang/crates.io-index"
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_VERSION = re.compile(r"^[0-9A-Za-z.+-]{1,64}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_MAX_MANIFEST_BYTES = 1024 * 1024  # Cargo.toml / Cargo.lock: a real lock file of a large workspace is ~100 KB


@dataclass(frozen=True, slots=True)
class LockedCrate:
    """One registry package pinned by Cargo.lock."""

    name: str
    version: str
    checksum: str | None

    @property
    def dirname(self) -> str:
        return f"{self.name}-{self.version}"


@dataclass(frozen=True, slots=True)
class CargoPlan:
    """What the sandbox runs for a crate with dependencies: argv, env additions and crate binds."""

    argv: list[str]
    env: dict[str, str]
    binds: list[Bind]


def has_dependencies(local: Path) -> bool:
    """True when the guest's Cargo.toml declares dependencies (then cargo builds it, else rustc)."""
    try:
        manifest = tomllib.loads(read_repo_file(local, "Cargo.toml", _MAX_MANIFEST_BYTES).decode())
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError, ExecutorError):
        return False  # the rustc path reports the unreadable manifest
    return bool(manifest.get("dependencies") or manifest.get("build-dependencies"))


def locked_crates(lock_text: str) -> list[LockedCrate]:
    """The registry packages of a Cargo.lock; git or other sources are refused by name."""
    try:
        lock = tomllib.loads(lock_text)
    except tomllib.TOMLDecodeError as exc:
        raise BuildError(f"Cargo.lock is not valid TOML: {exc}") from exc
    out = []
    for pkg in lock.get("package") or []:
        if not isinstance(pkg, dict):
            raise BuildError("Cargo.lock: malformed [[package]] entry")
        name, version, source = str(pkg.get("name", "")), str(pkg.get("version", "")), pkg.get("source")
        if not _NAME.match(name) or not _VERSION.match(version):
            raise BuildError(f"Cargo.lock: malformed package {name!r} {version!r}")
        if source is None:
            continue  # a path dependency inside the repo (or the guest itself)
        if source != _CRATES_IO:
            raise BuildError(f"dependency not available: {name} {version} (only crates.io packages; source {source})")
        checksum = pkg.get("checksum")
        out.append(LockedCrate(name, version, str(checksum) if checksum is not None else None))
    return sorted(out, key=lambda c: (c.name, c.version))


def plan(local: Path, config: CompileConfig) -> CargoPlan:
    """Resolves every locked crate to a directory on the host and returns the sandboxed command."""
    if kind(local, "Cargo.lock") != "file":
        raise BuildError(
            "Rust guest with dependencies needs a committed Cargo.lock (builds are --frozen: offline and "
            "exactly the locked versions; see executor/README.md for the available crates)"
        )
    lock = read_repo_file(local, "Cargo.lock", _MAX_MANIFEST_BYTES)  # no symlink, FIFO or device is opened
    crates = locked_crates(lock.decode(errors="replace"))
    if config.cargo_fetch_from is None:
        dirs = {c: _from_directory(config.cargo_registry, c) for c in crates}
    else:
        dirs = fetch_crates(crates, Path(config.cargo_fetch_from), config.cargo_cache_dir)
    binds = [Bind(dirs[c], f"{REGISTRY_MOUNT}/{c.dirname}") for c in crates]
    cargo_args = [
        config.cargo,
        "build",
        "--release",
        "--frozen",
        "--target", TARGET,
        "--target-dir", _TARGET_DIR,
        "--config", 'source.crates-io.replace-with="offshore"',
        "--config", f'source.offshore.directory="{REGISTRY_MOUNT}"',
        "--config", "net.offline=true",
        "--config", 'profile.release.strip="debuginfo"',
        "--config", "profile.release.codegen-units=1",
        "--config", "profile.release.incremental=false",
        "--config", "build.rustflags=['--remap-path-prefix=/src=.', '--remap-path-prefix=/registry=registry']",
    ]  # fmt: skip
    # One binary, copied to /out; cargo 0.66 has no stable --out-dir.
    script = (
        '"$@" || exit $?; set -- ' + f"{_TARGET_DIR}/{TARGET}/release/*.wasm" + '; [ "$#" -eq 1 ] && [ -f "$1" ] '
        '|| { echo "expected exactly one binary, found: $*" >&2; exit 1; }; cp "$1" /out/module.wasm'
    )
    env = {
        "CARGO_HOME": "/tmp/cargo-home",
        "RUSTC": config.rustc,
        "CARGO_TERM_COLOR": "never",
        "CARGO_BUILD_JOBS": "2",
        # Build scripts and proc macros link for the host; /usr/bin/cc points into /etc, absent here.
        f"CARGO_TARGET_{platform.machine().upper()}_UNKNOWN_LINUX_GNU_LINKER": config.host_cc,
        "CC": config.host_cc,
    }
    return CargoPlan(["/bin/sh", "-c", script, "cargo", *cargo_args], env, binds)


def _from_directory(registry: Path, crate: LockedCrate) -> Path:
    """The crate's directory in a directory registry, checked against the lock's checksum."""
    path = registry / crate.dirname
    if not path.is_dir() or path.is_symlink():
        raise BuildError(f"dependency not available: {crate.name} {crate.version}")
    if crate.checksum is not None and _package_checksum(path) != crate.checksum:
        raise BuildError(f"dependency not available: {crate.name} {crate.version} (checksum differs from Cargo.lock's)")
    return path


def _package_checksum(path: Path) -> str | None:
    try:
        data = json.loads((path / ".cargo-checksum.json").read_text())
    except (OSError, ValueError):
        return None
    value = data.get("package") if isinstance(data, dict) else None
    return str(value) if value is not None else None


# -- the production fetch step ------------------------------------------------------------------


def fetch_crates(crates: list[LockedCrate], upstream: Path, cache: Path) -> dict[LockedCrate, Path]:
    """Copies each locked crate from `upstream` into the content-addressed `cache` (once).

    Runs in the builder process, outside the sandbox, where the network is allowed; the build that
    follows is offline. A cache entry is named by the sha256 of the crate's file tree, and an index
    (`cache/index/<name>-<version>-<checksum>`) maps the lock's pin to it, so a re-published crate with
    other content under the same pin is never served from the cache.
    """
    out: dict[LockedCrate, Path] = {}
    (cache / "index").mkdir(parents=True, exist_ok=True)
    for crate in crates:
        pin = f"{crate.dirname}-{crate.checksum or 'unpinned'}"
        index = cache / "index" / pin
        if index.is_file():
            entry = cache / "blobs" / index.read_text().strip()
            if _HEX64.match(entry.name) and entry.is_dir() and tree_sha256(entry) == entry.name:
                out[crate] = entry
                continue
        source = _from_directory(upstream, crate)
        out[crate] = _store(source, cache, index)
    return out


def _store(source: Path, cache: Path, index: Path) -> Path:
    blobs = cache / "blobs"
    blobs.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".fetch-", dir=blobs))
    try:
        shutil.copytree(source, tmp / "crate", symlinks=False)
        digest = tree_sha256(tmp / "crate")
        final = blobs / digest
        if not final.exists():
            os.replace(tmp / "crate", final)
        index_tmp = index.with_name(f".{index.name}.{os.getpid()}.tmp")
        index_tmp.write_text(digest)
        os.replace(index_tmp, index)
        return final
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def tree_sha256(root: Path) -> str:
    """Content address of a directory: sorted relative paths, modes (x bit) and file bytes."""
    h = hashlib.sha256()
    for path in sorted(root.rglob("*"), key=lambda p: p.relative_to(root).as_posix()):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            raise BuildError(f"crate file {rel} is a symlink")
        if path.is_dir():
            h.update(f"d {rel}\n".encode())
            continue
        mode = "x" if os.access(path, os.X_OK) else "-"
        h.update(f"f {mode} {rel} {path.stat().st_size}\n".encode())
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()
