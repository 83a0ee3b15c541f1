"""Real loopback servers for guest-HTTP tests and the demo: a small web API and a DNS server.

`MockWeb` is a threading HTTP server on 127.0.0.1 (price sources for the oracle demo, plus the
hostile endpoints the refusal tests need); `LoopbackDns` is a real DNS server (dnslib) on 127.0.0.1
whose answers a test sets and changes, so the executor's own resolver is exercised for real
(`HttpConfig.dns_server` / `OFFSHORE_HTTP_DNS_SERVER` points at it).
"""

from __future__ import annotations

import http.server
import json
import ssl
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

PRICES = {"alpha": 101.5, "beta": 99.0, "gamma": 100.25}


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, *_args: Any) -> None:  # quiet: tests read counters, not logs
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length)
        self.server.hits["POST " + urlsplit(self.path).path] += 1
        self._send(200, json.dumps({"echo": body.decode("latin-1")}).encode())

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        self.server.hits[url.path] += 1
        self.server.seen_headers.append(dict(self.headers.items()))
        if url.path.startswith("/price/"):
            name = url.path.rsplit("/", 1)[1]
            if name not in PRICES:
                self._send(404, b'{"error": "unknown source"}')
                return
            self._send(200, json.dumps({"source": name, "price": PRICES[name]}).encode())
        elif url.path == "/slow":
            time.sleep(float(query.get("s", "3")))
            self._send(200, b"late")
        elif url.path == "/trickle":  # one byte every `s` seconds, for `n` bytes: a body that never ends in time
            n, pause = int(query.get("n", "100")), float(query.get("s", "0.1"))
            self.send_response(200)
            self.send_header("content-length", str(n))
            self.end_headers()
            for _ in range(n):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(pause)
        elif url.path == "/huge":
            size = int(query.get("bytes", str(64 * 1024 * 1024)))
            chunked = query.get("chunked") == "1"  # no content-length: the cap must hold while streaming
            self.send_response(200)
            if chunked:
                self.send_header("transfer-encoding", "chunked")
            else:
                self.send_header("content-length", str(size))
            self.end_headers()
            chunk = b"y" * 65536
            try:
                for _ in range(size // len(chunk)):
                    self.wfile.write(b"10000\r\n" + chunk + b"\r\n" if chunked else chunk)
                if chunked:
                    self.wfile.write(b"0\r\n\r\n")
            except OSError:
                pass  # the client hung up at its cap: expected
        elif url.path == "/redirect":
            self._send(302, b"", {"location": query["to"]})
        else:
            self._send(200, b"ok:" + url.path.encode())


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    hits: Counter[str]
    seen_headers: list[dict[str, str]]

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client hanging up at its time or byte cap is what the hostile endpoints are for


class MockWeb:
    """A loopback web API on a free port (plain http, or https with `tls`), served on a thread."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.hits = Counter()
        self._server.seen_headers = []
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.port = int(self._server.server_address[1])
        self.scheme = "https" if tls is not None else "http"
        self._thread = threading.Thread(target=self._server.serve_forever, name="mock-web", daemon=True)
        self._thread.start()

    @property
    def hits(self) -> Counter[str]:
        return self._server.hits

    @property
    def seen_headers(self) -> list[dict[str, str]]:
        return self._server.seen_headers

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class LoopbackDns:
    """A real DNS server (UDP, dnslib) on 127.0.0.1; `answers[name]` is a list of A answers, one per query.

    The last answer repeats. Unknown names are NXDOMAIN; AAAA queries get no answer. `queries`
    counts A queries per name (what rebinding tests assert).
    """

    def __init__(self) -> None:
        from dnslib import QTYPE, RCODE, RR, A
        from dnslib.server import BaseResolver, DNSServer

        self.answers: dict[str, list[str]] = {}
        self.queries: Counter[str] = Counter()
        outer = self

        class _Resolver(BaseResolver):  # type: ignore[misc]
            def resolve(self, request: Any, handler: Any) -> Any:
                reply = request.reply()
                name = str(request.q.qname).rstrip(".").lower()
                if name not in outer.answers:
                    reply.header.rcode = RCODE.NXDOMAIN
                    return reply
                if request.q.qtype == QTYPE.A:
                    outer.queries[name] += 1
                    seq = outer.answers[name]
                    address = seq[0] if len(seq) == 1 else seq.pop(0)
                    reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(address), ttl=0))
                return reply

        self._server = DNSServer(_Resolver(), address="127.0.0.1", port=0)
        self._server.start_thread()
        self.port = int(self._server.server.server_address[1])

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def close(self) -> None:
        self._server.stop()


@contextmanager
def mock_web(tls: ssl.SSLContext | None = None) -> Iterator[MockWeb]:
    web = MockWeb(tls)
    try:
        yield web
    finally:
        web.close()


@contextmanager
def published_store(store_dir: Path, root: Path) -> Iterator[str]:
    """What an operator publishes for `offshore verify --io-store URL`: the artifact store's `refs/` and
    `blobs/` copied under `root` and served as static files on loopback; yields the base URL."""
    import functools
    import shutil

    for sub in ("refs", "blobs"):
        shutil.copytree(store_dir / sub, root / sub)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
