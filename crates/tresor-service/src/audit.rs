//! The audit log: append-only, hash-chained, fail-closed, group-committed.
//!
//! Requests hand their record to [`Auditor::record`] and wait. A dedicated writer thread takes
//! every record that is waiting, appends them in one transaction (one fsync for the batch) and then
//! answers each request. A request is answered only once its record is durable; if the write
//! fails, the request fails (fail-closed, as in Vault). Under load, batches grow with concurrency,
//! so the cost of durability per request falls instead of rising.
//!
//! The writer never waits on a timer for a batch to fill: the records that arrive while one batch
//! commits form the next batch by themselves (PostgreSQL's default, `commit_delay = 0`). A timed
//! wait only pays where commits are slow and CPU is idle; on a busy server it idles the requests
//! whose records are already in hand. Measured at 32 connections on 2 cores: a 300 µs gathering
//! wait (for a batch twice the size of the last) gave 36k resolutions/s, committing at once 54k.
//!
//! The writer is a thread of its own rather than a task on the request runtime because SQLite's
//! append blocks for the commit (page writes and fsync): run on a runtime worker, it stalls every
//! request queued on that worker for as long. Measured the same way: a committer task spawned on
//! the runtime (one at a time, yielding between batches) gave 37–40k resolutions/s against 48–54k.
//!
//! Each record's hash is an HMAC (key wrapped by the root key, stored under meta `audit_mac_key`)
//! over its fields and the previous record's hash, so editing, removing or reordering a record
//! breaks the chain, and the chain cannot be recomputed without the root key.
//!
//! One chain per writer. Each server process (each `Auditor`) appends to a chain of its own,
//! named at random when it starts, so servers sharing a database never wait for each other's
//! commits (one chain for all made every append take the one head's row lock until commit: three
//! nodes served less than one). A record's place is (chain, place in the chain); its `seq` is
//! only the log's listing order. After a failed group the writer starts a new chain rather than
//! guess whether the failed commit landed.
//!
//! Removing records from the END of a chain leaves a shorter chain that is intact in itself. The
//! store therefore records each chain's head (last place and hash) with every append, and the head
//! carries its own MAC under the same key, over a distinct label and a different number of
//! fields, so that neither MAC can stand in for the other. Nobody without the root key can
//! rewrite a head to match a truncated chain. Removing a WHOLE chain (its records and its head)
//! is caught by cross-links: a chain's first record names the heads of the chains written before
//! it, and every [`LINK_EVERY`] a writer records the heads other chains have reached since its
//! last link. [`Auditor::verify`] checks every chain and that every linked record is there with
//! the hash it was linked with. What stays undetectable is what no key-less check can see: the
//! removal of the newest records of every chain at once, back to a moment no later link names
//! (at most [`LINK_EVERY`] of the last activity), or of a chain before any other chain linked it.
//!
//! The records written before chains (migration 0010) form the chain `""`, hashed as they were.
//! A head of that chain without a MAC is what a tresor before head MACs wrote; it is reported.
//!
//! Changes go through the same writer (group commit): `Service::commit` hands it a change's steps
//! and records, and the writer commits everything waiting — changes and read records — in ONE
//! store transaction ([`Store::apply_group`]), each change in a savepoint of its own, so a change
//! still commits with its records or not at all, and a change that fails (a check-and-set
//! conflict, a limit) fails alone. Before, each change was a transaction and a flush of its own,
//! taken inline on a request worker: durable writes were bounded by the disk's flush rate. Now
//! one flush serves every change and read that arrived while the last one ran.

use crate::{Result, ServiceError};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tresor_crypto::{ct_eq, MacKey};
use tresor_store::{AuditChain, AuditRecord, Batch, BatchOp, ChainHead, ChainWriter, Flush, Group, Store, StoreError};

/// Jobs (read records and changes) committed per transaction at most.
const MAX_BATCH: usize = 1024;

/// How often a writer records the heads other chains have reached (see the module docs).
pub const LINK_EVERY: Duration = Duration::from_secs(10);

