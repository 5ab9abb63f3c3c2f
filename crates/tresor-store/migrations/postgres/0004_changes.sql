-- Change notifications for the caches of every server sharing this database.
--
-- Each committed change to an entry, to access control (principals, group members, tokens, grants)
-- or to the structure (environments, vaults) takes the next number from `change_seq` and is sent on
-- the `tresor_changes` channel as "<seq> TAB <kind> TAB <workspace> [TAB <vault> TAB <key>]".
-- Numbers are taken under the row lock of `change_seq`, so they follow commit order, and a server
-- that sees a gap knows it missed a notification. Triggers rather than code in each method, so
-- nothing that writes these tables (a restore included) can forget to notify.

CREATE TABLE change_seq (
    id   BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (id),
    seq  BIGINT NOT NULL
);
INSERT INTO change_seq (id, seq) VALUES (TRUE, 0);

CREATE FUNCTION tresor_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r    RECORD;
    what TEXT;
    n    BIGINT;
BEGIN
    IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
    IF TG_ARGV[0] = 'entry' THEN
        what := 'entry' || chr(9) || r.workspace || chr(9) || r.vault || chr(9) || r.key;
    ELSIF TG_ARGV[0] = 'access' THEN
        what := 'access' || chr(9) || r.workspace;
    ELSE
        what := 'structure' || chr(9) || r.workspace;
    END IF;
    UPDATE change_seq SET seq = seq + 1 RETURNING seq INTO n;
    PERFORM pg_notify('tresor_changes', n::text || chr(9) || what);
    RETURN NULL;
END
$$;

CREATE TRIGGER entries_changed AFTER INSERT OR UPDATE OR DELETE ON entries
    FOR EACH ROW EXECUTE FUNCTION tresor_notify_change('entry');
CREATE TRIGGER principals_changed AFTER INSERT OR UPDATE OR DELETE ON principals
    FOR EACH ROW EXECUTE FUNCTION tresor_notify_change('access');
CREATE TRIGGER group_members_changed AFTER INSERT OR UPDATE OR DELETE ON group_members
    FOR EACH ROW EXECUTE FUNCTION tresor_notify_change('access');
CREATE TRIGGER tokens_changed AFTER INSERT OR UPDATE OR DELETE ON tokens
    FOR EACH ROW EXECUTE FUNCTION tresor_notify_change('access');
CREATE TRIGGER grants_changed AFTER INSERT OR UPDATE OR DELETE ON grants
    FOR EACH ROW EXECUTE FUNCTION tresor_notify_change('access');
CREATE TRIGGER environments_changed AFTER INSERT OR UPDATE OR DELETE ON environments
    FOR EACH ROW EXECUTE FUNCTION tresor_notify_change('structure');
CREATE TRIGGER vaults_changed AFTER INSERT OR UPDATE OR DELETE ON vaults
    FOR EACH ROW EXECUTE FUNCTION tresor_notify_change('structure');

