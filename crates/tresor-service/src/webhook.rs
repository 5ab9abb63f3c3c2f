//! Server-side webhook calls (Tailor-style): the caller describes a request whose headers and body
//! hold `{"vault": V, "key": K}` references; tresor resolves them with the caller's grants, sends
//! the request, and answers with the response, every resolved value masked in it. The caller never
//! holds a value.
//!
//! Sending needs the `webhook` access on the environment the references resolve in (with or without
//! references), checked before anything else; references also need `read`, as any resolution does.
//!
//! # Destinations
//! Destinations are an allow-list (`TRESOR_WEBHOOK_ALLOW_HOSTS`, none by default), so the feature
//! cannot be used to probe internal networks. The rules, in order:
//! - The URL is parsed once, by the `url` crate (WHATWG URL), and that parsed value is the one
//!   checked and the one sent: a second parser reading the text differently (the way a hand-written
//!   authority split and the HTTP client once disagreed on `http://127.0.0.1\.example.com/`) cannot
//!   happen. Input the parser would silently rewrite is refused instead: a `\` (read as `/`),
//!   spaces and control characters (dropped). So are credentials in the URL, schemes other than
//!   http and https, and a missing host; a fragment is dropped.
//! - The parsed host and port must match an entry of the allow-list ([`AllowEntry`]); a host that is
//!   an IP address matches only an entry naming that address.
//! - The host is resolved once. If any address it resolves to is loopback, private, link-local,
//!   shared (CGNAT), unspecified, broadcast, multicast or reserved (also inside an IPv4-mapped,
//!   IPv4-compatible, NAT64 or 6to4 IPv6 address), the call is refused unless the allow-list names
//!   that address itself (`127.0.0.1:9000`, `[fd00::5]`): allowing a name is not allowing whatever
//!   it resolves to.
//! - The HTTP client connects only to the addresses that were checked (a resolver that returns
//!   them), so a DNS answer that changes between check and use (rebinding) cannot move the call;
//!   the Host header and TLS name stay the URL's. No proxy is used and redirects are not followed,
//!   since either could leave the list.
//!
//! # Headers and errors
//! Header names must be HTTP tokens and values visible ASCII, space or tab, checked after the
//! references are resolved and before anything is sent; the error names the header (and the entry
//! it was resolved from), never the value. `Host`, `Content-Length` and `Transfer-Encoding` are
//! tresor's to set: the Host header must be the checked URL's. Every error text that comes from the
//! HTTP client or the destination passes through the same redactor as the answer before it becomes
//! a [`ServiceError`], so before it is logged or answered.

use crate::render::RenderRequest;
use crate::{Ctx, Result, Service, ServiceError};
use serde_json::{Map, Value};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;
use tresor_model::{Access, EnvName, VaultName};
use tresor_redact::{RedactOptions, Redactor};
use url::{Host, Url};
use zeroize::Zeroizing;

/// Largest response body passed back.
const MAX_RESPONSE_BYTES: u64 = 1024 * 1024;

/// The setting that holds the allow-list, named in errors.
const ALLOW_HOSTS_SETTING: &str = "TRESOR_WEBHOOK_ALLOW_HOSTS";

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

/// One entry of the webhook allow-list, parsed once when the service is configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AllowEntry {
    /// `hooks.slack.com[:PORT]`: that name.
    Name { name: String, port: Option<u16> },
    /// `*.example.com[:PORT]`: any name under the domain, not the domain itself.
    Subdomains { domain: String, port: Option<u16> },
    /// `10.0.0.5[:PORT]`, `[fd00::5][:PORT]`: that address, the one way to allow a loopback, private
    /// or link-local destination.
    Address { ip: IpAddr, port: Option<u16> },
}

