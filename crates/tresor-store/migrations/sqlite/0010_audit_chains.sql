-- One audit chain per writer instead of one for the whole store (see ARCHITECTURE.md, "Audit").
-- Each server process (and each local CLI run) appends to a chain of its own, named at random
-- when it starts; a record's place in its chain is (chain, chain_seq), and `seq` is only the
-- log's listing order. The records written before this migration form the chain '' (chain_seq =
-- seq, hashed as before). Each chain's head (last chain_seq and hash, as meta `audit_head` held
-- it) and the head's MAC live in `audit_chains`; the one head of the single chain moves there.
-- `seq` stays the table's own key (0006): new records take the next rowid.

ALTER TABLE audit_log ADD COLUMN chain TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_log ADD COLUMN chain_seq INTEGER NOT NULL DEFAULT 0;
UPDATE audit_log SET chain_seq = seq;

CREATE TABLE audit_chains (
    chain      TEXT PRIMARY KEY,
    head       BLOB NOT NULL,
    head_mac   BLOB,
    started_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

INSERT INTO audit_chains (chain, head, head_mac, started_at, updated_at)
    SELECT '', h.value, (SELECT m.value FROM meta m WHERE m.key = 'audit_head_mac'), 0, 0
    FROM meta h WHERE h.key = 'audit_head' AND length(h.value) > 8;
DELETE FROM meta WHERE key IN ('audit_head', 'audit_head_mac');
