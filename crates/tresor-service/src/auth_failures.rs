//! Failed authentications, aggregated per source and interval.
//!
//! A bad token or a bad application key costs its sender one request and costs the server, when
//! each one is recorded, one durable audit record: anyone who can reach the port could grow the
//! audit log at the rate of their requests. So failures are recorded per *source* (the peer, the
//! kind of credential and the workspace the presented id names, if any) and *interval*
//! ([`INTERVAL`]):
//!
//! - the first failure of a source in an interval is recorded at once, before the answer, like
//!   every record (fail-closed: if it cannot be written, the request fails);
//! - the following ones are counted in memory (with a sample of the presented ids, never a
//!   secret) and written as one record with the count when the interval closes, by a background
//!   task ([`spawn_flusher`]), and by [`crate::Service::flush_auth_failures`] on a graceful
//!   shutdown.
//!
//! A crash loses the counts of the open intervals (at most [`INTERVAL`] of them); the first
//! failure of each is already durable, so the log still shows that a source was failing and
//! when. That is the trade: a flood costs memory for a counter instead of a write per request.
//!
//! The number of sources open at once is bounded ([`MAX_SOURCES`]): past it, new peers share one
//! source, so even a flood from many addresses writes a bounded number of records per interval.

use crate::audit::{new_record, Auditor};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tresor_model::{format_rfc3339, now_millis};
use tresor_store::AuditRecord;

/// How long failures of one source are counted into one record.
pub const INTERVAL: Duration = Duration::from_secs(10);
/// How often the background task looks for intervals that closed: a record with a count lands at
/// most this long after its interval.
const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// Sources counted at once at most; past it, new peers are counted together under [`OTHER_PEERS`].
const MAX_SOURCES: usize = 1024;
/// The peer of the shared source, once [`MAX_SOURCES`] are open.
const OTHER_PEERS: &str = "other peers (too many sources at once to count them apart)";
/// Distinct presented ids named in a record with a count; the rest are counted.
const MAX_SAMPLE: usize = 8;

/// Where a request came from, as the server saw it: its id (made by the server), the peer's
/// address and the request id the client sent, if any (kept beside the server's, marked as the
/// client's: it is caller input, neither unique nor verified).
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub request_id: String,
    /// The peer's address as the server keys it (an IPv6 peer by its /64); `None` in process.
    pub peer: Option<String>,
    /// Already bounded and sanitised by the server (printable ASCII, at most 64 characters).
    pub client_request_id: Option<String>,
}

impl Origin {
    /// A request made in process (tests, local tools): no peer, no client id.
    pub fn new(request_id: impl Into<String>) -> Self {
        Self { request_id: request_id.into(), peer: None, client_request_id: None }
    }

    pub(crate) fn peer_label(&self) -> &str {
        self.peer.as_deref().unwrap_or("an unknown peer")
    }
}

/// The text of an audit record's detail with the client's request id appended, marked as such.
pub(crate) fn with_client_request_id(detail: Option<String>, client_request_id: Option<&str>) -> Option<String> {
    match (detail, client_request_id) {
        (detail, None) => detail,
        (None, Some(c)) => Some(format!("client request id: {c}")),
        (Some(d), Some(c)) => Some(format!("{d}; client request id: {c}")),
    }
}

/// What was presented and refused: a token or an application key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Credential {
    Token,
    AppKey,
}

impl Credential {
    pub(crate) fn action(self) -> &'static str {
        match self {
            Credential::Token => "auth.token",
            Credential::AppKey => "app_key.exchange",
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Credential::Token => "token",
            Credential::AppKey => "app key",
        }
    }

    /// The audit target of one presented id: `token 0123456789ab`, `app key ...`.
    pub(crate) fn target(self, presented_id: &str) -> String {
        format!("{} {presented_id}", self.noun())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Source {
    peer: String,
    credential: Credential,
    /// The workspace of the token or key the presented id names; empty when it names none.
    workspace: String,
}

/// The failures of one source in one interval.
#[derive(Debug)]
struct Window {
    opened_at: i64,
    last_at: i64,
    count: u64,
    /// The request id of the failure recorded at once: the record with the count carries it too,
    /// so the two are found together.
    first_request_id: String,
    sample: Vec<String>,
    unsampled: u64,
}

impl Window {
    fn add_id(&mut self, id: &str) {
        if self.sample.iter().any(|s| s == id) {
            return;
        }
        if self.sample.len() < MAX_SAMPLE {
            self.sample.push(id.to_owned());
        } else {
            self.unsampled += 1;
        }
    }
}

/// The open intervals, and those closed early (a new interval of the same source began before the
/// flusher came by) waiting to be written.
#[derive(Default)]
struct State {
    open: HashMap<Source, Window>,
    closed: Vec<(Source, Window)>,
}

/// Counts failed authentications; shared by the service and its flusher.
#[derive(Default)]
pub(crate) struct AuthFailures {
    state: Mutex<State>,
}

/// What [`AuthFailures::note`] decided about a failure.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Noted {
    /// The first of its interval: record it now, before answering.
    RecordNow,
    /// Counted into its interval's record.
    Counted,
}

