"""Values never show up in the client's logging (any logger, DEBUG included: httpx's and
httpcore's too), in the repr of its objects, or in the exceptions and tracebacks it raises. (The
servers' logs are scanned at the end of the session, in conftest.py.)"""

from __future__ import annotations

import logging
import traceback
from typing import List

import pytest

import tresor
from tresor._core import Answer, Call
from conftest import Server, Values


def test_values_and_tokens_stay_out_of_logs_reprs_and_tracebacks(
    server: Server, vault: str, values: Values, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger
    secret, variable, other = values.new("leak-secret"), values.new("leak-variable"), values.new("leak-other")
    reader_token = server.principal(f"app:leak-{vault}", [(f"default/{vault}/config/*", "read")])
    shown: List[str] = []
    raised: List[BaseException] = []

    def expect_error(call: object) -> None:
        try:
            call()  # type: ignore[operator]
        except tresor.TresorError as e:
            raised.append(e)
        else:
            raise AssertionError("expected an error")

    with server.client(vault=vault, cache_ttl=60) as c:
        c.kv.put("db/password", secret, secure=True)
        c.kv.put("config/threshold", variable)
        c.kv.put("other", other, secure=True)
        assert c.kv.get("db/password", secure=True) == secret
        assert c.kv.get("config/threshold") == variable
        assert c.kv.ls() == ["config/threshold"] and c.kv.ls(secure=True) == ["db/password", "other"]
        assert c.secrets.get_all(vault, ["db/password", "config/threshold", "nope"]) == [secret, variable, None]
        expect_error(lambda: c.kv.get("db/password"))  # the other kind, after the value was read
        expect_error(lambda: c.kv.rm("db/password"))
        shown += [repr(c), repr(c.kv), repr(c.secrets), repr(c._cache), repr(c._settings)]
    with tresor.Client(server.addr, reader_token, vault=vault) as r:
        assert r.kv.get("config/threshold") == variable
        expect_error(lambda: r.secrets.get_all(vault, ["config/threshold", "db/password", "other"]))
        expect_error(lambda: r.kv.get("db/password", secure=True))
    with tresor.Client(server.addr, server.token + "x") as bad:
        expect_error(lambda: bad.kv.get("db/password", secure=True))
    shown += [repr(Call("PUT", "/p", {"value": secret})), repr(Answer(200, {"value": secret}))]

    for e in raised:
        shown += [str(e), repr(e), "".join(traceback.format_exception(type(e), e, e.__traceback__))]
    everything = "\n".join(shown) + "\n" + caplog.text
    assert caplog.text, "nothing was logged: the scan would check nothing"
    for needle in (secret, variable, other, server.token, reader_token):
        assert needle not in everything
