-- Application access keys (Conductor-style key id + key secret), exchanged for short-lived tokens.
-- Only the SHA-256 of the key secret is stored; the secret is shown once, at creation.

CREATE TABLE app_keys (
    id             TEXT PRIMARY KEY,
    workspace      TEXT NOT NULL REFERENCES workspaces (name),
    principal_kind TEXT NOT NULL,
    principal_name TEXT NOT NULL,
    hash           BLOB NOT NULL,
    created_at     BIGINT NOT NULL,
    created_by     TEXT NOT NULL,
    revoked_at     BIGINT
);

CREATE INDEX app_keys_by_workspace ON app_keys (workspace, created_at);