/// The action of a chain's first record, which links the chains before it.
pub const CHAIN_START: &str = "audit.chain.start";
/// The action of the records that link the heads other chains have reached.
pub const CHAIN_LINK: &str = "audit.chain.link";

/// How many other chains a chain's first record links at most (the most recently appended
/// to): a store keeps a chain per server run, and a start need not name them all.
const START_LINKS: usize = 32;

/// How far out of order (in the log's numbering) verify accepts a chain's records before it
/// reports the one it waits for as missing. A group's records are numbered in order; only
/// chains written side by side interleave.
const MAX_REORDER: usize = 100_000;

/// What the writer is handed: a read's record, or a change with its records.
// Reads are the common message: boxing their record would allocate once per read to shrink
// the rarer change.
#[allow(clippy::large_enum_variant)]
enum Pending {
    Record(AuditRecord, oneshot::Sender<Result<(), StoreError>>),
    /// The records of one request that read many entries (`get_many`, `get_vault`): committed in
    /// one group and answered once, where a message each woke the waiting runtime once per
    /// record (10,000 wake-ups, 8% of a 10,000-value `tresor redact`'s start-up) and split them
    /// over groups of [`MAX_BATCH`].
    Records(Vec<AuditRecord>, oneshot::Sender<Result<(), StoreError>>),
    Change(Batch, oneshot::Sender<Result<(), StoreError>>),
}

/// The handle requests use to record; cloneable, cheap.
#[derive(Clone)]
pub struct Auditor {
    tx: mpsc::Sender<Pending>,
    chain: Arc<KeyedChain>,
    /// Microseconds; see [`Auditor::set_read_flush_delay`].
    read_flush_delay: Arc<AtomicU64>,
}

/// The writer thread: commits whatever is waiting, one group at a time.
///
/// Durability: a group holding a change is flushed before anyone is answered ([`Flush::Now`]).
/// A group of read records only may, when a read flush delay is set, be committed with
/// [`Flush::Deferred`]: handed to the operating system before the answers (a killed tresor
/// process loses none of them), and flushed by the first flushing commit once the oldest
/// unflushed one is `delay` old, or by [`Store::flush`] when nothing comes by then. This is what
/// Vault promises for its file audit device; it spares reads one disk flush per group, which is
/// what bounds them on a small machine.
struct Writer {
    store: Arc<dyn Store>,
    chain: Arc<KeyedChain>,
    read_flush_delay: Arc<AtomicU64>,
    /// The chain this writer appends to; replaced after a failed group.
    current: ChainWriter,
    /// Whether `current` has its first record (the start, with its links) committed.
    started: bool,
    /// When the last link record was made, and the place of each other chain it has linked.
    last_link: Instant,
    linked: HashMap<String, u64>,
}

impl Writer {
    fn new_chain(keys: &Arc<KeyedChain>) -> ChainWriter {
        let name = match tresor_crypto::random_token_bytes::<8>() {
            Ok(bytes) => bytes.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            // Without the system's randomness no token could be made either; a name from the
            // clock and the process still differs from every other writer's.
            Err(_) => format!("{:x}-{:x}", tresor_model::now_millis(), std::process::id()),
        };
        ChainWriter::new(name, keys.clone() as Arc<dyn AuditChain>)
    }

    /// The record that starts the chain, or links other chains, if one is due: `None` when there
    /// is nothing (new) to link. Reads the chains' heads from the store.
    async fn link_record(&mut self) -> Result<Option<AuditRecord>, StoreError> {
        let due = !self.started || self.last_link.elapsed() >= LINK_EVERY;
        if !due {
            return Ok(None);
        }
        let mut heads: Vec<ChainHead> = self.store.audit_chains().await?;
        heads.retain(|h| h.chain != self.current.name() && h.seq > 0);
        heads.retain(|h| self.linked.get(&h.chain) != Some(&h.seq));
        let action = if self.started { CHAIN_LINK } else { CHAIN_START };
        if !self.started {
            heads.sort_by_key(|h| std::cmp::Reverse(h.updated_at));
            heads.truncate(START_LINKS);
        }
        self.last_link = Instant::now();
        if self.started && heads.is_empty() {
            return Ok(None);
        }
        let detail = format_links(&heads);
        for h in &heads {
            self.linked.insert(h.chain.clone(), h.seq);
        }
        let rec = new_record(
            String::new(),
            String::new(),
            "tresor".into(),
            action,
            self.current.name().to_owned(),
            "ok",
            Some(detail),
        );
        Ok(Some(rec))
    }

