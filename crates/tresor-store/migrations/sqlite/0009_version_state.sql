-- The state of single versions, for the Vault KV v2-compatible API (which deletes, undeletes and
-- destroys versions one by one): `deleted_at` marks a version soft-deleted on its own (an entry's
-- own soft delete stays `entries.deleted_at`), `destroyed_at` a version whose sealed value was
-- erased (the row stays, so its number and times are still shown). NULL: neither.

ALTER TABLE entry_versions ADD COLUMN deleted_at BIGINT;
ALTER TABLE entry_versions ADD COLUMN destroyed_at BIGINT;
