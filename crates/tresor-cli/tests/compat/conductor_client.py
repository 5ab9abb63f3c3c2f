"""Drives tresor's Conductor-compatible API with Orkes' own Python client (conductor-python).

Run by crates/tresor-cli/tests/compat_conductor.rs against a real `tresor serve`. Environment:
CONDUCTOR_SERVER_URL (http://HOST:PORT/api), ADMIN_KEY_ID/ADMIN_KEY_SECRET (an application key whose
application may write and grant), WORKER_KEY_ID/WORKER_KEY_SECRET (app:orkes-workers, no grants
yet), USPS_USER (the value of post_office_username, already stored), TOKEN_TTL (seconds the
server's exchanged tokens live). Prints "ok" at the end; any failed check raises.
"""

import os
import time

from conductor.client.configuration.configuration import Configuration
from conductor.client.configuration.settings.authentication_settings import AuthenticationSettings
from conductor.client.http.models.subject_ref import SubjectRef, SubjectType
from conductor.client.http.models.target_ref import TargetRef, TargetType
from conductor.client.http.rest import ApiException, AuthorizationException
from conductor.client.orkes.models.access_type import AccessType
from conductor.client.orkes.models.metadata_tag import MetadataTag
from conductor.client.orkes.orkes_authorization_client import OrkesAuthorizationClient
from conductor.client.orkes.orkes_secret_client import OrkesSecretClient

URL = os.environ["CONDUCTOR_SERVER_URL"]


def config(key_id, key_secret):
    return Configuration(
        server_api_url=URL, authentication_settings=AuthenticationSettings(key_id=key_id, key_secret=key_secret)
    )


def refused(call, status):
    try:
        call()
    except (AuthorizationException, ApiException) as e:
        assert e.status == status, f"expected {status}, got {e.status}: {e}"
        return
    raise AssertionError(f"expected a refusal with {status}")


admin_conf = config(os.environ["ADMIN_KEY_ID"], os.environ["ADMIN_KEY_SECRET"])
admin = OrkesSecretClient(admin_conf)
assert admin_conf.AUTH_TOKEN, "the client exchanged its application key at POST /api/token"
authz = OrkesAuthorizationClient(admin_conf)
worker = OrkesSecretClient(config(os.environ["WORKER_KEY_ID"], os.environ["WORKER_KEY_SECRET"]))

# Create, check, read, list.
assert admin.secret_exists("pinetree") is False
admin.put_secret("pinetree", "needles")
assert admin.secret_exists("pinetree") is True
assert admin.get_secret("pinetree") == "needles"
assert "pinetree" in admin.list_all_secret_names()
assert "pinetree" in admin.list_secrets_that_user_can_grant_access_to()
admin.put_secret("pinetree", "needles-v2")
assert admin.get_secret("pinetree") == "needles-v2"

# Tags: set, read, delete.
admin.set_secret_tags([MetadataTag("team", "payments"), MetadataTag("tier", "gold")], "pinetree")
tags = {(t.key, t.value) for t in admin.get_secret_tags("pinetree")}
assert tags == {("team", "payments"), ("tier", "gold")}, tags
admin.delete_secret_tags([MetadataTag("tier", "gold")], "pinetree")
assert [(t.key, t.value) for t in admin.get_secret_tags("pinetree")] == [("team", "payments")]

# An application sees nothing before it is granted, then exactly the granted secret.
usps = os.environ["USPS_USER"]
refused(lambda: worker.get_secret("post_office_username"), 403)
subject = SubjectRef(SubjectType.USER, "app:orkes-workers")
target = TargetRef(TargetType.SECRET_NAME, "post_office_username")
authz.grant_permissions(subject, target, [AccessType.READ])
assert worker.get_secret("post_office_username") == usps
refused(lambda: worker.get_secret("pinetree"), 403)
refused(lambda: worker.put_secret("post_office_username", "x"), 403)

# The exchanged token expires; the client sees EXPIRED_TOKEN, fetches a new one and goes on.
time.sleep(float(os.environ["TOKEN_TTL"]) + 0.5)
assert worker.get_secret("post_office_username") == usps

# Revoking the grant takes the access away again.
authz.remove_permissions(subject, target, [AccessType.READ])
refused(lambda: worker.get_secret("post_office_username"), 403)

# Delete.
admin.delete_secret("pinetree")
assert admin.secret_exists("pinetree") is False
refused(lambda: admin.get_secret("pinetree"), 404)
print("ok")
