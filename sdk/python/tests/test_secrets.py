"""Tailor's shape: secrets.get(vault, name) and secrets.get_all(vault, names) in one request."""

from __future__ import annotations

import logging

import pytest

import tresor
from conftest import Server, Values


def requests_logged(caplog: pytest.LogCaptureFixture) -> list:
    """The requests the client logged (one DEBUG record each on the `tresor` logger)."""
    return [r.getMessage() for r in caplog.records if r.name == "tresor" and r.levelno == logging.DEBUG]


def test_get_and_get_all(client: tresor.Client, vault: str, values: Values, caplog: pytest.LogCaptureFixture) -> None:
    stripe, sendgrid = values.new("stripe"), values.new("sendgrid")
    client.kv.put("stripe-secret-key", stripe, secure=True, vault=vault)
    client.kv.put("sendgrid-api-key", sendgrid, secure=True, vault=vault)
    client.kv.put("region", "eu-west-1", vault=vault)  # a variable is read the same way
    assert client.secrets.get(vault, "stripe-secret-key") == stripe
    assert client.secrets.get(vault, "region") == "eu-west-1"
    assert client.secrets.get(vault, "no-such-key") is None

    caplog.set_level(logging.DEBUG, logger="tresor")
    got = client.secrets.get_all(vault, ["stripe-secret-key", "no-such-key", "sendgrid-api-key", "region"])
    assert got == [stripe, None, sendgrid, "eu-west-1"]
    assert requests_logged(caplog) == ["POST /api/v1/resolve -> 200"], "get_all is one request"
    assert client.secrets.get_all(vault, []) == []


def test_a_missing_vault_or_environment_is_missing_too(client: tresor.Client) -> None:
    assert client.secrets.get("no-such-vault", "x") is None
    assert client.secrets.get("default", "x", environment="no-such-env") is None


def test_environment_per_call(client: tresor.Client, values: Values) -> None:
    prod = values.new("prod-only")
    client.kv.put("tailor/key", prod, True, environment="prod")
    assert client.secrets.get("default", "tailor/key", environment="prod") == prod
    assert client.secrets.get_all("default", ["tailor/key"], environment="prod") == [prod]
    assert client.secrets.get("default", "tailor/key") is None


def test_a_refused_read_raises_and_is_not_missing(server: Server, vault: str, values: Values) -> None:
    allowed, forbidden = values.new("allowed"), values.new("forbidden")
    with server.client() as admin:
        admin.kv.put("allowed", allowed, True, vault=vault)
        admin.kv.put("forbidden", forbidden, True, vault=vault)
    token = server.principal(f"app:reader-{vault}", [(f"default/{vault}/allowed", "read")])
    with tresor.Client(server.addr, token) as reader:
        assert reader.secrets.get(vault, "allowed") == allowed
        with pytest.raises(tresor.PermissionDenied) as got:
            reader.secrets.get(vault, "forbidden")
        assert got.value.kind == "denied" and got.value.status == 403
        with pytest.raises(tresor.PermissionDenied) as got:
            reader.secrets.get_all(vault, ["allowed", "forbidden", "missing"])
        assert "forbidden" in str(got.value) and forbidden not in str(got.value)
        with pytest.raises(tresor.PermissionDenied):
            reader.kv.get("forbidden", secure=True, vault=vault)
        with pytest.raises(tresor.PermissionDenied):
            reader.kv.put("allowed", "x", secure=True, vault=vault)


def test_module_level_helpers(server: Server, vault: str, values: Values, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRESOR_ADDR", server.addr)
    monkeypatch.setenv("TRESOR_TOKEN", server.token)
    value = values.new("module")
    with server.client() as c:
        c.kv.put("stripe-secret-key", value, True, vault=vault)
    assert tresor.secrets.get(vault, "stripe-secret-key") == value
    assert tresor.secrets.get_all(vault, ["stripe-secret-key", "nope"]) == [value, None]


def test_names_must_be_a_list(client: tresor.Client) -> None:
    with pytest.raises(TypeError):
        client.secrets.get_all("default", "one-name")  # type: ignore[arg-type]