    fn run(mut self, rx: mpsc::Receiver<Pending>) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("audit runtime");
        // When the oldest commit not yet flushed was made.
        let mut unflushed_since: Option<Instant> = None;
        loop {
            let delay = Duration::from_micros(self.read_flush_delay.load(Ordering::Relaxed));
            let first = match unflushed_since {
                None => match rx.recv() {
                    Ok(job) => job,
                    Err(_) => return,
                },
                Some(since) => match rx.recv_timeout(delay.saturating_sub(since.elapsed())) {
                    Ok(job) => job,
                    Err(timeout_or_closed) => {
                        unflushed_since = match rt.block_on(self.store.flush()) {
                            Ok(()) => None,
                            Err(e) => {
                                // The next commit flushes (it is overdue), or this is tried again.
                                tracing::error!(error = %e, "flushing the audit records of reads failed");
                                Some(Instant::now())
                            }
                        };
                        if timeout_or_closed == mpsc::RecvTimeoutError::Disconnected {
                            return;
                        }
                        continue;
                    }
                },
            };
            let (mut changes, mut change_waiters) = (Vec::new(), Vec::new());
            let (mut reads, mut read_waiters) = (Vec::new(), Vec::new());
            for job in std::iter::once(first).chain(rx.try_iter().take(MAX_BATCH - 1)) {
                match job {
                    Pending::Record(record, done) => {
                        reads.push(record);
                        read_waiters.push(done);
                    }
                    Pending::Records(records, done) => {
                        reads.extend(records);
                        read_waiters.push(done);
                    }
                    Pending::Change(change, done) => {
                        changes.push(change);
                        change_waiters.push(done);
                    }
                }
            }
            let overdue = unflushed_since.is_some_and(|since| since.elapsed() >= delay);
            let flush = if changes.is_empty() && !delay.is_zero() && !overdue { Flush::Deferred } else { Flush::Now };
            tracing::debug!(changes = changes.len(), reads = reads.len(), ?flush, "committing a group");
            let committed = rt.block_on(async {
                if let Some(link) = self.link_record().await? {
                    reads.insert(0, link);
                }
                self.store.apply_group(Group { changes, reads, flush }, &self.current).await
            });
            match committed {
                Ok(outcomes) => {
                    self.started = true;
                    match flush {
                        Flush::Now => unflushed_since = None,
                        Flush::Deferred => {
                            unflushed_since.get_or_insert_with(Instant::now);
                        }
                    }
                    for (done, outcome) in change_waiters.into_iter().zip(outcomes) {
                        let _ = done.send(outcome);
                    }
                    for done in read_waiters {
                        let _ = done.send(Ok(()));
                    }
                }
                Err(e) => {
                    // Whether the commit landed is unknown (an answer lost with the connection):
                    // go on in a new chain rather than guess where this one stands.
                    tracing::warn!(chain = self.current.name(), "an audit group failed; continuing in a new chain");
                    self.current = Self::new_chain(&self.chain);
                    self.started = false;
                    // The failed group's link record may not have landed: the new chain's start
                    // links every chain again.
                    self.linked.clear();
                    for done in change_waiters.into_iter().chain(read_waiters) {
                        let _ = done.send(Err(e.clone()));
                    }
                }
            }
        }
    }
}

/// The audit chain's keyed hashes, under the audit key.
pub(crate) struct KeyedChain(MacKey);

