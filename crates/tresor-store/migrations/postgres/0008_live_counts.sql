-- PostgreSQL translation of migrations/sqlite/0008_live_counts.sql: the number of live entries
-- of each vault, kept by a trigger, so that writes and vault descriptions read it instead of
-- counting rows. Concurrent writers adding entries to one vault take turns on its count row
-- until they commit (they already take the workspace's advisory lock for the entry limit).

CREATE TABLE vault_live_entries (
    workspace   TEXT COLLATE "C" NOT NULL,
    environment TEXT COLLATE "C" NOT NULL,
    vault       TEXT COLLATE "C" NOT NULL,
    live        BIGINT NOT NULL,
    PRIMARY KEY (workspace, environment, vault)
);

INSERT INTO vault_live_entries (workspace, environment, vault, live)
    SELECT workspace, environment, vault, COUNT(*) FROM entries WHERE deleted_at IS NULL
    GROUP BY workspace, environment, vault;

CREATE FUNCTION tresor_count_live() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r     RECORD;
    delta BIGINT := 0;
BEGIN
    IF TG_OP = 'INSERT' THEN
        r := NEW;
        IF NEW.deleted_at IS NULL THEN delta := 1; END IF;
    ELSIF TG_OP = 'DELETE' THEN
        r := OLD;
        IF OLD.deleted_at IS NULL THEN delta := -1; END IF;
    ELSE
        r := NEW;
        IF OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL THEN delta := -1;
        ELSIF OLD.deleted_at IS NOT NULL AND NEW.deleted_at IS NULL THEN delta := 1;
        END IF;
    END IF;
    IF delta <> 0 THEN
        INSERT INTO vault_live_entries AS c (workspace, environment, vault, live)
            VALUES (r.workspace, r.environment, r.vault, delta)
            ON CONFLICT (workspace, environment, vault) DO UPDATE SET live = c.live + delta;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER entries_count_live AFTER INSERT OR DELETE OR UPDATE OF deleted_at ON entries
    FOR EACH ROW EXECUTE FUNCTION tresor_count_live();
