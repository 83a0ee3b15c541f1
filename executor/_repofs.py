"""Host-side reads of a checkout that never leave it: no symlink is followed, only regular files are opened.

A repo may plant `Cargo.toml`, `src` or any directory of `path` as a symlink to a host path, or
(via a build step writing /out) a FIFO or device that would block a reader forever. Everything the
compile stage reads on the host goes through here: directories are checked component by component
with lstat (the checkout is ours and nothing else writes it before the sandbox runs), files are
opened with O_NOFOLLOW | O_NONBLOCK and accepted only if fstat says regular. Errors name the repo
path only, never what a link points to, so they reveal nothing about the host.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from executor.errors import InvalidArtifactError, InvalidSourceError


def safe_dir(root: Path, rel: str | None) -> Path:
    """`root/rel` after checking that every component is a real directory (not a symlink)."""
    current = root
    for part in (rel or "").split("/"):
        if not part:
            continue
        current = current / part
        try:
            mode = os.lstat(current).st_mode
        except OSError:
            raise InvalidSourceError(f"path {rel!r} is not a directory in the repo") from None
        if stat.S_ISLNK(mode):
            raise InvalidSourceError(f"path {rel!r}: {part!r} is a symlink (symlinks are not followed)")
        if not stat.S_ISDIR(mode):
            raise InvalidSourceError(f"path {rel!r} is not a directory in the repo")
    return current


def kind(directory: Path, name: str) -> str:
    """'file', 'dir', 'symlink', 'missing' or 'other' (FIFO, device, socket), without following links."""
    try:
        mode = os.lstat(directory / name).st_mode
    except FileNotFoundError:
        return "missing"
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "dir"
    return "other"


def regular_files(directory: Path, suffix: str) -> list[str]:
    """Sorted names of the regular files in `directory` ending in `suffix` (symlinks skipped)."""
    with os.scandir(directory) as entries:
        return sorted(e.name for e in entries if e.name.endswith(suffix) and e.is_file(follow_symlinks=False))


def read_repo_file(root: Path, rel: str, max_bytes: int) -> bytes:
    """Reads a regular file inside `root` without following any symlink; FIFOs and devices are refused."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        parts = rel.split("/")
        for part in parts[:-1]:
            try:
                nxt = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            except OSError as exc:
                raise InvalidSourceError(f"path {rel!r}: no such directory in the repo") from exc
            os.close(fd)
            fd = nxt
        try:
            st = os.stat(parts[-1], dir_fd=fd, follow_symlinks=False)
        except OSError as exc:
            raise InvalidSourceError(f"path {rel!r}: no such regular file in the repo") from exc
        if not stat.S_ISREG(st.st_mode):
            raise InvalidSourceError(f"path {rel!r} is not a regular file (symlinks, FIFOs and devices are refused)")
        try:  # O_NONBLOCK: if it was swapped for a FIFO since the stat, open must not wait for a writer
            ffd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=fd)
        except OSError as exc:
            raise InvalidSourceError(f"path {rel!r}: no such regular file in the repo") from exc
        with os.fdopen(ffd, "rb") as handle:
            st = os.fstat(handle.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise InvalidSourceError(f"path {rel!r} is not a regular file")
            if st.st_size > max_bytes:
                raise InvalidArtifactError(f"{rel!r} is {st.st_size} bytes, over the {max_bytes} cap")
            return handle.read(max_bytes + 1)
    finally:
        os.close(fd)
