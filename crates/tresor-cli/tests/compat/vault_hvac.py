"""hvac (HashiCorp's Python client) against tresor's Vault KV v2-compatible API: every call of
the surface, through hvac's own methods where it has one. Run by `compat_vault.rs` with
VAULT_ADDR and VAULT_TOKEN set (a tresor token) and mount `secret` created. Every value starts
with VALUE_MARK, so the caller can check that none reached the server's log. Prints one line per
check and `hvac: N checks passed` at the end."""

import os

import hvac
from hvac import exceptions

import checks
from checks import check

VALUE_MARK = "vault-value-"
MOUNT = "secret"


def raises(exc, fn, what):
    try:
        fn()
    except exc as e:
        check(True, f"{what} ({type(e).__name__})")
        return e
    check(False, f"{what}: expected {exc.__name__}")


client = hvac.Client(url=os.environ["VAULT_ADDR"], token=os.environ["VAULT_TOKEN"])
kv = client.secrets.kv.v2

# sys/health (no token needed), sys/mounts, auth/token/lookup-self.
health = client.sys.read_health_status(method="GET")
check(health["initialized"] and not health["sealed"], "sys/health: initialized and unsealed")
check(client.is_authenticated(), "is_authenticated (lookup-self)")
me = client.lookup_token()["data"]
check(me["meta"]["principal"] == "user:owner" and me["id"] != os.environ["VAULT_TOKEN"], "lookup-self names the principal, never echoes the token")
mounts = client.sys.list_mounted_secrets_engines()["data"]
check(mounts[f"{MOUNT}/"]["type"] == "kv" and mounts[f"{MOUNT}/"]["options"]["version"] == "2", "sys/mounts: secret/ is KV v2")
ui = client.adapter.get(f"/v1/sys/internal/ui/mounts/{MOUNT}/app/db")["data"]
check(ui["path"] == f"{MOUNT}/" and ui["options"]["version"] == "2", "the CLI's preflight finds the mount")

# config: tresor's server-wide settings.
config = kv.read_configuration(mount_point=MOUNT)["data"]
check(config["max_versions"] == 20 and config["cas_required"] is False, "config reads tresor's limits")
kv.configure(max_versions=20, mount_point=MOUNT)
check(True, "config: writing the same settings is accepted")
e = raises(exceptions.InvalidRequest, lambda: kv.configure(max_versions=5, mount_point=MOUNT), "config: another max_versions is refused")
check("TRESOR_KEEP_VERSIONS" in str(e), "the refusal says where it is set")

# data: create, read, check-and-set, versions.
w = kv.create_or_update_secret("app/db", {"user": "app", "password": VALUE_MARK + "1"}, mount_point=MOUNT)["data"]
check(w["version"] == 1 and w["deletion_time"] == "" and w["destroyed"] is False, "write: version 1")
r = kv.read_secret_version("app/db", mount_point=MOUNT, raise_on_deleted_version=True)["data"]
check(r["data"] == {"user": "app", "password": VALUE_MARK + "1"} and r["metadata"]["version"] == 1, "read: fields and version")
raises(exceptions.InvalidRequest, lambda: kv.create_or_update_secret("app/db", {"x": "y"}, cas=0, mount_point=MOUNT), "cas=0 on an existing secret is refused")
raises(exceptions.InvalidRequest, lambda: kv.create_or_update_secret("app/db", {"x": "y"}, cas=7, mount_point=MOUNT), "a stale cas is refused")
w = kv.create_or_update_secret("app/db", {"user": "app", "password": VALUE_MARK + "2"}, cas=1, mount_point=MOUNT)["data"]
check(w["version"] == 2, "write with cas=1: version 2")
old = kv.read_secret_version("app/db", version=1, mount_point=MOUNT, raise_on_deleted_version=True)["data"]
check(old["data"]["password"] == VALUE_MARK + "1" and old["metadata"]["version"] == 1, "read ?version=1")
raises(exceptions.InvalidPath, lambda: kv.read_secret_version("app/db", version=9, mount_point=MOUNT, raise_on_deleted_version=True), "a version that does not exist is 404")
raises(exceptions.InvalidPath, lambda: kv.read_secret_version("app/none", mount_point=MOUNT, raise_on_deleted_version=True), "a path without a secret is 404")
created = kv.create_or_update_secret("app/new", {"k": VALUE_MARK + "new"}, cas=0, mount_point=MOUNT)["data"]
check(created["version"] == 1, "cas=0 creates a new secret")