impl AllowEntry {
    /// Parses `host[:port]`, `*.domain[:port]` or an IP address (IPv6 in brackets) with the same
    /// parser as the URLs it is compared with, so both are normalised alike (case, IDNA, IPv4 forms).
    pub fn parse(entry: &str) -> Result<Self> {
        let bad = |why: &str| {
            ServiceError::InvalidInput(format!(
                "{ALLOW_HOSTS_SETTING} entry {entry:?} {why}; write HOST, HOST:PORT, *.DOMAIN[:PORT] or an IP address \
                 ([IPv6] in brackets), separated by commas"
            ))
        };
        let (wildcard, rest) = match entry.strip_prefix("*.") {
            Some(domain) => (true, domain),
            None => (false, entry),
        };
        if rest.is_empty() || rest.contains(['/', '\\', '@', '?', '#', '*']) || rest.contains(char::is_whitespace) {
            return Err(bad("is not a host with an optional port"));
        }
        // `Url::port()` hides a port equal to the scheme's default. Parsing as http (default 80) and
        // as https (default 443) tells "no port" (hidden in both) from an explicit 80 or 443 (shown by
        // the other), without a hand-written split of host and port.
        let parse = |scheme: &str| Url::parse(&format!("{scheme}://{rest}/")).map_err(|e| bad(&format!("({e})")));
        let (http, https) = (parse("http")?, parse("https")?);
        let port = http.port().or(https.port());
        let host = http.host().ok_or_else(|| bad("has no host"))?;
        Ok(match (host, wildcard) {
            (Host::Domain(domain), true) => AllowEntry::Subdomains { domain: domain.to_owned(), port },
            (Host::Domain(name), false) => AllowEntry::Name { name: name.to_owned(), port },
            (Host::Ipv4(ip), false) => AllowEntry::Address { ip: ip.into(), port },
            (Host::Ipv6(ip), false) => AllowEntry::Address { ip: ip.into(), port },
            (_, true) => return Err(bad("puts *. before an IP address")),
        })
    }

    fn port_allows(port: Option<u16>, wanted: u16) -> bool {
        port.is_none_or(|p| p == wanted)
    }

    /// Whether a URL's parsed host and port are on this entry.
    fn allows(&self, host: &Host<String>, port: u16) -> bool {
        match (self, host) {
            (AllowEntry::Name { name, port: p }, Host::Domain(d)) => d == name && Self::port_allows(*p, port),
            (AllowEntry::Subdomains { domain, port: p }, Host::Domain(d)) => {
                d.strip_suffix(domain.as_str()).is_some_and(|sub| sub.len() > 1 && sub.ends_with('.'))
                    && Self::port_allows(*p, port)
            }
            (AllowEntry::Address { .. }, Host::Ipv4(a)) => self.names_address(SocketAddr::new((*a).into(), port)),
            (AllowEntry::Address { .. }, Host::Ipv6(a)) => self.names_address(SocketAddr::new((*a).into(), port)),
            _ => false,
        }
    }

    /// Whether this entry names `addr` literally (its address, and its port if it has one). An
    /// IPv4-mapped IPv6 address (`::ffff:10.0.0.5`) is the IPv4 address it maps, as a socket sees it.
    fn names_address(&self, addr: SocketAddr) -> bool {
        matches!(self, AllowEntry::Address { ip, port } if ip.to_canonical() == addr.ip().to_canonical()
            && Self::port_allows(*port, addr.port()))
    }
}

impl fmt::Display for AllowEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (host, port) = match self {
            AllowEntry::Name { name, port } => (name.clone(), port),
            AllowEntry::Subdomains { domain, port } => (format!("*.{domain}"), port),
            AllowEntry::Address { ip: IpAddr::V6(ip), port } => (format!("[{ip}]"), port),
            AllowEntry::Address { ip, port } => (ip.to_string(), port),
        };
        match port {
            Some(p) => write!(f, "{host}:{p}"),
            None => f.write_str(&host),
        }
    }
}

/// Parses the allow-list's entries; the first bad one is an error naming it.
pub(crate) fn parse_allow_list<S: AsRef<str>>(entries: &[S]) -> Result<Vec<AllowEntry>> {
    entries.iter().map(|e| AllowEntry::parse(e.as_ref().trim())).collect()
}

