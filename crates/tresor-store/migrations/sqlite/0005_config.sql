-- Declarative config: a keyed hash (HMAC-SHA256 under the service's `config` MAC key) of each
-- version's entry identity and value, so `tresor plan` can tell whether a secret changed without
-- opening it. NULL for versions written before this migration: those are compared by opening them
-- inside the service.

ALTER TABLE entry_versions ADD COLUMN value_mac BLOB;