/// The label of the head's MAC of the chain `""` (written before chains). The record hash has no
/// label but ten fields; the head's MAC has this label and two: the MAC's length-prefixed
/// encoding keeps the two apart.
const HEAD_LABEL: &[u8] = b"tresor audit head v1";
/// The label of a named chain's head MAC, over the chain's name, place and hash (four fields; a
/// named chain's records have eleven).
const CHAIN_HEAD_LABEL: &[u8] = b"tresor audit chain head v2";

impl AuditChain for KeyedChain {
    fn record_hash(&self, record: &AuditRecord) -> Vec<u8> {
        chain_hash(&self.0, record)
    }
    fn head_mac(&self, chain: &str, seq: u64, hash: &[u8]) -> Vec<u8> {
        if chain.is_empty() {
            self.0.mac(&[HEAD_LABEL, &seq.to_be_bytes(), hash]).to_vec()
        } else {
            self.0.mac(&[CHAIN_HEAD_LABEL, chain.as_bytes(), &seq.to_be_bytes(), hash]).to_vec()
        }
    }
}

/// A record to append; `seq` and the hashes are assigned by the store.
pub(crate) fn new_record(
    workspace: String,
    request_id: String,
    principal: String,
    action: &str,
    target: String,
    outcome: &str,
    detail: Option<String>,
) -> AuditRecord {
    AuditRecord {
        seq: 0,
        at: tresor_model::now_millis(),
        workspace,
        request_id,
        principal,
        action: action.to_owned(),
        target,
        outcome: outcome.to_owned(),
        detail,
        chain: String::new(),
        chain_seq: 0,
        prev_hash: Vec::new(),
        hash: Vec::new(),
    }
}

/// A record's hash: its fields and the previous record's hash; a named chain's records also
/// cover the chain's name (an eleventh field), those of the chain `""` are hashed as before
/// chains, their place being their `seq`.
fn chain_hash(mac: &MacKey, r: &AuditRecord) -> Vec<u8> {
    let (place, at) = (r.chain_seq.to_be_bytes(), r.at.to_be_bytes());
    let detail = r.detail.as_deref().unwrap_or("\u{0}none");
    let mut fields: Vec<&[u8]> = vec![
        &r.prev_hash,
        &place,
        &at,
        r.workspace.as_bytes(),
        r.request_id.as_bytes(),
        r.principal.as_bytes(),
        r.action.as_bytes(),
        r.target.as_bytes(),
        r.outcome.as_bytes(),
        detail.as_bytes(),
    ];
    if !r.chain.is_empty() {
        fields.push(r.chain.as_bytes());
    }
    mac.mac(&fields).to_vec()
}

impl Auditor {
    /// Starts the writer thread.
    pub fn start(store: Arc<dyn Store>, mac: MacKey) -> Self {
        let chain = Arc::new(KeyedChain(mac));
        let (tx, rx) = mpsc::channel::<Pending>();
        let read_flush_delay = Arc::new(AtomicU64::new(0));
        let writer = Writer {
            store,
            current: Writer::new_chain(&chain),
            chain: chain.clone(),
            read_flush_delay: read_flush_delay.clone(),
            started: false,
            last_link: Instant::now(),
            linked: HashMap::new(),
        };
        std::thread::Builder::new()
            .name("tresor-audit".into())
            .spawn(move || writer.run(rx))
            .expect("spawn audit writer");
        Self { tx, chain, read_flush_delay }
    }

    /// Lets a group of read records only be acknowledged once handed to the operating system,
    /// and flushed within `delay` (see [`Writer`]); zero (the default): every record is durable
    /// before its request is answered.
    pub fn set_read_flush_delay(&self, delay: Duration) {
        self.read_flush_delay.store(delay.as_micros().min(u64::MAX as u128) as u64, Ordering::Relaxed);
    }

    /// Commits a change (its steps and its records) in the writer's next group, and waits until
    /// it is durable, or failed alone. Only `Service::commit` calls this.
    pub(crate) async fn commit(&self, ops: Vec<BatchOp>, audit: Vec<AuditRecord>) -> Result<(), StoreError> {
        let writer_down = || StoreError::Backend("the writer has stopped; the change was not made".into());
        let (done, wait) = oneshot::channel();
        self.tx.send(Pending::Change(Batch { ops, audit }, done)).map_err(|_| writer_down())?;
        wait.await.map_err(|_| writer_down())?
    }

