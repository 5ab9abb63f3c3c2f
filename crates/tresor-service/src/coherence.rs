//! Keeping one server's caches coherent with the writes of the other servers on its database.
//!
//! The store's change feed (PostgreSQL `LISTEN/NOTIFY`) delivers every committed change with a
//! number; a task here drops what each change touched from the caches and records the newest
//! number it has applied. That alone would be *eventually* coherent: a notification travels on its
//! own connection, so a client that writes through node A and reads through node B at once could
//! beat it. So each request first reads the database's newest change number (one indexed
//! single-row read) and, if the feed is behind it, waits for the feed to catch up. Only if it does
//! not within [`FEED_GRACE`] (a notification was lost), or the feed is down, are the caches
//! dropped wholesale: the bounded fallback. A gap in the numbers does the same.
//!
//! Concurrent requests share that read: a request may use any read that *started* after it
//! arrived (such a read sees every change committed before the request), so while one read is
//! in flight, all requests arriving meanwhile wait for the next one, and one read serves them
//! all. Under load that is a read per database round trip, not per request.

use crate::cache::Cache;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, Notify};
use tresor_store::{Change, ChangeEvent, ChangeFeed, Store};

/// How long a request waits for the feed to deliver a change the database already has.
pub const FEED_GRACE: Duration = Duration::from_millis(100);

#[derive(Default)]
pub struct Coherence {
    /// The newest change number whose invalidation is done.
    applied: AtomicU64,
    /// Whether the feed is listening (after `Resumed`, until `Lost`).
    feed_up: AtomicBool,
    /// Woken whenever `applied` or `feed_up` changes.
    progress: Notify,
    /// How many change-number reads have started.
    reads_started: AtomicU64,
    /// The newest finished read: (its start number, the change number it saw). Held across the
    /// read, so reads never overlap.
    last_read: Mutex<(u64, u64)>,
}

impl Coherence {
    /// Starts following `feed`; the task ends when the store closes the feed.
    pub fn follow(feed: ChangeFeed, cache: Arc<Cache>) -> Arc<Self> {
        let this = Arc::new(Self::default());
        tokio::spawn(run(feed, cache, this.clone()));
        this
    }

    /// Brings the caches up to the database's newest change before a request uses them.
    pub async fn sync(&self, store: &dyn Store, cache: &Cache) -> tresor_store::Result<()> {
        let newest = self.newest_change(store).await?;
        if self.applied.load(Ordering::Acquire) >= newest {
            return Ok(());
        }
        if self.feed_up.load(Ordering::Acquire) {
            let deadline = tokio::time::Instant::now() + FEED_GRACE;
            loop {
                let notified = self.progress.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if self.applied.load(Ordering::Acquire) >= newest {
                    return Ok(());
                }
                if !self.feed_up.load(Ordering::Acquire) || tokio::time::timeout_at(deadline, notified).await.is_err() {
                    break;
                }
            }
            tracing::warn!(change = newest, "change notification late or lost; dropping this node's caches");
        }
        cache.clear_all();
        self.applied.fetch_max(newest, Ordering::AcqRel);
        Ok(())
    }
}

impl Coherence {
    /// The database's newest change number, from a read that started after this call did.
    async fn newest_change(&self, store: &dyn Store) -> tresor_store::Result<u64> {
        let started_before_us = self.reads_started.load(Ordering::Acquire);
        let mut last = self.last_read.lock().await;
        if last.0 > started_before_us {
            return Ok(last.1);
        }
        // Let the requests that are ready to run reach this point first, so that the read
        // serves them too (they wait on the lock and count as arrived before it starts).
        tokio::task::yield_now().await;
        let number = self.reads_started.fetch_add(1, Ordering::AcqRel) + 1;
        let newest = store.change_seq().await?;
        *last = (number, newest);
        Ok(newest)
    }
}

async fn run(mut feed: ChangeFeed, cache: Arc<Cache>, co: Arc<Coherence>) {
    while let Some(event) = feed.recv().await {
        match event {
            ChangeEvent::Changed { seq, change } => {
                match change {
                    Change::Entry { workspace, vault, key } => cache.invalidate_key(&workspace, &vault, &key),
                    Change::Access { .. } => cache.invalidate_access(),
                    Change::Structure { .. } => cache.invalidate_structure(),
                    Change::Everything => cache.clear_all(),
                }
                let applied = co.applied.load(Ordering::Acquire);
                if seq > applied + 1 {
                    // Numbers follow commits without gaps: the ones in between were missed.
                    cache.clear_all();
                }
                co.applied.fetch_max(seq, Ordering::AcqRel);
            }
            ChangeEvent::Lost => {
                co.feed_up.store(false, Ordering::Release);
                cache.clear_all();
            }
            ChangeEvent::Resumed { seq } => {
                cache.clear_all();
                co.applied.store(seq, Ordering::Release);
                co.feed_up.store(true, Ordering::Release);
            }
        }
        co.progress.notify_waiters();
    }
}
