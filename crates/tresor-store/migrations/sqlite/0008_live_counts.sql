-- The number of live (not soft-deleted) entries of each vault, kept by triggers, so that a write
-- checks the workspace's entry limit and a vault's description reads its size without counting
-- rows: before, every new key and every write's vault lookup counted the vault's or the
-- workspace's entries, a cost that grew with the store. Triggers rather than code in each
-- method, so nothing that writes `entries` (a restore included) can leave a count wrong. Not a
-- snapshot table: a restore rebuilds the counts as it inserts the entries.

CREATE TABLE vault_live_entries (
    workspace   TEXT NOT NULL,
    environment TEXT NOT NULL,
    vault       TEXT NOT NULL,
    live        INTEGER NOT NULL,
    PRIMARY KEY (workspace, environment, vault)
);

INSERT INTO vault_live_entries (workspace, environment, vault, live)
    SELECT workspace, environment, vault, COUNT(*) FROM entries WHERE deleted_at IS NULL
    GROUP BY workspace, environment, vault;

CREATE TRIGGER entries_live_insert AFTER INSERT ON entries WHEN NEW.deleted_at IS NULL
BEGIN
    INSERT INTO vault_live_entries (workspace, environment, vault, live)
        VALUES (NEW.workspace, NEW.environment, NEW.vault, 1)
        ON CONFLICT (workspace, environment, vault) DO UPDATE SET live = live + 1;
END;

CREATE TRIGGER entries_live_delete AFTER DELETE ON entries WHEN OLD.deleted_at IS NULL
BEGIN
    UPDATE vault_live_entries SET live = live - 1
        WHERE workspace = OLD.workspace AND environment = OLD.environment AND vault = OLD.vault;
END;

CREATE TRIGGER entries_live_update AFTER UPDATE OF deleted_at ON entries
    WHEN (OLD.deleted_at IS NULL) <> (NEW.deleted_at IS NULL)
BEGIN
    INSERT INTO vault_live_entries (workspace, environment, vault, live)
        VALUES (NEW.workspace, NEW.environment, NEW.vault, CASE WHEN NEW.deleted_at IS NULL THEN 1 ELSE -1 END)
        ON CONFLICT (workspace, environment, vault)
        DO UPDATE SET live = live + (CASE WHEN NEW.deleted_at IS NULL THEN 1 ELSE -1 END);
END;
