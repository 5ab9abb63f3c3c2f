//! The audit log on SQLite: the chain append shared by the audit writer and batches, and its listings.

use super::{backend, query_all, SqliteStore};
use crate::rows::{self, AUDIT_COLS, CHAIN_COLS};
use crate::{link_audit, AuditRecord, ChainHead, ChainWriter, Result, StoreError};
use rusqlite::{params, Transaction};

impl SqliteStore {
    pub(super) fn list_audit_impl(&self, after: u64, since: Option<i64>, limit: u32) -> Result<Vec<AuditRecord>> {
        let sql = format!(
            "SELECT {AUDIT_COLS} FROM audit_log WHERE seq > ?1 AND (?2 IS NULL OR at >= ?2) ORDER BY seq LIMIT ?3"
        );
        self.read_with(|c| query_all(c, &sql, params![after as i64, since, limit], rows::audit))
    }

    pub(super) fn list_audit_desc_impl(&self, before: Option<u64>, limit: u32) -> Result<Vec<AuditRecord>> {
        let sql =
            format!("SELECT {AUDIT_COLS} FROM audit_log WHERE (?1 IS NULL OR seq < ?1) ORDER BY seq DESC LIMIT ?2");
        self.read_with(|c| query_all(c, &sql, params![before.map(|b| b as i64), limit], rows::audit))
    }

    pub(super) fn audit_chains_impl(&self) -> Result<Vec<ChainHead>> {
        let sql = format!("SELECT {CHAIN_COLS} FROM audit_chains ORDER BY chain");
        self.read_with(|c| query_all(c, &sql, [], rows::chain_head))
    }
}

/// [`crate::Store::append_audit`] inside a caller's transaction: the one chain append of this
/// backend, used by the audit writer's groups and by batches alike. Statements are cached: an
/// append runs for every read of a secret, and parsing its SQL anew each time showed in profiles.
pub(super) fn append_audit_tx(
    tx: &Transaction<'_>,
    mut records: Vec<AuditRecord>,
    chain: &ChainWriter,
    at: &mut (u64, Vec<u8>),
) -> Result<()> {
    let crate::LinkedHead { expected, head, head_mac } = link_audit(&mut records, at, chain);
    // The chain's head moves only from where this writer left it (a new chain: no row yet).
    let now = tresor_model::now_millis();
    let moved = tx
        .prepare_cached(
            "INSERT INTO audit_chains (chain, head, head_mac, started_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)
             ON CONFLICT (chain) DO UPDATE SET head = excluded.head, head_mac = excluded.head_mac,
                 updated_at = excluded.updated_at
             WHERE audit_chains.head = ?5",
        )
        .and_then(|mut st| st.execute(params![chain.name(), head, head_mac, now, expected]))
        .map_err(backend)?;
    if moved != 1 {
        return Err(StoreError::AuditAppend(format!(
            "audit chain {:?} was appended to by another writer; this writer stops using it",
            chain.name()
        )));
    }
    let mut stmt = tx
        .prepare_cached(
            "INSERT INTO audit_log (at, workspace, request_id, principal, action, target, outcome, detail, chain, \
             chain_seq, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )
        .map_err(backend)?;
    for rec in &records {
        stmt.execute(params![
            rec.at,
            rec.workspace,
            rec.request_id,
            rec.principal,
            rec.action,
            rec.target,
            rec.outcome,
            rec.detail,
            rec.chain,
            rec.chain_seq as i64,
            rec.prev_hash,
            rec.hash
        ])
        .map_err(backend)?;
    }
    Ok(())
}