    /// Appends a record and waits until it is committed.
    pub async fn record(&self, record: AuditRecord) -> Result<()> {
        self.record_many(vec![record]).await
    }

    /// Appends several records (one request touching several entries), all in one group, and
    /// waits until they are committed.
    pub async fn record_many(&self, mut records: Vec<AuditRecord>) -> Result<()> {
        let (done, wait) = oneshot::channel();
        let pending = match records.len() {
            0 => return Ok(()),
            1 => Pending::Record(records.pop().expect("one record"), done),
            _ => Pending::Records(records, done),
        };
        self.tx.send(pending).map_err(|_| audit_down())?;
        match wait.await {
            Ok(Ok(())) => Ok(()),
            // The database refused every write (a full disk, a lost connection): that is
            // the answer (507, 503), not a fault of the audit log.
            Ok(Err(e @ (StoreError::OutOfSpace(_) | StoreError::Unavailable(_)))) => Err(e.into()),
            Ok(Err(e)) => Err(ServiceError::Storage(format!(
                "the audit record could not be written ({e}); the request was refused"
            ))),
            Err(_) => Err(audit_down()),
        }
    }

    /// Checks every chain: each record's hash matches its fields, each links to the one before
    /// it in its chain with no place missing from the first to the recorded head, each head
    /// carries a valid MAC, every chain with records has a head, and every record a link names
    /// is there with the hash it was linked with.
    ///
    /// The log is read newest first: a link names records committed before it, so each claim is
    /// met before the record it names, and only the claims not yet met are kept in memory (and a
    /// few records of a chain that arrive out of order, since chains are numbered side by side).
    pub async fn verify(&self, store: &dyn Store) -> Result<VerifyReport> {
        let mut v = Verification::default();
        for head in store.audit_chains().await? {
            v.head(&head, self.chain.as_ref());
        }
        let mut before = None;
        loop {
            let page = store.list_audit_desc(before, 1000).await?;
            let Some(last) = page.last() else { break };
            before = Some(last.seq);
            for r in page {
                v.record(r, self.chain.as_ref());
            }
            if v.problems.len() > 100 {
                break;
            }
        }
        Ok(v.finish())
    }
}

/// The heads other chains reached, as a link record's detail: `CHAIN@PLACE:HASH`, comma-separated
/// (`HASH` in hex; the chain `""` has an empty name).
fn format_links(heads: &[ChainHead]) -> String {
    let links: Vec<String> = heads
        .iter()
        .map(|h| format!("{}@{}:{}", h.chain, h.seq, h.hash.iter().map(|b| format!("{b:02x}")).collect::<String>()))
        .collect();
    format!("links: {}", links.join(", "))
}

/// The links [`format_links`] wrote; `None` when the detail is not a list of links.
fn parse_links(detail: &str) -> Option<Vec<(String, u64, Vec<u8>)>> {
    let list = detail.strip_prefix("links:")?.trim();
    if list.is_empty() {
        return Some(Vec::new());
    }
    list.split(", ")
        .map(|link| {
            let (chain, rest) = link.split_once('@')?;
            let (place, hash) = rest.split_once(':')?;
            let hash = (0..hash.len())
                .step_by(2)
                .map(|i| hash.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok()))
                .collect::<Option<Vec<u8>>>()?;
            Some((chain.to_owned(), place.parse().ok()?, hash))
        })
        .collect()
}

/// One chain as verify walks it down: the place it expects next and the hash that record must
/// have (the `prev_hash` of the record after it, or the recorded head's hash).
struct ChainWalk {
    next: u64,
    want: Vec<u8>,
    /// Records of the chain met before the one expected: place -> (seq, hash, prev_hash).
    early: BTreeMap<u64, (u64, Vec<u8>, Vec<u8>)>,
}