# patch: hvac's (read, merge, write with cas) and Vault's own merge patch.
p = kv.patch("app/db", {"port": "5432"}, mount_point=MOUNT)["data"]
check(p["version"] == 3, "hvac patch: version 3")
resp = client.adapter.request(
    "PATCH", f"/v1/{MOUNT}/data/app/db", json={"data": {"port": None, "host": "db.internal"}},
    headers={"Content-Type": "application/merge-patch+json"},
)
check(resp["data"]["version"] == 4, "merge patch: version 4")
r = kv.read_secret_version("app/db", mount_point=MOUNT, raise_on_deleted_version=True)["data"]["data"]
check(r == {"user": "app", "password": VALUE_MARK + "2", "host": "db.internal"}, "merge patch removed port and added host")

# list: keys and folders, LIST and ?list=true.
check(kv.list_secrets("", mount_point=MOUNT)["data"]["keys"] == ["app/"], "list the mount's root")
check(kv.list_secrets("app", mount_point=MOUNT)["data"]["keys"] == ["db", "new"], "list a folder")
raises(exceptions.InvalidPath, lambda: kv.list_secrets("nothing", mount_point=MOUNT), "listing an empty folder is 404")

# metadata: versions, custom_metadata (tresor's tags).
m = kv.read_secret_metadata("app/db", mount_point=MOUNT)["data"]
check(m["current_version"] == 4 and sorted(m["versions"]) == ["1", "2", "3", "4"], "metadata: four versions")
kv.update_metadata("app/db", custom_metadata={"team": "payments", "owner": "alice"}, mount_point=MOUNT)
m = kv.read_secret_metadata("app/db", mount_point=MOUNT)["data"]
check(m["custom_metadata"] == {"team": "payments", "owner": "alice"}, "custom_metadata written")
kv.update_metadata("app/db", custom_metadata={"team": "platform"}, mount_point=MOUNT)
m = kv.read_secret_metadata("app/db", mount_point=MOUNT)["data"]
check(m["custom_metadata"] == {"team": "platform"} and m["current_version"] == 4, "custom_metadata replaced, no new version")
client.adapter.request(
    "PATCH", f"/v1/{MOUNT}/metadata/app/db", json={"custom_metadata": {"team": None, "tier": "1"}},
    headers={"Content-Type": "application/merge-patch+json"},
)
m = kv.read_secret_metadata("app/db", mount_point=MOUNT)["data"]
check(m["custom_metadata"] == {"tier": "1"}, "metadata merge patch")
raises(exceptions.InvalidRequest, lambda: kv.update_metadata("app/db", max_versions=3, mount_point=MOUNT), "a per-secret max_versions is refused")

# delete, undelete (the current version), destroy.
kv.delete_latest_version_of_secret("app/db", mount_point=MOUNT)
raises(exceptions.InvalidPath, lambda: kv.read_secret_version("app/db", mount_point=MOUNT, raise_on_deleted_version=True), "a deleted version is 404")
r = kv.read_secret_version("app/db", mount_point=MOUNT, raise_on_deleted_version=False)["data"]
check(r["data"] is None and r["metadata"]["deletion_time"] != "" and r["metadata"]["version"] == 4, "a deleted version reads as metadata with deletion_time")
check("app/" in kv.list_secrets("", mount_point=MOUNT)["data"]["keys"], "a deleted secret is still listed")
kv.undelete_secret_versions("app/db", versions=[4], mount_point=MOUNT)
r = kv.read_secret_version("app/db", mount_point=MOUNT, raise_on_deleted_version=True)["data"]
check(r["data"]["password"] == VALUE_MARK + "2" and r["metadata"]["deletion_time"] == "", "undelete restores the current version")
kv.delete_secret_versions("app/db", versions=[4], mount_point=MOUNT)
raises(exceptions.InvalidPath, lambda: kv.read_secret_version("app/db", mount_point=MOUNT, raise_on_deleted_version=True), "delete versions=[current]")
kv.undelete_secret_versions("app/db", versions=[4], mount_point=MOUNT)
w = kv.create_or_update_secret("app/db", {"password": VALUE_MARK + "5"}, mount_point=MOUNT)["data"]
check(w["version"] == 5, "a write after an undelete: version 5")