/// Why connecting to `ip` on the caller's behalf could reach something the allow-list's author did
/// not mean to expose, or `None` for an ordinary public address. Hand-written because std's
/// `is_global` is not stable; each range is named after its RFC.
fn special_purpose(ip: IpAddr) -> Option<&'static str> {
    match ip.to_canonical() {
        IpAddr::V4(v4) => special_v4(v4),
        IpAddr::V6(v6) => special_v6(v6),
    }
}

fn special_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    Some(if ip.is_loopback() {
        "a loopback address"
    } else if ip.is_private() {
        "a private address"
    } else if ip.is_link_local() {
        "a link-local address"
    } else if a == 100 && (b & 0xc0) == 64 {
        "a shared (carrier-grade NAT) address"
    } else if a == 0 {
        "an unspecified (this-network) address"
    } else if ip.is_broadcast() || ip.is_multicast() {
        "a broadcast or multicast address"
    } else if a >= 240 {
        "a reserved address"
    } else {
        return None;
    })
}

fn special_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    let embedded = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_unspecified() {
        Some("an unspecified address")
    } else if (s[0] & 0xfe00) == 0xfc00 {
        Some("a private (unique local) address")
    } else if (s[0] & 0xffc0) == 0xfe80 {
        Some("a link-local address")
    } else if (s[0] & 0xffc0) == 0xfec0 {
        Some("a site-local address")
    } else if ip.is_multicast() {
        Some("a multicast address")
    } else if s[..6] == [0; 6] {
        // IPv4-compatible (RFC 4291, deprecated): routed as the IPv4 address by some stacks.
        special_v4(embedded(s[6], s[7]))
    } else if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        // NAT64's well-known prefix (RFC 6052) reaches the embedded IPv4 address.
        special_v4(embedded(s[6], s[7]))
    } else if s[0] == 0x2002 {
        // 6to4 (RFC 3056) carries an IPv4 address in bits 16..48.
        special_v4(embedded(s[1], s[2]))
    } else {
        None
    }
}

/// A destination that passed every check: the parsed URL (the value sent) and the addresses its
/// host resolved to (the only ones connected to).
struct Destination {
    url: Url,
    addrs: Vec<SocketAddr>,
}

impl Destination {
    /// `host:port` as the HTTP client asks its resolver for it.
    fn netloc(&self) -> String {
        format!("{}:{}", self.url.host_str().unwrap_or_default(), self.url.port_or_known_default().unwrap_or(0))
    }
}

const METHODS: [&str; 6] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"];

/// Parses the webhook's URL once; see the module docs for what is refused and why.
fn parse_url(raw: &str) -> Result<Url> {
    let invalid = |why: String| ServiceError::InvalidInput(format!("the webhook url {why}"));
    if raw.contains('\\') {
        return Err(invalid(
            "contains a backslash, which URL parsers read differently (as / or as part of the host); write / instead"
                .into(),
        ));
    }
    if raw.contains(|c: char| c.is_whitespace() || c.is_control()) {
        return Err(invalid("contains a space or control character; percent-encode it (%20)".into()));
    }
    let mut url = Url::parse(raw)
        .map_err(|e| invalid(format!("is not an absolute URL ({e}); write http(s)://HOST[:PORT]/PATH")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(format!("has scheme {}; only http and https are sent", url.scheme())));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "holds a user name or password (USER:PASS@); send credentials in a header instead, such as an \
             Authorization header referencing a secret"
                .into(),
        ));
    }
    if url.host().is_none() {
        return Err(invalid("has no host".into()));
    }
    url.set_fragment(None);
    Ok(url)
}

