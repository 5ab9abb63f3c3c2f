"""External Secrets Operator's Vault provider against tresor, replayed with hvac: reads the
example manifest (docs/integrations/external-secrets.yaml, path in ESO_MANIFEST) and makes the
HTTP calls ESO makes for it, checking each answer as ESO does. Run by `compat_vault.rs` with
VAULT_ADDR and VAULT_TOKEN (a tresor token that may read the entries). Prints one line per
check, then the Kubernetes Secret ESO would write as JSON on the last line.

The calls (ESO's providers/vault, token auth, KV version 2): the SecretStore's validation
(`GET auth/token/lookup-self`: a token of type other than `batch`, with `ttl` and
`expire_time`; `GET sys/internal/ui/mounts/<path>`: a `kv` mount of version 2), then for the
ExternalSecret one `GET <path>/data/<key>` per `data` item (`?version=` when it names one) and per
`dataFrom.extract`. A key that does not exist answers 404 (ESO: the secret does not exist)."""

import json
import os

import hvac
import yaml
from hvac import exceptions

import checks
from checks import check



with open(os.environ["ESO_MANIFEST"]) as f:
    docs = {doc["kind"]: doc for doc in yaml.safe_load_all(f)}
store = docs["SecretStore"]["spec"]["provider"]["vault"]
external = docs["ExternalSecret"]["spec"]
mount = store["path"]
check(store["version"] == "v2" and "tokenSecretRef" in store["auth"], "the store is KV v2 with a token")

# ESO's Go client sends the token as X-Vault-Token and X-Vault-Request: true, as hvac does.
client = hvac.Client(url=os.environ["VAULT_ADDR"], token=os.environ["VAULT_TOKEN"])

# The SecretStore's validation: checkToken, then validateKVMount.
me = client.auth.token.lookup_self()["data"]
check(me["type"] != "batch", "lookup-self: not a batch token")
check(isinstance(me["ttl"], int) and "expire_time" in me, "lookup-self: ttl and expire_time")
check(me["ttl"] >= 60 or me["expire_time"] is None, "lookup-self: not about to expire")
mounted = client.adapter.get(f"/v1/sys/internal/ui/mounts/{mount}")["data"]
check(mounted["type"] == "kv" and str(mounted["options"]["version"]) == "2", f"{mount} is a kv v2 mount")


def read(key, version=None):
    answer = client.secrets.kv.v2.read_secret_version(
        key, mount_point=mount, version=version, raise_on_deleted_version=True
    )
    fields = answer["data"]["data"]
    check(isinstance(fields, dict), f"{key} (version {version or 'current'}) is an object of fields")
    return fields


# The ExternalSecret: each data item, then each dataFrom extract.
secret = {}
for item in external["data"]:
    ref = item["remoteRef"]
    secret[item["secretKey"]] = read(ref["key"], ref.get("version"))[ref["property"]]
for item in external["dataFrom"]:
    secret.update(read(item["extract"]["key"]))

try:
    client.secrets.kv.v2.read_secret_version("app/missing", mount_point=mount, raise_on_deleted_version=True)
    check(False, "a missing key answers 404")
except exceptions.InvalidPath:
    check(True, "a missing key answers 404")

print(f"eso: {checks.passed} checks passed", flush=True)
print(json.dumps(secret, sort_keys=True))
