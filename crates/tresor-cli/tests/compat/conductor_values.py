"""Puts values through Orkes' Python client (conductor-python) and reads them back through it.

Run by crates/tresor-cli/tests/compat_conductor.rs against a real `tresor serve` (issue #14, item
5). The client sends a string value as `json.dumps(value).strip('"')` with Content-Type
application/json: non-ASCII escaped as \\uXXXX, `"` and `\\` escaped, the surrounding quotes (and
a trailing escaped quote's `"`) stripped. Environment: CONDUCTOR_SERVER_URL (http://HOST:PORT/api),
KEY_ID/KEY_SECRET (an application key whose application may write and read), VALUES (a JSON list
of [key, value, read_back] triples: read_back false for values that are themselves JSON documents,
which the client's get_secret parses, as it does against Orkes). Prints "ok" at the end; any
failed check raises.
"""

import json
import os

from conductor.client.configuration.configuration import Configuration
from conductor.client.configuration.settings.authentication_settings import AuthenticationSettings
from conductor.client.orkes.orkes_secret_client import OrkesSecretClient

conf = Configuration(
    server_api_url=os.environ["CONDUCTOR_SERVER_URL"],
    authentication_settings=AuthenticationSettings(key_id=os.environ["KEY_ID"], key_secret=os.environ["KEY_SECRET"]),
)
client = OrkesSecretClient(conf)
for key, value, read_back in json.loads(os.environ["VALUES"]):
    client.put_secret(key, value)
    if read_back:
        got = client.get_secret(key)
        assert got == value, f"{key}: put {value!r}, got {got!r} back"
print("ok")
