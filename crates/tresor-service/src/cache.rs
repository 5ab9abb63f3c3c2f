//! In-process caches for the resolution hot path: current sealed versions, environment chains and
//! authenticated callers.
//!
//! Values stay sealed in the cache; they are opened per request. Every write invalidates the entry
//! it touched, and every change to tokens, grants, principals or groups drops all cached callers.
//! A reader that loaded from the store while a write happened must not put its stale result back:
//! inserts carry the generation seen before the load and are ignored if a write came in between.

use crate::auth::Caller;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use tresor_model::{EntryMeta, EntryPath, EnvName, WorkspaceName};
use tresor_store::SealedVersion;

/// Cached entries at most; past it the cache starts over (simple, and bounded).
const MAX_ENTRIES: usize = 100_000;

pub struct CachedEntry {
    pub meta: EntryMeta,
    pub sealed: SealedVersion,
}

pub struct CachedCaller {
    pub caller: Arc<Caller>,
    pub hash: [u8; 32],
    pub expires_at: Option<i64>,
}

/// An environment and its ancestors, nearest first.
type EnvChains = HashMap<(WorkspaceName, EnvName), Arc<Vec<EnvName>>>;

#[derive(Default)]
pub struct Cache {
    generation: AtomicU64,
    entries: RwLock<HashMap<EntryPath, Arc<CachedEntry>>>,
    env_chains: RwLock<EnvChains>,
    access_generation: AtomicU64,
    callers: RwLock<HashMap<String, (u64, Arc<CachedCaller>)>>,
}

impl Cache {
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn entry(&self, path: &EntryPath) -> Option<Arc<CachedEntry>> {
        self.entries.read().expect("cache lock").get(path).cloned()
    }

    pub fn put_entry(&self, path: &EntryPath, meta: EntryMeta, sealed: SealedVersion, seen_generation: u64) {
        let mut entries = self.entries.write().expect("cache lock");
        if self.generation.load(Ordering::Acquire) != seen_generation {
            return;
        }
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(path.clone(), Arc::new(CachedEntry { meta, sealed }));
    }

    pub fn invalidate_entry(&self, path: &EntryPath) {
        self.invalidate_key(path.workspace.as_str(), path.vault.as_str(), path.key.as_str());
    }

    /// Drops a key in every environment: a branch may have cached its read-through under its own
    /// path.
    pub fn invalidate_key(&self, workspace: &str, vault: &str, key: &str) {
        let mut entries = self.entries.write().expect("cache lock");
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries
            .retain(|p, _| !(p.workspace.as_str() == workspace && p.vault.as_str() == vault && p.key.as_str() == key));
    }

    /// Environments or vaults changed: chains may be different, and an entry cached under a
    /// removed vault must not be served.
    pub fn invalidate_structure(&self) {
        let mut entries = self.entries.write().expect("cache lock");
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.clear();
        self.env_chains.write().expect("cache lock").clear();
    }

    /// Forgets everything (another process's changes may have been missed).
    pub fn clear_all(&self) {
        self.invalidate_structure();
        self.invalidate_access();
    }

    pub fn env_chain(&self, ws: &WorkspaceName, env: &EnvName) -> Option<Arc<Vec<EnvName>>> {
        self.env_chains.read().expect("cache lock").get(&(ws.clone(), env.clone())).cloned()
    }

    pub fn put_env_chain(&self, ws: &WorkspaceName, env: &EnvName, chain: Vec<EnvName>) -> Arc<Vec<EnvName>> {
        let chain = Arc::new(chain);
        self.env_chains.write().expect("cache lock").insert((ws.clone(), env.clone()), chain.clone());
        chain
    }

    pub fn access_generation(&self) -> u64 {
        self.access_generation.load(Ordering::Acquire)
    }

    pub fn caller(&self, token_id: &str) -> Option<Arc<CachedCaller>> {
        let callers = self.callers.read().expect("cache lock");
        let (generation, cached) = callers.get(token_id)?;
        (*generation == self.access_generation()).then(|| cached.clone())
    }

    pub fn put_caller(&self, token_id: &str, cached: CachedCaller, seen_generation: u64) {
        let mut callers = self.callers.write().expect("cache lock");
        if self.access_generation() != seen_generation {
            return;
        }
        if callers.len() >= MAX_ENTRIES {
            callers.clear();
        }
        callers.insert(token_id.to_owned(), (seen_generation, Arc::new(cached)));
    }

    /// Tokens, grants, principals or groups changed: every cached caller is stale.
    pub fn invalidate_access(&self) {
        let mut callers = self.callers.write().expect("cache lock");
        self.access_generation.fetch_add(1, Ordering::AcqRel);
        callers.clear();
    }
}
