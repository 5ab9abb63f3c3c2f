-- The audit log as a rowid table: `seq INTEGER PRIMARY KEY` makes the sequence number the row's
-- own key, where `BIGINT PRIMARY KEY` (0002) kept the rows under a hidden rowid plus a separate
-- index on `seq`. Every read of a secret appends a record, so each append now writes one b-tree
-- instead of two: fewer pages per commit in the write-ahead log, less to checksum and to fsync.
-- Columns, their order and their values are unchanged; rows are copied in sequence order.

CREATE TABLE audit_log_new (
    seq        INTEGER PRIMARY KEY,
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
INSERT INTO audit_log_new SELECT seq, at, workspace, request_id, principal, action, target, outcome, detail, prev_hash, hash
    FROM audit_log ORDER BY seq;
DROP TABLE audit_log;
ALTER TABLE audit_log_new RENAME TO audit_log;
