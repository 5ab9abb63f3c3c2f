//! Server-side webhook calls (Tailor-style): the caller describes a request whose headers and body
//! hold `{"vault": V, "key": K}` references; tresor resolves them with the caller's grants, sends
//! the request, and answers with the response, every resolved value masked in it. The caller never
//! holds a value.
//!
//! Sending needs the `webhook` access on the environment the references resolve in (with or without
//! references), checked before anything else; references also need `read`, as any resolution does.
//!
//! Destinations are an allow-list of hosts (none by default), so the feature cannot be used to probe
//! internal networks; redirects are not followed, since a redirect could leave the list.

use crate::render::RenderRequest;
use crate::{Ctx, Result, Service, ServiceError};
use serde_json::{Map, Value};
use std::time::Duration;
use tresor_model::{Access, EnvName, VaultName};
use tresor_redact::{RedactOptions, Redactor};

/// Largest response body passed back.
const MAX_RESPONSE_BYTES: u64 = 1024 * 1024;

#[derive(Debug, Clone)]
pub struct WebhookRequest {
    pub method: String,
    pub url: String,
    /// Header values: strings, or `{"vault": V, "key": K}` references.
    pub headers: Map<String, Value>,
    /// A string is sent as is; any other JSON is sent as JSON, its references resolved.
    pub body: Option<Value>,
    /// The environment the references' vaults are in.
    pub environment: EnvName,
}

#[derive(Debug, Clone)]
pub struct WebhookResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// The response body with every resolved value (and its encodings) masked.
    pub body: String,
}

/// The `host[:port]` of an http(s) URL, lower-cased; `None` if it is not one.
pub fn url_authority(url: &str) -> Option<(String, Option<u16>, &'static str)> {
    let (scheme, rest) = if let Some(r) = url.strip_prefix("https://") {
        ("https", r)
    } else if let Some(r) = url.strip_prefix("http://") {
        ("http", r)
    } else {
        return None;
    };
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => (h, Some(p.parse::<u16>().ok()?)),
        _ => (authority, None),
    };
    Some((host.to_ascii_lowercase(), port, scheme))
}

/// Whether `host:port` is on the allow-list (`host`, `host:port`, `*.domain`).
pub fn host_allowed(allow: &[String], host: &str, port: Option<u16>) -> bool {
    allow.iter().any(|entry| {
        let entry = entry.trim().to_ascii_lowercase();
        let (pattern, want_port) = match entry.rsplit_once(':') {
            Some((h, p)) => match p.parse::<u16>() {
                Ok(p) => (h.to_owned(), Some(p)),
                Err(_) => return false,
            },
            None => (entry.clone(), None),
        };
        let host_ok = match pattern.strip_prefix("*.") {
            Some(domain) => host.ends_with(&format!(".{domain}")),
            None => host == pattern,
        };
        host_ok && (want_port.is_none() || want_port == port)
    })
}

impl Service {
    /// Sends a webhook with references resolved server-side; see the module docs.
    pub async fn send_webhook(&self, ctx: &Ctx, req: WebhookRequest) -> Result<WebhookResponse> {
        let target = format!("{} {}", req.method, req.url.split(['?', '#']).next().unwrap_or_default());
        let out = self.send_webhook_inner(ctx, req).await;
        self.audited(ctx, "webhook.send", target, out).await
    }