# Single older versions: deleted, undeleted, destroyed.
kv.delete_secret_versions("app/db", versions=[1], mount_point=MOUNT)
raises(exceptions.InvalidPath, lambda: kv.read_secret_version("app/db", version=1, mount_point=MOUNT, raise_on_deleted_version=True), "an older version deleted alone is 404")
check(kv.read_secret_version("app/db", mount_point=MOUNT, raise_on_deleted_version=True)["data"]["metadata"]["version"] == 5, "the current version stays readable")
kv.undelete_secret_versions("app/db", versions=[1], mount_point=MOUNT)
check(kv.read_secret_version("app/db", version=1, mount_point=MOUNT, raise_on_deleted_version=True)["data"]["data"]["password"] == VALUE_MARK + "1", "and undeleted")
kv.destroy_secret_versions("app/db", versions=[1], mount_point=MOUNT)
raises(exceptions.InvalidPath, lambda: kv.read_secret_version("app/db", version=1, mount_point=MOUNT, raise_on_deleted_version=True), "a destroyed version is 404")
m = kv.read_secret_metadata("app/db", mount_point=MOUNT)["data"]
check(m["versions"]["1"]["destroyed"] is True and m["versions"]["2"]["destroyed"] is False, "metadata shows version 1 destroyed")
kv.undelete_secret_versions("app/db", versions=[1], mount_point=MOUNT)
raises(exceptions.InvalidPath, lambda: kv.read_secret_version("app/db", version=1, mount_point=MOUNT, raise_on_deleted_version=True), "nothing brings a destroyed version back")
# A version deleted before a newer write stays deleted.
kv.delete_latest_version_of_secret("app/new", mount_point=MOUNT)
check(kv.create_or_update_secret("app/new", {"k": VALUE_MARK + "newer"}, mount_point=MOUNT)["data"]["version"] == 2, "a write after a delete")
raises(exceptions.InvalidPath, lambda: kv.read_secret_version("app/new", version=1, mount_point=MOUNT, raise_on_deleted_version=True), "the deleted version stays deleted")
kv.delete_metadata_and_all_versions("app/new", mount_point=MOUNT)
raises(exceptions.InvalidPath, lambda: kv.read_secret_metadata("app/new", mount_point=MOUNT), "metadata delete removes the secret")
check(kv.list_secrets("app", mount_point=MOUNT)["data"]["keys"] == ["db"], "and its key")

# The token in Authorization: Bearer works too; a wrong token is refused as Vault does.
bearer = hvac.Client(url=os.environ["VAULT_ADDR"])
bearer.session.headers["Authorization"] = "Bearer " + os.environ["VAULT_TOKEN"]
check(bearer.secrets.kv.v2.read_secret_version("app/db", mount_point=MOUNT, raise_on_deleted_version=True)["data"]["metadata"]["version"] == 5, "Authorization: Bearer")
bad = hvac.Client(url=os.environ["VAULT_ADDR"], token="tsr_nothing_nothing")
raises(exceptions.Forbidden, lambda: bad.secrets.kv.v2.read_secret_version("app/db", mount_point=MOUNT, raise_on_deleted_version=True), "a wrong token is 403")
check(not bad.is_authenticated(), "is_authenticated is false for a wrong token")
raises(exceptions.InvalidPath, lambda: kv.read_secret_version("app/db", mount_point="nomount", raise_on_deleted_version=True), "a mount that is no vault is 404")

print(f"hvac: {checks.passed} checks passed", flush=True)
