"""Copies every secret of one KV version 2 mount from HashiCorp Vault or OpenBao to tresor.

Both ends speak the same API, so this is hvac on both sides: each path under the source mount is
listed recursively, its current version read and written to the same path of the destination
mount (a tresor vault of that name, in the environment the destination token is bound to), with
its custom_metadata. Older versions, deleted and destroyed versions are not copied: a secret whose
current version is deleted or destroyed is reported and skipped. Values are never printed.

    pip install 'hvac==2.4.0'
    SRC_ADDR=https://vault.example:8200 SRC_TOKEN=hvs.... \\
    DST_ADDR=https://tresor.example:8200 DST_TOKEN=tsr_... \\
    MOUNT=secret python3 vault_copy.py

Exits non-zero if any secret could not be copied; prints one line per path and a summary.
Tested by crates/tresor-cli/tests/compat_vault.rs (copy_from_openbao_with_the_documented_script).
"""

import os
import sys

import hvac
from hvac import exceptions


def paths(kv, mount, folder=""):
    """Every secret path under `folder`, depth first, in the order the source lists them."""
    try:
        keys = kv.list_secrets(folder, mount_point=mount)["data"]["keys"]
    except exceptions.InvalidPath:
        return
    for key in keys:
        if key.endswith("/"):
            yield from paths(kv, mount, folder + key)
        else:
            yield folder + key


def main():
    mount = os.environ.get("MOUNT", "secret")
    src = hvac.Client(url=os.environ["SRC_ADDR"], token=os.environ["SRC_TOKEN"]).secrets.kv.v2
    dst = hvac.Client(url=os.environ["DST_ADDR"], token=os.environ["DST_TOKEN"]).secrets.kv.v2
    copied, skipped = 0, 0
    for path in paths(src, mount):
        read = src.read_secret_version(path, mount_point=mount, raise_on_deleted_version=False)["data"]
        meta = read["metadata"]
        if read["data"] is None:
            state = "destroyed" if meta["destroyed"] else "deleted"
            print(f"skipped {path}: its current version {meta['version']} is {state}", flush=True)
            skipped += 1
            continue
        dst.create_or_update_secret(path, read["data"], mount_point=mount)
        if meta.get("custom_metadata"):
            dst.update_metadata(path, custom_metadata=meta["custom_metadata"], mount_point=mount)
        print(f"copied {path} (version {meta['version']})", flush=True)
        copied += 1
    print(f"{copied} copied, {skipped} skipped", flush=True)
    return 1 if skipped else 0


if __name__ == "__main__":
    sys.exit(main())
