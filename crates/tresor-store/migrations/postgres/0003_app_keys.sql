-- PostgreSQL translation of migrations/sqlite/0003_app_keys.sql (BLOB -> BYTEA); same tables and columns.
-- Text columns compare and sort bytewise (COLLATE "C"), as SQLite's BINARY collation does, so listings and
-- the `key > after` pagination cursor behave identically on both backends.
-- Application access keys (Conductor-style key id + key secret), exchanged for short-lived tokens.
-- Only the SHA-256 of the key secret is stored; the secret is shown once, at creation.

CREATE TABLE app_keys (
    id             TEXT COLLATE "C" PRIMARY KEY,
    workspace      TEXT COLLATE "C" NOT NULL REFERENCES workspaces (name),
    principal_kind TEXT COLLATE "C" NOT NULL,
    principal_name TEXT COLLATE "C" NOT NULL,
    hash           BYTEA NOT NULL,
    created_at     BIGINT NOT NULL,
    created_by     TEXT COLLATE "C" NOT NULL,
    revoked_at     BIGINT
);

CREATE INDEX app_keys_by_workspace ON app_keys (workspace, created_at);
