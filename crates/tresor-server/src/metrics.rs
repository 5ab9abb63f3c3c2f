//! Prometheus metrics: request counts and latencies by method, route template and status, and the
//! connections open, refused and allowed. Labels carry the route *template*
//! (`/api/v1/envs/{env}/vaults/{vault}/values/{*key}`), never a key name.

use axum::http::Method;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: &'static str,
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: &'static str,
    pub route: String,
}

/// The metrics of one route and method, found in the families once and kept: a family's own
/// lookup builds owned labels and hashes all of them on every request, which showed in profiles
/// of the resolution route. The handles share their values with the families that render them.
struct RouteMetrics {
    method: &'static str,
    latency: Histogram,
    by_status: RwLock<Vec<(u16, Counter)>>,
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    routes: RwLock<HashMap<String, Vec<Arc<RouteMetrics>>>>,
    pub connections: ConnectionMetrics,
    /// 1 while the store refuses changes for a full disk (reads go on), set as it is rendered.
    pub disk_full: Gauge,
}

/// What [`crate::connections`] counts: its handles share their values with the registry.
#[derive(Clone, Default)]
pub struct ConnectionMetrics {
    /// Connections holding a slot now.
    pub open: Gauge,
    /// Connections refused because every slot was taken.
    pub refused: Counter,
    /// The slots (`--max-connections` as fitted under the descriptor limit).
    pub max: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("tresor");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5])
        });
        registry.register("http_requests", "HTTP requests by method, route and status", requests.clone());
        registry.register("http_request_duration_seconds", "HTTP request latency by route", latency.clone());
        let connections = ConnectionMetrics::default();
        registry.register("connections_open", "Connections open (holding a slot)", connections.open.clone());
        registry.register(
            "connections_refused",
            "Connections refused because every slot was taken",
            connections.refused.clone(),
        );
        registry.register("connections_max", "Connections that may be open at once", connections.max.clone());
        let disk_full = Gauge::default();
        registry.register(
            "store_disk_full",
            "1 while changes are refused because the store's disk is full (reads go on), else 0",
            disk_full.clone(),
        );
        Self { registry, requests, latency, routes: RwLock::default(), connections, disk_full }
    }
}

/// The method as a label; methods outside HTTP's standard set share one label, so a client cannot
/// grow the label space.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

impl Metrics {
    /// Counts one answered request. `route` is a route template (at most one per route the
    /// server defines), so the cache stays as small as the route table.
    pub fn observe(&self, method: &'static str, route: &str, status: u16, seconds: f64) {
        let metrics = self.route_metrics(method, route);
        metrics.latency.observe(seconds);
        if let Some((_, c)) = metrics.by_status.read().expect("metrics lock").iter().find(|(s, _)| *s == status) {
            c.inc();
            return;
        }
        let counter = self.requests.get_or_create(&RequestLabels { method, route: route.to_owned(), status }).clone();
        counter.inc();
        let mut by_status = metrics.by_status.write().expect("metrics lock");
        if !by_status.iter().any(|(s, _)| *s == status) {
            by_status.push((status, counter));
        }
    }

    fn route_metrics(&self, method: &'static str, route: &str) -> Arc<RouteMetrics> {
        if let Some(found) =
            self.routes.read().expect("metrics lock").get(route).and_then(|ms| ms.iter().find(|m| m.method == method))
        {
            return found.clone();
        }
        let mut routes = self.routes.write().expect("metrics lock");
        let methods = routes.entry(route.to_owned()).or_default();
        if let Some(found) = methods.iter().find(|m| m.method == method) {
            return found.clone();
        }
        let latency = self.latency.get_or_create(&RouteLabels { method, route: route.to_owned() }).clone();
        let created = Arc::new(RouteMetrics { method, latency, by_status: RwLock::default() });
        methods.push(created.clone());
        created
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("writing to a String");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_route_method_and_status_and_renders_templates() {
        let m = Metrics::default();
        let route = "/api/v1/envs/{env}/vaults/{vault}/values/{*key}";
        for _ in 0..3 {
            m.observe("GET", route, 200, 0.001);
        }
        m.observe("GET", route, 404, 0.001);
        m.observe("POST", "/api/v1/resolve", 200, 0.002);
        let text = m.render();
        assert!(
            text.contains(&format!(r#"tresor_http_requests_total{{method="GET",route="{route}",status="200"}} 3"#)),
            "{text}"
        );
        assert!(
            text.contains(&format!(r#"tresor_http_requests_total{{method="GET",route="{route}",status="404"}} 1"#)),
            "{text}"
        );
        assert!(
            text.contains(r#"tresor_http_requests_total{method="POST",route="/api/v1/resolve",status="200"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(&format!(r#"tresor_http_request_duration_seconds_count{{method="GET",route="{route}"}} 4"#)),
            "{text}"
        );
        assert_eq!(method_label(&Method::from_bytes(b"BREW").unwrap()), "OTHER");
    }
}
