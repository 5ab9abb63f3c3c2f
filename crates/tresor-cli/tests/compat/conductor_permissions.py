"""Reads a secret's permissions with Orkes' Python client (conductor-python):
OrkesAuthorizationClient.get_permissions, which calls GET /api/auth/authorization/{type}/{id}.

Run by crates/tresor-cli/tests/compat_conductor.rs against a real `tresor serve` (issue #14, item
9). Environment: CONDUCTOR_SERVER_URL (http://HOST:PORT/api), KEY_ID/KEY_SECRET (an application
key whose application may grant), SECRET (the secret's name). Grants app:orkes-workers READ and
app:deployer UPDATE on SECRET, reads the permissions back, revokes READ and reads them again.
Prints the permissions as JSON, then "ok"; any failed check raises.
"""

import json
import os

from conductor.client.configuration.configuration import Configuration
from conductor.client.configuration.settings.authentication_settings import AuthenticationSettings
from conductor.client.http.models.subject_ref import SubjectRef, SubjectType
from conductor.client.http.models.target_ref import TargetRef, TargetType
from conductor.client.orkes.models.access_type import AccessType
from conductor.client.orkes.orkes_authorization_client import OrkesAuthorizationClient

conf = Configuration(
    server_api_url=os.environ["CONDUCTOR_SERVER_URL"],
    authentication_settings=AuthenticationSettings(key_id=os.environ["KEY_ID"], key_secret=os.environ["KEY_SECRET"]),
)
authz = OrkesAuthorizationClient(conf)
target = TargetRef(TargetType.SECRET_NAME, os.environ["SECRET"])
worker = SubjectRef(SubjectType.USER, "app:orkes-workers")
deployer = SubjectRef(SubjectType.USER, "app:deployer")


def subjects(permissions, access):
    return sorted((s.type, s.id) for s in permissions.get(access, []))


authz.grant_permissions(worker, target, [AccessType.READ])
authz.grant_permissions(deployer, target, [AccessType.UPDATE])
permissions = authz.get_permissions(target)
assert ("USER", "app:orkes-workers") in subjects(permissions, "READ"), permissions
assert ("USER", "app:deployer") not in subjects(permissions, "READ"), permissions
for access in ("CREATE", "UPDATE", "DELETE"):
    assert ("USER", "app:deployer") in subjects(permissions, access), (access, permissions)
    assert ("USER", "app:orkes-workers") not in subjects(permissions, access), (access, permissions)

authz.remove_permissions(worker, target, [AccessType.READ])
after = authz.get_permissions(target)
assert ("USER", "app:orkes-workers") not in subjects(after, "READ"), after
print(json.dumps({access: subjects(permissions, access) for access in sorted(permissions)}))
print("ok")
