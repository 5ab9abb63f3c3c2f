//! Writers of one entry take turns within this process.
//!
//! A write without check-and-set reads the current version, seals for the next and commits with
//! check-and-set on what it read (`retry.rs`). With group commit, writers of one entry that arrive
//! together land in one group, where only the first one's check-and-set can win: the others
//! conflict, read again and retry, and with N writers the last needs N rounds (and gives up after
//! `WRITE_RETRIES`). Taking turns per entry *before* reading means each writer reads what the one
//! before it committed: no conflict within a process. Writers of different entries still share
//! one group and one flush. Servers sharing a database still race each other, and retry.
//!
//! Entries are hashed onto a fixed number of shards (memory stays bounded whatever the number of
//! entries); two entries on one shard merely take turns too. The hash is keyed per process, so
//! nobody can choose keys that all fall on one shard.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use tokio::sync::{Mutex, MutexGuard};
use tresor_model::EntryPath;

/// Shards of the lock table: with a few dozen concurrent writers, two distinct entries share a
/// shard rarely.
const SHARDS: usize = 1024;

pub(crate) struct EntryLocks {
    shards: Box<[Mutex<()>]>,
    hasher: RandomState,
}

/// Held while a writer reads, seals and commits; the turn passes on when it is dropped.
pub(crate) struct Turn<'a>(#[allow(dead_code)] Vec<MutexGuard<'a, ()>>);

impl EntryLocks {
    pub(crate) fn new() -> Self {
        Self { shards: (0..SHARDS).map(|_| Mutex::new(())).collect(), hasher: RandomState::new() }
    }

    /// Waits for the turn on every entry of `paths`. Shards are taken in ascending order, so two
    /// writers of several entries each cannot wait on each other.
    pub(crate) async fn turn<'a, 'p>(&'a self, paths: impl IntoIterator<Item = &'p EntryPath>) -> Turn<'a> {
        let mut shards: Vec<usize> = paths.into_iter().map(|p| self.hasher.hash_one(p) as usize % SHARDS).collect();
        shards.sort_unstable();
        shards.dedup();
        let mut guards = Vec::with_capacity(shards.len());
        for shard in shards {
            guards.push(self.shards[shard].lock().await);
        }
        Turn(guards)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use tresor_model::{EntryKey, EnvName, VaultName, VaultPath, WorkspaceName};

    fn path(key: &str) -> EntryPath {
        VaultPath {
            workspace: WorkspaceName::new("w").unwrap(),
            environment: EnvName::new("e").unwrap(),
            vault: VaultName::new("v").unwrap(),
        }
        .entry(EntryKey::new(key).unwrap())
    }

    #[tokio::test]
    async fn writers_of_one_entry_take_turns_and_others_do_not_wait() {
        let locks = Arc::new(EntryLocks::new());
        let (a, b) = (path("a"), path("b"));
        let held = locks.turn([&a]).await;
        // Another entry (on another shard: find one) is free meanwhile.
        let other = (0..)
            .map(|i| path(&format!("k{i}")))
            .find(|p| locks.hasher.hash_one(p) as usize % SHARDS != locks.hasher.hash_one(&a) as usize % SHARDS);
        let free = locks.turn([other.as_ref().unwrap()]);
        assert!(tokio::time::timeout(std::time::Duration::from_secs(5), free).await.is_ok());
        // The same entry waits until the turn is given back; a multi-entry turn including it too.
        let waiter = {
            let (locks, a, b) = (locks.clone(), a.clone(), b.clone());
            tokio::spawn(async move {
                let _turn = locks.turn([&b, &a, &b]).await;
            })
        };
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "a writer of the same entry waits for its turn");
        drop(held);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter).await.unwrap().unwrap();
    }
}
