-- PostgreSQL translation of migrations/sqlite/0001_entries.sql (BLOB -> BYTEA); same tables and columns.
-- Text columns compare and sort bytewise (COLLATE "C"), as SQLite's BINARY collation does, so listings and
-- the `key > after` pagination cursor behave identically on both backends.
-- Workspaces, their wrapped data keys, environments, vaults, entries and entry versions.
-- Types and constraints are kept portable (BIGINT millis, TEXT, BYTEA, composite keys) so the
-- PostgreSQL schema mirrors this one column for column.

CREATE TABLE meta (
    key   TEXT COLLATE "C" PRIMARY KEY,
    value BYTEA NOT NULL
);

CREATE TABLE workspaces (
    name                   TEXT COLLATE "C" PRIMARY KEY,
    current_key_generation BIGINT NOT NULL,
    created_at             BIGINT NOT NULL
);

CREATE TABLE data_keys (
    workspace  TEXT COLLATE "C" NOT NULL REFERENCES workspaces (name),
    generation BIGINT NOT NULL,
    wrapped    BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (workspace, generation)
);

CREATE TABLE environments (
    workspace  TEXT COLLATE "C" NOT NULL REFERENCES workspaces (name),
    name       TEXT COLLATE "C" NOT NULL,
    parent     TEXT COLLATE "C",
    created_at BIGINT NOT NULL,
    PRIMARY KEY (workspace, name)
);

CREATE TABLE vaults (
    workspace   TEXT COLLATE "C" NOT NULL,
    environment TEXT COLLATE "C" NOT NULL,
    name        TEXT COLLATE "C" NOT NULL,
    created_at  BIGINT NOT NULL,
    managed_by  TEXT COLLATE "C",
    managed_at  BIGINT,
    PRIMARY KEY (workspace, environment, name),
    FOREIGN KEY (workspace, environment) REFERENCES environments (workspace, name)
);

CREATE TABLE entries (
    workspace   TEXT COLLATE "C" NOT NULL,
    environment TEXT COLLATE "C" NOT NULL,
    vault       TEXT COLLATE "C" NOT NULL,
    key         TEXT COLLATE "C" NOT NULL,
    kind        TEXT COLLATE "C" NOT NULL,
    version     BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    edited_by   TEXT COLLATE "C" NOT NULL,
    description TEXT COLLATE "C",
    tags        TEXT COLLATE "C" NOT NULL DEFAULT '[]',
    expires_at  BIGINT,
    deleted_at  BIGINT,
    PRIMARY KEY (workspace, environment, vault, key),
    FOREIGN KEY (workspace, environment, vault) REFERENCES vaults (workspace, environment, name)
);

CREATE INDEX entries_by_workspace ON entries (workspace, deleted_at);

CREATE TABLE entry_versions (
    workspace   TEXT COLLATE "C" NOT NULL,
    environment TEXT COLLATE "C" NOT NULL,
    vault       TEXT COLLATE "C" NOT NULL,
    key         TEXT COLLATE "C" NOT NULL,
    version     BIGINT NOT NULL,
    kind        TEXT COLLATE "C" NOT NULL,
    sealed      BYTEA NOT NULL,
    created_at  BIGINT NOT NULL,
    edited_by   TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (workspace, environment, vault, key, version),
    FOREIGN KEY (workspace, environment, vault, key)
        REFERENCES entries (workspace, environment, vault, key) ON DELETE CASCADE
);