    async fn send_webhook_inner(&self, ctx: &Ctx, req: WebhookRequest) -> Result<WebhookResponse> {
        require_webhook_grant(ctx, &req.environment)?;
        let method = req.method.to_ascii_uppercase();
        if !matches!(method.as_str(), "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD") {
            return Err(ServiceError::InvalidInput(format!(
                "method {:?} is not GET, POST, PUT, PATCH, DELETE or HEAD",
                req.method
            )));
        }
        let (host, port, _) = url_authority(&req.url).ok_or_else(|| {
            ServiceError::InvalidInput("the url must be http:// or https:// with a host (and no user:password@)".into())
        })?;
        if self.webhook_hosts.is_empty() {
            return Err(ServiceError::Denied(
                "webhooks are disabled: no destination hosts are allowed (set TRESOR_WEBHOOK_ALLOW_HOSTS)".into(),
            ));
        }
        if !host_allowed(&self.webhook_hosts, &host, port) {
            return Err(ServiceError::Denied(format!(
                "destination {host}{} is not on the webhook allow-list",
                port.map(|p| format!(":{p}")).unwrap_or_default()
            )));
        }
        // Headers and body go through the JSON renderer: one batch, the caller's grants, clear errors.
        let doc = serde_json::json!({ "headers": req.headers, "body": req.body });
        let render = RenderRequest {
            template: doc.to_string(),
            json: true,
            environment: req.environment.clone(),
            vault: VaultName::default_name(),
            allow: None,
            map: vec![],
        };
        let (rendered, values) = self.render_with_values(ctx, &render).await?;
        let resolved: Value = serde_json::from_str(&rendered).map_err(|e| ServiceError::Storage(e.to_string()))?;
        let mut headers = Vec::new();
        for (name, value) in resolved["headers"].as_object().into_iter().flatten() {
            let value = value.as_str().ok_or_else(|| {
                ServiceError::InvalidInput(format!(
                    "header {name} must be a string or a {{\"vault\", \"key\"}} reference"
                ))
            })?;
            headers.push((name.clone(), value.to_owned()));
        }
        let body: Option<Vec<u8>> = match &resolved["body"] {
            Value::Null => None,
            Value::String(s) => Some(s.clone().into_bytes()),
            other => {
                if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("content-type")) {
                    headers.push(("Content-Type".into(), "application/json".into()));
                }
                Some(other.to_string().into_bytes())
            }
        };
        let redactor = Redactor::new(values.iter().map(|v| v.expose()), &RedactOptions::default())
            .map_err(|e| ServiceError::Storage(e.to_string()))?;
        drop(values);
        let url = req.url.clone();
        let (status, resp_headers, resp_body) =
            tokio::task::spawn_blocking(move || send(&method, &url, &headers, body))
                .await
                .map_err(|e| ServiceError::Upstream(format!("the webhook call failed: {e}")))??;
        let mask = |text: &[u8]| String::from_utf8_lossy(&redactor.redact(text)).into_owned();
        Ok(WebhookResponse {
            status,
            headers: resp_headers.into_iter().map(|(k, v)| (k, mask(v.as_bytes()))).collect(),
            body: mask(&resp_body),
        })
    }
}

/// The `webhook` access must cover the whole environment (a grant on `ENV`, `ENV/*` or `*`): the
/// request is the environment's, whichever of its vaults the references name.
fn require_webhook_grant(ctx: &Ctx, env: &EnvName) -> Result<()> {
    if ctx.caller.allows(Access::Webhook, env.as_str(), None, None) {
        return Ok(());
    }
    let who = &ctx.caller.principal;
    Err(ServiceError::Denied(format!(
        "{who} lacks webhook access on environment {env}, needed to send webhooks; ask a workspace admin for \
         one (`tresor grant add {who} {env} webhook`)"
    )))
}

type Answer = (u16, Vec<(String, String)>, Vec<u8>);

fn send(method: &str, url: &str, headers: &[(String, String)], body: Option<Vec<u8>>) -> Result<Answer> {
    let agent = ureq::AgentBuilder::new().redirects(0).timeout(Duration::from_secs(10)).build();
    let mut request = agent.request(method, url);
    for (name, value) in headers {
        request = request.set(name, value);
    }
    let answer = match body {
        Some(b) => request.send_bytes(&b),
        None => request.call(),
    };
    let response = match answer {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        // The transport error may quote the URL (never a header or body), so it is safe to show.
        Err(e) => return Err(ServiceError::Upstream(format!("the webhook destination could not be reached: {e}"))),
    };
    let status = response.status();
    let headers = response
        .headers_names()
        .into_iter()
        .filter_map(|n| response.header(&n).map(|v| (n.clone(), v.to_owned())))
        .collect();
    let mut body = Vec::new();
    std::io::Read::read_to_end(&mut std::io::Read::take(response.into_reader(), MAX_RESPONSE_BYTES), &mut body)
        .map_err(|e| ServiceError::Upstream(format!("reading the webhook response: {e}")))?;
    Ok((status, headers, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_allow_lists() {
        assert_eq!(url_authority("https://API.example.com/x?y").unwrap(), ("api.example.com".into(), None, "https"));
        assert_eq!(url_authority("http://127.0.0.1:8080/").unwrap(), ("127.0.0.1".into(), Some(8080), "http"));
        assert!(url_authority("ftp://x").is_none());
        assert!(url_authority("http://user:pw@host/").is_none());
        assert!(url_authority("http://host:notaport/").is_none());
        let allow = vec!["hooks.slack.com".to_owned(), "*.example.com".to_owned(), "127.0.0.1:9000".to_owned()];
        assert!(host_allowed(&allow, "hooks.slack.com", None));
        assert!(host_allowed(&allow, "api.example.com", Some(443)));
        assert!(!host_allowed(&allow, "example.com", None));
        assert!(!host_allowed(&allow, "evil-example.com", None));
        assert!(host_allowed(&allow, "127.0.0.1", Some(9000)));
        assert!(!host_allowed(&allow, "127.0.0.1", Some(22)));
        assert!(!host_allowed(&[], "hooks.slack.com", None));
    }
}
