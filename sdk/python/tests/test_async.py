"""AsyncClient: the same calls, awaited (run with asyncio.run: no pytest plugin needed)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

import tresor
from conftest import Server, Values


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_every_call_awaited(server: Server, vault: str, values: Values) -> None:
    password, prod = values.new("async-pw"), values.new("async-prod")

    async def scenario() -> None:
        async with tresor.AsyncClient(server.addr, server.token, vault=vault) as c:
            await c.kv.put("db/password", password, secure=True)
            await c.kv.put("config/threshold", "0.95")
            await c.kv.put("config/api_url", prod, environment="prod", vault="default")
            assert await c.kv.get("db/password", secure=True) == password
            assert await c.kv.get("config/threshold") == "0.95"
            assert await c.kv.get("config/api_url", environment="prod", vault="default") == prod
            assert await c.kv.ls() == ["config/threshold"]
            assert await c.kv.ls(secure=True) == ["db/password"]
            with pytest.raises(tresor.NotFound):
                await c.kv.get("db/password")
            assert await c.secrets.get(vault, "db/password") == password
            assert await c.secrets.get(vault, "missing") is None
            got = await c.secrets.get_all(vault, ["config/threshold", "missing", "db/password"])
            assert got == ["0.95", None, password]
            await c.kv.rm("config/threshold")
            await c.kv.rm("db/password", secure=True)
            assert await c.kv.ls() == [] and await c.kv.ls(secure=True) == []
            # Several reads at once on one client.
            await c.kv.put("a", "1")
            await c.kv.put("b", "2")
            assert await asyncio.gather(c.kv.get("a"), c.kv.get("b")) == ["1", "2"]

    run(scenario())


def test_configured_from_the_environment(server: Server, values: Values, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRESOR_ADDR", server.addr)
    monkeypatch.setenv("TRESOR_TOKEN", server.token)
    monkeypatch.setenv("TRESOR_ENV", "dev")
    value = values.new("async-env")

    async def scenario() -> None:
        c = tresor.AsyncClient()
        try:
            assert c.environment == "dev" and c.vault == "default"
            await c.kv.put("from/env", value, secure=True)
            assert await c.secrets.get("default", "from/env", environment="dev") == value
        finally:
            await c.aclose()

    run(scenario())


def test_a_bad_token_and_a_refused_read(server: Server, vault: str, values: Values) -> None:
    with server.client() as admin:
        admin.kv.put("forbidden", values.new("async-forbidden"), True, vault=vault)
    token = server.principal(f"app:async-{vault}", [])

    async def scenario() -> None:
        async with tresor.AsyncClient(server.addr, "tsr_not_a_real_token") as c:
            with pytest.raises(tresor.Unauthenticated):
                await c.secrets.get(vault, "forbidden")
        async with tresor.AsyncClient(server.addr, token) as c:
            with pytest.raises(tresor.PermissionDenied):
                await c.secrets.get_all(vault, ["forbidden"])

    run(scenario())


def test_retries_wait_without_blocking_the_loop() -> None:
    answers = [httpx.Response(429, headers={"Retry-After": "0"}), httpx.Response(200, json={"values": {"k": "v"}})]

    async def scenario() -> None:
        transport = httpx.MockTransport(lambda request: answers.pop(0))
        async with tresor.AsyncClient("http://tresor.test", "tsr_test", transport=transport) as c:
            assert await c.secrets.get_all("default", ["k"]) == ["v"]

    run(scenario())
    assert answers == []
