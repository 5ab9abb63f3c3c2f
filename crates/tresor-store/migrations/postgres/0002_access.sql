-- PostgreSQL translation of migrations/sqlite/0002_access.sql (BLOB -> BYTEA); same tables and columns.
-- Text columns compare and sort bytewise (COLLATE "C"), as SQLite's BINARY collation does, so listings and
-- the `key > after` pagination cursor behave identically on both backends.
-- Principals, group membership, tokens (hashes only), grants and the hash-chained audit log.

CREATE TABLE principals (
    workspace   TEXT COLLATE "C" NOT NULL REFERENCES workspaces (name),
    kind        TEXT COLLATE "C" NOT NULL,
    name        TEXT COLLATE "C" NOT NULL,
    created_at  BIGINT NOT NULL,
    created_by  TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (workspace, kind, name)
);

CREATE TABLE group_members (
    workspace   TEXT COLLATE "C" NOT NULL,
    group_name  TEXT COLLATE "C" NOT NULL,
    member_kind TEXT COLLATE "C" NOT NULL,
    member_name TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (workspace, group_name, member_kind, member_name)
);

CREATE TABLE tokens (
    id             TEXT COLLATE "C" PRIMARY KEY,
    workspace      TEXT COLLATE "C" NOT NULL REFERENCES workspaces (name),
    principal_kind TEXT COLLATE "C" NOT NULL,
    principal_name TEXT COLLATE "C" NOT NULL,
    name           TEXT COLLATE "C" NOT NULL,
    hash           BYTEA NOT NULL,
    created_at     BIGINT NOT NULL,
    created_by     TEXT COLLATE "C" NOT NULL,
    expires_at     BIGINT,
    revoked_at     BIGINT
);

CREATE INDEX tokens_by_principal ON tokens (workspace, principal_kind, principal_name);

CREATE TABLE grants (
    id             TEXT COLLATE "C" PRIMARY KEY,
    workspace      TEXT COLLATE "C" NOT NULL REFERENCES workspaces (name),
    principal_kind TEXT COLLATE "C" NOT NULL,
    principal_name TEXT COLLATE "C" NOT NULL,
    scope          TEXT COLLATE "C" NOT NULL,
    access         TEXT COLLATE "C" NOT NULL,
    created_at     BIGINT NOT NULL,
    created_by     TEXT COLLATE "C" NOT NULL
);

CREATE INDEX grants_by_principal ON grants (workspace, principal_kind, principal_name);

CREATE TABLE audit_log (
    seq        BIGINT PRIMARY KEY,
    at         BIGINT NOT NULL,
    workspace  TEXT COLLATE "C" NOT NULL,
    request_id TEXT COLLATE "C" NOT NULL,
    principal  TEXT COLLATE "C" NOT NULL,
    action     TEXT COLLATE "C" NOT NULL,
    target     TEXT COLLATE "C" NOT NULL,
    outcome    TEXT COLLATE "C" NOT NULL,
    detail     TEXT COLLATE "C",
    prev_hash  BYTEA NOT NULL,
    hash       BYTEA NOT NULL
);
