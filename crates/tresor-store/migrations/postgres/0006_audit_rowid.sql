-- The SQLite audit log's rebuild as a rowid table (SQLite's 0006) has no PostgreSQL counterpart:
-- a PostgreSQL table is a heap plus its primary-key index either way. Kept so both backends number
-- their migrations alike.
SELECT 1;