/// What the audit log records: the method and the URL as parsed, without credentials, query or
/// fragment (which may hold values).
fn audit_target(method: &str, raw_url: &str) -> String {
    let method = method.to_ascii_uppercase();
    let method = if METHODS.contains(&method.as_str()) { method.as_str() } else { "(invalid method)" };
    match Url::parse(raw_url) {
        Ok(mut url) => {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.set_query(None);
            url.set_fragment(None);
            format!("{method} {url}")
        }
        Err(_) => format!("{method} (invalid url)"),
    }
}

/// Resolves the host once and refuses special-purpose addresses the allow-list does not name.
/// Blocking (the system resolver): run it off the async runtime.
fn resolve_checked(url: &Url, allow: &[AllowEntry]) -> Result<Vec<SocketAddr>> {
    let port = url.port_or_known_default().unwrap_or(0);
    let (addrs, name) = match url.host() {
        Some(Host::Ipv4(ip)) => (vec![SocketAddr::new(ip.into(), port)], None),
        Some(Host::Ipv6(ip)) => (vec![SocketAddr::new(ip.into(), port)], None),
        Some(Host::Domain(name)) => {
            let addrs: Vec<SocketAddr> = (name, port)
                .to_socket_addrs()
                .map_err(|e| {
                    ServiceError::Upstream(format!("the webhook destination {name} could not be resolved: {e}"))
                })?
                .collect();
            if addrs.is_empty() {
                return Err(ServiceError::Upstream(format!("the webhook destination {name} resolves to no address")));
            }
            (addrs, Some(name))
        }
        None => return Err(ServiceError::InvalidInput("the webhook url has no host".into())),
    };
    for addr in &addrs {
        let Some(kind) = special_purpose(addr.ip()) else { continue };
        if allow.iter().any(|entry| entry.names_address(*addr)) {
            continue;
        }
        let from = name.map(|n| format!(" (resolved from {n})")).unwrap_or_default();
        return Err(ServiceError::Denied(format!(
            "destination {ip}{from} is {kind}; webhooks reach such an address only when {ALLOW_HOSTS_SETTING} lists \
             the address itself (e.g. {addr}), not just a name that resolves to it",
            ip = addr.ip()
        )));
    }
    Ok(addrs)
}

/// RFC 7230 `token`: the characters a header name may hold.
fn is_header_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Visible ASCII, space and tab: a value that cannot break the header block (no CR, LF or NUL), be
/// misread by the destination (no other control character) or be re-encoded (no non-ASCII).
fn is_header_value(value: &str) -> bool {
    value.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
}

/// Headers tresor sets itself: the Host header must be the checked URL's (or a name-based
/// allow-list entry would be a way into any virtual host behind the same address), and the body's
/// framing is the HTTP client's.
const RESERVED_HEADERS: [&str; 3] = ["host", "content-length", "transfer-encoding"];

/// Checks a header after rendering. `source` is the `VAULT/KEY` its value was resolved from, if any.
fn check_header(name: &str, value: &str, source: Option<String>) -> Result<()> {
    if !is_header_name(name) {
        let shown: String = name.chars().take(64).collect();
        return Err(ServiceError::InvalidInput(format!(
            "header name {shown:?} is not a valid HTTP header name: use letters, digits and !#$%&'*+-.^_`|~ only"
        )));
    }
    if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
        return Err(ServiceError::InvalidInput(format!(
            "header {name} is set by tresor from the url and the body; remove it from the request"
        )));
    }
    if !is_header_value(value) {
        let from = source.map(|s| format!(" (resolved from {s})")).unwrap_or_default();
        return Err(ServiceError::InvalidInput(format!(
            "header {name}: its value{from} holds a control or non-ASCII character (such as a line break), which an \
             HTTP header cannot carry; store the value without it, or send it in the body"
        )));
    }
    Ok(())
}

/// The `VAULT/KEY` a header's value names, when it is a `{"vault", "key"}` reference.
fn reference_of(value: Option<&Value>) -> Option<String> {
    let obj = value?.as_object()?;
    Some(format!("{}/{}", obj.get("vault")?.as_str()?, obj.get("key")?.as_str()?))
}

