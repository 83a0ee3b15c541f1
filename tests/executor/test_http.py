"""Guest HTTP: the host API, every policy refusal, metering, recording and replay.

Real parts only: guests built by the real builder (C with offshore.h, Rust with offshore.rs, WAT),
a real HTTP server on loopback, a real DNS server (dnslib) the executor's resolver asks, real TLS.
Loopback is allowed only because these executors run with `dev_mode` (production refuses it, which
`test_production_refuses_loopback_and_plain_http` shows).
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import wasmtime
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from executor import (
    ArtifactStore,
    CodeSource,
    CompileConfig,
    Executor,
    ExecutorConfig,
    Limits,
    StoreConfig,
    compile_source,
    examples,
)
from executor._http import ReplayMismatch, address_refusal, uses_http
from executor._httptypes import HttpConfig, HttpGrant
from executor.testing_http import LoopbackDns, MockWeb

FETCH_WAT = Path(examples.GUESTS_DIR / "http_fetch_wat" / "fetch.wat")


@pytest.fixture(scope="module")
def web() -> Iterator[MockWeb]:
    server = MockWeb()
    yield server
    server.close()


@pytest.fixture(scope="module")
def dns() -> Iterator[LoopbackDns]:
    server = LoopbackDns()
    yield server
    server.close()


@pytest.fixture(scope="module")
def fetch() -> bytes:
    return bytes(wasmtime.wat2wasm(FETCH_WAT.read_text()))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, artifact_store: ArtifactStore) -> dict[str, bytes]:
    """The C oracle (offshore.h) and the Rust fetcher (offshore.rs), through the real builder."""
    root = tmp_path_factory.mktemp("http-guests")
    config = CompileConfig(allow_file_urls=True, allowed_file_roots=(root,))
    out = {}
    for name in ("oracle_median", "http_fetch_rs"):
        url, commit = examples.publish(name, root)
        result = compile_source(CodeSource(repo=url, commit=commit), store=artifact_store, config=config)
        data = artifact_store.get(result.sha256)
        assert data is not None
        out[name] = data
    return out


def _executor(tmp: Path, **http: object) -> Executor:
    settings: dict[str, object] = {"dev_mode": True, "call_timeout_s": 2.0}
    settings.update(http)
    return Executor(ExecutorConfig(module_cache_dir=tmp / "modules", http=HttpConfig(**settings)))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def ex(tmp_path_factory: pytest.TempPathFactory, dns: LoopbackDns) -> Iterator[Executor]:
    executor = _executor(tmp_path_factory.mktemp("ex"), dns_server=dns.address)
    yield executor
    executor.close()


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(StoreConfig(root=tmp_path / "io"))


def grant(*hosts: str, calls: int = 3, kb: int = 256) -> HttpGrant:
    return HttpGrant(hosts=hosts, max_calls=calls, max_kb=kb)


# -- the host API ---------------------------------------------------------------------------------


def test_wat_guest_gets_status_and_body(ex: Executor, fetch: bytes, web: MockWeb, store: ArtifactStore) -> None:
    result = ex.execute(fetch, web.url("/hello").encode(), http=grant("127.0.0.1"), io_store=store)
    assert result.success, result.error
    assert result.stdout == b"200\nok:/hello"
    assert result.http_calls == 1
    assert result.http_bytes > len(b"ok:/hello")
    assert len(result.io_sha256) == 64


def test_rust_sdk_guest(ex: Executor, built: dict[str, bytes], web: MockWeb, store: ArtifactStore) -> None:
    result = ex.execute(
        built["http_fetch_rs"], web.url("/price/beta").encode(), http=grant("127.0.0.1"), io_store=store
    )
    assert result.success, (result.error, result.stderr)
    assert result.stdout.startswith(b"200\n{")
    assert b'"price": 99.0' in result.stdout


def test_only_guests_importing_the_host_api_need_a_grant(fetch: bytes, built: dict[str, bytes]) -> None:
    hello = bytes(wasmtime.wat2wasm((examples.GUESTS_DIR / "hello_wat" / "hello.wat").read_text()))
    assert uses_http(fetch) and uses_http(built["oracle_median"]) and uses_http(built["http_fetch_rs"])
    assert not uses_http(hello)
    assert not uses_http(b"not wasm") and not uses_http(fetch[:40])


def test_no_grant_no_network(ex: Executor, fetch: bytes, web: MockWeb) -> None:
    before = web.hits["/nogrant"]
    result = ex.execute(fetch, web.url("/nogrant").encode())
    assert result.exit_code == 3 and result.stdout.startswith(b"error 2:")
    assert result.http_calls == 0 and result.io_sha256 == ""
    assert web.hits["/nogrant"] == before


CALL_WAT = """
(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (import "offshore" "http_request" (func $req (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "POST")
  (data (i32.const 16) "http://127.0.0.1/x")
  (func (export "_start")
    (call $exit (i32.sub (i32.const 0)
      (call $req (i32.const 0) (i32.const 4) (i32.const 16) (i32.const URL_LEN)
                 (i32.const 0) (i32.const 0) (i32.const 64) (i32.const BODY_LEN))))))
"""


@pytest.mark.parametrize(
    ("url_len", "body_len", "code"),
    [(18, 100_000_000, 5), (100_000, 0, 1), (18, 70_000, 5)],  # body over 64 KiB; URL over 8 KiB
)
def test_oversized_arguments_are_refused_before_any_read(ex: Executor, url_len: int, body_len: int, code: int) -> None:
    wat = CALL_WAT.replace("URL_LEN", str(url_len)).replace("BODY_LEN", str(body_len))
    result = ex.execute(bytes(wasmtime.wat2wasm(wat)), http=grant("127.0.0.1"))
    assert result.exit_code == code and result.http_calls == 0  # an error code, not a trap


def test_out_of_bounds_pointers_trap(ex: Executor) -> None:
    wat = CALL_WAT.replace("URL_LEN", "18").replace("BODY_LEN", "100").replace("(i32.const 64)", "(i32.const 65500)")
    result = ex.execute(bytes(wasmtime.wat2wasm(wat)), http=grant("127.0.0.1"))
    assert result.error_kind == "trap" and "out of bounds" in (result.error or "")


def test_oracle_median_of_three_sources(
    ex: Executor, built: dict[str, bytes], web: MockWeb, store: ArtifactStore
) -> None:
    urls = "\n".join(web.url(f"/price/{n}") for n in ("alpha", "beta", "gamma")).encode()
    result = ex.execute(built["oracle_median"], urls, http=grant("127.0.0.1", calls=3), io_store=store)
    assert result.success, (result.error, result.stderr)
    assert result.stdout == b'{"median": 100.25, "sources": 3}\n'
    assert result.http_calls == 3


# -- refusals --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "private"),  # carrier-grade NAT
        ("169.254.169.254", "metadata"),
        ("169.254.1.1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("0.0.0.0", "private"),
        ("fd00:ec2::254", "metadata"),
        ("fe80::1", "link-local"),
        ("::ffff:10.0.0.1", "private"),  # IPv4-mapped
        ("2002:a00:1::", "private"),  # 6to4 around 10.0.0.1
        ("ff02::1", "multicast"),
    ],
)
def test_address_policy_refuses(address: str, reason: str) -> None:
    refusal = address_refusal(ipaddress.ip_address(address), dev_mode=True)
    assert refusal is not None and reason in refusal


def test_address_policy_allows_public_and_dev_loopback_only() -> None:
    assert address_refusal(ipaddress.ip_address("93.184.215.14"), dev_mode=False) is None
    assert address_refusal(ipaddress.ip_address("2606:4700::1111"), dev_mode=False) is None
    assert address_refusal(ipaddress.ip_address("127.0.0.1"), dev_mode=True) is None
    assert address_refusal(ipaddress.ip_address("127.0.0.1"), dev_mode=False) == "loopback address"
    assert address_refusal(ipaddress.ip_address("::1"), dev_mode=False) == "loopback address"


@pytest.mark.parametrize(("answer", "reason"), [("10.9.8.7", b"private"), ("169.254.169.254", b"metadata")])
def test_host_resolving_to_a_forbidden_address_is_refused(
    ex: Executor, fetch: bytes, dns: LoopbackDns, answer: str, reason: bytes, store: ArtifactStore
) -> None:
    dns.answers["inside.test"] = [answer]
    result = ex.execute(fetch, b"http://inside.test/x", http=grant("inside.test"), io_store=store)
    assert result.exit_code == 3
    assert result.stdout.startswith(b"error 2:") and reason in result.stdout
    assert result.http_calls == 1  # resolving is network work: billed


def test_host_not_declared_is_refused_without_any_lookup(ex: Executor, fetch: bytes, dns: LoopbackDns) -> None:
    dns.answers["other.test"] = ["127.0.0.1"]
    result = ex.execute(fetch, b"http://other.test/x", http=grant("declared.test"))
    assert result.stdout == b"error 2:host not in the request's http_hosts"
    assert dns.queries["other.test"] == 0
    assert result.http_calls == 0


def test_dns_answer_changing_between_check_and_connect(
    ex: Executor, fetch: bytes, web: MockWeb, dns: LoopbackDns, store: ArtifactStore
) -> None:
    """Rebinding: the first answer passes the check, every later one points at the metadata service.

    The executor looks up once per call and dials the address it checked, so the call reaches the
    checked server and the resolver is asked once; the next call sees the new answer and is refused.
    """
    dns.answers["rebind.test"] = ["127.0.0.1", "169.254.169.254"]
    hits = web.hits["/rebind"]
    first = ex.execute(
        fetch, web.url("/rebind", host="rebind.test").encode(), http=grant("rebind.test"), io_store=store
    )
    assert first.success, first.stdout
    assert first.stdout == b"200\nok:/rebind"
    assert dns.queries["rebind.test"] == 1
    assert web.hits["/rebind"] == hits + 1
    second = ex.execute(fetch, web.url("/rebind", host="rebind.test").encode(), http=grant("rebind.test"))
    assert second.stdout.startswith(b"error 2:cloud metadata address refused")
    assert web.hits["/rebind"] == hits + 1


def test_redirect_to_a_private_address_is_refused(ex: Executor, fetch: bytes, web: MockWeb, dns: LoopbackDns) -> None:
    dns.answers["private.test"] = ["10.0.0.5"]
    target = "http://private.test/secret"
    result = ex.execute(fetch, web.url(f"/redirect?to={target}").encode(), http=grant("127.0.0.1", "private.test"))
    assert result.stdout.startswith(b"error 2:private or reserved address refused")
    assert result.http_calls == 1


def test_redirect_to_an_undeclared_host_is_refused(ex: Executor, fetch: bytes, web: MockWeb) -> None:
    result = ex.execute(fetch, web.url("/redirect?to=http://evil.test/").encode(), http=grant("127.0.0.1"))
    assert result.stdout == b"error 2:host not in the request's http_hosts"


def test_redirect_within_policy_is_followed(ex: Executor, fetch: bytes, web: MockWeb) -> None:
    result = ex.execute(fetch, web.url(f"/redirect?to={web.url('/landed')}").encode(), http=grant("127.0.0.1"))
    assert result.stdout == b"200\nok:/landed"
    assert result.http_calls == 1


def test_over_call_budget(ex: Executor, built: dict[str, bytes], web: MockWeb) -> None:
    urls = "\n".join(web.url(f"/price/{n}") for n in ("alpha", "beta", "gamma")).encode()
    result = ex.execute(built["oracle_median"], urls, http=grant("127.0.0.1", calls=2))
    assert result.success  # the oracle tolerates a missing source
    assert result.stdout == b'{"median": 100.25, "sources": 2}\n'
    assert b"source 3: error -3 (call budget of 2 used up)" in result.stderr
    assert result.http_calls == 2


def test_slow_server_times_out(ex: Executor, fetch: bytes, web: MockWeb) -> None:
    result = ex.execute(fetch, web.url("/slow?s=5").encode(), http=grant("127.0.0.1"))
    assert result.stdout == b"error 4:call timed out"
    assert result.http_calls == 1


def test_trickling_body_cannot_stretch_the_call(ex: Executor, fetch: bytes, web: MockWeb) -> None:
    """Each byte arrives well inside any per-read timeout; the call's deadline still cuts it."""
    result = ex.execute(fetch, web.url("/trickle?n=200&s=0.05").encode(), http=grant("127.0.0.1"))
    assert result.stdout == b"error 4:call timed out"


def test_waiting_counts_against_the_wall_clock(ex: Executor, fetch: bytes, web: MockWeb) -> None:
    result = ex.execute(
        fetch, web.url("/slow?s=5").encode(), http=grant("127.0.0.1"), limits=Limits(max_execution_seconds=1)
    )
    assert result.error_kind == "timeout"


def test_huge_body_is_cut_at_the_byte_budget(ex: Executor, fetch: bytes, web: MockWeb) -> None:
    result = ex.execute(fetch, web.url("/huge").encode(), http=grant("127.0.0.1", kb=64))
    assert result.stdout == b"error 5:response over the byte limit"
    assert 0 < result.http_bytes <= 64 * 1024  # refused on its content-length: the body is never read


def test_huge_streamed_body_is_cut_while_reading(ex: Executor, fetch: bytes, web: MockWeb) -> None:
    result = ex.execute(fetch, web.url("/huge?chunked=1").encode(), http=grant("127.0.0.1", kb=64))
    assert result.stdout == b"error 5:response over the byte limit"
    assert 60 * 1024 < result.http_bytes <= 64 * 1024


def test_huge_body_is_cut_at_the_operator_cap(tmp_path: Path, fetch: bytes, web: MockWeb) -> None:
    with _executor(tmp_path, max_response_bytes=100_000) as small:
        result = small.execute(fetch, web.url("/huge").encode(), http=grant("127.0.0.1", kb=8192))
    assert result.stdout == b"error 5:response over the byte limit"
    assert 0 < result.http_bytes <= 100_000


def test_production_refuses_loopback_and_plain_http(
    tmp_path: Path, fetch: bytes, web: MockWeb, dns: LoopbackDns
) -> None:
    dns.answers["loop.test"] = ["127.0.0.1"]
    with _executor(tmp_path, dev_mode=False, dns_server=dns.address) as prod:
        plain = prod.execute(fetch, web.url("/x").encode(), http=grant("127.0.0.1"))
        loop = prod.execute(fetch, b"https://loop.test/x", http=grant("loop.test"))
    assert plain.stdout == b"error 2:scheme http refused (https only)"
    assert loop.stdout == b"error 2:loopback address refused"


# -- TLS against the host name while dialling the checked address ----------------------------------


def _tls(tmp: Path, name: str) -> tuple[ssl.SSLContext, Path]:
    """A CA and a server certificate for `name`: (server context, CA bundle path)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "offshore test CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(1).not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(2)
        .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False).sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    (tmp / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (tmp / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp / "cert.pem", tmp / "key.pem")
    return context, tmp / "ca.pem"


def test_tls_is_verified_against_the_host_name(tmp_path: Path, fetch: bytes, dns: LoopbackDns) -> None:
    context, ca = _tls(tmp_path, "secure.test")
    dns.answers["secure.test"] = ["127.0.0.1"]
    dns.answers["impostor.test"] = ["127.0.0.1"]
    secure = MockWeb(tls=context)
    try:
        with _executor(tmp_path, dns_server=dns.address, ca_file=str(ca)) as tls_ex:
            good = tls_ex.execute(fetch, secure.url("/tls", host="secure.test").encode(), http=grant("secure.test"))
            bad = tls_ex.execute(fetch, secure.url("/tls", host="impostor.test").encode(), http=grant("impostor.test"))
    finally:
        secure.close()
    assert good.stdout == b"200\nok:/tls"
    assert bad.stdout.startswith(b"error 6:network error")  # certificate is not for impostor.test


# -- metering, recording, replay -------------------------------------------------------------------


def test_requests_are_recorded_as_hashes_only(ex: Executor, fetch: bytes, web: MockWeb, store: ArtifactStore) -> None:
    secret = "token-0123456789abcdef"
    result = ex.execute(fetch, web.url(f"/p?key={secret}").encode(), http=grant("127.0.0.1"), io_store=store)
    assert result.success
    for blob in (store.root / "blobs").rglob("*"):
        if blob.is_file():
            assert secret.encode() not in blob.read_bytes()


def test_replay_reproduces_the_output_with_the_network_off(
    tmp_path: Path, built: dict[str, bytes], store: ArtifactStore
) -> None:
    web = MockWeb()
    urls = "\n".join(web.url(f"/price/{n}") for n in ("alpha", "beta", "gamma")).encode()
    with _executor(tmp_path) as live:
        recorded = live.execute(built["oracle_median"], urls, http=grant("127.0.0.1"), io_store=store)
    web.close()  # the network is off from here: nothing listens on that port any more
    assert recorded.success and recorded.http_calls == 3
    with _executor(tmp_path) as offline:
        again = offline.replay(built["oracle_median"], urls, io_sha256=recorded.io_sha256, io_store=store)
        cold = offline.execute(built["oracle_median"], urls, http=grant("127.0.0.1"))
    assert again.stdout == recorded.stdout == b'{"median": 100.25, "sources": 3}\n'
    assert again.instructions == recorded.instructions
    assert (again.http_calls, again.http_bytes, again.io_sha256) == (3, recorded.http_bytes, recorded.io_sha256)
    assert cold.stdout != recorded.stdout  # proof that the network really is off


def test_replay_fails_when_the_requests_differ(
    ex: Executor, built: dict[str, bytes], web: MockWeb, store: ArtifactStore
) -> None:
    urls = [web.url(f"/price/{n}") for n in ("alpha", "beta", "gamma")]
    recorded = ex.execute(built["oracle_median"], "\n".join(urls).encode(), http=grant("127.0.0.1"), io_store=store)
    changed = "\n".join([urls[0], urls[2], urls[1]]).encode()
    with pytest.raises(ReplayMismatch, match="call 2: the request differs"):
        ex.replay(built["oracle_median"], changed, io_sha256=recorded.io_sha256, io_store=store)
    with pytest.raises(ReplayMismatch, match="the guest made 2 calls, the recording has 3"):
        ex.replay(built["oracle_median"], "\n".join(urls[:2]).encode(), io_sha256=recorded.io_sha256, io_store=store)
    with pytest.raises(ReplayMismatch, match="no recording"):
        ex.replay(built["oracle_median"], changed, io_sha256="0" * 64, io_store=store)


def test_blocking_io_never_stalls_other_executions(tmp_path: Path, fetch: bytes, web: MockWeb) -> None:
    """One CPU worker; a guest waits on a slow server; twenty plain runs all finish before it does."""
    config = ExecutorConfig(module_cache_dir=tmp_path, max_workers=1, http=HttpConfig(dev_mode=True, call_timeout_s=5))
    hello = bytes(wasmtime.wat2wasm((examples.GUESTS_DIR / "hello_wat" / "hello.wat").read_text()))

    async def scenario(executor: Executor) -> list[str]:
        order: list[str] = []

        async def slow() -> None:
            await executor.run_async(fetch, web.url("/slow?s=3").encode(), http=grant("127.0.0.1"))
            order.append("slow")

        async def quick() -> None:
            result = await executor.run_async(hello)
            assert result.success
            order.append("quick")

        before = web.hits["/slow"]
        slow_task = asyncio.create_task(slow())
        while web.hits["/slow"] == before:  # poll: until the slow guest is blocked on the server
            assert not slow_task.done(), slow_task
            await asyncio.sleep(0.01)  # poll
        await asyncio.gather(*(quick() for _ in range(20)))
        await slow_task
        return order

    with Executor(config) as executor:
        order = asyncio.run(scenario(executor))
    assert order == ["quick"] * 20 + ["slow"]
