"""The operations, written once for both clients: each is a generator that yields the calls it
needs and returns its result (see :mod:`tresor._core`)."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple
from urllib.parse import quote

from ._core import Answer, Cache, Call, Op
from ._errors import NotFound, NotText, PermissionDenied, TresorError

Where = Tuple[str, str]
"""An environment and a vault."""


def _entry_path(where: Where, what: str, key: str) -> str:
    # A key's `/` stays: the key routes take the rest of the path.
    return f"{_vault_path(where)}/{what}/{quote(key, safe='/')}"


def _vault_path(where: Where) -> str:
    return f"/api/v1/envs/{quote(where[0], safe='')}/vaults/{quote(where[1], safe='')}"


def kind_of(secure: bool) -> str:
    """Datatailr's flag as tresor's kind: ``secure=True`` is a secret, else a variable."""
    return "secret" if secure else "variable"


def _text(doc: Dict[str, Any], key: str) -> str:
    value = doc.get("value")
    if isinstance(value, str):
        return value
    if doc.get("value_base64") is not None:
        raise NotText(f"the value of {key} is not UTF-8 text, so it cannot be returned as str")
    raise TresorError(f"unexpected answer for {key}: it holds no value")


def _other_kind(where: Where, key: str, wanted: str, found: Optional[str]) -> NotFound:
    """Datatailr keeps secrets and variables apart: an entry of the other kind is not there."""
    fix = "pass secure=True" if found == "secret" else "drop secure=True"
    place = "/".join(where)
    return NotFound(f"there is no {wanted} {key} in {place}: {key} is a {found} ({fix})", kind="not_found")


def read(cache: Cache, where: Where, key: str, *, missing_ok: bool, need_kind: bool) -> Op:
    """``(kind, value)`` of an entry; ``None`` for a missing one when ``missing_ok``, else
    :class:`NotFound`. Served from the cache when it holds the entry (with its kind, if
    ``need_kind``: :func:`get_all` caches values without one)."""
    env, vault = where
    hit = cache.get((env, vault, key))
    if hit is not None and (hit[0] or not need_kind):
        return hit
    answer: Answer = yield Call("GET", _entry_path(where, "values", key))
    if missing_ok and answer.is_missing():
        return None
    doc = answer.expect_ok()
    kind, value = str(doc.get("kind", "")), _text(doc, key)
    cache.put((env, vault, key), kind, value)
    return kind, value


def kv_get(cache: Cache, where: Where, key: str, secure: bool) -> Op:
    found: Tuple[str, str] = yield from read(cache, where, key, missing_ok=False, need_kind=True)
    wanted = kind_of(secure)
    if found[0] != wanted:
        raise _other_kind(where, key, wanted, found[0])
    return found[1]


def secret_get(cache: Cache, where: Where, key: str) -> Op:
    found: Optional[Tuple[str, str]] = yield from read(cache, where, key, missing_ok=True, need_kind=False)
    return None if found is None else found[1]


def put(cache: Cache, where: Where, key: str, value: str, secure: bool) -> Op:
    if not isinstance(value, str):
        raise TypeError(f"the value of {key} must be a str, not {type(value).__name__}")
    body = {"value": value, "kind": kind_of(secure)}
    try:
        answer: Answer = yield Call("PUT", _entry_path(where, "entries", key), body)
    finally:
        cache.invalidate(key, environment=where[0], vault=where[1])
    answer.expect_ok()
    return None


def ls(where: Where, secure: bool, prefix: str) -> Op:
    wanted, keys, after = kind_of(secure), [], None  # type: Tuple[str, List[str], Optional[str]]
    while True:
        params = {"limit": "1000"}
        if prefix:
            params["prefix"] = prefix
        if after:
            params["after"] = after
        answer: Answer = yield Call("GET", f"{_vault_path(where)}/entries", params=params)
        doc = answer.expect_ok()
        keys.extend(e["key"] for e in doc.get("entries", []) if e.get("kind") == wanted)
        after = doc.get("next_after")
        if not after:
            return keys


def rm(cache: Cache, where: Where, key: str, secure: bool) -> Op:
    # Check the kind first, so that a forgotten secure=True deletes nothing.
    described: Answer = yield Call("GET", _entry_path(where, "entries", key))
    wanted = kind_of(secure)
    found = described.expect_ok().get("kind")
    if found != wanted:
        raise _other_kind(where, key, wanted, found)
    try:
        answer: Answer = yield Call("DELETE", _entry_path(where, "entries", key))
    finally:
        cache.invalidate(key, environment=where[0], vault=where[1])
    answer.expect_ok()
    return None


def get_all(cache: Cache, where: Where, names: Sequence[str]) -> Op:
    """The values of ``names`` in one request (those not in the cache): ``None`` for a missing
    name, :class:`PermissionDenied` naming the names the token may not read."""
    if isinstance(names, str):
        raise TypeError("names must be a list of names, not one str")
    env, vault = where
    names = list(names)
    known: Dict[str, Optional[str]] = {}
    for name in names:
        hit = cache.get((env, vault, name))
        if hit is not None:
            known[name] = hit[1]
    wanted = list(dict.fromkeys(n for n in names if n not in known))
    if wanted:
        answer: Answer = yield Call("POST", "/api/v1/resolve", {"environment": env, "vault": vault, "keys": wanted}, reads_only=True)
        doc = answer.expect_ok()
        denied: List[str] = doc.get("denied") or []
        if denied:
            raise PermissionDenied(
                f"this token may not read {', '.join(denied)} in {env}/{vault}", kind="denied", status=answer.status
            )
        binary = doc.get("values_base64") or {}
        if binary:
            raise NotText(f"the values of {', '.join(binary)} are not UTF-8 text, so they cannot be returned as str")
        values: Dict[str, str] = doc.get("values") or {}
        for name in wanted:
            known[name] = values.get(name)
            if name in values:
                # The answer does not say the kind: a kv.get of it still asks the server.
                cache.put((env, vault, name), "", values[name])
    return [known[n] for n in names]
