-- Principals, group membership, tokens (hashes only), grants and the hash-chained audit log.

CREATE TABLE principals (
    workspace   TEXT NOT NULL REFERENCES workspaces (name),
    kind        TEXT NOT NULL,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    created_by  TEXT NOT NULL,
    PRIMARY KEY (workspace, kind, name)
);

CREATE TABLE group_members (
    workspace   TEXT NOT NULL,
    group_name  TEXT NOT NULL,
    member_kind TEXT NOT NULL,
    member_name TEXT NOT NULL,
    PRIMARY KEY (workspace, group_name, member_kind, member_name)
);

CREATE TABLE tokens (
    id             TEXT PRIMARY KEY,
    workspace      TEXT NOT NULL REFERENCES workspaces (name),
    principal_kind TEXT NOT NULL,
    principal_name TEXT NOT NULL,
    name           TEXT NOT NULL,
    hash           BLOB NOT NULL,
    created_at     BIGINT NOT NULL,
    created_by     TEXT NOT NULL,
    expires_at     BIGINT,
    revoked_at     BIGINT
);

CREATE INDEX tokens_by_principal ON tokens (workspace, principal_kind, principal_name);

CREATE TABLE grants (
    id             TEXT PRIMARY KEY,
    workspace      TEXT NOT NULL REFERENCES workspaces (name),
    principal_kind TEXT NOT NULL,
    principal_name TEXT NOT NULL,
    scope          TEXT NOT NULL,
    access         TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    created_by     TEXT NOT NULL
);

CREATE INDEX grants_by_principal ON grants (workspace, principal_kind, principal_name);

CREATE TABLE audit_log (
    seq        BIGINT PRIMARY KEY,
    at         BIGINT NOT NULL,
    workspace  TEXT NOT NULL,
    request_id TEXT NOT NULL,
    principal  TEXT NOT NULL,
    action     TEXT NOT NULL,
    target     TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    detail     TEXT,
    prev_hash  BLOB NOT NULL,
    hash       BLOB NOT NULL
);