impl AuthFailures {
    /// Counts a failure of `credential` presented as `presented_id` (already reduced to a
    /// printable id) from `origin`, naming `workspace` (empty: none).
    pub(crate) fn note(
        &self,
        origin: &Origin,
        credential: Credential,
        workspace: &str,
        presented_id: &str,
        now: i64,
    ) -> Noted {
        let mut source = Source { peer: origin.peer_label().to_owned(), credential, workspace: workspace.to_owned() };
        let mut state = self.state.lock().expect("auth failure counts");
        let state = &mut *state;
        if !state.open.contains_key(&source) && state.open.len() >= MAX_SOURCES {
            source.peer = OTHER_PEERS.to_owned();
        }
        if let Some(window) = state.open.get_mut(&source) {
            if now < window.opened_at + INTERVAL.as_millis() as i64 {
                window.count += 1;
                window.last_at = now;
                window.add_id(presented_id);
                return Noted::Counted;
            }
            let (source, window) = state.open.remove_entry(&source).expect("present");
            if window.count > 1 {
                state.closed.push((source, window));
            }
        }
        let mut window = Window {
            opened_at: now,
            last_at: now,
            count: 1,
            first_request_id: origin.request_id.clone(),
            sample: Vec::new(),
            unsampled: 0,
        };
        window.add_id(presented_id);
        state.open.insert(source, window);
        Noted::RecordNow
    }

    /// Takes the intervals that closed by `now` (all of them with `all`) and returns the records
    /// of those that counted more than their first failure.
    pub(crate) fn take_due(&self, now: i64, all: bool) -> Vec<AuditRecord> {
        let mut state = self.state.lock().expect("auth failure counts");
        let mut due = std::mem::take(&mut state.closed);
        let interval = INTERVAL.as_millis() as i64;
        let closed: Vec<Source> =
            state.open.iter().filter(|(_, w)| all || now >= w.opened_at + interval).map(|(s, _)| s.clone()).collect();
        for source in closed {
            let window = state.open.remove(&source).expect("present");
            if window.count > 1 {
                due.push((source, window));
            }
        }
        if state.open.capacity() > 4 * state.open.len().max(16) {
            state.open.shrink_to_fit();
        }
        drop(state);
        due.into_iter().map(|(source, window)| aggregate_record(&source, &window)).collect()
    }
}

/// The record of an interval: "N failed authentications from PEER between T1 and T2", with the
/// distinct ids presented (a sample; ids, never secrets).
fn aggregate_record(source: &Source, window: &Window) -> AuditRecord {
    let mut ids = window.sample.join(", ");
    if window.unsampled > 0 {
        ids.push_str(&format!(" and {} more", window.unsampled));
    }
    let noun = source.credential.noun();
    new_record(
        source.workspace.clone(),
        window.first_request_id.clone(),
        "anonymous".into(),
        source.credential.action(),
        format!("{noun}s from {}", source.peer),
        "unauthenticated",
        Some(format!(
            "{} failed authentications from {} between {} and {}; {noun} ids presented: {ids}",
            window.count,
            source.peer,
            format_rfc3339(window.opened_at),
            format_rfc3339(window.last_at),
        )),
    )
}

/// Writes the records of closed intervals every [`FLUSH_EVERY`], for as long as the service lives.
pub(crate) fn spawn_flusher(failures: Arc<AuthFailures>, auditor: Auditor) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(FLUSH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            write(&auditor, failures.take_due(now_millis(), false)).await;
        }
    })
}

