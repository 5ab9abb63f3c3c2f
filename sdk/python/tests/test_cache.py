"""The optional in-process read cache: off by default, a TTL, explicit invalidation."""

from __future__ import annotations

import logging
import time

import pytest

import tresor
from conftest import Server, Values


def requests(caplog: pytest.LogCaptureFixture) -> int:
    n = sum(1 for r in caplog.records if r.name == "tresor" and r.levelno == logging.DEBUG)
    caplog.clear()
    return n


def test_off_by_default(server: Server, vault: str, values: Values) -> None:
    old, new = values.new("old"), values.new("new")
    with server.client(vault=vault) as reader, server.client(vault=vault) as writer:
        writer.kv.put("k", old, True)
        assert reader.kv.get("k", True) == old
        writer.kv.put("k", new, True)
        assert reader.kv.get("k", True) == new
        assert reader.secrets.get(vault, "k") == new


def test_cached_reads_until_invalidated_or_expired(
    server: Server, vault: str, values: Values, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="tresor")
    v1, v2, v3 = values.new("v1"), values.new("v2"), values.new("v3")
    with server.client(vault=vault, cache_ttl=60) as reader, server.client(vault=vault) as writer:
        writer.kv.put("k", v1, True)
        writer.kv.put("other", "o", False)
        caplog.clear()
        assert reader.kv.get("k", True) == v1
        assert requests(caplog) == 1
        writer.kv.put("k", v2, True)
        caplog.clear()
        # Served from the cache: no request, the old value.
        assert reader.kv.get("k", True) == v1
        assert reader.secrets.get(vault, "k") == v1
        assert reader.secrets.get_all(vault, ["k"]) == [v1]
        assert requests(caplog) == 0
        # The kind is still checked on a cached entry.
        with pytest.raises(tresor.NotFound):
            reader.kv.get("k")
        # Invalidating another key keeps it; invalidating it (or everything) drops it.
        reader.invalidate("other")
        assert reader.kv.get("k", True) == v1
        reader.invalidate("k", vault=vault)
        assert reader.kv.get("k", True) == v2
        writer.kv.put("k", v3, True)
        reader.invalidate()
        assert reader.kv.get("k", True) == v3
        # A write through the caching client invalidates what it wrote.
        reader.kv.put("k", v1, True)
        assert reader.kv.get("k", True) == v1
        reader.kv.rm("k", True)
        assert reader.secrets.get(vault, "k") is None


def test_get_all_reads_only_what_is_not_cached(
    server: Server, vault: str, values: Values, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="tresor")
    a, b = values.new("a"), values.new("b")
    with server.client(vault=vault, cache_ttl=60) as c:
        c.kv.put("a", a, True)
        c.kv.put("b", b, True)
        caplog.clear()
        assert c.secrets.get_all(vault, ["a", "b", "missing"]) == [a, b, None]
        assert c.secrets.get_all(vault, ["a", "b"]) == [a, b]
        assert c.secrets.get(vault, "a") == a
        assert requests(caplog) == 1
        # Missing names are not cached, and a value cached without its kind is read again by kv.get.
        assert c.secrets.get_all(vault, ["a", "missing"]) == [a, None]
        assert c.kv.get("a", secure=True) == a
        assert requests(caplog) == 2


def test_entries_expire_after_the_ttl(server: Server, vault: str, values: Values) -> None:
    old, new = values.new("ttl-old"), values.new("ttl-new")
    with server.client(vault=vault, cache_ttl=1.0) as reader, server.client(vault=vault) as writer:
        writer.kv.put("k", old, True)
        assert reader.kv.get("k", True) == old
        writer.kv.put("k", new, True)
        assert reader.kv.get("k", True) == old
        time.sleep(1.1)
        assert reader.kv.get("k", True) == new


def test_a_cached_entry_is_per_environment_and_vault(server: Server, vault: str, values: Values) -> None:
    dev, prod = values.new("dev"), values.new("prod")
    with server.client(cache_ttl=60) as c:
        c.kv.put("k", dev, True, environment="dev")
        c.kv.put("k", prod, True, environment="prod")
        assert c.kv.get("k", True, environment="dev") == dev
        assert c.kv.get("k", True, environment="prod") == prod
        assert c.secrets.get(vault, "k", environment="prod") is None