/// The state of [`Auditor::verify`]'s walk.
#[derive(Default)]
struct Verification {
    chains: HashMap<String, ChainWalk>,
    /// Records named by a link and not met yet: (chain, place) -> (hash, the linking record's seq).
    claims: HashMap<(String, u64), (Vec<u8>, u64)>,
    records: u64,
    problems: Vec<String>,
}

fn chain_label(chain: &str) -> String {
    if chain.is_empty() {
        "the chain written before chains".into()
    } else {
        format!("chain {chain}")
    }
}

impl Verification {
    fn head(&mut self, head: &ChainHead, keys: &KeyedChain) {
        let label = chain_label(&head.chain);
        match &head.head_mac {
            None => self.problems.push(format!(
                "the recorded head of {label} (place {}) carries no MAC: it was rewritten, or written by a tresor \
                 before head MACs, so records removed from its end cannot be ruled out",
                head.seq
            )),
            Some(mac) if !ct_eq(mac, &keys.head_mac(&head.chain, head.seq, &head.hash)) => self.problems.push(format!(
                "the recorded head of {label} (place {}) does not match its MAC: the head was rewritten",
                head.seq
            )),
            Some(_) => {}
        }
        self.chains
            .insert(head.chain.clone(), ChainWalk { next: head.seq, want: head.hash.clone(), early: BTreeMap::new() });
    }

    fn record(&mut self, r: AuditRecord, keys: &KeyedChain) {
        self.records += 1;
        let intact = ct_eq(&keys.record_hash(&r), &r.hash);
        if !intact {
            self.problems.push(format!("record {} was altered: its hash does not match its contents", r.seq));
        } else if r.action == CHAIN_START || r.action == CHAIN_LINK {
            match r.detail.as_deref().and_then(parse_links) {
                Some(links) => {
                    for (chain, place, hash) in links {
                        self.claims.insert((chain, place), (hash, r.seq));
                    }
                }
                None => self.problems.push(format!("record {} should list chain links and does not", r.seq)),
            }
        }
        if let Some((hash, by)) = self.claims.remove(&(r.chain.clone(), r.chain_seq)) {
            if !ct_eq(&hash, &r.hash) {
                self.problems.push(format!(
                    "record {} ({} place {}) is not the record that record {by} links: it was replaced",
                    r.seq,
                    chain_label(&r.chain),
                    r.chain_seq
                ));
            }
        }
        let walk = match self.chains.get_mut(&r.chain) {
            Some(walk) => walk,
            None => {
                self.problems.push(format!(
                    "{} has records (the last at place {}, record {}) but no recorded head: the head was deleted, so \
                     records removed from its end cannot be ruled out",
                    chain_label(&r.chain),
                    r.chain_seq,
                    r.seq
                ));
                self.chains.entry(r.chain.clone()).or_insert(ChainWalk {
                    next: r.chain_seq,
                    want: r.hash.clone(),
                    early: BTreeMap::new(),
                })
            }
        };
        let label = chain_label(&r.chain);
        if r.chain_seq == 0 {
            self.problems.push(format!("record {} has no place in {label}: it was added", r.seq));
            return;
        }
        if r.chain_seq > walk.next {
            self.problems.push(format!(
                "record {} ({label} place {}) lies beyond the place the chain reached before it ({}): it was added, \
                 or the head was rewritten",
                r.seq, r.chain_seq, walk.next
            ));
            return;
        }
        walk.early.insert(r.chain_seq, (r.seq, r.hash, r.prev_hash));
        Self::advance(walk, &label, &mut self.problems, false);
    }

    /// Takes the chain's records in order of place, down from the one expected; with `skip`,
    /// jumps over a gap (reported) to the highest record met.
    fn advance(walk: &mut ChainWalk, label: &str, problems: &mut Vec<String>, skip: bool) {
        loop {
            let Some((&place, _)) = walk.early.last_key_value() else { return };
            if place != walk.next {
                if !(skip || walk.early.len() > MAX_REORDER) {
                    return;
                }
                problems.push(format!("places {} to {} of {label} are missing", place + 1, walk.next));
                walk.next = place;
                let (_, (_, hash, _)) = walk.early.last_key_value().expect("just seen");
                walk.want = hash.clone();
            }
            let (place, (seq, hash, prev)) = walk.early.pop_last().expect("just seen");
            if !ct_eq(&hash, &walk.want) {
                problems.push(format!("record {seq} ({label} place {place}) does not link to the record after it"));
            }
            walk.next = place - 1;
            walk.want = prev;
        }
    }

