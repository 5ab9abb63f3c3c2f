pub mod conductor;
pub mod native;
pub mod tinybird;

/// Settings of the compatibility surfaces.
#[derive(Debug, Clone)]
pub struct CompatConfig {
    /// Most secrets the Tinybird-compatible `/v0` routes let a workspace hold (0: no limit of
    /// their own; the service's entry limit still applies).
    pub tinybird_max_secrets: u64,
    /// Lifetime, in seconds, of the tokens that Conductor's `POST /api/token` mints for
    /// application keys.
    pub app_token_ttl_secs: u64,
}

impl Default for CompatConfig {
    fn default() -> Self {
        Self { tinybird_max_secrets: 100, app_token_ttl_secs: 3600 }
    }
}
