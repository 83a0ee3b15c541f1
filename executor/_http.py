"""Guest HTTP under policy, metered and recorded for replay (the host side of `offshore.http_*`).

Why each piece:
- The executor resolves DNS itself (dnspython, never getaddrinfo), refuses every answer that is not a
  public unicast address (loopback only in dev mode), and connects to the address it checked: a
  custom httpcore network backend gets the host name, resolves, checks and dials the IP, while TLS
  still runs against the host name (SNI and certificate verification by httpcore). A DNS answer
  that changes between check and connect cannot redirect the socket: there is no second lookup.
- Redirects are followed here, not by the library, so each hop's scheme, host and address are
  checked again.
- One deadline per call, enforced on every socket read and write (a server trickling bytes cannot
  stretch it); the run's wall clock caps all calls together, so waiting counts as execution time.
- Every call (including refusals) becomes a record: the request as a sha256 only (a guest may put
  secrets in it), the response (status, headers, body, or the error the guest saw) as a blob in the
  artifact store. The hashes are chained; the head is the result's `io_sha256`. Replay feeds the
  recorded responses in order and stops at the first request that differs.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import dns.exception
import dns.resolver
import httpcore

from executor._httptypes import HOST_MODULE, HttpConfig, HttpGrant
from executor._store import ArtifactStore
from executor._wasmparse import _SECTION_IMPORT, _TAG, _Reader
from executor.errors import ArtifactStoreError, ExecutorError

# Error codes the guest sees (negative returns of offshore.http_request); see guests/_sdk/offshore.h.
E_INVALID = -1
E_DENIED = -2
E_BUDGET = -3
E_TIMEOUT = -4
E_TOO_LARGE = -5
E_NETWORK = -6
E_BAD_HANDLE = -7

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_HOP_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "te"})
_METADATA = frozenset({ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")})
_TRANSCRIPT_KEY = "offshore-io-transcript"


def uses_http(wasm: bytes) -> bool:
    """Whether a module imports the `offshore` host API: only such a guest needs its request's grant.

    Lets the execute stage confirm the grant on chain (the contract's record is authoritative, not
    the Kafka event) for exactly the requests that can use it. Reads only the import section.
    """
    if not wasm.startswith(b"\0asm"):
        return False
    r = _Reader(wasm, 8)
    try:
        while r.pos < r.end:
            section, size = r.byte(), r.uleb()
            if section != _SECTION_IMPORT:
                r.skip(size)
                continue
            body = _Reader(wasm, r.pos, r.pos + size)
            for _ in range(body.uleb()):
                if body.name() == HOST_MODULE.encode():
                    return True
                body.name()
                kind = body.byte()
                if kind in (0, _TAG):  # function (type index) or tag (attribute + type index)
                    if kind == _TAG:
                        body.byte()
                    body.uleb()
                elif kind == 1:  # table: reftype + limits
                    body.byte()
                    body.limits()
                elif kind == 2:  # memory: limits
                    body.limits()
                else:  # global: valtype + mutability
                    body.byte()
                    body.byte()
            return False
    except ValueError:
        return False
    return False


class ReplayMismatch(ExecutorError):
    """The guest's requests differ from the recording (or the recording is missing or corrupt)."""


class _Refused(Exception):
    """A policy refusal with the guest-visible code; the message never contains the URL."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def address_refusal(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, *, dev_mode: bool) -> str | None:
    """Why a guest may not connect to `ip`, or None. Pure: the heart of the address policy."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if inner is not None:
            return address_refusal(inner, dev_mode=dev_mode)
    if ip.is_loopback:
        return None if dev_mode else "loopback address"
    if ip in _METADATA:
        return "cloud metadata address"
    if ip.is_multicast:
        return "multicast address"
    if ip.is_link_local:
        return "link-local address"
    if ip.is_private or ip.is_reserved or ip.is_unspecified or not ip.is_global:
        return "private or reserved address"
    return None


