"""Datatailr's shape: kv.get/put/ls/rm with ``secure=``, as its docs show them."""

from __future__ import annotations

import pytest

import tresor
from conftest import Server, Values


def test_datatailr_docs_example_round_trip(client: tresor.Client, vault: str, values: Values) -> None:
    kv = client.kv
    threshold, api_key = values.new("threshold"), values.new("api-key")
    # Write
    kv.put("config/threshold", threshold, vault=vault)
    kv.put("api/key", api_key, secure=True, vault=vault)
    # Read
    assert kv.get("config/threshold", vault=vault) == threshold
    assert kv.get("api/key", secure=True, vault=vault) == api_key
    # List: variables and secrets apart
    assert kv.ls(vault=vault) == ["config/threshold"]
    assert kv.ls(secure=True, vault=vault) == ["api/key"]
    # Delete
    kv.rm("config/threshold", vault=vault)
    assert kv.ls(vault=vault) == []
    with pytest.raises(tresor.NotFound):
        kv.get("config/threshold", vault=vault)
    kv.rm("api/key", secure=True, vault=vault)
    assert kv.ls(secure=True, vault=vault) == []


def test_a_put_again_replaces_the_value(client: tresor.Client, vault: str, values: Values) -> None:
    first, second = values.new("first"), values.new("second")
    client.kv.put("db/password", first, True, vault=vault)
    client.kv.put("db/password", second, True, vault=vault)
    assert client.kv.get("db/password", True, vault=vault) == second


def test_secrets_and_variables_are_kept_apart(client: tresor.Client, vault: str, values: Values) -> None:
    client.kv.put("db/password", values.new("pw"), secure=True, vault=vault)
    client.kv.put("config/max_retries", "5", vault=vault)
    # A secret read without secure=True is not there, and the error says what to do.
    with pytest.raises(tresor.NotFound) as got:
        client.kv.get("db/password", vault=vault)
    assert "db/password is a secret" in str(got.value) and "secure=True" in str(got.value)
    with pytest.raises(tresor.NotFound) as got:
        client.kv.get("config/max_retries", secure=True, vault=vault)
    assert "is a variable" in str(got.value)
    # A forgotten secure=True deletes nothing.
    with pytest.raises(tresor.NotFound):
        client.kv.rm("db/password", vault=vault)
    with pytest.raises(tresor.NotFound):
        client.kv.rm("config/max_retries", secure=True, vault=vault)
    assert client.kv.ls(secure=True, vault=vault) == ["db/password"]
    assert client.kv.ls(vault=vault) == ["config/max_retries"]


def test_a_missing_key_raises_not_found(client: tresor.Client, vault: str) -> None:
    with pytest.raises(tresor.NotFound) as got:
        client.kv.get("no/such/key", vault=vault)
    assert got.value.kind == "not_found" and got.value.status == 404
    with pytest.raises(tresor.NotFound):
        client.kv.rm("no/such/key", vault=vault)


def test_environment_per_call_like_dt_kv_e(client: tresor.Client, values: Values) -> None:
    prod, dev = values.new("prod-url"), values.new("dev-url")
    client.kv.put("config/api_url", prod, environment="prod")
    client.kv.put("config/api_url", dev, environment="dev")
    assert client.kv.get("config/api_url", environment="prod") == prod
    assert client.kv.get("config/api_url", environment="dev") == dev
    assert "config/api_url" in client.kv.ls(environment="prod")
    with pytest.raises(tresor.NotFound):
        client.kv.get("config/api_url")  # not in `default`
    client.kv.rm("config/api_url", environment="dev")
    assert client.kv.get("config/api_url", environment="prod") == prod


def test_ls_pages_through_a_large_vault_and_filters_by_prefix(server: Server, vault: str) -> None:
    # More than one page of the server's listing (1000 entries a page), written in one request.
    entries = {f"k/{i:04d}": {"value": str(i), "kind": "variable"} for i in range(1003)}
    entries["other/x"] = {"value": "1", "kind": "variable"}
    r = server.admin("POST", f"/api/v1/envs/default/vaults/{vault}/entries", {"entries": entries})
    assert r.status_code == 200, r.text
    with server.client() as c:
        keys = c.kv.ls(vault=vault)
        assert len(keys) == 1004 and keys[0] == "k/0000" and keys[-1] == "other/x"
        assert c.kv.ls(vault=vault, prefix="other/") == ["other/x"]
        assert c.kv.ls(secure=True, vault=vault) == []


def test_module_level_helpers_use_a_client_from_the_environment(
    server: Server, vault: str, values: Values, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRESOR_ADDR", server.addr)
    monkeypatch.setenv("TRESOR_TOKEN", server.token)
    monkeypatch.setenv("TRESOR_ENV", "prod")
    monkeypatch.setenv("TRESOR_VAULT", vault)
    assert server.admin("POST", "/api/v1/envs/prod/vaults", {"name": vault}).status_code == 201
    password = values.new("module-pw")
    tresor.kv.put("db/password", password, secure=True)
    tresor.kv.put("config/enable_cache", "true")
    assert tresor.kv.get("db/password", secure=True) == password
    assert tresor.kv.get("config/enable_cache") == "true"
    assert tresor.kv.ls() == ["config/enable_cache"]
    assert tresor.kv.ls(secure=True) == ["db/password"]
    # TRESOR_ENV and TRESOR_VAULT were used: the entries are in prod/<vault>.
    with server.client() as c:
        assert c.kv.get("db/password", True, environment="prod", vault=vault) == password
    assert tresor.default_client().environment == "prod"
    tresor.kv.rm("config/enable_cache")
    tresor.kv.rm("db/password", secure=True)
    assert tresor.kv.ls() == [] and tresor.kv.ls(secure=True) == []


def test_a_default_client_can_be_set(server: Server, vault: str, values: Values) -> None:
    value = values.new("set-default")
    tresor.set_default_client(server.client(vault=vault))
    tresor.kv.put("x", value, secure=True)
    assert tresor.kv.get("x", secure=True) == value
