"""Retries (429 with Retry-After from a real rate-limited server, 503 and connection failures),
timeouts and TLS with a private CA."""

from __future__ import annotations

import logging
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable, Iterator, List

import httpx
import pytest

import tresor
from conftest import Server, Servers, Values


def retries_logged(caplog: pytest.LogCaptureFixture) -> List[str]:
    return [r.getMessage() for r in caplog.records if r.name == "tresor" and "retrying" in r.getMessage()]


@pytest.fixture(scope="module")
def limited(servers: Servers) -> Server:
    """A server allowing two entry requests a second per token (then 429 with Retry-After: 1)."""
    return servers.start("rate-limited", {"TRESOR_RATE_ENTRIES": "2/s", "TRESOR_RATE_MANAGEMENT": "0"})


def test_429_is_retried_after_the_servers_retry_after(
    limited: Server, values: Values, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tresor")
    value = values.new("limited")
    with limited.client(retries=3) as c:
        c.kv.put("k", value, secure=True)
        # Reads in a row meet the limit within a few requests (each is far quicker than 0.5 s).
        for _ in range(20):
            assert c.kv.get("k", secure=True) == value
            if retries_logged(caplog):
                break
    retried = retries_logged(caplog)
    assert retried, "twenty requests in a row at 2/s must meet the limit"
    assert all("answered 429, retrying in 1.00 s" in m for m in retried), retried


def test_429_raises_rate_limited_once_the_retries_are_spent(limited: Server) -> None:
    with limited.client(retries=0) as c:
        with pytest.raises(tresor.RateLimited) as got:
            for _ in range(20):
                c.secrets.get("default", "k")
    e = got.value
    assert e.kind == "rate_limited" and e.status == 429 and e.retry_after is not None and e.retry_after >= 1
    # A Retry-After (1 s) longer than max_retry_wait is not waited out: the refused call returns at once.
    with limited.client(retries=5, max_retry_wait=0.5) as c:
        with pytest.raises(tresor.RateLimited):
            for _ in range(20):
                started = time.monotonic()
                c.secrets.get("default", "k")
        assert time.monotonic() - started < 1


def mock_client(handler: Callable[[httpx.Request], httpx.Response], **options: object) -> tresor.Client:
    return tresor.Client("http://tresor.test", "tsr_test", transport=httpx.MockTransport(handler), **options)  # type: ignore[arg-type]


def value_doc(value: str) -> httpx.Response:
    doc = {"key": "k", "version": 1, "kind": "secret", "environment": "default", "value": value}
    return httpx.Response(200, json=doc)


def test_503_is_retried_honouring_retry_after(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="tresor")
    answers = [httpx.Response(503, headers={"Retry-After": "0"}, text="busy"), value_doc("ok-after-503")]
    with mock_client(lambda request: answers.pop(0)) as c:
        assert c.secrets.get("default", "k") == "ok-after-503"
    path = "/api/v1/envs/default/vaults/default/values/k"
    assert retries_logged(caplog) == [f"GET {path} answered 503, retrying in 0.00 s"]
    with mock_client(lambda request: httpx.Response(503), retries=2, backoff=0.01) as c:
        with pytest.raises(tresor.Unavailable) as got:
            c.secrets.get("default", "k")
    assert got.value.status == 503 and isinstance(got.value, tresor.ServerError)


def test_a_write_answered_503_is_not_sent_again(caplog: pytest.LogCaptureFixture) -> None:
    # The database may have gone away around the write's commit: it may have landed, so the
    # caller decides (reads it back), not the retry loop.
    caplog.set_level(logging.INFO, logger="tresor")
    calls = []

    def unavailable(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(503, headers={"Retry-After": "0"}, json={"error": "the database is unavailable", "kind": "unavailable"})

    with mock_client(unavailable, backoff=0.01) as c:
        with pytest.raises(tresor.Unavailable):
            c.kv.put("k", "not-sent-twice")
    assert [r.method for r in calls] == ["PUT"] and retries_logged(caplog) == []
    # A read sent as POST (several values at once) changes nothing: retried.
    calls.clear()
    with mock_client(unavailable, retries=2, backoff=0.01) as c:
        with pytest.raises(tresor.Unavailable):
            c.secrets.get_all("default", ["a", "b"])
    assert [r.method for r in calls] == ["POST"] * 3


def test_a_connection_failure_is_retried_with_backoff(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="tresor")
    calls = []

    def flaky(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) < 3:
            raise httpx.ConnectError("connection refused", request=request)
        return value_doc("ok-after-reconnect")

    with mock_client(flaky, backoff=0.01) as c:
        assert c.secrets.get("default", "k") == "ok-after-reconnect"
    assert len(calls) == 3 and len(retries_logged(caplog)) == 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_server_raises_transport_error_after_the_retries(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="tresor")
    addr = f"http://127.0.0.1:{free_port()}"
    with tresor.Client(addr, "tsr_x", retries=2, backoff=0.01) as c:
        with pytest.raises(tresor.TransportError) as got:
            c.kv.get("k")
    assert addr in str(got.value) and got.value.status is None
    assert [m.split(" failed ")[1].split(",")[0] for m in retries_logged(caplog)] == ["(ConnectError)"] * 2


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A TCP server that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted: List[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    listener.close()


def test_a_server_that_does_not_answer_times_out_without_retrying(
    silent_server: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tresor")
    with tresor.Client(silent_server, "tsr_x", timeout=0.3, retries=3) as c:
        with pytest.raises(tresor.Timeout) as got:
            c.kv.put("k", "v")
    assert isinstance(got.value, tresor.TransportError) and "within 0.3 s" in str(got.value)
    # Not retried: the server may have acted on the request.
    assert retries_logged(caplog) == []


@pytest.fixture(scope="module")
def tls(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> Server:
    """A server over HTTPS with a certificate from a private CA (made with the openssl CLI)."""
    d = tmp_path_factory.mktemp("tls")
    p = lambda name: str(d / name)  # noqa: E731

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    Path(p("ext.cnf")).write_text(
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
    )
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=tresor-sdk-test-ca",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign",
            "-keyout", p("ca.key"), "-out", p("ca.pem"))  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", p("key.pem"),
            "-out", p("req.csr"))  # fmt: skip
    openssl("x509", "-req", "-in", p("req.csr"), "-CA", p("ca.pem"), "-CAkey", p("ca.key"), "-CAcreateserial",
            "-days", "1", "-extfile", p("ext.cnf"), "-out", p("cert.pem"))  # fmt: skip
    s = servers.start("tls", {"TRESOR_RATE_MANAGEMENT": "0"}, ["--tls-cert", p("cert.pem"), "--tls-key", p("key.pem")])
    assert s.addr.startswith("https://")
    s.ca_cert = p("ca.pem")
    return s


def test_tls_with_a_private_ca(tls: Server, values: Values, monkeypatch: pytest.MonkeyPatch) -> None:
    value = values.new("over-tls")
    with tls.client() as c:  # ca_cert= given
        c.kv.put("db/password", value, secure=True)
        assert c.kv.get("db/password", secure=True) == value
    monkeypatch.setenv("TRESOR_ADDR", tls.addr)
    monkeypatch.setenv("TRESOR_TOKEN", tls.token)
    monkeypatch.setenv("TRESOR_CACERT", tls.ca_cert or "")
    assert tresor.secrets.get("default", "db/password") == value
    assert tresor.kv.ls(secure=True) == ["db/password"]


def test_tls_without_the_ca_is_refused_and_says_how_to_trust_it(tls: Server) -> None:
    with tresor.Client(tls.addr, tls.token, retries=0) as c:
        with pytest.raises(tresor.TransportError) as got:
            c.kv.get("db/password", secure=True)
    assert "TRESOR_CACERT" in str(got.value)
    with pytest.raises(tresor.ConfigError) as bad:
        tresor.Client(tls.addr, tls.token, ca_cert="/no/such/ca.pem")
    assert "/no/such/ca.pem" in str(bad.value)