@dataclass(slots=True)
class Response:
    """What a guest reads through a handle (the same bytes live or in replay)."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    pos: int = 0

    def header_block(self) -> bytes:
        return "".join(f"{k}: {v}\n" for k, v in self.headers).encode("latin-1", "replace")


@dataclass(slots=True)
class _Outcome:
    """One call's result as recorded: a response or the error code the guest saw, plus metering."""

    response: Response | None
    error: int = 0
    message: str = ""
    billed: bool = False
    transferred: int = 0

    def blob(self) -> bytes:
        doc: dict[str, Any] = {"v": 1, "billed": self.billed, "bytes": self.transferred}
        if self.response is not None:
            doc["status"] = self.response.status
            doc["headers"] = [list(h) for h in self.response.headers]
            doc["body"] = base64.b64encode(self.response.body).decode()
        else:
            doc["error"] = self.error
            doc["message"] = self.message
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_blob(cls, data: bytes) -> _Outcome:
        doc = json.loads(data)
        if "status" in doc:
            headers = [(str(k), str(v)) for k, v in doc["headers"]]
            response = Response(int(doc["status"]), headers, base64.b64decode(doc["body"]))
            return cls(response, billed=bool(doc["billed"]), transferred=int(doc["bytes"]))
        return cls(None, int(doc["error"]), str(doc["message"]), bool(doc["billed"]), int(doc["bytes"]))


def request_sha256(method: str, url: str, headers: list[tuple[str, str]], body: bytes) -> str:
    """The only trace of a request that is kept: its hash (secrets in headers or URL stay out)."""
    doc = {"method": method, "url": url, "headers": [list(h) for h in headers], "body": body.hex()}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def chain(head: str, request_sha: str, response_sha: str) -> str:
    """Next chain head: sha256(previous head || request hash || response hash), as hex."""
    return hashlib.sha256(f"{head}:{request_sha}:{response_sha}".encode()).hexdigest()


def parse_headers(block: bytes) -> list[tuple[str, str]]:
    """`Name: value` lines from the guest; hop-by-hop and framing headers are the host's business."""
    out = []
    for raw in block.decode("latin-1").splitlines():
        if not raw.strip():
            continue
        name, sep, value = raw.partition(":")
        name = name.strip().lower()
        if not sep or not name or any(c in name for c in " \t\r\n") or "\r" in value or "\n" in value:
            raise _Refused(E_INVALID, "malformed header line")
        if name not in _HOP_HEADERS:
            out.append((name, value.strip()))
    return out


class Resolver:
    """DNS through dnspython against a configured server or the system's; returns every A/AAAA answer."""

    def __init__(self, server: str | None) -> None:
        self._resolver = dns.resolver.Resolver(configure=server is None)
        self._resolver.cache = None
        if server is not None:
            host, _, port = server.rpartition(":")
            self._resolver.nameservers = [host.strip("[]")]
            self._resolver.port = int(port)

    def resolve(self, host: str, timeout: float) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        try:
            return [ipaddress.ip_address(host)]
        except ValueError:
            pass
        out: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
        for rdtype in ("A", "AAAA"):
            try:
                answer = self._resolver.resolve(host, rdtype, lifetime=max(timeout, 0.05), search=False)
            except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
                continue
            except dns.exception.Timeout as exc:
                raise _Refused(E_TIMEOUT, "DNS timed out") from exc
            except dns.exception.DNSException as exc:
                raise _Refused(E_NETWORK, f"DNS failed: {type(exc).__name__}") from exc
            out.extend(ipaddress.ip_address(r.address) for r in answer)
        if not out:
            raise _Refused(E_NETWORK, "host name does not resolve")
        return out


