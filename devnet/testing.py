"""Helpers for other components' tests: a devnet in a subprocess on a free port, and waiting on it.

In-process use needs nothing from here: `async with Devnet(DevnetConfig(port=0, block_interval_s=0.05))`
and read `devnet.rpc_url`, `devnet.key(account)`, `await devnet.wait_for_tx(hash)`.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from devnet.errors import DevnetError


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def status(rpc_url: str, timeout: float = 2.0) -> dict[str, object]:
    """GET /status of a devnet (or any NEAR node)."""
    with urllib.request.urlopen(f"{rpc_url}/status", timeout=timeout) as resp:
        body: dict[str, object] = json.loads(resp.read())
        return body


def wait_for_height(rpc_url: str, height: int, timeout: float = 30.0) -> int:
    """Block until the node's head reaches `height`; returns the head. Raises TimeoutError."""
    deadline = time.monotonic() + timeout
    while True:  # poll
        try:
            sync = status(rpc_url)["sync_info"]
            assert isinstance(sync, dict)
            head = int(sync["latest_block_height"])
            if head >= height:
                return head
        except (urllib.error.URLError, OSError, KeyError, ValueError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"devnet at {rpc_url} did not reach height {height} in {timeout}s")
        time.sleep(0.02)


class DevnetProcess:
    """`python -m devnet` as a child process, ready when its first block is served; stopped on exit."""

    def __init__(
        self,
        *,
        state_dir: Path,
        block_interval_s: float = 0.05,
        port: int | None = None,
        extra_args: tuple[str, ...] = (),
        startup_timeout_s: float = 30.0,
    ) -> None:
        self.port = port or free_port()
        self.rpc_url = f"http://127.0.0.1:{self.port}"
        self.credentials_dir = state_dir / "credentials"
        self.state_file = state_dir / "chain.sqlite"
        self._args = [
            sys.executable,
            "-m",
            "devnet",
            "--port",
            str(self.port),
            "--block-interval",
            str(block_interval_s),
            "--credentials-dir",
            str(self.credentials_dir),
            "--state-file",
            str(self.state_file),
            *extra_args,
        ]
        self._log = state_dir / "devnet.log"
        self._timeout = startup_timeout_s
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> DevnetProcess:
        self._log.parent.mkdir(parents=True, exist_ok=True)
        with self._log.open("ab") as log:
            self.proc = subprocess.Popen(self._args, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ))
        try:
            wait_for_height(self.rpc_url, 1, self._timeout)
        except TimeoutError as exc:
            self.stop()
            raise DevnetError(f"devnet did not start: {self._log.read_text()[-2000:]}") from exc
        return self

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        code = self.proc.returncode
        self.proc = None
        return code

    def __enter__(self) -> DevnetProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