/// An error of the HTTP client or the destination, with every resolved value masked: such texts may
/// quote what was sent.
fn upstream_error(redactor: &Redactor, what: &str, error: impl fmt::Display) -> ServiceError {
    let text = Zeroizing::new(format!("{what}: {error}"));
    ServiceError::Upstream(String::from_utf8_lossy(&redactor.redact(text.as_bytes())).into_owned())
}

impl Service {
    /// Sends a webhook with references resolved server-side; see the module docs.
    pub async fn send_webhook(&self, ctx: &Ctx, req: WebhookRequest) -> Result<WebhookResponse> {
        let target = audit_target(&req.method, &req.url);
        self.audited(ctx, "webhook.send", target, self.send_webhook_inner(ctx, req)).await
    }

    async fn send_webhook_inner(&self, ctx: &Ctx, req: WebhookRequest) -> Result<WebhookResponse> {
        require_webhook_grant(ctx, &req.environment)?;
        let method = req.method.to_ascii_uppercase();
        if !METHODS.contains(&method.as_str()) {
            return Err(ServiceError::InvalidInput(format!(
                "method {:?} is not GET, POST, PUT, PATCH, DELETE or HEAD",
                req.method.chars().take(32).collect::<String>()
            )));
        }
        let url = parse_url(&req.url)?;
        let destination = self.check_destination(url).await?;
        // Only now, with the destination settled, are values resolved: headers and body go through
        // the JSON renderer (one batch, the caller's grants, clear errors), objects only.
        let doc = serde_json::json!({ "headers": req.headers, "body": req.body });
        let render = RenderRequest {
            template: doc.to_string(),
            json: true,
            environment: req.environment.clone(),
            vault: VaultName::default_name(),
            allow: None,
            map: vec![],
        };
        let (rendered, values) = self.render_objects_with_values(ctx, &render).await?;
        let redactor = Redactor::new(values.iter().map(|v| v.expose()), &RedactOptions::default())
            .map_err(|e| ServiceError::Storage(e.to_string()))?;
        drop(values);
        let resolved: Value = serde_json::from_str(&rendered).map_err(|e| ServiceError::Storage(e.to_string()))?;
        drop(rendered);
        let mut headers = Vec::new();
        for (name, value) in resolved["headers"].as_object().into_iter().flatten() {
            let value = value.as_str().ok_or_else(|| {
                ServiceError::InvalidInput(format!(
                    "header {name} must be a string or a {{\"vault\", \"key\"}} reference"
                ))
            })?;
            check_header(name, value, reference_of(req.headers.get(name)))?;
            headers.push((name.clone(), Zeroizing::new(value.to_owned())));
        }
        let body: Option<Zeroizing<Vec<u8>>> = match &resolved["body"] {
            Value::Null => None,
            Value::String(s) => Some(Zeroizing::new(s.clone().into_bytes())),
            other => {
                if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("content-type")) {
                    headers.push(("Content-Type".into(), Zeroizing::new("application/json".into())));
                }
                Some(Zeroizing::new(other.to_string().into_bytes()))
            }
        };
        drop(resolved);
        let redactor = Arc::new(redactor);
        let sender = redactor.clone();
        let (status, resp_headers, resp_body) =
            tokio::task::spawn_blocking(move || send(&method, &destination, &headers, body, &sender))
                .await
                .map_err(|e| upstream_error(&redactor, "the webhook call failed", e))??;
        let mask = |text: &[u8]| String::from_utf8_lossy(&redactor.redact(text)).into_owned();
        Ok(WebhookResponse {
            status,
            headers: resp_headers.into_iter().map(|(k, v)| (k, mask(v.as_bytes()))).collect(),
            body: mask(&resp_body),
        })
    }

    /// The allow-list and address checks; see the module docs.
    async fn check_destination(&self, url: Url) -> Result<Destination> {
        if self.webhook_hosts.is_empty() {
            return Err(ServiceError::Denied(format!(
                "webhooks are disabled: no destination hosts are allowed (set {ALLOW_HOSTS_SETTING})"
            )));
        }
        let (host, port) = (url.host().map(|h| h.to_owned()), url.port_or_known_default());
        let (Some(host), Some(port)) = (host, port) else {
            return Err(ServiceError::InvalidInput("the webhook url has no host".into()));
        };
        if !self.webhook_hosts.iter().any(|entry| entry.allows(&host, port)) {
            return Err(ServiceError::Denied(format!(
                "destination {host}:{port} is not on the webhook allow-list ({ALLOW_HOSTS_SETTING})"
            )));
        }
        let allow = self.webhook_hosts.clone();
        tokio::task::spawn_blocking(move || {
            let addrs = resolve_checked(&url, &allow)?;
            Ok(Destination { url, addrs })
        })
        .await
        .map_err(|e| ServiceError::Upstream(format!("resolving the webhook destination failed: {e}")))?
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

fn send(
    method: &str,
    destination: &Destination,
    headers: &[(String, Zeroizing<String>)],
    body: Option<Zeroizing<Vec<u8>>>,
    redactor: &Redactor,
) -> Result<Answer> {
    // The client connects to the checked addresses only. It asks for `host:port` of the URL it was
    // given; anything else (which would mean another destination) is refused.
    let (expected, checked) = (destination.netloc(), destination.addrs.clone());
    let resolver = move |netloc: &str| {
        if netloc == expected {
            Ok(checked.clone())
        } else {
            Err(std::io::Error::new(std::io::ErrorKind::PermissionDenied, "not the checked webhook destination"))
        }
    };
    let agent = ureq::AgentBuilder::new()
        .redirects(0)
        .try_proxy_from_env(false)
        .resolver(resolver)
        .timeout(Duration::from_secs(10))
        .build();
    let mut request = agent.request_url(method, &destination.url);
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
        Err(e) => return Err(upstream_error(redactor, "the webhook destination could not be reached", e)),
    };
    let status = response.status();
    let headers = response
        .headers_names()
        .into_iter()
        .filter_map(|n| response.header(&n).map(|v| (n.clone(), v.to_owned())))
        .collect();
    let mut body = Vec::new();
    std::io::Read::read_to_end(&mut std::io::Read::take(response.into_reader(), MAX_RESPONSE_BYTES), &mut body)
        .map_err(|e| upstream_error(redactor, "reading the webhook response", e))?;
    Ok((status, headers, body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tresor_model::ErrorKind;

    fn allow(entries: &[&str]) -> Vec<AllowEntry> {
        parse_allow_list(entries).unwrap()
    }

    fn allowed(list: &[AllowEntry], url: &str) -> bool {
        let url = parse_url(url).unwrap();
        let (host, port) = (url.host().unwrap().to_owned(), url.port_or_known_default().unwrap());
        list.iter().any(|e| e.allows(&host, port))
    }

    #[test]
    fn allow_list_entries_parse_like_urls() {
        let parsed = allow(&["Hooks.Slack.com", "*.example.com:8443", "127.0.0.1:9000", "[::1]", "h:80", "h:443"]);
        assert_eq!(parsed[0], AllowEntry::Name { name: "hooks.slack.com".into(), port: None });
        assert_eq!(parsed[1], AllowEntry::Subdomains { domain: "example.com".into(), port: Some(8443) });
        assert_eq!(parsed[2], AllowEntry::Address { ip: "127.0.0.1".parse().unwrap(), port: Some(9000) });
        assert_eq!(parsed[3], AllowEntry::Address { ip: "::1".parse().unwrap(), port: None });
        assert_eq!(parsed[4], AllowEntry::Name { name: "h".into(), port: Some(80) }, "an explicit default port");
        assert_eq!(parsed[5], AllowEntry::Name { name: "h".into(), port: Some(443) });
        let shown: Vec<String> = parsed.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["hooks.slack.com", "*.example.com:8443", "127.0.0.1:9000", "[::1]", "h:80", "h:443"]);
        for bad in ["", "*.", "a/b", "user@h", "h:x", "h:99999", "*.10.0.0.1", "a b", r"a\b", "*.*.x"] {
            let e = parse_allow_list(&[bad]).unwrap_err().to_string();
            assert!(e.contains(ALLOW_HOSTS_SETTING) && e.contains("HOST:PORT"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn urls_are_checked_as_parsed() {
        let list = allow(&["hooks.slack.com", "*.example.com", "127.0.0.1:9000"]);
        assert!(allowed(&list, "https://HOOKS.slack.com/x?y"));
        assert!(allowed(&list, "https://api.example.com/x"));
        assert!(allowed(&list, "http://a.b.example.com:8080/x"));
        assert!(!allowed(&list, "https://example.com/"), "the wildcard is for subdomains");
        assert!(!allowed(&list, "https://evil-example.com/"));
        assert!(!allowed(&list, "https://example.com.evil.org/"));
        assert!(allowed(&list, "http://127.0.0.1:9000/"));
        assert!(!allowed(&list, "http://127.0.0.1:22/"));
        assert!(allowed(&list, "http://[::ffff:127.0.0.1]:9000/"), "the same address, IPv4-mapped");
        assert!(!allowed(&list, "http://[::1]:9000/"), "another address");
        // Other spellings of an address are that address, and no name matches it.
        assert!(allowed(&list, "http://2130706433:9000/"));
        assert!(allowed(&list, "http://0x7f.1:9000/"));
        assert!(!allowed(&list, "http://127.0.0.1.example.com.:9000/"), "a trailing dot is another name");
    }

    #[test]
    fn urls_the_parser_would_rewrite_or_that_carry_credentials_are_refused() {
        for (url, why) in [
            (r"http://127.0.0.1\.example.com/x", "backslash"),
            (r"http://127.0.0.1:80\]:x.example.com/", "backslash"),
            ("http://a.example.com\t/", "control"),
            ("http://a.exa mple.com/", "space"),
            ("http://user:pw@a.example.com/", "user name or password"),
            ("http://user@a.example.com/", "user name or password"),
            ("ftp://a.example.com/", "only http and https"),
            ("file:///etc/passwd", "only http and https"),
            ("javascript:alert(1)", "only http and https"),
            ("a.example.com/x", "not an absolute URL"),
            ("http://", "not an absolute URL"),
        ] {
            let e = parse_url(url).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Invalid, "{url}");
            assert!(e.to_string().contains(why), "{url}: {e}");
            assert!(!e.to_string().contains("pw"), "{url}: {e}");
        }
        assert_eq!(parse_url("https://a.example.com/p?q=1#frag").unwrap().as_str(), "https://a.example.com/p?q=1");
    }

    #[test]
    fn special_purpose_addresses() {
        for ip in [
            "127.0.0.1",
            "127.9.9.9",
            "10.0.0.5",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "0.0.0.0",
            "0.1.2.3",
            "255.255.255.255",
            "224.0.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "2002:c0a8:101::1",
        ] {
            assert!(special_purpose(ip.parse().unwrap()).is_some(), "{ip}");
        }
        for ip in ["8.8.8.8", "172.32.0.1", "100.128.0.1", "192.169.0.1", "2001:4860::8888", "2002:808:808::1"] {
            assert_eq!(special_purpose(ip.parse().unwrap()), None, "{ip}");
        }
    }

    #[test]
    fn special_addresses_pass_only_when_listed_literally() {
        let list = allow(&["localhost:9000", "127.0.0.1:9001", "[::1]"]);
        let e = resolve_checked(&parse_url("http://localhost:9000/").unwrap(), &list).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Denied);
        let e = e.to_string();
        assert!(
            e.contains("loopback") && e.contains("(resolved from localhost)") && e.contains(ALLOW_HOSTS_SETTING),
            "{e}"
        );
        let addrs = resolve_checked(&parse_url("http://127.0.0.1:9001/").unwrap(), &list).unwrap();
        assert_eq!(addrs, ["127.0.0.1:9001".parse().unwrap()]);
        assert!(resolve_checked(&parse_url("http://127.0.0.1:9002/").unwrap(), &list).is_err(), "another port");
        assert!(resolve_checked(&parse_url("http://[::1]:5/").unwrap(), &list).is_ok());
        let mapped = allow(&["[::ffff:10.0.0.5]"]);
        assert!(resolve_checked(&parse_url("http://10.0.0.5/").unwrap(), &mapped).is_ok(), "the same address");
    }

    #[test]
    fn header_names_and_values() {
        assert!(check_header("X-Api-Key", "Bearer abc\tdef ~!", None).is_ok());
        for (value, source) in
            [("a\r\nX-Evil: 1", Some("v/k".to_owned())), ("nul\0", None), ("é", None), ("\x7f", None)]
        {
            let e = check_header("X-Api-Key", value, source.clone()).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Invalid);
            let e = e.to_string();
            assert!(e.starts_with("header X-Api-Key: its value") && !e.contains(value), "{e}");
            if let Some(s) = source {
                assert!(e.contains(&format!("(resolved from {s})")), "{e}");
            }
        }
        for name in ["", "Bad Name", "X:Y", "X\nY", "é"] {
            assert!(check_header(name, "v", None).unwrap_err().to_string().contains("header name"), "{name:?}");
        }
        for name in ["Host", "content-length", "Transfer-Encoding"] {
            assert!(check_header(name, "v", None).unwrap_err().to_string().contains("set by tresor"), "{name}");
        }
        assert_eq!(reference_of(Some(&serde_json::json!({"vault": "v", "key": "a/b"}))).as_deref(), Some("v/a/b"));
        assert_eq!(reference_of(Some(&serde_json::json!("plain"))), None);
    }

    #[test]
    fn the_client_connects_to_the_checked_addresses_only() {
        use std::io::{BufRead, BufReader, Write};
        // A name that does not resolve (RFC 6761 `.invalid`): reaching the listener proves the client
        // used the checked addresses and never asked DNS again, which is what defeats rebinding.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut head = String::new();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            while reader.read_line(&mut head).unwrap() > 2 {}
            stream.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n").unwrap();
            head
        });
        let url = parse_url(&format!("http://pinned.invalid:{}/x", addr.port())).unwrap();
        let destination = Destination { url, addrs: vec![addr] };
        let redactor = Redactor::new(["unused-value"], &RedactOptions::default()).unwrap();
        let (status, _, _) = send("GET", &destination, &[], None, &redactor).unwrap();
        assert_eq!(status, 204);
        let head = server.join().unwrap();
        assert!(head.starts_with("GET /x HTTP/1.1\r\n"), "{head}");
        assert!(
            head.contains(&format!("Host: pinned.invalid:{}", addr.port())),
            "the Host header keeps the name: {head}"
        );
    }

    #[test]
    fn upstream_errors_are_masked() {
        let redactor = Redactor::new(["sk_live_secret"], &RedactOptions::default()).unwrap();
        let e =
            upstream_error(&redactor, "the call failed", "invalid header 'X: sk_live_secret' (c2tfbGl2ZV9zZWNyZXQ=)");
        assert_eq!(e.to_string(), "the call failed: invalid header 'X: [REDACTED]' ([REDACTED])");
        assert_eq!(e.kind(), ErrorKind::Upstream);
    }

    #[test]
    fn audit_targets_hold_no_credentials() {
        assert_eq!(audit_target("post", "https://u:pw@a.example.com/p?token=x#f"), "POST https://a.example.com/p");
        assert_eq!(audit_target("GET\nX", "::"), "(invalid method) (invalid url)");
    }
}
