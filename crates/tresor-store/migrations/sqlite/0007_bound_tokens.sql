-- The environment a token or an application key is bound to (NULL: not bound). A bound token's
-- grants are narrowed to that environment, and the compatibility APIs (Tinybird's /v0, Conductor's
-- /api/secrets) act in it; the tokens an application key is exchanged for carry the key's binding.
-- No foreign key: environments are never deleted or renamed, and the service checks that the
-- environment exists when it mints a bound credential.

ALTER TABLE tokens ADD COLUMN environment TEXT;
ALTER TABLE app_keys ADD COLUMN environment TEXT;