/// Appends aggregate records. Nobody waits on them, so a failure is logged with what was counted
/// (peer and counts are not secret) rather than lost silently.
pub(crate) async fn write(auditor: &Auditor, records: Vec<AuditRecord>) {
    if records.is_empty() {
        return;
    }
    let details: Vec<String> = records.iter().filter_map(|r| r.detail.clone()).collect();
    if let Err(e) = auditor.record_many(records).await {
        tracing::error!(error = %e, counted = ?details, "the counts of failed authentications could not be recorded");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(peer: &str, request_id: &str) -> Origin {
        Origin { request_id: request_id.into(), peer: Some(peer.into()), client_request_id: None }
    }

    const T0: i64 = 1_718_965_677_000;

    #[test]
    fn the_first_failure_is_recorded_and_the_rest_counted_into_one_record() {
        let f = AuthFailures::default();
        let a = from("192.0.2.1", "r1");
        assert_eq!(f.note(&a, Credential::Token, "", "(malformed)", T0), Noted::RecordNow);
        for i in 0..299 {
            assert_eq!(f.note(&a, Credential::Token, "", &format!("{i:012x}"), T0 + 1 + i), Noted::Counted);
        }
        // Another peer, another kind of credential and another workspace are sources of their own.
        assert_eq!(f.note(&from("192.0.2.2", "r2"), Credential::Token, "", "x", T0), Noted::RecordNow);
        assert_eq!(f.note(&a, Credential::AppKey, "", "k", T0), Noted::RecordNow);
        assert_eq!(f.note(&a, Credential::Token, "default", "0123456789ab", T0), Noted::RecordNow);
        assert!(f.take_due(T0 + 9_999, false).is_empty(), "the interval is still open");
        let records = f.take_due(T0 + 10_000, false);
        assert_eq!(records.len(), 1, "single failures were recorded already");
        let r = &records[0];
        assert_eq!((r.action.as_str(), r.request_id.as_str(), r.workspace.as_str()), ("auth.token", "r1", ""));
        let detail = r.detail.as_deref().unwrap();
        assert!(detail.starts_with("300 failed authentications from 192.0.2.1 between 2024-06-21T10:27:57Z and "));
        assert!(detail.contains("(malformed), 000000000000,") && detail.ends_with(" and 292 more"), "{detail}");
        assert!(f.take_due(T0 + 20_000, true).is_empty(), "nothing twice");
    }

    #[test]
    fn a_new_interval_closes_the_old_one_and_shutdown_takes_all() {
        let f = AuthFailures::default();
        let a = from("192.0.2.1", "r");
        assert_eq!(f.note(&a, Credential::Token, "", "x", T0), Noted::RecordNow);
        assert_eq!(f.note(&a, Credential::Token, "", "x", T0 + 1), Noted::Counted);
        assert_eq!(f.note(&a, Credential::Token, "", "x", T0 + 10_000), Noted::RecordNow, "a new interval");
        assert_eq!(f.note(&a, Credential::Token, "", "x", T0 + 10_001), Noted::Counted);
        let records = f.take_due(T0 + 10_002, true);
        assert_eq!(records.len(), 2);
        assert!(records.iter().all(|r| r.detail.as_deref().unwrap().starts_with("2 failed authentications")));
    }

    #[test]
    fn sources_are_bounded() {
        let f = AuthFailures::default();
        for i in 0..MAX_SOURCES + 500 {
            f.note(&from(&format!("peer-{i}"), "r"), Credential::Token, "", "x", T0);
        }
        let records = f.take_due(T0 + 10_000, false);
        assert_eq!(records.len(), 1, "the peers past the bound share one source");
        assert!(records[0].detail.as_deref().unwrap().starts_with("500 failed authentications from other peers"));
    }

    #[test]
    fn client_request_ids_are_marked() {
        assert_eq!(with_client_request_id(None, None), None);
        assert_eq!(with_client_request_id(None, Some("c-1")).as_deref(), Some("client request id: c-1"));
        assert_eq!(
            with_client_request_id(Some("batch".into()), Some("c-1")).as_deref(),
            Some("batch; client request id: c-1")
        );
    }
}
