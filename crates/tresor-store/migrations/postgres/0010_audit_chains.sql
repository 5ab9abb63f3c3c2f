-- One audit chain per writer instead of one for the whole store (see ARCHITECTURE.md, "Audit"):
-- several servers on one database no longer take turns on the one head's row lock. Each server
-- process (and each local CLI run) appends to a chain of its own, named at random when it starts;
-- a record's place in its chain is (chain, chain_seq), and `seq` is only the log's listing order,
-- drawn from a sequence. The records written before this migration form the chain '' (chain_seq
-- = seq, hashed as before). Each chain's head (last chain_seq and hash, as meta `audit_head` held
-- it) and the head's MAC live in `audit_chains`; the one head of the single chain moves there.

ALTER TABLE audit_log ADD COLUMN chain TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE audit_log ADD COLUMN chain_seq BIGINT NOT NULL DEFAULT 0;
UPDATE audit_log SET chain_seq = seq;

CREATE SEQUENCE audit_log_seq OWNED BY audit_log.seq;
SELECT setval('audit_log_seq', COALESCE((SELECT max(seq) FROM audit_log), 0) + 1, false);
ALTER TABLE audit_log ALTER COLUMN seq SET DEFAULT nextval('audit_log_seq');

CREATE TABLE audit_chains (
    chain      TEXT COLLATE "C" PRIMARY KEY,
    head       BYTEA NOT NULL,
    head_mac   BYTEA,
    started_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

INSERT INTO audit_chains (chain, head, head_mac, started_at, updated_at)
    SELECT '', h.value, (SELECT m.value FROM meta m WHERE m.key = 'audit_head_mac'), 0, 0
    FROM meta h WHERE h.key = 'audit_head' AND length(h.value) > 8;
DELETE FROM meta WHERE key IN ('audit_head', 'audit_head_mac');
