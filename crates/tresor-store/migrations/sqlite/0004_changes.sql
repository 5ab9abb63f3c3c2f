-- Change notifications (PostgreSQL's 0004) have no SQLite counterpart: one process owns the file,
-- so its service sees every write itself. Kept so both backends number their migrations alike.
SELECT 1;
