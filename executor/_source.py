"""Validation and canonical form of a code source (repo URL, commit, build target, path).

The canonical URL is part of the build-cache key, so two spellings of one repository share a build,
and it is the only string ever handed to git (after `--`), so no option or transport injection.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from executor._types import BUILD_TARGETS, CodeSource, CompileConfig
from executor.errors import InvalidSourceError

_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_PATH_CHARS = re.compile(r"^[A-Za-z0-9._~/+@-]+$")
_HOST = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")
_DEFAULT_PORTS = {"https": 443, "http": 80, "ssh": 22, "git": 9418}
_MAX_URL = 2048


@dataclass(frozen=True, slots=True)
class CheckedSource:
    """A source that passed every check; `repo` is canonical, `path` normalised or None."""

    repo: str
    commit: str
    build_target: str
    path: str | None
    file_path: Path | None
    """For file:// repos: the local directory."""


def check_source(source: CodeSource, config: CompileConfig) -> CheckedSource:
    """Validates every field of `source`; raises InvalidSourceError naming the first problem."""
    commit = source.commit.strip().lower()
    if not _COMMIT.match(commit):
        raise InvalidSourceError("commit must be a full 40-hex sha (branch names make the cache lie)")
    if source.build_target not in BUILD_TARGETS:
        raise InvalidSourceError(f"unknown build_target {source.build_target!r}")
    repo, file_path = canonical_repo_url(source.repo, config)
    path = normalise_repo_path(source.path) if source.path else None
    if source.build_target == "wasm" and (path is None or not path.endswith(".wasm")):
        raise InvalidSourceError("build_target 'wasm' needs path to a .wasm file in the repo")
    return CheckedSource(repo, commit, source.build_target, path, file_path)


def canonical_repo_url(url: str, config: CompileConfig) -> tuple[str, Path | None]:
    """Canonical URL (lowercase scheme and host, no default port, no trailing slash) or an error."""
    if not isinstance(url, str) or not url or len(url) > _MAX_URL:
        raise InvalidSourceError("repo URL missing or too long")
    if url != url.strip() or any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
        raise InvalidSourceError("repo URL contains whitespace or control characters")
    if url.startswith("-"):
        raise InvalidSourceError("repo URL must not start with '-'")
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    if not scheme or "::" in url:
        raise InvalidSourceError("repo must be a URL with a scheme (no scp-style or transport syntax)")
    if parts.query or parts.fragment:
        raise InvalidSourceError("repo URL must not carry a query or fragment")
    if "%" in url or "\\" in url:
        raise InvalidSourceError("repo URL must not contain percent-escapes or backslashes")
    if scheme == "file":
        return _canonical_file_url(parts, config)
    if scheme not in config.allowed_schemes:
        raise InvalidSourceError(f"scheme {scheme!r} not allowed")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise InvalidSourceError("credentials in repo URLs are not allowed")
    host = (parts.hostname or "").lower().rstrip(".")
    if not _HOST.match(host):
        raise InvalidSourceError("repo URL host is malformed")
    if config.allowed_hosts and host not in config.allowed_hosts:
        raise InvalidSourceError(f"host {host!r} not allowed")
    try:
        port = parts.port
    except ValueError as exc:
        raise InvalidSourceError("repo URL port is malformed") from exc
    netloc = host if port in (None, _DEFAULT_PORTS.get(scheme)) else f"{host}:{port}"
    path = _clean_url_path(parts.path)
    if path == "/":
        raise InvalidSourceError("repo URL has no repository path")
    return f"{scheme}://{netloc}{path}", None


def _canonical_file_url(parts: urllib.parse.SplitResult, config: CompileConfig) -> tuple[str, Path]:
    if not config.allow_file_urls:
        raise InvalidSourceError("file:// repos are disabled (allow_file_urls=False)")
    if parts.netloc not in ("", "localhost"):
        raise InvalidSourceError("file:// URLs must not name a host")
    path = _clean_url_path(parts.path)
    local = Path(path)
    if not config.allowed_file_roots:
        raise InvalidSourceError("file:// repos need allowed_file_roots (none configured)")
    resolved = local.resolve()  # symlinks resolved: a link inside a root must not lead out of it
    if not any(resolved.is_relative_to(root.resolve()) for root in config.allowed_file_roots):
        raise InvalidSourceError("file:// repo outside the allowed roots")
    return f"file://{path}", local


def _clean_url_path(path: str) -> str:
    if not path.startswith("/") or not _PATH_CHARS.match(path):
        raise InvalidSourceError("repo URL path has characters outside [A-Za-z0-9._~/+@-]")
    segments = [seg for seg in path.split("/") if seg]
    if any(seg in (".", "..") or seg.startswith("-") for seg in segments):
        raise InvalidSourceError("repo URL path must not contain '.', '..' or '-option' segments")
    return "/" + "/".join(segments)


def normalise_repo_path(path: str) -> str:
    """A relative path inside the repo: no absolute paths, no '..', no option-like segments."""
    if not path or len(path) > 512 or not _PATH_CHARS.match(path):
        raise InvalidSourceError("path has characters outside [A-Za-z0-9._~/+@-]")
    raw = path.split("/")
    if path.startswith("/") or any(part in ("..", ".") or part.startswith("-") for part in raw):
        raise InvalidSourceError("path must be relative and must not contain '.', '..' or '-option' parts")
    return PurePosixPath(path).as_posix()
