-- Workspaces, their wrapped data keys, environments, vaults, entries and entry versions.
-- Types and constraints are kept portable (BIGINT millis, TEXT, BLOB, composite keys) so the
-- PostgreSQL schema mirrors this one column for column.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
);

CREATE TABLE workspaces (
    name                   TEXT PRIMARY KEY,
    current_key_generation BIGINT NOT NULL,
    created_at             BIGINT NOT NULL
);

CREATE TABLE data_keys (
    workspace  TEXT NOT NULL REFERENCES workspaces (name),
    generation BIGINT NOT NULL,
    wrapped    BLOB NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (workspace, generation)
);

CREATE TABLE environments (
    workspace  TEXT NOT NULL REFERENCES workspaces (name),
    name       TEXT NOT NULL,
    parent     TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (workspace, name)
);

CREATE TABLE vaults (
    workspace   TEXT NOT NULL,
    environment TEXT NOT NULL,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    managed_by  TEXT,
    managed_at  BIGINT,
    PRIMARY KEY (workspace, environment, name),
    FOREIGN KEY (workspace, environment) REFERENCES environments (workspace, name)
);

CREATE TABLE entries (
    workspace   TEXT NOT NULL,
    environment TEXT NOT NULL,
    vault       TEXT NOT NULL,
    key         TEXT NOT NULL,
    kind        TEXT NOT NULL,
    version     BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    edited_by   TEXT NOT NULL,
    description TEXT,
    tags        TEXT NOT NULL DEFAULT '[]',
    expires_at  BIGINT,
    deleted_at  BIGINT,
    PRIMARY KEY (workspace, environment, vault, key),
    FOREIGN KEY (workspace, environment, vault) REFERENCES vaults (workspace, environment, name)
);

CREATE INDEX entries_by_workspace ON entries (workspace, deleted_at);

CREATE TABLE entry_versions (
    workspace   TEXT NOT NULL,
    environment TEXT NOT NULL,
    vault       TEXT NOT NULL,
    key         TEXT NOT NULL,
    version     BIGINT NOT NULL,
    kind        TEXT NOT NULL,
    sealed      BLOB NOT NULL,
    created_at  BIGINT NOT NULL,
    edited_by   TEXT NOT NULL,
    PRIMARY KEY (workspace, environment, vault, key, version),
    FOREIGN KEY (workspace, environment, vault, key)
        REFERENCES entries (workspace, environment, vault, key) ON DELETE CASCADE
);