    fn finish(mut self) -> VerifyReport {
        for (chain, walk) in &mut self.chains {
            let label = chain_label(chain);
            Self::advance(walk, &label, &mut self.problems, true);
            if walk.next > 0 {
                self.problems.push(format!("places 1 to {} of {label} are missing", walk.next));
            } else if !walk.want.is_empty() {
                self.problems.push(format!("the first record of {label} does not start a chain"));
            }
        }
        let mut unmet: Vec<_> = self.claims.into_iter().collect();
        unmet.sort_by_key(|(_, (_, by))| *by);
        for ((chain, place), (_, by)) in unmet {
            self.problems.push(format!(
                "record {by} links {} at place {place}, which is missing: the chain was cut or removed",
                chain_label(&chain)
            ));
        }
        VerifyReport { records: self.records, chains: self.chains.len() as u64, problems: self.problems }
    }
}

fn audit_down() -> ServiceError {
    ServiceError::Storage("the audit writer has stopped; the request was refused".into())
}

/// The outcome of [`Auditor::verify`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct VerifyReport {
    pub records: u64,
    /// How many chains the records are in.
    pub chains: u64,
    pub problems: Vec<String>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tresor_crypto::RootKey;

    fn keys() -> KeyedChain {
        let (root, _) = RootKey::generate().unwrap();
        KeyedChain(MacKey::generate(&root, "audit").unwrap().0)
    }

    /// Chains as the store would hold them: records linked by the real keyed hash, numbered in
    /// the log by `seq`, and each chain's head.
    struct Log<'k> {
        keys: &'k KeyedChain,
        records: Vec<AuditRecord>,
        next_seq: u64,
    }

    impl<'k> Log<'k> {
        fn append(&mut self, chain: &str, action: &str, detail: Option<String>) -> AuditRecord {
            let last = self.records.iter().rev().find(|r| r.chain == chain);
            let mut r = new_record(String::new(), String::new(), "tresor".into(), action, "t".into(), "ok", detail);
            r.chain = chain.into();
            r.chain_seq = last.map_or(1, |l| l.chain_seq + 1);
            r.prev_hash = last.map_or(Vec::new(), |l| l.hash.clone());
            self.next_seq += 1;
            r.seq = self.next_seq;
            r.hash = self.keys.record_hash(&r);
            self.records.push(r.clone());
            r
        }

        fn head(&self, chain: &str) -> ChainHead {
            let last = self.records.iter().rev().find(|r| r.chain == chain).unwrap();
            ChainHead {
                chain: chain.into(),
                seq: last.chain_seq,
                hash: last.hash.clone(),
                head_mac: Some(self.keys.head_mac(chain, last.chain_seq, &last.hash)),
                started_at: 0,
                updated_at: 0,
            }
        }

        fn verify(&self, heads: &[ChainHead], skip: impl Fn(&AuditRecord) -> bool) -> VerifyReport {
            let mut v = Verification::default();
            for h in heads {
                v.head(h, self.keys);
            }
            let mut newest_first: Vec<_> = self.records.iter().filter(|r| !skip(r)).cloned().collect();
            newest_first.sort_by_key(|r| std::cmp::Reverse(r.seq));
            for r in newest_first {
                v.record(r, self.keys);
            }
            v.finish()
        }
    }

    fn link_to(head: &ChainHead) -> Option<String> {
        Some(format_links(std::slice::from_ref(head)))
    }

    /// Two chains written side by side, the second linking the first; then each kind of damage.
    #[test]
    fn verify_checks_every_chain_and_every_link() {
        let keys = keys();
        let mut log = Log { keys: &keys, records: Vec::new(), next_seq: 0 };
        for i in 0..4 {
            log.append("a", &format!("read{i}"), None);
        }
        let a_at_4 = log.head("a");
        log.append("b", CHAIN_START, link_to(&a_at_4));
        log.append("a", "read4", None);
        log.append("b", "write", None);
        log.append("a", "read5", None);
        let a_at_6 = log.head("a");
        log.append("b", CHAIN_LINK, link_to(&a_at_6));
        let heads = [log.head("a"), log.head("b")];
        let clean = log.verify(&heads, |_| false);
        assert!(clean.ok(), "{:?}", clean.problems);
        assert_eq!((clean.records, clean.chains), (9, 2));

        // A record's listing number changed (records listed out of their chain's order): each
        // chain's order is its places, so that alone is no damage.
        let mut shuffled = Log { keys: &keys, records: log.records.clone(), next_seq: 0 };
        let (x, y) = (0, 5);
        let (sx, sy) = (shuffled.records[x].seq, shuffled.records[y].seq);
        shuffled.records[x].seq = sy;
        shuffled.records[y].seq = sx;
        assert!(shuffled.verify(&heads, |_| false).ok());

        // A record removed from the middle of a chain.
        let r = log.verify(&heads, |r| r.chain == "a" && r.chain_seq == 2);
        assert!(r.problems.iter().any(|p| p == "places 2 to 2 of chain a are missing"), "{:?}", r.problems);

        // Chain a cut after place 4 with its head rewritten to match (the key is needed for a
        // valid MAC), or removed whole (head and records): the links in chain b catch both.
        let mut cut_head = log.head("a");
        (cut_head.seq, cut_head.hash) = (a_at_4.seq, a_at_4.hash.clone());
        let r = log.verify(&[cut_head, log.head("b")], |r| r.chain == "a" && r.chain_seq > 4);
        assert!(r.problems.iter().any(|p| p.contains("does not match its MAC")), "{:?}", r.problems);
        assert!(
            r.problems.iter().any(|p| p.contains("links chain a at place 6, which is missing")),
            "{:?}",
            r.problems
        );
        let r = log.verify(&[log.head("b")], |r| r.chain == "a");
        assert!(
            r.problems.iter().any(|p| p.contains("links chain a at place 4, which is missing")),
            "{:?}",
            r.problems
        );

        // A record of chain a replaced by another valid-looking one: its hash no longer matches.
        let mut edited = Log { keys: &keys, records: log.records.clone(), next_seq: 0 };
        edited.records[1].outcome = "denied".into();
        let r = edited.verify(&heads, |_| false);
        assert!(
            r.problems.iter().any(|p| p == "record 2 was altered: its hash does not match its contents"),
            "{:?}",
            r.problems
        );

        // A chain's records without its head.
        let r = log.verify(&[log.head("a")], |_| false);
        assert!(
            r.problems.iter().any(|p| p.starts_with("chain b has records") && p.contains("no recorded head")),
            "{:?}",
            r.problems
        );
    }

    #[test]
    fn links_round_trip_and_refuse_garbage() {
        let head = ChainHead {
            chain: "0a1b".into(),
            seq: 42,
            hash: vec![0, 255, 16],
            head_mac: None,
            started_at: 0,
            updated_at: 0,
        };
        let legacy = ChainHead { chain: String::new(), seq: 7, hash: vec![1], ..head.clone() };
        let text = format_links(&[head, legacy]);
        assert_eq!(text, "links: 0a1b@42:00ff10, @7:01");
        assert_eq!(parse_links(&text).unwrap(), [("0a1b".into(), 42, vec![0, 255, 16]), (String::new(), 7, vec![1])]);
        assert_eq!(parse_links("links: ").unwrap(), []);
        for bad in ["nothing", "links: a@x:00", "links: a@1:0", "links: a@1:zz", "links: a1:00"] {
            assert!(parse_links(bad).is_none(), "{bad}");
        }
    }
}
