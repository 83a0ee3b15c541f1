"""LocalPlatform.restart: a stage restarted after its metrics port was taken by someone else gets a new
port instead of exiting at start (the chaos bench once left execute down for the rest of a run)."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

from offshore.local import LocalPlatform, PlatformInfo, _Child
from offshore.stack import Endpoints, free_port


def _platform(tmp_path: Path, port: int) -> tuple[LocalPlatform, _Child]:
    platform = LocalPlatform(tmp_path / "state")
    env = {"OFFSHORE_METRICS_PORT": str(port)}
    child = _Child("execute", [sys.executable, "-c", "pass"], env, tmp_path / "execute.log")
    platform._children["execute"] = child
    endpoints = Endpoints(kafka_bootstrap="127.0.0.1:1", postgres_dsn="postgresql:///x")
    platform.info = PlatformInfo(tmp_path, endpoints, "http://rpc", "http://rpc/v0", "c.test.near", tmp_path)
    platform.info.metrics["execute"] = f"http://127.0.0.1:{port}/metrics"
    return platform, child


def test_a_taken_metrics_port_is_replaced_on_restart(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        platform, child = _platform(tmp_path, taken)
        platform.restart("execute")
        try:
            port = int(child.env["OFFSHORE_METRICS_PORT"])
            assert port != taken
            assert platform.info is not None
            assert platform.info.metrics["execute"] == f"http://127.0.0.1:{port}/metrics"
        finally:
            assert child.proc is not None
            child.proc.wait(timeout=30)


def test_a_free_metrics_port_is_kept_on_restart(tmp_path: Path) -> None:
    port = free_port()
    platform, child = _platform(tmp_path, port)
    platform.restart("execute")
    assert child.proc is not None
    child.proc.wait(timeout=30)
    assert child.env["OFFSHORE_METRICS_PORT"] == str(port)