class _DeadlineStream(httpcore.NetworkStream):
    """Every read and write gets at most the time left before the call's deadline."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: float) -> None:
        self._inner = inner
        self._deadline = deadline

    def _left(self, timeout: float | None) -> float:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise httpcore.ReadTimeout("call deadline reached")
        return left if timeout is None else min(timeout, left)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._left(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._left(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        inner = self._inner.start_tls(ssl_context, server_hostname, self._left(timeout))
        return _DeadlineStream(inner, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _CheckedBackend(httpcore.NetworkBackend):
    """Resolves the host itself, refuses forbidden answers, dials the checked IP (no second lookup)."""

    def __init__(self, resolver: Resolver, config: HttpConfig) -> None:
        self._resolver = resolver
        self._config = config
        self._plain = httpcore.SyncBackend()
        self.deadline = 0.0
        self.connected: list[str] = []
        """Addresses dialled, in order (tests assert that rebinding cannot move the socket)."""

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise _Refused(E_TIMEOUT, "call deadline reached")
        addresses = self._resolver.resolve(host, left)
        for ip in addresses:
            reason = address_refusal(ip, dev_mode=self._config.dev_mode)
            if reason is not None:
                raise _Refused(E_DENIED, f"{reason} refused")
        ip = next((a for a in addresses if a.version == 4), addresses[0])
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise _Refused(E_TIMEOUT, "call deadline reached")
        self.connected.append(str(ip))
        stream = self._plain.connect_tcp(str(ip), port, timeout=min(timeout or left, left))
        return _DeadlineStream(stream, self.deadline)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        raise _Refused(E_DENIED, "unix sockets refused")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


@dataclass(slots=True)
class _Transcript:
    calls: list[tuple[str, str]] = field(default_factory=list)


class HttpSession:
    """One run's HTTP: grant, budgets, open handles, the record chain; live or replaying a recording."""

    def __init__(
        self,
        config: HttpConfig,
        grant: HttpGrant,
        *,
        store: ArtifactStore | None = None,
        replay: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.config = config
        self.grant = grant
        self.store = store
        self.deadline = time.monotonic() + 3600.0  # the runtime sets the run's wall-clock deadline
        self.calls = 0
        self.bytes = 0
        self.head = ""
        self.records: list[tuple[str, str]] = []
        self.handles: dict[int, Response] = {}
        self.last_error = ""
        self.mismatch: str | None = None
        self._next_handle = 1
        self._replay: list[tuple[str, str]] | None = None
        if replay is not None:
            self._replay = load_transcript(store, replay)
        self.resolver = Resolver(config.dns_server) if self._replay is None else None
        self.backend = _CheckedBackend(self.resolver, config) if self.resolver is not None else None
        if ssl_context is None and config.ca_file is not None:
            ssl_context = ssl.create_default_context(cafile=config.ca_file)
        self._ssl = ssl_context
        self._pool: httpcore.ConnectionPool | None = None
        self._hop_bytes = 0

    # -- the guest's calls -------------------------------------------------------------------------

    def request(self, method: str, url: str, header_block: bytes, body: bytes) -> int:
        """Performs (or replays) one call; returns a handle >= 1 or a negative error code."""
        early: _Refused | None = None
        try:
            headers = parse_headers(header_block)
        except _Refused as exc:
            headers, early = [], exc
        req_sha = request_sha256(method, url, headers, body)
        if self._replay is not None:
            outcome = self._replayed(req_sha)
        elif early is not None:
            outcome = _Outcome(None, early.code, str(early))
        else:
            outcome = self._live(method, url, headers, body)
        if outcome.billed:
            self.calls += 1
            self.bytes += outcome.transferred
        resp_blob = outcome.blob()
        resp_sha = hashlib.sha256(resp_blob).hexdigest()
        if self.store is not None and self._replay is None:
            self.store.put(resp_blob)
        self.records.append((req_sha, resp_sha))
        self.head = chain(self.head, req_sha, resp_sha)
        if outcome.response is None:
            self.last_error = outcome.message
            return outcome.error
        handle = self._next_handle
        self._next_handle += 1
        self.handles[handle] = outcome.response
        return handle

    def _replayed(self, req_sha: str) -> _Outcome:
        """The recorded outcome of the next call. A mismatch is not raised here, inside the guest's
        host call: an exception crossing wasmtime's trampoline keeps the run's store alive in a
        reference cycle (an abort of the process at exit was seen); the guest gets an error instead,
        every later call fails the same way, and `Executor.replay` raises once the run is over."""
        assert self._replay is not None
        index = len(self.records)
        if self.mismatch is None:
            if index >= len(self._replay):
                self.mismatch = f"call {index + 1}: the recording has only {len(self._replay)} calls"
            elif self._replay[index][0] != req_sha:
                self.mismatch = f"call {index + 1}: the request differs from the recorded one"
        if self.mismatch is not None:
            return _Outcome(None, E_NETWORK, f"replay: {self.mismatch}")
        resp_sha = self._replay[index][1]
        assert self.store is not None
        try:
            data = self.store.get(resp_sha)
        except ArtifactStoreError as exc:  # a corrupt blob (deleted by the store)
            data, self.mismatch = None, f"call {index + 1}: {exc}"
        if self.mismatch is None and data is None:
            self.mismatch = f"call {index + 1}: recorded response {resp_sha} is not in the store"
        if data is None:
            return _Outcome(None, E_NETWORK, f"replay: {self.mismatch}")
        return _Outcome.from_blob(data)

    def _live(self, method: str, url: str, headers: list[tuple[str, str]], body: bytes) -> _Outcome:
        if self.calls >= self.grant.max_calls:
            return _Outcome(None, E_BUDGET, f"call budget of {self.grant.max_calls} used up")
        byte_budget = self.grant.max_kb * 1024 - self.bytes
        if len(body) > min(self.config.max_request_bytes, byte_budget):
            return _Outcome(None, E_TOO_LARGE, "request body over the limit")
        try:
            self._check_url(method, url)
        except _Refused as exc:
            return _Outcome(None, exc.code, str(exc))
        # From here on the call is billed: it uses network resources whatever happens.
        deadline = min(time.monotonic() + self.config.call_timeout_s, self.deadline)
        assert self.backend is not None
        self.backend.deadline = deadline
        sent = len(body)
        received = 0
        try:
            for _hop in range(self.config.max_redirects + 1):
                cap = min(self.config.max_response_bytes, byte_budget - sent - received)
                status, resp_headers, resp_body = self._one(method, url, headers, body, deadline, cap)
                received += self._hop_bytes
                location = dict(resp_headers).get("location")
                if status not in _REDIRECTS or location is None:
                    response = Response(status, resp_headers, resp_body)
                    return _Outcome(response, billed=True, transferred=sent + received)  # <= budget: checked per hop
                url = urljoin(url, location)
                self._check_url(method, url)
                if status == 303 or (status in (301, 302) and method == "POST"):
                    method, body = "GET", b""
                    headers = [(k, v) for k, v in headers if k != "content-type"]
            raise _Refused(E_DENIED, f"more than {self.config.max_redirects} redirects")
        except _Refused as exc:
            return _Outcome(
                None, exc.code, str(exc), billed=True, transferred=min(sent + received + self._hop_bytes, byte_budget)
            )
        except httpcore.TimeoutException:
            return _Outcome(
                None,
                E_TIMEOUT,
                "call timed out",
                billed=True,
                transferred=min(sent + received + self._hop_bytes, byte_budget),
            )
        except (httpcore.NetworkError, httpcore.ProtocolError, OSError, ssl.SSLError) as exc:
            message = f"network error: {type(exc).__name__}"
            return _Outcome(
                None, E_NETWORK, message, billed=True, transferred=min(sent + received + self._hop_bytes, byte_budget)
            )

    def _check_url(self, method: str, url: str) -> None:
        if method not in _METHODS:
            raise _Refused(E_INVALID, "method not allowed")
        try:
            parts = urlsplit(url)
            host = (parts.hostname or "").lower()
            _ = parts.port
        except ValueError as exc:
            raise _Refused(E_INVALID, "malformed URL") from exc
        allowed = {"https", "http"} if self.config.dev_mode else {"https"}
        if parts.scheme not in allowed:
            raise _Refused(E_DENIED, f"scheme {parts.scheme or '(none)'} refused (https only)")
        if parts.username is not None or parts.password is not None:
            raise _Refused(E_INVALID, "credentials in URLs refused")
        if host not in self.grant.hosts:
            raise _Refused(E_DENIED, "host not in the request's http_hosts")

    def _one(
        self, method: str, url: str, headers: list[tuple[str, str]], body: bytes, deadline: float, cap: int
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """One hop: (status, headers, body); bytes received so far in `_hop_bytes`; over `cap` is an error."""
        self._hop_bytes = 0
        if self._pool is None:
            self._pool = httpcore.ConnectionPool(
                ssl_context=self._ssl, network_backend=self.backend, max_connections=4, retries=0
            )
        left = max(deadline - time.monotonic(), 0.001)
        timeout = {"connect": left, "read": left, "write": left, "pool": left}
        host = urlsplit(url).netloc.rpartition("@")[2]
        sent = [("host", host), ("user-agent", "offshore-guest"), *headers]
        if body or method in ("POST", "PUT", "PATCH"):
            sent.append(("content-length", str(len(body))))
        with self._pool.stream(method, url, headers=sent, content=body, extensions={"timeout": timeout}) as resp:
            resp_headers = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in resp.headers]
            self._hop_bytes = sum(len(k) + len(v) + 4 for k, v in resp.headers) + 16
            declared = dict(resp_headers).get("content-length", "")
            if self._hop_bytes > cap or (declared.isdigit() and self._hop_bytes + int(declared) > cap):
                raise _Refused(E_TOO_LARGE, "response over the byte limit")
            chunks = []
            for chunk in resp.iter_stream():
                self._hop_bytes += len(chunk)
                if self._hop_bytes > cap:
                    raise _Refused(E_TOO_LARGE, "response over the byte limit")
                if time.monotonic() > deadline:
                    raise httpcore.ReadTimeout("call deadline reached")
                chunks.append(chunk)
            return resp.status, resp_headers, b"".join(chunks)

    # -- handles -----------------------------------------------------------------------------------

    def get(self, handle: int) -> Response | None:
        return self.handles.get(handle)

    def close_handle(self, handle: int) -> bool:
        return self.handles.pop(handle, None) is not None

    # -- end of run --------------------------------------------------------------------------------

    def finish(self) -> None:
        """Closes sockets; stores the transcript under its chain head; checks a replay used it all."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        if self._replay is not None:
            if self.mismatch is None and len(self.records) != len(self._replay):
                self.mismatch = f"the guest made {len(self.records)} calls, the recording has {len(self._replay)}"
            return
        if self.store is not None and self.records:
            doc = {"v": 1, "calls": [list(r) for r in self.records]}
            sha = self.store.put(json.dumps(doc, separators=(",", ":")).encode())
            self.store.put_ref(transcript_key(self.head), sha)

    def usage(self) -> dict[str, Any]:
        return {"http_calls": self.calls, "http_bytes": self.bytes, "io_sha256": self.head}


def load_transcript(store: ArtifactStore | None, head: str) -> list[tuple[str, str]]:
    """The recorded (request hash, response hash) list whose chain ends in `head`, verified."""
    if store is None:
        raise ReplayMismatch("replay needs the artifact store holding the recording")
    sha = store.get_ref(transcript_key(head))
    data = store.get(sha) if sha is not None else None
    if data is None:
        raise ReplayMismatch(f"no recording for io_sha256 {head}")
    return parse_transcript(data, head)


def transcript_key(head: str) -> dict[str, Any]:
    """The artifact-store ref under which the transcript whose chain ends in `head` is stored."""
    return {"kind": _TRANSCRIPT_KEY, "head": head}


def parse_transcript(data: bytes, head: str) -> list[tuple[str, str]]:
    """A transcript blob's (request hash, response hash) list, checked to chain to `head`: a copy read
    from anywhere (e.g. an operator's published store) is as good as the original or is refused."""
    try:
        calls = [(str(a), str(b)) for a, b in json.loads(data)["calls"]]
    except (ValueError, KeyError, TypeError):
        raise ReplayMismatch("the recording is malformed") from None
    computed = ""
    for req, resp in calls:
        computed = chain(computed, req, resp)
    if computed != head:
        raise ReplayMismatch("the recording does not hash to its io_sha256")
    return calls
