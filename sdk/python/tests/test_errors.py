"""Typed exceptions: one per error kind, a common base, configuration errors, bad tokens."""

from __future__ import annotations

from typing import Optional

import httpx
import pytest

import tresor
from conftest import Server

# Each kind of the server's error document (tresor-model's ErrorKind), its status and exception.
KINDS = [
    ("invalid", 400, tresor.InvalidRequest), ("too_large", 413, tresor.TooLarge), ("not_found", 404, tresor.NotFound),
    ("already_exists", 409, tresor.AlreadyExists), ("conflict", 409, tresor.Conflict),
    ("denied", 403, tresor.PermissionDenied), ("limit", 403, tresor.LimitReached),
    ("unauthenticated", 401, tresor.Unauthenticated), ("expired", 401, tresor.TokenExpired),
    ("rate_limited", 429, tresor.RateLimited),
    ("upstream", 502, tresor.ServerError), ("internal", 500, tresor.ServerError),
]  # fmt: skip


def answering(status: int, kind: Optional[str], **options: object) -> tresor.Client:
    doc = {"error": f"what went wrong ({kind})", "kind": kind} if kind else None

    def handler(request: httpx.Request) -> httpx.Response:
        if doc is None:
            return httpx.Response(status, text="<html>proxy error</html>")
        return httpx.Response(status, json=doc)

    return tresor.Client("http://tresor.test", "tsr_test", retries=0, transport=httpx.MockTransport(handler), **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind,status,cls", KINDS)
def test_each_error_kind_has_its_exception(kind: str, status: int, cls: type) -> None:
    with answering(status, kind) as c:
        with pytest.raises(cls) as got:
            c.kv.put("k", "v")
    e = got.value
    assert isinstance(e, tresor.TresorError)
    assert (e.kind, e.status, str(e)) == (kind, status, f"what went wrong ({kind})")
    assert repr(e) == f"{cls.__name__}('what went wrong ({kind})', kind={kind!r}, status={status})"


def test_the_kinds_that_refine_others() -> None:
    assert issubclass(tresor.AlreadyExists, tresor.Conflict)
    assert issubclass(tresor.TokenExpired, tresor.Unauthenticated)
    assert issubclass(tresor.LimitReached, tresor.PermissionDenied)
    assert issubclass(tresor.Timeout, tresor.TransportError)
    assert issubclass(tresor.Unavailable, tresor.ServerError)


@pytest.mark.parametrize(
    "status,cls",
    [(400, tresor.InvalidRequest), (401, tresor.Unauthenticated), (403, tresor.PermissionDenied),
     (404, tresor.NotFound), (409, tresor.Conflict), (413, tresor.TooLarge), (429, tresor.RateLimited),
     (502, tresor.ServerError), (503, tresor.Unavailable), (418, tresor.TresorError)],
)  # fmt: skip
def test_an_answer_without_a_kind_is_judged_by_its_status(status: int, cls: type) -> None:
    with answering(status, None) as c:
        with pytest.raises(cls) as got:
            c.kv.ls()
    assert got.value.kind is None and str(got.value) == f"the server answered {status}"


def test_a_404_without_a_kind_is_missing_to_secrets_get() -> None:
    with answering(404, None) as c:
        assert c.secrets.get("default", "k") is None


def test_a_bad_token(server: Server) -> None:
    with tresor.Client(server.addr, "tsr_not_a_real_token") as c:
        for call in (lambda: c.kv.get("k"), lambda: c.secrets.get("default", "k"), lambda: c.kv.ls()):
            with pytest.raises(tresor.Unauthenticated) as got:
                call()
            assert got.value.kind == "unauthenticated" and got.value.status == 401
            assert "tsr_not_a_real_token" not in str(got.value) + repr(got.value)


def test_configuration_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(tresor.ConfigError, match="TRESOR_ADDR"):
        tresor.Client()
    with pytest.raises(tresor.ConfigError, match="TRESOR_TOKEN"):
        tresor.Client("http://127.0.0.1:8200")
    with pytest.raises(tresor.ConfigError, match="http://"):
        tresor.Client("127.0.0.1:8200", "tsr_x")
    with pytest.raises(tresor.ConfigError):
        tresor.Client("http://127.0.0.1:8200", "tsr_x", timeout=0)
    # The module-level helpers say the same when the environment lacks them.
    with pytest.raises(tresor.ConfigError, match="TRESOR_ADDR"):
        tresor.kv.get("k")
    monkeypatch.setenv("TRESOR_ADDR", "http://127.0.0.1:8200/")
    monkeypatch.setenv("TRESOR_TOKEN", "tsr_from_env")
    monkeypatch.setenv("TRESOR_VAULT", "api-keys")
    c = tresor.Client(environment="prod")
    assert (c.addr, c.environment, c.vault) == ("http://127.0.0.1:8200", "prod", "api-keys")
    c.close()


def test_a_value_that_is_not_text() -> None:
    doc = {"key": "k", "version": 1, "kind": "secret", "environment": "default", "value_base64": "/w=="}
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=doc))
    with tresor.Client("http://tresor.test", "tsr_test", transport=transport) as c:
        with pytest.raises(tresor.NotText, match="the value of k is not UTF-8"):
            c.kv.get("k", secure=True)


def test_a_value_must_be_a_str(server: Server) -> None:
    with server.client() as c:
        with pytest.raises(TypeError, match="must be a str"):
            c.kv.put("k", 5)  # type: ignore[arg-type]
